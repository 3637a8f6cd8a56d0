package classify

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"foghorn/clock"
	"foghorn/configs"
	"foghorn/probes"
)

// sim drives a Classifier on a fake clock the way the Scheduler would:
// every target and canary is probed at its interval (re-checked soon when
// the classifier says so, at once when it asks), and the world map says
// what each answers. Minutes of outage run in microseconds, and every
// timing is exact, so tests assert on it without flakiness.
type sim struct {
	t      *testing.T
	clk    *clock.Fake
	c      *Classifier
	cfg    *configs.Config
	world  map[string]probes.Status // target name or canary address -> its answer now
	due    map[string]time.Time     // next probe, by name ("canary ADDR" for canaries)
	events []Event
	downAt map[string]time.Time // when a target's world went bad, for detection latency
}

// simConfig is a config as the loader would leave it: defaults set and
// groups resolved. Targets are "name" or "name<parent" (parent by name).
func simConfig(targets ...string) *configs.Config {
	cfg := &configs.Config{}
	cfg.Escalation.StormWindow.Duration = time.Minute
	for _, s := range targets {
		name, parent, _ := strings.Cut(s, "<")
		cfg.Targets = append(cfg.Targets, configs.Target{
			Name: name, Kind: "tcp", Address: "192.0.2.1:22", Parent: parent,
			Interval: configs.Duration{Duration: 10 * time.Second},
			Timeout:  configs.Duration{Duration: 2 * time.Second},
			Rise:     2, Fall: 3, Severity: "critical",
		})
	}
	return cfg
}

// group adds a group of members (resolved, as validation leaves it).
func group(cfg *configs.Config, name string, minUp int, quorum bool, ms ...string) {
	cfg.Groups = append(cfg.Groups, configs.Group{Name: name, Names: ms, Resolved: ms, MinUp: minUp, Quorum: quorum, Severity: "critical"})
	for i := range cfg.Targets {
		if slices.Contains(ms, cfg.Targets[i].Name) {
			cfg.Targets[i].Group = name
		}
	}
}

// canaries adds self-check canaries.
func canaries(cfg *configs.Config, minUp int, addrs ...string) {
	cfg.SelfCheck = configs.SelfCheck{Canaries: addrs, Kind: "tcp", MinUp: minUp,
		Interval: configs.Duration{Duration: 30 * time.Second}, Timeout: configs.Duration{Duration: 2 * time.Second}}
}

func newSim(t *testing.T, cfg *configs.Config, with ...func(*sim, *Options)) *sim {
	s := &sim{
		t: t, clk: clock.NewFake(time.Date(2024, 3, 1, 2, 0, 0, 0, time.UTC)), cfg: cfg,
		world: map[string]probes.Status{}, due: map[string]time.Time{}, downAt: map[string]time.Time{},
	}
	o := Options{
		Clock:   s.clk,
		OnEvent: func(e Event) { s.events = append(s.events, e) },
		Probes:  simProbes{s},
	}
	for _, f := range with {
		f(s, &o)
	}
	s.c = New(o)
	s.c.Configure(configOf(cfg))
	s.schedule()
	return s
}

// schedule gives every target and canary its first probe, spread like the
// scheduler's slots.
func (s *sim) schedule() {
	now := s.clk.Now()
	for _, tg := range s.cfg.Targets {
		if _, ok := s.due[tg.Name]; !ok {
			s.due[tg.Name] = probes.FirstDue(tg.Name, now, tg.Interval.Duration, tg.Timeout.Duration)
		}
	}
	for _, a := range s.cfg.SelfCheck.Canaries {
		n := "canary " + a
		if _, ok := s.due[n]; !ok {
			s.due[n] = probes.FirstDue(n, now, s.cfg.SelfCheck.Interval.Duration, s.cfg.SelfCheck.Timeout.Duration)
		}
	}
}

// set makes names answer st from now on.
func (s *sim) set(st probes.Status, names ...string) {
	for _, n := range names {
		if good(s.world[n]) && !good(st) {
			s.downAt[n] = s.clk.Now()
		}
		s.world[n] = st
	}
}

