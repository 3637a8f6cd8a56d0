// Package escalation will own people, rotations, schedules, overrides,
// policies, the incident lifecycle, durable timers, acks, maintenance and
// silences, and the Alertmanager intake. It must not know about Twilio.
// (Built by the escalation issue; nothing here yet.)
package escalation
