package classify

import (
	"net"
	"sync"
	"testing"
	"time"

	"foghorn/configs"
	"foghorn/probes"
)

// The scheduler and the classifier wired as cmd wires them, over real
// loopback sockets. Timing asserts have wide margins: the machine is
// shared and busy.

// wiring is the options of both.
type wiring struct {
	probes.Options
	Classifier Options
}

// wired is a scheduler feeding a classifier, as in cmd.
type wired struct {
	s *probes.Scheduler
	c *Classifier
}

func newWired(o wiring) *wired {
	c := New(o.Classifier)
	o.Options.Observer = c
	s := probes.NewScheduler(o.Options)
	c.Attach(s)
	c.Start()
	return &wired{s: s, c: c}
}

// Update is a config load: the classifier first (it restores), then
// the scheduler.
func (w *wired) Update(cfg *configs.Config) {
	w.c.Configure(configOf(cfg))
	w.s.Update(probes.Config{Targets: cfg.Targets, SelfCheck: cfg.SelfCheck})
}

func (w *wired) Stop() {
	w.s.Stop()
	w.c.Stop()
}

// Stats are the scheduler's, with the classifier's blindness.
func (w *wired) Stats() wiredStats {
	st := wiredStats{Stats: w.s.Stats()}
	st.Blind, _ = w.c.Blind()
	return st
}

type wiredStats struct {
	probes.Stats
	Blind bool
}

func (w *wired) Targets() []TargetState                 { return w.c.Targets() }
func (w *wired) State(name string) State                { return w.c.State(name) }
func (w *wired) Target(name string) (TargetState, bool) { return w.c.Target(name) }

// acceptServer accepts and closes at once, like a port that is open.
func acceptServer(t testing.TB) (addr string, stop func()) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	var once sync.Once
	stop = func() { once.Do(func() { l.Close(); wg.Wait() }) }
	t.Cleanup(stop)
	return l.Addr().String(), stop
}

func tcpTarget(name, addr string, interval, timeout time.Duration) configs.Target {
	return configs.Target{
		Name: name, Kind: "tcp", Address: addr,
		Interval: configs.Duration{Duration: interval}, Timeout: configs.Duration{Duration: timeout},
		Rise: 2, Fall: 3, Severity: "critical",
	}
}

// recorder keeps what a scheduler reports.
type recorder struct {
	mu      sync.Mutex
	results []probes.Result
	changes []Change
	events  []Event
}

func (r *recorder) opts() wiring {
	return wiring{
		Options: probes.Options{OnResult: func(x probes.Result) { r.mu.Lock(); r.results = append(r.results, x); r.mu.Unlock() }},
		Classifier: Options{
			OnChange: func(x Change) { r.mu.Lock(); r.changes = append(r.changes, x); r.mu.Unlock() },
			OnEvent:  func(x Event) { r.mu.Lock(); r.events = append(r.events, x); r.mu.Unlock() },
		},
	}
}

func (r *recorder) resultsOf(name string) []probes.Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []probes.Result
	for _, x := range r.results {
		if x.Target == name {
			out = append(out, x)
		}
	}
	return out
}

func (r *recorder) event(key string, firing bool) (Event, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.events {
		if e.Key == key && e.Firing == firing {
			return e, true
		}
	}
	return Event{}, false
}

func (r *recorder) eventCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.events)
}

// waitFor polls cond until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("after %s: %s", d, what)
}

// A dead target is confirmed by quick re-checks, in seconds rather than
// fall intervals, and pages once; back up, it resolves.
func TestSchedulerRiseFallQuickRecheck(t *testing.T) {
	t.Parallel()
	addr, stop := acceptServer(t)
	const iv = 2 * time.Second
	cfg := &configs.Config{Targets: []configs.Target{tcpTarget("x", addr, iv, time.Second)}}
	var rec recorder
	s := newWired(rec.opts())
	defer s.Stop()
	s.Update(cfg)
	waitFor(t, 4*iv, "x up", func() bool {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		return len(rec.changes) == 1 && rec.changes[0].To == Up
	})
	if rec.eventCount() != 0 {
		t.Fatalf("events while up: %v", rec.events)
	}

	stop()
	died := time.Now()
	waitFor(t, iv+10*time.Second, "an event for x", func() bool { _, ok := rec.event("target:x", true); return ok })
	e, _ := rec.event("target:x", true)
	if took := e.At.Sub(died); took > iv+6*time.Second {
		t.Errorf("paged %s after the death; an interval (%s) plus two quick re-checks should do", took, iv)
	}
	// The failures came a re-check delay apart, not an interval.
	var bad []time.Time
	for _, r := range rec.resultsOf("x") {
		if r.Status != probes.OK && len(bad) < 3 {
			bad = append(bad, r.Start)
		}
	}
	if len(bad) != 3 || bad[1].Sub(bad[0]) > iv*3/4 || bad[2].Sub(bad[1]) > iv*3/4 {
		t.Errorf("three failures at %v: not re-checked quickly (interval %s, re-check %s)", bad, iv, probes.RecheckDelay(iv))
	}

	// Back on the same port.
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("cannot listen on %s again: %v", addr, err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	waitFor(t, 3*iv+10*time.Second, "x resolved", func() bool { _, ok := rec.event("target:x", false); return ok })
}

// With its canaries gone, foghorn knows it is blind and holds pages.
func TestSchedulerCanaries(t *testing.T) {
	t.Parallel()
	cfg := &configs.Config{
		SelfCheck: configs.SelfCheck{Canaries: []string{closedPort(t)}, Kind: "tcp", MinUp: 1,
			Interval: configs.Duration{Duration: time.Second}, Timeout: configs.Duration{Duration: 500 * time.Millisecond}},
		Targets: []configs.Target{tcpTarget("x", closedPort(t), time.Second, 500*time.Millisecond)},
	}
	var rec recorder
	s := newWired(rec.opts())
	defer s.Stop()
	s.Update(cfg)
	waitFor(t, 8*time.Second, "blind", func() bool { return s.Stats().Blind })
	time.Sleep(4 * time.Second) // x fails fall times meanwhile
	if n := rec.eventCount(); n != 0 {
		t.Fatalf("%d events while blind: %v", n, rec.events)
	}
	if st := s.Stats(); st.Canaries != 1 || st.Targets != 1 || st.Probes == 0 {
		t.Fatalf("stats %+v", st)
	}
}

// closedPort is an address nothing listens on: connections are refused.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}
