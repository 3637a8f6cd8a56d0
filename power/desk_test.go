package power

import (
	"errors"
	"foghorn/clock"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"foghorn/configs"
	"foghorn/ipmi"
	"foghorn/ipmi/simtest"
	"foghorn/store"
)

func TestConfirmationCodesAreFourRandomDigits(t *testing.T) {
	seen := map[string]bool{}
	for range 200 {
		c, err := newCode()
		if err != nil {
			t.Fatal(err)
		}
		if len(c) != CodeDigits || c[0] == '0' || strings.Trim(c, "0123456789") != "" {
			t.Fatalf("code %q", c)
		}
		seen[c] = true
	}
	if len(seen) < 150 { // 200 draws from 9000: a few repeats at most
		t.Fatalf("only %d distinct codes in 200", len(seen))
	}
}

// states is what the probes would say of each target: "up" unless set.
type states struct {
	mu sync.Mutex
	m  map[string]string
}

func (s *states) set(name, st string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]string{}
	}
	s.m[name] = st
}

func (s *states) get(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st, ok := s.m[name]; ok {
		return st
	}
	return "up"
}

// desk is a desk over a real pool on sims, a real store, a fake clock.
func desk(t *testing.T, cfg *configs.Config, st, bmc *states, o Options) (*Desk, *clock.Fake) {
	t.Helper()
	pool := ipmi.NewPool()
	clock := clock.NewFake(time.Date(2026, 11, 23, 3, 0, 0, 0, time.UTC))
	o.BMC, o.Trail, o.State, o.Clock = pooled{pool}, audit(t), st.get, clock
	if bmc != nil {
		o.BMCState = bmc.get
	}
	d := New(narrow(cfg), o)
	t.Cleanup(func() { d.Close(); pool.Close() })
	return d, clock
}

// A code confirms once, from the phone it was sent to, by the person it
// was sent to, in time; anything else voids it and does nothing at the
// BMC. A confirmed code cycles the chassis of ipmi_sim.
func TestCodesConfirmOnceFromTheirPhoneInTime(t *testing.T) {
	sim := simtest.Start(t)
	st := &states{}
	d, clock := desk(t, site(sim), st, nil, Options{})
	ctx := within(t, 30*time.Second)
	const alice, bob = "+4915100000001", "+4915100000002"
	cycle := Request{Target: "PVE1", Action: configs.PowerCycle, By: "alice", Via: "sms"}

	off, err := d.Offer(ctx, cycle, alice)
	if err != nil {
		t.Fatal(err)
	}
	if off.Request.Target != "pve1" || off.Host != "pve1" || off.BMC != "pve1-bmc" || off.Valid != 5*time.Minute || len(off.Code) != CodeDigits {
		t.Fatalf("offer %+v", off)
	}
	if want := (Standing{Host: "pve1", Groups: []GroupStanding{{Name: "hypervisors", Up: 3, Of: 3, Need: 2}}}); !standingEq(off.Standing, want) {
		t.Fatalf("standing %+v, want %+v", off.Standing, want)
	}
	codeErr := func(err error, why string) {
		t.Helper()
		var ce *CodeError
		if !errors.As(err, &ce) || ce.Why != why {
			t.Fatalf("want a %q code error, got %v", why, err)
		}
	}
	// Another person's phone: nothing there, and alice's code stays.
	_, err = d.Confirm(ctx, bob, "bob", off.Code, "sms")
	codeErr(err, "none")
	if h, ok := d.Held(alice); !ok || h.Code != off.Code {
		t.Fatalf("alice's code gone after bob's try: %+v %v", h, ok)
	}
	// Wrong code: void, and the right one fails after.
	_, err = d.Confirm(ctx, alice, "alice", wrongCode(off.Code), "sms")
	codeErr(err, "wrong")
	_, err = d.Confirm(ctx, alice, "alice", off.Code, "sms")
	codeErr(err, "none")
	// Late.
	off, _ = d.Offer(ctx, cycle, alice)
	clock.Add(5*time.Minute + time.Second)
	if _, ok := d.Held(alice); ok {
		t.Fatal("an expired code is still held")
	}
	_, err = d.Confirm(ctx, alice, "alice", off.Code, "sms")
	codeErr(err, "expired")
	// Cancelled.
	d.Offer(ctx, cycle, alice)
	if c, ok := d.Cancel(ctx, alice, "alice"); !ok || c.Host != "pve1" {
		t.Fatalf("cancel: %+v %v", c, ok)
	}
	if _, ok := d.Cancel(ctx, alice, "alice"); ok {
		t.Fatal("cancelled twice")
	}
	if a := sim.Actions(); len(a) != 0 {
		t.Fatalf("the chassis was asked %v", a)
	}
	// Right, in time: it runs.
	off, _ = d.Offer(ctx, cycle, alice)
	ok, err := d.Confirm(ctx, alice, "alice", off.Code, "sms")
	if err != nil {
		t.Fatal(err)
	}
	out, err := d.Execute(ctx, ok.Request)
	if err != nil || !out.Confirmed || !strings.HasPrefix(out.Text, "cycled: off, then on") {
		t.Fatalf("execute: %+v %v", out, err)
	}
	if got := sim.Actions(); !slices.Equal(got, []string{"power 0", "power 1"}) {
		t.Fatalf("the chassis was asked %v", got)
	}
	want := []string{
		"power.requested pve1 alice", "power.confirm_refused power bob", "power.confirm_refused pve1 alice", "power.confirm_refused power alice",
		"power.requested pve1 alice", "power.confirm_refused pve1 alice",
		"power.requested pve1 alice", "power.cancelled pve1 alice",
		"power.requested pve1 alice", "power.confirmed pve1 alice", "power.allowed pve1 alice", "power.done pve1 alice",
	}
	if got := kindsOf(t, d); !slices.Equal(got, want) {
		t.Fatalf("audit trail:\n got  %q\n want %q", got, want)
	}
}

