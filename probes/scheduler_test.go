package probes

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"foghorn/configs"
)

// Scheduler tests run real probes over real loopback sockets. Their
// timing asserts have wide margins: the machine is shared and busy. The
// real performance figures are in bench/.

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
	results []Result
}

func (r *recorder) opts() Options {
	return Options{
		OnResult: func(x Result) { r.mu.Lock(); r.results = append(r.results, x); r.mu.Unlock() },
	}
}

func (r *recorder) resultsOf(name string) []Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Result
	for _, x := range r.results {
		if x.Target == name {
			out = append(out, x)
		}
	}
	return out
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

func TestSlots(t *testing.T) {
	t.Parallel()
	iv := 10 * time.Second
	// Stable: the same slot in every run and build, so a restart keeps
	// each target's slot (FNV-1a, mixed); and names differ.
	if got, want := offset("rt1", iv), time.Duration(9_851_243_227); got != want || offset("rt1", iv) == offset("rt2", iv) {
		t.Fatalf("offset(rt1) = %v, want %v: not a stable hash of the name", got, want)
	}
	now := time.Unix(1_700_000_003, 0)
	off := 7 * time.Second
	at := slotAfter(now, iv, off)
	if want := time.Unix(1_700_000_007, 0); !at.Equal(want) {
		t.Fatalf("slotAfter %v, want %v", at, want)
	}
	if !slotAfter(at, iv, off).Equal(at) {
		t.Fatal("a slot is its own next slot")
	}
	// The first probe comes within interval - timeout, so even a probe that
	// times out reports within one interval of start.
	for i := range 100 {
		off := offset(fmt.Sprint("t", i), iv)
		d := firstDue(now, iv, 3*time.Second, off).Sub(now)
		if d < 0 || d > 7*time.Second {
			t.Fatalf("first due in %s", d)
		}
	}
	// Back to the slot after a re-check, at least half an interval on.
	tg := tcpTarget("x", "", iv, time.Second)
	r := &run{t: &tg, slot: off}
	next := r.next(time.Unix(1_700_000_009, 0), time.Unix(1_700_000_009, 0), time.Unix(1_700_000_009, 0), false)
	if want := time.Unix(1_700_000_017, 0); !next.Equal(want) {
		t.Fatalf("next %v, want %v", next, want)
	}
	if d := RecheckDelay(iv); d != time.Second {
		t.Fatalf("recheck after %s", d)
	}
}

// Probes are spread over the interval by their stable slots, not bunched
// at start.
func TestSchedulerJitterSpread(t *testing.T) {
	t.Parallel()
	addr, _ := acceptServer(t)
	const n, iv, to = 200, 2 * time.Second, 500 * time.Millisecond
	cfg := &Config{}
	for i := range n {
		cfg.Targets = append(cfg.Targets, tcpTarget(fmt.Sprintf("spread-%d", i), addr, iv, to))
	}
	var rec recorder
	var logs strings.Builder
	o := rec.opts()
	o.Log = slog.New(slog.NewTextHandler(&logs, nil)) // info and up, as by default
	s := NewScheduler(o)
	start := time.Now()
	s.Update(*cfg)
	defer func() {
		s.Stop()
		if logs.Len() > 0 {
			t.Errorf("logged with every target healthy:\n%s", logs.String())
		}
	}()
	waitFor(t, 3*iv, "a first round of every target", func() bool {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		seen := map[string]bool{}
		for _, r := range rec.results {
			seen[r.Target] = true
		}
		return len(seen) == n
	})
	// First starts fall in [0, 0.9*(iv-to)); count them in 10 buckets.
	var buckets [10]int
	firsts := map[string]time.Time{}
	rec.mu.Lock()
	for _, r := range rec.results {
		if _, ok := firsts[r.Target]; !ok {
			firsts[r.Target] = r.Start
		}
	}
	rec.mu.Unlock()
	span := (iv - to) * 9 / 10
	for name, at := range firsts {
		d := at.Sub(start)
		if d < 0 || d > span+time.Second {
			t.Errorf("%s first probed %s after start, want within %s", name, d, span)
			continue
		}
		buckets[min(int(d*10/span), 9)]++
	}
	for i, b := range buckets {
		if b > 2*n/10 || b < n/10/3 {
			t.Errorf("bucket %d has %d of %d first probes: bunched (%v)", i, b, n, buckets)
		}
	}
}

