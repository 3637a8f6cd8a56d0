package power

import (
	"context"
	"errors"
	"foghorn/clock"
	"slices"
	"strings"
	"testing"
	"time"

	"foghorn/configs"
	"foghorn/ipmi"
	"foghorn/ipmi/simtest"
	"foghorn/store"
)

// site is three hypervisors pve1..3 in quorum group "hypervisors"
// (2 of 3), each with a BMC target pveN-bmc on the given simulators.
func site(sims ...*simtest.Sim) *configs.Config {
	cfg := &configs.Config{
		Power: configs.Power{Enabled: true, Allow: []string{"alice"}, PerHostPerHour: 2, PerSitePerHour: 5},
		Groups: []configs.Group{{Name: "hypervisors", Names: []string{"pve1", "pve2", "pve3"},
			Quorum: true, MinUp: 2}},
	}
	for i, name := range []string{"pve1", "pve2", "pve3"} {
		s := sims[min(i, len(sims)-1)]
		cfg.Targets = append(cfg.Targets,
			configs.Target{Name: name, Kind: "tcp", Address: "127.0.0.1:22", BMC: name + "-bmc"},
			bmcTarget(name+"-bmc", name, s))
	}
	return cfg
}

// audit is a real store in a temp dir, and what it recorded.
func audit(t *testing.T) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

type row struct{ kind, subject, actor, detail string }

