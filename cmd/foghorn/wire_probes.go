package main

import (
	"foghorn/configs"
	"foghorn/probes"
	"foghorn/probes/classify"
)

// The probe stages' parts of the config: each is given only what it
// uses, built here from the loaded config (issue 14).

// schedulerConfig is what the scheduler probes: the targets and the
// self-check canaries.
func schedulerConfig(cfg *configs.Config) probes.Config {
	return probes.Config{Targets: cfg.Targets, SelfCheck: cfg.SelfCheck}
}

// classifierConfig is what the classifier judges by: the targets and
// their groups, the canaries, the storm window, and whether a down
// host's page may offer a power action.
func classifierConfig(cfg *configs.Config) classify.Config {
	return classify.Config{Targets: cfg.Targets, Groups: cfg.Groups, SelfCheck: cfg.SelfCheck,
		StormWindow: cfg.Escalation.StormWindow.Duration, Power: cfg.Power.Enabled}
}

// bmcTargets are the targets of kind ipmi, for the BMC client pool.
func bmcTargets(cfg *configs.Config) []*configs.Target {
	var out []*configs.Target
	for i := range cfg.Targets {
		if t := &cfg.Targets[i]; t.Kind == "ipmi" {
			out = append(out, t)
		}
	}
	return out
}

// newProbes builds the scheduler and the classifier it feeds (target
// state's one owner), wired to the daemon's callbacks. Neither runs a
// config yet: updateProbes does, the first time before the listener.
func (d *daemon) newProbes(cfg *configs.Config, open func() ([]string, error)) {
	o := classify.Options{
		Log: d.log, OnChange: d.change, OnEvent: d.queueEvent, Store: d.db, Open: open,
	}
	if d.view != nil {
		// Another vantage point: its view is the classifier's input.
		o.Vantage, o.Here, o.Stale = d.view, cfg.Cluster.Name, d.view.stale
	}
	d.cls = classify.New(o)
	d.sched = probes.NewScheduler(probes.Options{
		Log: d.log, OnResult: d.result, Observer: d.cls, Heartbeats: d.beats,
		Kinds:  map[string]probes.Prober{"ipmi": probes.IPMIProber(d.pool)},
		Source: probeSource(cfg),
	})
	d.cls.Attach(d.sched)
	d.cls.Start()
	d.states.Store(d.cls)
}

// updateProbes applies a (re)loaded config to the probe stages, in the
// order they need: the classifier first (its first Configure restores
// the saved state and hands the scheduler its memory), then the
// scheduler.
func (d *daemon) updateProbes(cfg *configs.Config) {
	d.beats.Configure(cfg.Targets)
	d.cls.Configure(classifierConfig(cfg))
	d.sched.Update(schedulerConfig(cfg))
}

// stopProbes stops the probes, then saves the state a last time.
func (d *daemon) stopProbes() {
	d.sched.Stop()
	d.cls.Stop()
}