// A BMC that has not answered its probe refuses at once, before any code
// is made, and says why; one that answers and reports a fault (its
// target down for the fault) does not.
func TestOfferRefusedWhenTheBMCIsNotAnswering(t *testing.T) {
	sim := simtest.Start(t)
	st, bmc := &states{}, &states{m: map[string]string{}}
	d, _ := desk(t, site(sim), st, bmc, Options{})
	ctx := within(t, 10*time.Second)
	bmc.set("pve1-bmc", "down")
	_, err := d.Offer(ctx, Request{Target: "pve1", Action: configs.PowerCycle, By: "alice", Via: "sms"}, "+1")
	r := refusal(t, err, "bmc")
	if want := "refused: pve1's BMC (pve1-bmc) is not answering its probe; nothing can reach pve1's power until it answers. Check the BMC's network and power, or act on site"; r.Msg != want {
		t.Fatalf("refusal:\n got %q\nwant %q", r.Msg, want)
	}
	if _, ok := d.Held("+1"); ok {
		t.Fatal("a code is held for a refused request")
	}
	// The BMC answers again but reports the host's fault: its target is
	// down (for the ECC error), and that is no reason to refuse.
	bmc.set("pve1-bmc", "")
	st.set("pve1-bmc", "down")
	if _, err := d.Offer(ctx, Request{Target: "pve1", Action: configs.PowerCycle, By: "alice", Via: "sms"}, "+1"); err != nil {
		t.Fatalf("a BMC that answers: %v", err)
	}
	if got := kindsOf(t, d); !slices.Equal(got, []string{"power.refused pve1 alice", "power.requested pve1 alice"}) {
		t.Fatalf("audit trail %q", got)
	}
}