// A probe of a host that drops packets ends at its timeout; a refused one
// at once.
func TestSchedulerTimeoutBound(t *testing.T) {
	t.Parallel()
	dropTo(t, "127.0.0.71")
	cfg := &Config{Targets: []configs.Target{
		tcpTarget("silent", "127.0.0.71:9", 2*time.Second, 300*time.Millisecond),
		tcpTarget("refused", closedPort(t), 2*time.Second, 300*time.Millisecond),
	}}
	var rec recorder
	s := NewScheduler(rec.opts())
	defer s.Stop()
	s.Update(*cfg)
	waitFor(t, 10*time.Second, "three results of each", func() bool {
		return len(rec.resultsOf("silent")) >= 3 && len(rec.resultsOf("refused")) >= 3
	})
	for _, r := range rec.resultsOf("silent") {
		if r.Status != Critical || r.Duration < 250*time.Millisecond || r.Duration > 800*time.Millisecond {
			t.Errorf("silent: %s after %s: %s", r.Status, r.Duration, r.Msg)
		}
	}
	for _, r := range rec.resultsOf("refused") {
		if r.Status != Critical || r.Duration > 200*time.Millisecond {
			t.Errorf("refused: %s after %s: %s", r.Status, r.Duration, r.Msg)
		}
	}
}

func fds(t *testing.T) int {
	t.Helper()
	es, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot count file descriptors: %v", err)
	}
	return len(es)
}

// Removing 1,000 targets by a reload leaves no goroutine and no socket
// behind, including the probes that were in flight to a silent host.
// Not parallel: it counts the whole process's goroutines.
func TestSchedulerRemoveNoLeak(t *testing.T) {
	addr, _ := acceptServer(t)
	silent := "127.0.0.72"
	dropTo(t, silent)
	s := NewScheduler(Options{})
	defer s.Stop()
	time.Sleep(50 * time.Millisecond)
	g0, f0 := runtime.NumGoroutine(), fds(t)

	cfg := &Config{}
	for i := range 1000 {
		a := addr
		if i%2 == 1 {
			a = silent + ":9"
		}
		cfg.Targets = append(cfg.Targets, tcpTarget(fmt.Sprintf("leak-%d", i), a, 2*time.Second, time.Second))
	}
	s.Update(*cfg)
	// Wait until probes to the silent host are in flight.
	waitFor(t, 5*time.Second, "probes in flight", func() bool { return s.Stats().InFlight > 300 })
	g1, f1 := runtime.NumGoroutine(), fds(t)
	s.Update(Config{})
	if st := s.Stats(); st.Targets != 0 || st.InFlight != 0 {
		t.Fatalf("after removing all: %+v", st)
	}
	// The accept server may still be closing its side of the last connections.
	waitFor(t, 3*time.Second, "goroutines and sockets back to where they were", func() bool {
		return runtime.NumGoroutine() <= g0+2 && fds(t) <= f0+2
	})
	t.Logf("goroutines %d -> %d with probes in flight -> %d; fds %d -> %d -> %d", g0, g1, runtime.NumGoroutine(), f0, f1, fds(t))
}

// A reload keeps unchanged targets on their schedule and their state, and
// restarts changed ones with their memory.
func TestSchedulerUpdateKeeps(t *testing.T) {
	t.Parallel()
	addr, _ := acceptServer(t)
	cfg := &Config{Targets: []configs.Target{
		tcpTarget("keep", addr, time.Second, 500*time.Millisecond),
		tcpTarget("edit", addr, time.Second, 500*time.Millisecond),
	}}
	var rec recorder
	s := NewScheduler(rec.opts())
	defer s.Stop()
	s.Update(*cfg)
	waitFor(t, 6*time.Second, "both up", func() bool {
		return len(rec.resultsOf("keep")) >= 2 && len(rec.resultsOf("edit")) >= 2
	})
	s.mu.Lock()
	keep, edit := s.runs["keep"], s.runs["edit"]
	edit.mem.Set("snmp.uptime", "42")
	s.mu.Unlock()

	cfg2 := &Config{Targets: slices.Clone(cfg.Targets)}
	cfg2.Targets[1].Timeout.Duration = 400 * time.Millisecond
	s.Update(*cfg2)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.runs["keep"] != keep {
		t.Error("an unchanged target was restarted")
	}
	if s.runs["edit"] == edit || s.runs["edit"].mem != edit.mem {
		t.Error("a changed target was not restarted with its memory")
	}
}
