package classify

import (
	"testing"
	"time"

	"foghorn/probes"
)

// Found by the soak (soak/main.go): foghorn killed while targets that were
// down had come back but were still in their resolve hold. After the
// restart they stay up, and every incident open before it must resolve.
func TestClassifyRestartWhileRecovering(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"alone", "storm"} {
		t.Run(name, func(t *testing.T) {
			cfg := simConfig("a", "b", "c")
			for i := range cfg.Targets {
				cfg.Targets[i].Rise = 1
			}
			if name == "alone" {
				cfg.Escalation.StormWindow.Duration = 0
			}
			s := newSim(t, cfg)
			s.set(probes.OK, "a", "b", "c")
			s.run(30 * time.Second)
			s.set(probes.Critical, "a", "b")
			s.run(time.Minute)
			s.set(probes.OK, "a", "b")
			s.run(15 * time.Second) // up again, within the resolve hold (2 intervals)
			for _, e := range s.events {
				if !e.Firing {
					t.Fatalf("resolved before the restart (the test needs it recovering): %v", s.keys())
				}
			}
			rows := s.c.saved(true)
			for _, r := range rows {
				if r.Target != "c" && (r.State != Up || r.key == "") {
					t.Fatalf("the test needs a and b up with their incident open (recovering), got %+v", r)
				}
			}

			s2 := newSim(t, cfg)
			s2.clk.Jump(s.clk.Now().Add(2 * time.Second))
			s2.due = map[string]time.Time{}
			s2.schedule()
			s2.c.Restore(rows)
			s2.set(probes.OK, "a", "b", "c")
			s2.run(3 * time.Minute)
			for _, e := range s.events {
				resolved := false
				for _, e2 := range s2.events {
					if e2.Key == e.Key && !e2.Firing {
						resolved = true
					}
				}
				if !resolved {
					t.Errorf("%s was open before the restart and never resolved after it: events after: %v", e.Key, s2.keys())
				}
			}
		})
	}
}