// An automated step that meets a running action does not give up with
// "try again" (automation never would): it waits for that action to end
// and then goes, and says so while it waits.
func TestAutomatedStepWaitsForTheRunningActionThenGoes(t *testing.T) {
	sims := []*simtest.Sim{simtest.Start(t), simtest.Start(t)}
	cfg := site(sims...)
	cfg.Power.Automated = true
	d, _ := desk(t, cfg, &states{}, nil, Options{})
	ctx := within(t, 30*time.Second)
	// A person's cycle of pve2 keeps the guard busy for about a second.
	s, err := d.guard.start(ctx, Request{Target: "pve2", Action: configs.PowerCycle, By: "alice", Via: "web"}, true)
	if err != nil {
		t.Fatal(err)
	}
	st := d.Automate(ctx, Step{Incident: 7, Short: 7, Host: "pve1", Action: configs.PowerCycle, By: "policy:ops", Step: 1})
	if st.Phase != Waiting || st.Busy.Host != "pve2" || st.Busy.By != "alice" || st.Busy.Action != configs.PowerCycle {
		t.Fatalf("decision %+v; want waiting for alice's cycle of pve2", st)
	}
	// Its next round changes nothing.
	if again := d.Automate(ctx, Step{Incident: 7, Short: 7, Host: "pve1", Action: configs.PowerCycle, By: "policy:ops", Step: 1}); again.Phase != Waiting {
		t.Fatalf("second round: %+v", again)
	}
	if _, err := s.run(ctx); err != nil {
		t.Fatal(err)
	}
	final := waitDone(t, d, 7)
	if final.Err != nil || !final.Outcome.Confirmed {
		t.Fatalf("step: %+v", final)
	}
	if got := sims[0].Actions(); !slices.Equal(got, []string{"power 0", "power 1"}) {
		t.Fatalf("pve1's chassis was asked %v", got)
	}
	want := []string{"power.allowed pve2 alice", "power.step 7 policy:ops", "power.done pve2 alice",
		"power.allowed pve1 policy:ops", "power.done pve1 policy:ops", "power.step_result 7 policy:ops"}
	if got := kindsOf(t, d); !slices.Equal(got, want) {
		t.Fatalf("audit trail:\n got  %q\n want %q", got, want)
	}
}

// A step whose wait runs out is refused then, once, and says how long it
// waited; the refusal tells no one to try again.
func TestAutomatedStepGivesUpAfterItsWait(t *testing.T) {
	sim := simtest.Start(t)
	cfg := site(sim)
	cfg.Power.Automated = true
	d, _ := desk(t, cfg, &states{}, nil, Options{StepWait: 200 * time.Millisecond})
	ctx := within(t, 10*time.Second)
	s, err := d.guard.start(ctx, Request{Target: "pve2", Action: configs.PowerOn, By: "alice"}, true)
	if err != nil {
		t.Fatal(err)
	}
	defer s.g.finish()
	if st := d.Automate(ctx, Step{Incident: 8, Host: "pve1", Action: configs.PowerCycle, By: "policy:ops"}); st.Phase != Waiting {
		t.Fatalf("decision %+v", st)
	}
	final := waitDone(t, d, 8)
	r := refusal(t, final.Err, "busy")
	if strings.Contains(r.Msg, "try again") || final.Waited <= 0 {
		t.Fatalf("gave up with %+v (%q)", final, r.Msg)
	}
	if a := sim.Actions(); len(a) != 0 {
		t.Fatalf("the chassis was asked %v", a)
	}
}

func waitDone(t *testing.T, d *Desk, incident int64) StepStatus {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		st, ch, ok := d.StepOf(incident)
		if !ok {
			t.Fatalf("no step for incident %d", incident)
		}
		if st.Phase == Done {
			return st
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("the step did not end: %+v", st)
		}
	}
}

func standingEq(a, b Standing) bool {
	return a.Host == b.Host && a.HostDown == b.HostDown && slices.Equal(a.Groups, b.Groups)
}

func wrongCode(code string) string {
	if code == "9999" {
		return "1000"
	}
	return "9999"
}

func kindsOf(t *testing.T, d *Desk) []string {
	t.Helper()
	db := d.o.Trail.(*store.DB)
	var out []string
	for _, r := range events(t, db) {
		out = append(out, r.kind+" "+r.subject+" "+r.actor)
	}
	return out
}