func events(t *testing.T, db *store.DB) []row {
	t.Helper()
	rs, err := db.Query(`SELECT kind, subject, actor, detail FROM events WHERE kind LIKE 'power.%' ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	var out []row
	for rs.Next() {
		var r row
		if err := rs.Scan(&r.kind, &r.subject, &r.actor, &r.detail); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

func kinds(rs []row) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.kind)
	}
	return out
}

func refusal(t *testing.T, err error, rule string) *Refusal {
	t.Helper()
	var r *Refusal
	if !errors.As(err, &r) {
		t.Fatalf("want a %s refusal, got %v", rule, err)
	}
	if r.Rule != rule {
		t.Fatalf("refused by %s (%q), want %s", r.Rule, r.Msg, rule)
	}
	return r
}

func TestGuardQuorum(t *testing.T) {
	t.Parallel()
	sims := []*simtest.Sim{simtest.Start(t), simtest.Start(t), simtest.Start(t)}
	sims[0].Stop() // pve1 is down, its BMC too
	cfg := site(sims...)
	db := audit(t)
	pool := ipmi.NewPool()
	defer pool.Close()
	state := func(name string) string {
		if name == "pve1" {
			return "down"
		}
		return "up"
	}
	g := NewGuard(narrow(cfg), GuardOptions{BMC: pooled{pool}, Recorder: db, State: state})
	ctx := within(t, 20*time.Second)

	cycle2 := Request{Target: "pve2", Action: configs.PowerCycle, By: "alice", Via: "sms"}
	_, err := g.Execute(ctx, cycle2)
	r := refusal(t, err, "quorum")
	want := "refused: pve2 is in quorum group hypervisors (2 of 3 needed), pve1 is already down; cycling pve2 would leave 1. Forcing is off ([power] allow_force = false); bring pve1 back first"
	if r.Msg != want || r.Forceable {
		t.Fatalf("refusal:\n got %q\nwant %q", r.Msg, want)
	}
	forced := cycle2
	forced.Force = true
	_, err = g.Execute(ctx, forced)
	refusal(t, err, "quorum") // FORCE needs allow_force

	// By the BMC's name, the same host and the same rule.
	err = g.Check(ctx, Request{Target: "pve3-bmc", Action: configs.PowerOff, By: "alice"})
	if r := refusal(t, err, "quorum"); !strings.Contains(r.Msg, "powering off pve3 would leave 1") {
		t.Fatalf("refusal = %q", r.Msg)
	}
	// Cycling the host that is down takes nothing away: allowed.
	if err := g.Check(ctx, Request{Target: "pve1", Action: configs.PowerCycle, By: "alice"}); err != nil {
		t.Fatalf("cycling the down host: %v", err)
	}
	// Powering on never breaks quorum.
	if err := g.Check(ctx, Request{Target: "pve2", Action: configs.PowerOn, By: "alice"}); err != nil {
		t.Fatalf("power on: %v", err)
	}

	cfg2 := site(sims...)
	cfg2.Power.AllowForce = true
	g.Update(narrow(cfg2))
	_, err = g.Execute(ctx, cycle2)
	r = refusal(t, err, "quorum")
	want = "refused: pve2 is in quorum group hypervisors (2 of 3 needed), pve1 is already down; cycling pve2 would leave 1. It may be forced (allowed by config)"
	if r.Msg != want || !r.Forceable {
		t.Fatalf("refusal:\n got %q\nwant %q", r.Msg, want)
	}
	// Automation never forces.
	err = g.Check(ctx, Request{Target: "pve2", Action: configs.PowerCycle, By: "policy:ops", Automated: true, Force: true})
	if r := refusal(t, err, "automated"); !strings.Contains(r.Msg, "[power] automated = false") {
		t.Fatalf("refusal = %q", r.Msg)
	}
	out, err := g.Execute(ctx, forced)
	if err != nil {
		t.Fatalf("forced cycle: %v", err)
	}
	if !out.Confirmed || !strings.HasPrefix(out.Text, "cycled: off, then on") {
		t.Fatalf("outcome = %+v", out)
	}
	if got := sims[1].Actions(); !slices.Equal(got, []string{"power 0", "power 1"}) {
		t.Fatalf("pve2's chassis was asked %v", got)
	}
	if got := sims[2].Actions(); len(got) != 0 {
		t.Fatalf("pve3's chassis was asked %v", got)
	}

	// The down host's BMC is down too: the attempt fails, clearly.
	_, err = g.Execute(ctx, Request{Target: "pve1", Action: configs.PowerCycle, By: "alice", Via: "web"})
	if err == nil || !strings.Contains(err.Error(), "ipmi pve1-bmc: chassis status: connect: connection refused") {
		t.Fatalf("cycling pve1 with its BMC gone: %v", err)
	}

	rows := events(t, db)
	wantKinds := []string{"power.refused", "power.refused", "power.refused", "power.refused", "power.refused",
		"power.allowed", "power.done", "power.allowed", "power.failed"}
	if got := kinds(rows); !slices.Equal(got, wantKinds) {
		t.Fatalf("audit kinds = %v\nwant %v", got, wantKinds)
	}
	if r := rows[0]; r.subject != "pve2" || r.actor != "alice" || !strings.HasPrefix(r.detail, "refused: pve2 is in quorum group") || !strings.HasSuffix(r.detail, " via sms") {
		t.Fatalf("first audit row = %+v", r)
	}
	if r := rows[5]; r.detail != "cycle pve2 (forced past quorum group hypervisors: 2 of 3 needed, 1 left) via sms" {
		t.Fatalf("allowed row = %+v", r)
	}
	if r := rows[6]; !strings.HasPrefix(r.detail, "cycle pve2 (forced past quorum group hypervisors: 2 of 3 needed, 1 left): cycled: off, then on") {
		t.Fatalf("done row = %+v", r)
	}
}

func TestGuardRateLimits(t *testing.T) {
	t.Parallel()
	s := simtest.Start(t)
	cfg := site(s)
	cfg.Power.PerHostPerHour, cfg.Power.PerSitePerHour = 2, 3
	clock := clock.NewFake(time.Date(2026, 11, 23, 3, 0, 0, 0, time.UTC))
	db := audit(t)
	pool := ipmi.NewPool()
	defer pool.Close()
	g := NewGuard(narrow(cfg), GuardOptions{BMC: pooled{pool}, Recorder: db, Clock: clock})
	ctx := within(t, 20*time.Second)
	on := func(host string) error {
		_, err := g.Execute(ctx, Request{Target: host, Action: configs.PowerOn, By: "alice"})
		return err
	}
	for i := range 2 {
		if err := on("pve1"); err != nil {
			t.Fatalf("action %d on pve1: %v", i+1, err)
		}
		clock.Add(10 * time.Minute)
	}
	r := refusal(t, on("pve1"), "per_host_per_hour")
	if want := "refused: pve1 had 2 power actions in the last hour (per_host_per_hour = 2); next possible at 04:00 UTC, or raise the limit"; r.Msg != want {
		t.Fatalf("refusal:\n got %q\nwant %q", r.Msg, want)
	}
	if err := on("pve2"); err != nil {
		t.Fatalf("pve2: %v", err)
	}
	r = refusal(t, on("pve3"), "per_site_per_hour")
	if want := "refused: 3 power actions site-wide in the last hour (per_site_per_hour = 3); next possible at 04:00 UTC, or raise the limit"; r.Msg != want {
		t.Fatalf("refusal:\n got %q\nwant %q", r.Msg, want)
	}
	// Status is not a power action: never limited.
	if _, err := g.Execute(ctx, Request{Target: "pve3", Action: configs.PowerStatus, By: "alice"}); err != nil {
		t.Fatalf("status: %v", err)
	}
	// The hour slides: at 04:00:01 the first action has left the window.
	clock.Add(40*time.Minute + time.Second)
	if err := on("pve3"); err != nil {
		t.Fatalf("after the hour: %v", err)
	}
	refusal(t, on("pve1"), "per_site_per_hour") // 3 in 03:10..04:00
	clock.Add(10 * time.Minute)
	if err := on("pve1"); err != nil {
		t.Fatalf("pve1 after its window: %v", err)
	}
	// A restart forgets nothing it is told of.
	g2 := NewGuard(narrow(cfg), GuardOptions{BMC: pooled{pool}, Recorder: db, Clock: clock})
	g2.Remember("pve2", clock.Now().Add(-time.Minute))
	g2.Remember("pve2", clock.Now().Add(-2*time.Minute))
	refusal(t, g2.Check(ctx, Request{Target: "pve2", Action: configs.PowerCycle, By: "alice"}), "per_host_per_hour")
}

func TestGuardOneAtATime(t *testing.T) {
	t.Parallel()
	s := simtest.Start(t)
	db := audit(t)
	pool := ipmi.NewPool()
	defer pool.Close()
	g := NewGuard(narrow(site(s)), GuardOptions{BMC: pooled{pool}, Recorder: db})
	ctx := within(t, 20*time.Second)
	done := make(chan error, 1)
	go func() {
		_, err := g.Execute(ctx, Request{Target: "pve1", Action: configs.PowerCycle, By: "alice"})
		done <- err
	}()
	// The cycle keeps power off for about a second: meanwhile, no other.
	var err error
	for deadline := time.Now().Add(900 * time.Millisecond); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if err = g.Check(ctx, Request{Target: "pve2", Action: configs.PowerOn, By: "alice"}); err != nil {
			break
		}
	}
	r := refusal(t, err, "busy")
	if !strings.HasPrefix(r.Msg, "refused: cycle pve1 by alice is still running (started ") || !strings.HasSuffix(r.Msg, "; one power action at a time: try again when it ends") {
		t.Fatalf("refusal = %q", r.Msg)
	}
	if err := <-done; err != nil {
		t.Fatalf("the cycle: %v", err)
	}
	if err := g.Check(ctx, Request{Target: "pve2", Action: configs.PowerOn, By: "alice"}); err != nil {
		t.Fatalf("after the cycle: %v", err)
	}
}

func TestGuardRefusals(t *testing.T) {
	t.Parallel()
	// Refusals never reach a BMC: no simulator needed.
	cfg := &configs.Config{
		Power: configs.Power{Allow: []string{"alice"}, PerHostPerHour: 2, PerSitePerHour: 5},
		Targets: []configs.Target{
			{Name: "pve1", Kind: "tcp", BMC: "pve1-bmc"},
			{Name: "pve1-bmc", Kind: "ipmi", Host: "pve1", IPMI: &configs.IPMI{}},
			{Name: "web", Kind: "http"},
		},
	}
	db := audit(t)
	g := NewGuard(narrow(cfg), GuardOptions{Recorder: db})
	ctx := within(t, 5*time.Second)
	cases := []struct {
		req  Request
		rule string
		msg  string
	}{
		{Request{Target: "pve1", Action: configs.PowerCycle, By: "alice"}, "disabled",
			"refused: power actions are off ([power] enabled = false); cycle pve1 by hand, or enable them in the config"},
		{Request{Target: "web", Action: configs.PowerCycle, By: "alice"}, "target",
			`refused: web has no BMC; set bmc = "<ipmi target>" on it to allow power actions`},
		{Request{Target: "pve9", Action: configs.PowerCycle, By: "alice"}, "target",
			`refused: no target "pve9"; name a host that has a bmc, or its ipmi target`},
	}
	for _, c := range cases {
		r := refusal(t, g.Check(ctx, c.req), c.rule)
		if r.Msg != c.msg {
			t.Errorf("%+v:\n got %q\nwant %q", c.req, r.Msg, c.msg)
		}
	}
	// Status reads only: allowed even with power actions off.
	if err := g.Check(ctx, Request{Target: "pve1", Action: configs.PowerStatus, By: "bob"}); err != nil {
		t.Fatalf("status: %v", err)
	}
	cfg2 := *cfg
	cfg2.Power.Enabled = true
	g.Update(narrow(&cfg2))
	r := refusal(t, g.Check(ctx, Request{Target: "pve1", Action: configs.PowerOff, By: "bob", Via: "sms"}), "allow")
	if want := "refused: bob may not ask for power actions; add them to [power] allow, or ask someone listed there"; r.Msg != want {
		t.Fatalf("got %q\nwant %q", r.Msg, want)
	}
	r = refusal(t, g.Check(ctx, Request{Target: "pve1-bmc", Action: configs.PowerReset, By: "policy:ops", Automated: true}), "automated")
	if want := "refused: automated power actions are off ([power] automated = false); a person must ask to reset pve1"; r.Msg != want {
		t.Fatalf("got %q\nwant %q", r.Msg, want)
	}
	cfg2.Power.Automated = true
	g.Update(narrow(&cfg2))
	if err := g.Check(ctx, Request{Target: "pve1-bmc", Action: configs.PowerReset, By: "policy:ops", Automated: true}); err != nil {
		t.Fatalf("automation allowed by config: %v", err)
	}
	if err := g.Check(ctx, Request{Target: "pve1", Action: configs.PowerCycle, By: "alice"}); err != nil {
		t.Fatalf("alice: %v", err)
	}
	// Every refusal is in the audit trail, with who asked.
	rows := events(t, db)
	if len(rows) != 5 {
		t.Fatalf("audit = %+v", rows)
	}
	if r := rows[3]; r.kind != "power.refused" || r.actor != "bob" || r.subject != "pve1" || !strings.HasSuffix(r.detail, "listed there via sms") {
		t.Fatalf("bob's row = %+v", r)
	}
	if r := rows[4]; r.actor != "policy:ops" || r.subject != "pve1" {
		t.Fatalf("automation's row = %+v", r)
	}
}

func TestGuardQuorumWhenStatesAreNotKnown(t *testing.T) {
	t.Parallel()
	// Just after a restart every target is pending: the host acted on
	// counts as up, the others as not up, so quorum refuses.
	cfg := &configs.Config{
		Power:  configs.Power{Enabled: true, Allow: []string{"alice"}, PerHostPerHour: 2, PerSitePerHour: 5},
		Groups: []configs.Group{{Name: "hypervisors", Resolved: []string{"pve1", "pve2", "pve3"}, Quorum: true}},
		Targets: []configs.Target{
			{Name: "pve1", Kind: "tcp", BMC: "pve1-bmc"},
			{Name: "pve1-bmc", Kind: "ipmi", Host: "pve1", IPMI: &configs.IPMI{}},
		},
	}
	states := map[string]string{"pve2": "down"}
	g := NewGuard(narrow(cfg), GuardOptions{Recorder: audit(t), State: func(n string) string { return states[n] }})
	r := refusal(t, g.Check(context.Background(), Request{Target: "pve1", Action: configs.PowerSoft, By: "alice"}), "quorum")
	want := "refused: pve1 is in quorum group hypervisors (2 of 3 needed), pve2 is already down, pve3 is not known to be up yet; shutting down pve1 would leave 0. Forcing is off ([power] allow_force = false); bring pve2 and pve3 back first"
	if r.Msg != want {
		t.Fatalf("refusal:\n got %q\nwant %q", r.Msg, want)
	}
	states["pve3"] = "up"
	r = refusal(t, g.Check(context.Background(), Request{Target: "pve1", Action: configs.PowerReset, By: "alice"}), "quorum")
	if !strings.Contains(r.Msg, "resetting pve1 would leave 1.") {
		t.Fatalf("refusal = %q", r.Msg)
	}
	states["pve2"] = "up"
	if err := g.Check(context.Background(), Request{Target: "pve1", Action: configs.PowerReset, By: "alice"}); err != nil {
		t.Fatalf("all up: %v", err)
	}
}
