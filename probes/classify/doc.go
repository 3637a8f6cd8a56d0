// Package classify decides, from probe results, what is really down and
// how bad it is: rise and fall, flapping, dependencies and groups, storms,
// foghorn's own blindness, and the words of each incident. It is fed by
// the scheduler (as its probes.Observer) and owns target state: readers
// ask the Classifier, and with a store it saves and restores that state,
// the kinds' memory included. It knows targets and results, never people
// or channels: its Events are what the escalation engine is given.
package classify
