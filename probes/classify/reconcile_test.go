package classify

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"foghorn/configs"
	"foghorn/probes"
	"foghorn/store"
)

// openKeys is what the engine has open after s's events: firing keys not
// resolved since.
func openKeys(s *sim) []string {
	open := map[string]bool{}
	for _, e := range s.events {
		if !e.Notice {
			open[e.Key] = e.Firing
		}
	}
	var out []string
	for k, on := range open {
		if on {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// Found by the soak: foghorn killed right after a page, before the state
// that paged was written. The restored state predates the incident the
// engine has open; Reconcile gets the engine's open keys, and each of them
// resolves once its targets are seen up (rise good probes), or stays open
// without paging again while they are still down.
func TestReconcileStaleStateAgainstOpenIncidents(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		group bool
		back  bool
	}{
		{"target recovered", false, true},
		{"target still down", false, false},
		{"group recovered", true, true},
		{"group still down", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := simConfig("a", "b", "c")
			cfg.Escalation.StormWindow.Duration = 0
			if tc.group {
				group(cfg, "pair", 1, false, "a", "b")
			}
			s := newSim(t, cfg)
			s.set(probes.OK, "a", "b", "c")
			s.run(30 * time.Second)
			stale := s.c.saved(true) // the last checkpoint: all up
			s.set(probes.Critical, "a", "b")
			s.run(30 * time.Second)
			open := openKeys(s)
			want := []string{"target:a", "target:b"}
			if tc.group {
				want = []string{"group:pair"}
			}
			if !slices.Equal(open, want) {
				t.Fatalf("open before the kill: %v, want %v\n%s", open, want, s.dump())
			}
			sev := map[string]configs.Severity{}
			for _, k := range open {
				sev[k] = s.last(k).Severity
			}

			// Killed: restart from the stale rows, the engine's keys given.
			s2 := newSim(t, cfg)
			s2.clk.Jump(s.clk.Now().Add(5 * time.Second))
			s2.due = map[string]time.Time{}
			s2.schedule()
			s2.c.Restore(stale)
			s2.c.Reconcile(open)
			if tc.back {
				s2.set(probes.OK, "a", "b", "c")
			} else {
				s2.set(probes.OK, "c")
				s2.set(probes.Critical, "a", "b")
			}
			s2.run(3 * time.Minute)

			for _, e := range s2.events {
				if e.Firing && e.Severity.Rank() > sev[e.Key].Rank() {
					t.Errorf("paged again after the restart: %s %s: %s\n%s", e.Key, e.Severity, e.Summary, s2.dump())
				}
				if e.Firing && tc.back {
					t.Errorf("recovered targets fired after the restart: %s: %s\n%s", e.Key, e.Summary, s2.dump())
				}
			}
			for _, k := range open {
				resolved := slices.ContainsFunc(s2.events, func(e Event) bool { return e.Key == k && !e.Firing })
				if tc.back && !resolved {
					t.Errorf("%s open at the engine, its targets up again: never resolved\n%s", k, s2.dump())
				}
				if !tc.back && resolved {
					t.Errorf("%s resolved while its targets are still down\n%s", k, s2.dump())
				}
			}
			if tc.back {
				// Not before rise good probes of each target after the restart.
				for _, k := range open {
					r := s2.last(k)
					if got := r.At.Sub(s2.clk.Now().Add(-3 * time.Minute)); got < 10*time.Second {
						t.Errorf("%s resolved %s after the restart: before rise (2) good probes", k, got)
					}
				}
			}
		})
	}
}

// The other way: the state was written (write-through, before the alert)
// but the engine never took the alert (killed in between). The incident
// the classifier has open and the engine has not is announced again once.
func TestReconcileAnnouncesWhatTheEngineMissed(t *testing.T) {
	t.Parallel()
	cfg := simConfig("a")
	s := newSim(t, cfg)
	s.set(probes.OK, "a")
	s.run(30 * time.Second)
	s.set(probes.Critical, "a")
	s.run(30 * time.Second)
	rows := s.c.saved(true)

	for _, engine := range [][]string{nil, {"target:a"}} {
		s2 := newSim(t, cfg)
		s2.clk.Jump(s.clk.Now().Add(5 * time.Second))
		s2.c.Restore(rows)
		s2.c.Reconcile(engine)
		s2.set(probes.Critical, "a")
		s2.run(time.Minute)
		n := 0
		for _, e := range s2.events {
			if e.Key == "target:a" && e.Firing {
				n++
			}
		}
		switch {
		case engine == nil && n != 1:
			t.Errorf("engine has nothing open: %d firing events for target:a after the restart, want 1 (the lost page)\n%s", n, s2.dump())
		case engine != nil && n != 0:
			t.Errorf("engine has target:a open: %d firing events after the restart, want none\n%s", n, s2.dump())
		}
	}
}

// A transition that opens an incident is in the store before the alert
// leaves the scheduler: a kill right after the page cannot leave a
// restored state that predates it.
func TestSchedulerSavesBeforeAlerting(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, err := store.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	cfg := &configs.Config{Targets: []configs.Target{tcpTarget("x", closedPort(t), time.Second, 300*time.Millisecond)}}
	var mu sync.Mutex
	var seen []Saved
	fired := make(chan struct{})
	var once sync.Once
	s := newWired(wiring{Classifier: Options{Store: db, Checkpoint: time.Hour, OnEvent: func(ev Event) {
		if ev.Key != "target:x" || !ev.Firing {
			return
		}
		rows, err := LoadStates(ctx, db)
		if err != nil {
			t.Error(err)
		}
		mu.Lock()
		seen = rows
		mu.Unlock()
		once.Do(func() { close(fired) })
	}}})
	defer s.Stop()
	s.Update(cfg)
	select {
	case <-fired:
	case <-time.After(15 * time.Second):
		t.Fatal("target:x never fired")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 1 || seen[0].State != Down || seen[0].key != "target:x" {
		t.Fatalf("the store when the alert left: %+v; want x down, told in target:x", seen)
	}
}
