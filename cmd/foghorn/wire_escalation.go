package main

import (
	"log/slog"

	"foghorn/configs"
	"foghorn/escalation"
	"foghorn/store"
)

// escalationConfig is the engine's part of cfg: whom it pages and how. The
// page validity is the SMS vendor's own bound ([twilio] sms_validity): a
// page that waited longer is news of an old state, for the engine as for
// Twilio.
func escalationConfig(cfg *configs.Config) escalation.Config {
	return escalation.Config{
		People:       cfg.People,
		Rotations:    cfg.Rotations,
		Policies:     cfg.Policies,
		Maintenance:  cfg.Maintenance,
		Escalation:   cfg.Escalation,
		PageValidity: cfg.Twilio.SMSValidity.Duration,
	}
}

// newEngine builds the escalation engine over db, handing its intents to
// n; a test page nobody answered is counted in /metrics.
func (d *daemon) newEngine(db *store.DB, cfg *configs.Config, n escalation.Notifier, log *slog.Logger) *escalation.Engine {
	o := escalation.Options{Log: log, Unanswered: func(string) { d.m.testPage(false) }, Covers: d.leaseCovers}
	if d.peer != nil { // [cluster]: the first live node sends, the next only if the log has no entry by its turn
		o.Cluster = &escalation.Cluster{Node: cfg.Cluster.Name, Peer: d.peer, PeerTimeout: cfg.Cluster.PeerTimeout.Duration, Joined: d.joined,
			Retention: cfg.Server.Retention.Duration}
	}
	return escalation.New(db, escalationConfig(cfg), n, o)
}