// run advances the clock by d in 100ms steps, probing what is due and
// ticking the classifier every second.
func (s *sim) run(d time.Duration) {
	const step = 100 * time.Millisecond
	for end := s.clk.Now().Add(d); s.clk.Now().Before(end); s.clk.Add(step) {
		now := s.clk.Now()
		var due []string
		for n, at := range s.due {
			if !at.After(now) {
				due = append(due, n)
			}
		}
		slices.Sort(due)
		for _, n := range due {
			s.probe(n, now)
		}
		if now.Sub(now.Truncate(time.Second)) < step {
			s.c.Tick()
		}
	}
}

func (s *sim) probe(n string, now time.Time) {
	if a, ok := strings.CutPrefix(n, "canary "); ok {
		st := s.world[a]
		retry := s.c.ObserveCanary(a, probes.Result{Target: n, Kind: "tcp", Start: now, Status: st, Msg: msgFor(a, st)})
		iv := s.cfg.SelfCheck.Interval.Duration
		s.due[n] = now.Add(iv)
		if retry {
			s.due[n] = now.Add(probes.RecheckDelay(iv))
		}
		return
	}
	tg := s.cfg.Target(n)
	st := s.world[n]
	s.due[n] = time.Time{}
	retry := s.c.Observe(probes.Result{Target: n, Kind: tg.Kind, Start: now, Status: st, Msg: msgFor(n, st)})
	if !s.due[n].IsZero() {
		s.due[n] = now.Add(time.Millisecond) // asked again while probing: right after this one
		return
	}
	s.due[n] = now.Add(tg.Interval.Duration)
	if retry {
		s.due[n] = now.Add(probes.RecheckDelay(tg.Interval.Duration))
	}
}

func msgFor(n string, st probes.Status) string {
	switch st {
	case probes.OK:
		return "connected to " + n
	case probes.Warning:
		return n + " answers slowly"
	}
	return "no answer from " + n + " (host down or packets dropped)"
}

// keys lists the keys of the events so far, with F for firing, R for
// resolved and N for notices, in order, dropping repeats of one key.
func (s *sim) keys() []string {
	var out []string
	for _, e := range s.events {
		k := e.Key + " R"
		switch {
		case e.Notice:
			k = e.Key + " N"
		case e.Firing:
			k = e.Key + " F"
		}
		if len(out) == 0 || out[len(out)-1] != k {
			out = append(out, k)
		}
	}
	return out
}

// last is the last event of key.
func (s *sim) last(key string) Event {
	s.t.Helper()
	for i := len(s.events) - 1; i >= 0; i-- {
		if s.events[i].Key == key {
			return s.events[i]
		}
	}
	s.t.Fatalf("no event for %s; events: %v", key, s.keys())
	return Event{}
}

// first is the first firing event of key.
func (s *sim) first(key string) Event {
	s.t.Helper()
	for _, e := range s.events {
		if e.Key == key && e.Firing {
			return e
		}
	}
	s.t.Fatalf("no firing event for %s; events: %v", key, s.keys())
	return Event{}
}

func (s *sim) wantKeys(want ...string) {
	s.t.Helper()
	if got := s.keys(); !slices.Equal(got, want) {
		s.t.Fatalf("events:\n got  %v\n want %v\n%s", got, want, s.dump())
	}
}

func (s *sim) dump() string {
	var b strings.Builder
	for _, e := range s.events {
		fmt.Fprintf(&b, "  %s %s firing=%v notice=%v %s: %s\n", e.At.Format("15:04:05.0"), e.Key, e.Firing, e.Notice, e.Severity, e.Summary)
	}
	return b.String()
}

// simProbes is the sim as the classifier's scheduler: re-checks make a
// probe due now; the sim's kinds keep no memory.
type simProbes struct{ s *sim }

func (p simProbes) Recheck(targets ...string) {
	for _, n := range targets {
		p.s.due[n] = p.s.clk.Now()
	}
}

func (p simProbes) RecheckCanaries() {
	for _, a := range p.s.cfg.SelfCheck.Canaries {
		p.s.due["canary "+a] = p.s.clk.Now()
	}
}

func (simProbes) Memory(string) (map[string]string, bool) { return nil, false }
func (simProbes) Resume(map[string]map[string]string)     {}

// configOf is the classifier's part of cfg, as cmd builds it.
func configOf(cfg *configs.Config) Config {
	return Config{Targets: cfg.Targets, Groups: cfg.Groups, SelfCheck: cfg.SelfCheck,
		StormWindow: cfg.Escalation.StormWindow.Duration, Power: cfg.Power.Enabled}
}
