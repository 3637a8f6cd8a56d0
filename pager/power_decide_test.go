package pager

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"foghorn/escalation"
	"foghorn/ipmi/simtest"
)

// An automated step that meets another power action running does not
// announce itself as done now, nor give up with "try again": its page
// says it waits for that action, and once that ends it goes, and its
// people hear the outcome.
func TestPowerStepBusyWaitsForTheRunningActionAndSaysSo(t *testing.T) {
	sims := []*simtest.Sim{simtest.Start(t), simtest.Start(t)}
	w, _, desk := powerWorld(t, stepPolicy, "automated = true", sims...)
	w.eng = escalation.New(w.db, engineConfig(w.cfg), route(desk, w.p), escalation.Options{Clock: w.clk, Log: w.p.log, Gap: -1})
	w.p.SetEngine(w.eng)

	inc, err := w.eng.Handle(context.Background(), escalation.Alert{Key: "target:pve1", Firing: true, Severity: "critical",
		Summary: "pve1 DOWN; BMC up; power on", Source: "probe", Host: "pve1"})
	if err != nil {
		t.Fatal(err)
	}
	w.step()
	// alice cycles pve2 by hand; the chassis keeps its power off for
	// about a second, and the guard is busy meanwhile.
	w.sms(alicePh, "CONFIRM "+codeOf(t, w.sms(alicePh, "CYCLE pve2")))
	eventually(t, "alice's cycle to start", func() bool { return slices.Contains(powerEvents(t, w), "power.allowed pve2 alice") })
	w.advance(10 * time.Minute) // step 2: cycle pve1

	page := fmt.Sprintf("[CRIT] #%d pve1 DOWN; BMC up; power on since ", inc.Short)
	eventually(t, "bob's page", func() bool {
		return slices.ContainsFunc(w.sent(bobPh), func(s string) bool { return strings.HasPrefix(s, page) })
	})
	for _, s := range w.sent(bobPh) {
		if strings.HasPrefix(s, page) && !strings.Contains(s, ": Automated step: CYCLE pve1 waits for cycle pve2; result by SMS.") {
			t.Fatalf("the page should say the step waits for alice's cycle: %q", s)
		}
	}
	told := fmt.Sprintf("#%d automated step: pve1 cycled: off, then on after ", inc.Short)
	eventually(t, "the outcome to bob", func() bool {
		return slices.ContainsFunc(w.sent(bobPh), func(s string) bool { return strings.HasPrefix(s, told) })
	})
	for _, s := range append(w.sent(bobPh), w.sent(alicePh)...) {
		if strings.Contains(s, "try again") {
			t.Fatalf("automation told someone to try again: %q", s)
		}
	}
	if got := sims[0].Actions(); !slices.Equal(got, []string{"power 0", "power 1"}) {
		t.Fatalf("pve1's chassis was asked %v", got)
	}
	var busy []string
	for _, e := range powerEvents(t, w) {
		if strings.HasPrefix(e, "power.refused") {
			busy = append(busy, e)
		}
	}
	if len(busy) != 0 {
		t.Fatalf("refusals recorded for a step that waited: %q", busy)
	}
}

// CYCLE for a host whose BMC has not answered its probe is refused at
// once, with why, before any code is handed out.
func TestPowerCycleRefusedBeforeACodeWhenTheBMCIsNotAnswering(t *testing.T) {
	sim := simtest.Start(t)
	w, st, _ := powerWorld(t, smsFirst, "", sim)
	st.set("pve1-bmc", "down")
	r := w.sms(alicePh, "CYCLE pve1")
	if want := "refused: pve1's BMC (pve1-bmc) is not answering its probe; nothing can reach pve1's power until it answers. Check the BMC's network and power, or act on site"; r != want {
		t.Fatalf("reply\n got  %q\n want %q", r, want)
	}
	if r := w.sms(alicePh, "CONFIRM 1234"); !strings.HasPrefix(r, "Nothing to confirm") {
		t.Fatalf("a code was held: %q", r)
	}
	if got := powerEvents(t, w); !slices.Equal(got, []string{"power.refused pve1 alice", "power.confirm_refused power alice"}) {
		t.Fatalf("audit trail %q", got)
	}
	if a := sim.Actions(); len(a) != 0 {
		t.Fatalf("the chassis was asked %v", a)
	}
}
