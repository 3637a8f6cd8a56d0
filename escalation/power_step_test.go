package escalation

import (
	"context"
	"testing"
	"time"
)

const powerStep = people + `
[power]
enabled = true
automated = true
allow = ["alice"]
[[policy]]
name = "ops"
  [[policy.step]]
  who = ["alice"]
  channels = ["sms"]
  [[policy.step]]
  who = ["alice", "bob"]
  channels = ["sms"]
  delay = "10m"
  repeat = 1
  interval = "10m"
  power = "cycle"
`

// A policy step with power = "cycle" makes the engine emit one power
// intent for the incident's host (Alert.Host, never a label), handed to
// the Notifier before any of the step's pages, which carry the action
// too; steps without power emit none.
func TestPowerStepEmitsAPowerIntentBeforeItsPages(t *testing.T) {
	h := newHarness(t, powerStep, monday)
	inc, err := h.e.Handle(context.Background(), Alert{Key: "target:pve1", Firing: true, Severity: "critical", Summary: "pve1 DOWN",
		Labels: map[string]string{"name": "not-the-host"}, Source: "probe", Host: "pve1"})
	if err != nil {
		t.Fatal(err)
	}
	h.drive(time.Minute)
	if got := h.p.list("power"); len(got) != 0 {
		t.Fatalf("step 1 has no power, yet: %v", got)
	}
	h.drive(20 * time.Minute) // step 2 and its repeat
	h.p.mu.Lock()
	got := append([]sent(nil), h.p.got...)
	h.p.mu.Unlock()
	var rounds int
	for i, s := range got {
		switch {
		case s.Kind == KindPower:
			rounds++
			if s.Incident != inc.ID || s.Short != inc.Short || s.Host != "pve1" || s.Power != "cycle" || s.Text != "policy:ops" || s.Step != 1 || s.ID != 0 {
				t.Fatalf("power intent %+v", s.Intent)
			}
			// The step's pages come after it.
			for _, p := range got[:i] {
				if p.Kind == KindPage && p.At == s.At {
					t.Fatalf("a page of the step went before its power intent: %v", got)
				}
			}
		case s.Kind == KindPage && s.Step == 1 && s.Power != "cycle":
			t.Fatalf("a page of the power step without its action: %+v", s.Intent)
		case s.Kind == KindPage && s.Step == 0 && s.Power != "":
			t.Fatalf("a page of step 1 with an action: %+v", s.Intent)
		}
	}
	if rounds != 2 {
		t.Fatalf("%d power intents for a step and its repeat; want 2 (the desk keeps it to once per incident): %v", rounds, got)
	}
}
