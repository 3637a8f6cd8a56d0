// Package escalation is foghorn's engine: it turns alerts (from the
// probes' classification and Alertmanager's webhook) into incidents, and
// incidents into notification intents for the pager, step by step along
// their policies, until someone acks.
//
// It owns people's rotations and overrides (who is on call), policies and
// their steps, the incident lifecycle (ack, snooze, escalate, resolve),
// durable due times that survive a restart, maintenance windows and
// silences, per-person limits and quiet hours, test pages on their
// schedule, and paging from memory while the store fails. It is built from
// its own Config (cmd/foghorn builds it from the loaded config) and reads
// no vendor's settings: a page's validity is a number it is given, and
// delivery is the Notifier's.
//
// Entry points are in engine.go (New, Handle, Step, Run, Recover); the
// rest is one file per concern: dispatch.go (a step's pages), incident.go
// (the lifecycle), memory.go (store failures), oncall.go, silence.go,
// testpage.go, expire.go, handover.go, alertmanager.go; with a [cluster],
// nflog.go (the notification log the foghorns share) and cluster.go (who
// sends: the positional wait; acks and resolves from the peer).
package escalation
