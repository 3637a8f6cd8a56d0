package power

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"foghorn/clock"
	"foghorn/configs"
	"foghorn/ipmi"
	"foghorn/ipmi/simtest"
	"foghorn/store"
)

// leaseSite is pve1..3 in quorum group "pve" (2 of 3) whose leases need
// gluster-heal OK, leases allowed to token "ci", default limits.
func leaseSite() *configs.Config {
	cfg := &configs.Config{
		Leases: configs.Leases{Allow: []string{"ci"}, MaxConcurrent: 1, MaxFor: configs.Duration{Duration: 4 * time.Hour}},
		Groups: []configs.Group{{Name: "pve", Names: []string{"pve1", "pve2", "pve3"}, Quorum: true, MinUp: 2,
			MaxConcurrent: 1, LeaseRequires: []string{"gluster-heal"}}},
	}
	for _, n := range []string{"pve1", "pve2", "pve3"} {
		cfg.Targets = append(cfg.Targets, configs.Target{Name: n, Kind: "tcp", Address: "127.0.0.1:22"})
	}
	cfg.Targets = append(cfg.Targets, configs.Target{Name: "gluster-heal", Kind: "command"})
	return cfg
}

// pages is what the desk asked cmd to page (or resolve) for overruns.
type pages struct {
	mu  sync.Mutex
	got []string
}

func (p *pages) overrun(_ context.Context, l Lease, text string, firing bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if firing {
		p.got = append(p.got, text)
	} else {
		p.got = append(p.got, "back: "+l.Target)
	}
}

func (p *pages) list() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.got...)
}

type leaseDesk struct {
	*Desk
	clock *clock.Fake
	st    *states
	db    *store.DB
	pages *pages
}

func newLeaseDesk(t *testing.T, cfg *configs.Config, db *store.DB, c *clock.Fake, st *states) leaseDesk {
	t.Helper()
	if db == nil {
		db = audit(t)
	}
	if c == nil {
		c = clock.NewFake(time.Date(2026, 11, 23, 3, 0, 0, 0, time.UTC))
	}
	if st == nil {
		st = &states{}
	}
	p := &pages{}
	pc := narrow(cfg)
	pc.Leases = cfg.Leases
	d := New(pc, Options{Trail: db, DB: db.DB, State: st.get, Clock: c, Overrun: p.overrun})
	if err := d.Resume(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	return leaseDesk{d, c, st, db, p}
}

func (ld leaseDesk) ask(target string, dur time.Duration) (*Lease, error) {
	l, _, err := ld.Lease(context.Background(), LeaseRequest{Target: target, Holder: "ci", Reason: "kernel 6.12", For: dur})
	return l, err
}

func leaseRefused(t *testing.T, err error, rule, words string) {
	t.Helper()
	var ref *Refusal
	if !errors.As(err, &ref) {
		t.Fatalf("want a %s refusal, got %v", rule, err)
	}
	if ref.Rule != rule || !strings.Contains(ref.Msg, words) {
		t.Fatalf("refusal %s %q; want rule %s with %q", ref.Rule, ref.Msg, rule, words)
	}
}

// Each rule refuses with its own words, naming the rule and the fact.
func TestLeaseRefusalsNameTheRuleAndTheFact(t *testing.T) {
	cfg := leaseSite()
	cfg.Groups[0].MaxConcurrent = 3
	cfg.Leases.MaxConcurrent = 3
	critical := ""
	ld := newLeaseDesk(t, cfg, nil, nil, nil)
	ld.o.Critical = func(ts []string) (string, bool) { return critical, critical != "" }

	_, _, err := ld.Lease(context.Background(), LeaseRequest{Target: "pve2", Holder: "mallory", For: time.Minute})
	leaseRefused(t, err, "allow", "token mallory may not take leases: add it to [leases] allow")
	_, err = ld.ask("pve9", time.Minute)
	leaseRefused(t, err, "target", `no host "pve9"`)
	_, err = ld.ask("pve2", 5*time.Hour)
	leaseRefused(t, err, "max_for", "max_for = 4h0m0s")

	ld.st.set("gluster-heal", "unknown")
	_, err = ld.ask("pve2", time.Minute)
	leaseRefused(t, err, "lease_requires", "gluster-heal (lease_requires of group pve) is not probed yet")
	ld.st.set("gluster-heal", "down")
	_, err = ld.ask("pve2", time.Minute)
	leaseRefused(t, err, "lease_requires", "gluster-heal (lease_requires of group pve) is not OK")
	ld.st.set("gluster-heal", "up")

	ld.st.set("pve1", "down")
	_, err = ld.ask("pve2", time.Minute)
	leaseRefused(t, err, "quorum", "refused: quorum group pve needs 2 of 3 up; pve1 is down, so pve2 may not go down too")
	ld.st.set("pve1", "up")

	critical = "#4 pve3 DOWN"
	_, err = ld.ask("pve2", time.Minute)
	leaseRefused(t, err, "incident", "a critical incident is open in group pve (#4 pve3 DOWN)")
	critical = ""

	if _, err := ld.ask("pve1", time.Minute); err != nil {
		t.Fatal(err)
	}
	_, err = ld.ask("pve1", time.Minute)
	leaseRefused(t, err, "held", "pve1 is already leased (lease #1 by ci")
	_, err = ld.ask("pve2", time.Minute)
	leaseRefused(t, err, "quorum", "pve1 is leased, so pve2 may not go down too")

	off := leaseSite()
	off.Leases.Allow = nil
	_, err = newLeaseDesk(t, off, nil, nil, nil).ask("pve2", time.Minute)
	leaseRefused(t, err, "off", "add [leases] allow")
}

// max_concurrent holds per group and site-wide, by default one lease.
func TestLeasesAtMostMaxConcurrentPerGroupAndSite(t *testing.T) {
	cfg := leaseSite()
	cfg.Targets = append(cfg.Targets, configs.Target{Name: "rt1", Kind: "tcp"})
	ld := newLeaseDesk(t, cfg, nil, nil, nil)
	if _, err := ld.ask("pve1", time.Minute); err != nil {
		t.Fatal(err)
	}
	_, err := ld.ask("rt1", time.Minute)
	leaseRefused(t, err, "max_concurrent", "1 lease held site-wide ([leases] max_concurrent = 1): pve1 (lease #1 by ci")

	cfg.Leases.MaxConcurrent = 5
	pc := narrow(cfg)
	pc.Leases = cfg.Leases
	ld.Update(pc)
	if _, err := ld.ask("rt1", time.Minute); err != nil {
		t.Fatalf("rt1 is in no group and the site allows 5: %v", err)
	}
	_, err = ld.ask("pve3", time.Minute)
	leaseRefused(t, err, "max_concurrent", "group pve has 1 lease held (max_concurrent = 1)")
}

// A power action counts a leased host as down: with pve1 leased, cycling
// pve2 would break quorum and is refused.
func TestPowerCountsALeasedHostAsDown(t *testing.T) {
	cfg := leaseSite()
	cfg.Power = configs.Power{Enabled: true, Allow: []string{"alice"}, PerHostPerHour: 2, PerSitePerHour: 5}
	for i := range cfg.Targets[:3] {
		cfg.Targets[i].BMC = cfg.Targets[i].Name + "-bmc"
		cfg.Targets = append(cfg.Targets, configs.Target{Name: cfg.Targets[i].Name + "-bmc", Kind: "ipmi", Address: "127.0.0.1", Host: cfg.Targets[i].Name})
	}
	ld := newLeaseDesk(t, cfg, nil, nil, nil)
	cycle := Request{Target: "pve2", Action: configs.PowerCycle, By: "alice", Via: "test"}
	if err := ld.Check(context.Background(), cycle); err != nil {
		t.Fatalf("before the lease: %v", err)
	}
	if _, err := ld.ask("pve1", time.Minute); err != nil {
		t.Fatal(err)
	}
	leaseRefused(t, ld.Check(context.Background(), cycle), "quorum", "pve1 is already down")
}

// Waiting requests are served first come, first served: pve2's ticket
// before pve3's, each when the lease before it ends.
func TestLeaseTicketsAreServedInOrder(t *testing.T) {
	ld := newLeaseDesk(t, leaseSite(), nil, nil, nil)
	ctx := context.Background()
	if _, err := ld.ask("pve1", 10*time.Minute); err != nil {
		t.Fatal(err)
	}
	_, t2, err := ld.Lease(ctx, LeaseRequest{Target: "pve2", Holder: "ci", For: time.Minute, Wait: time.Hour})
	if err != nil || t2 == nil || !strings.Contains(t2.Why, "1 lease held site-wide") {
		t.Fatalf("ticket %+v, %v", t2, err)
	}
	_, t3, err := ld.Lease(ctx, LeaseRequest{Target: "pve3", Holder: "ci", For: time.Minute, Wait: time.Hour})
	if err != nil || t3 == nil {
		t.Fatal(err)
	}
	ld.st.set("pve1", "down")
	ld.Tick(ctx)
	ld.clock.Add(7 * time.Minute)
	ld.Poll(t2.ID) // their scripts poll all along
	ld.Poll(t3.ID)
	ld.st.set("pve1", "up")
	ld.Tick(ctx)
	got2, _ := ld.Poll(t2.ID)
	got3, _ := ld.Poll(t3.ID)
	if got2.State != "granted" || got2.Lease == nil || got2.Lease.Target != "pve2" {
		t.Fatalf("pve2's ticket, first in line: %+v", got2)
	}
	if got3.State != "waiting" || !strings.Contains(got3.Why, "pve2 (lease #2 by ci") {
		t.Fatalf("pve3's ticket: %+v", got3)
	}
	ls := ld.Leases()
	if len(ls) != 1 || ls[0].Target != "pve2" {
		t.Fatalf("standing: %+v", ls)
	}
	// pve1's lease ended by itself, with the words the issue asks for.
	var detail string
	ld.db.QueryRow(`SELECT detail FROM leases WHERE target = 'pve1'`).Scan(&detail)
	if detail != "pve1 back after 7m0s" {
		t.Fatalf("pve1's lease: %q", detail)
	}
}

// A ticket nobody polls for TicketTTL is dropped, never granted: the
// script that asked is gone. One out of time is refused.
func TestLeaseTicketsNotPolledAreDropped(t *testing.T) {
	ld := newLeaseDesk(t, leaseSite(), nil, nil, nil)
	ctx := context.Background()
	ld.st.set("gluster-heal", "down")
	_, tk, err := ld.Lease(ctx, LeaseRequest{Target: "pve2", Holder: "ci", For: time.Minute, Wait: time.Hour})
	if err != nil || tk == nil {
		t.Fatal(err)
	}
	_, short, _ := ld.Lease(ctx, LeaseRequest{Target: "pve3", Holder: "ci", For: time.Minute, Wait: 20 * time.Second})
	ld.clock.Add(20 * time.Second)
	ld.Poll(tk.ID)
	ld.Tick(ctx)
	if got, _ := ld.Poll(short.ID); got.State != "refused" || !strings.Contains(got.Why, "the wait of 20s ran out: refused: gluster-heal") {
		t.Fatalf("out of time: %+v", got)
	}
	ld.clock.Add(TicketTTL)
	ld.st.set("gluster-heal", "up")
	ld.Tick(ctx)
	if _, ok := ld.Poll(tk.ID); ok {
		t.Fatal("a ticket not polled for 30s is still there")
	}
	if len(ld.Leases()) != 0 {
		t.Fatalf("a dropped ticket was granted: %+v", ld.Leases())
	}
}

// A lease is extended once; a second extension is refused.
func TestLeaseExtendsOnce(t *testing.T) {
	ld := newLeaseDesk(t, leaseSite(), nil, nil, nil)
	ctx := context.Background()
	l, err := ld.ask("pve2", 20*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	_, err = ld.Extend(ctx, l.ID, "bob", 10*time.Minute)
	leaseRefused(t, err, "holder", "only its holder")
	x, err := ld.Extend(ctx, l.ID, "ci", 10*time.Minute)
	if err != nil || !x.EndsAt.Equal(l.EndsAt.Add(10*time.Minute)) {
		t.Fatalf("extend: %+v, %v", x, err)
	}
	_, err = ld.Extend(ctx, l.ID, "ci", 10*time.Minute)
	leaseRefused(t, err, "extend", "already extended once")
	if _, err := ld.Release(ctx, l.ID, "ci"); err != nil || len(ld.Leases()) != 0 {
		t.Fatalf("release: %v, standing %+v", err, ld.Leases())
	}
	_, err = ld.ask("pve2", 5*time.Hour)
	var kinds []string
	rs, err := ld.db.Query(`SELECT kind FROM events WHERE kind LIKE 'lease.%' ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	for rs.Next() {
		var k string
		rs.Scan(&k)
		kinds = append(kinds, k)
	}
	want := "lease.requested lease.granted lease.extended lease.released lease.requested lease.refused"
	if strings.Join(kinds, " ") != want {
		t.Fatalf("audit trail %q; want %q", kinds, want)
	}
}

// A host not back by the lease's end overruns and pages once, with the
// issue's words; back later, the page is resolved. A host that never
// went down ends its lease quietly.
func TestLeaseOverrunPagesOnce(t *testing.T) {
	ld := newLeaseDesk(t, leaseSite(), nil, nil, nil)
	ctx := context.Background()
	l, err := ld.ask("pve2", 20*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	ld.st.set("pve2", "down")
	ld.Tick(ctx)
	for range 5 {
		ld.clock.Add(5 * time.Minute)
		ld.Tick(ctx)
	}
	want := "pve2 did not come back from maintenance (lease by ci, kernel 6.12, ended 03:20)"
	if got := ld.pages.list(); len(got) != 1 || got[0] != want {
		t.Fatalf("pages %q; want once %q", got, want)
	}
	if ls := ld.Leases(); len(ls) != 1 || ls[0].State != LeaseOverrun {
		t.Fatalf("an overrun lease still stands (the host is still expected down): %+v", ls)
	}
	ld.st.set("pve2", "up")
	ld.Tick(ctx)
	if got := ld.pages.list(); len(got) != 2 || got[1] != "back: pve2" {
		t.Fatalf("pages %q", got)
	}
	var state string
	ld.db.QueryRow(`SELECT state FROM leases WHERE id = ?`, l.ID).Scan(&state)
	if state != LeaseOverrun || len(ld.Leases()) != 0 {
		t.Fatalf("state %q, standing %+v", state, ld.Leases())
	}

	q, err := ld.ask("pve3", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	ld.clock.Add(time.Minute)
	ld.Tick(ctx)
	var detail string
	ld.db.QueryRow(`SELECT state || ': ' || detail FROM leases WHERE id = ?`, q.ID).Scan(&detail)
	if detail != "ended: lease ended; pve3 stayed up" || len(ld.pages.list()) != 2 {
		t.Fatalf("quiet end: %q, pages %q", detail, ld.pages.list())
	}
}

// A restart (a new desk on the same store) keeps every lease standing,
// and the loop goes on: the host not back overruns after the restart.
func TestLeasesSurviveARestart(t *testing.T) {
	db := audit(t)
	c := clock.NewFake(time.Date(2026, 11, 23, 3, 0, 0, 0, time.UTC))
	st := &states{}
	cfg := leaseSite()
	cfg.Leases.MaxConcurrent = 2
	cfg.Groups[0].MaxConcurrent = 2
	cfg.Groups[0].MinUp = 1
	first := newLeaseDesk(t, cfg, db, c, st)
	a, err := first.ask("pve1", 20*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := first.Extend(context.Background(), a.ID, "ci", 5*time.Minute); err != nil {
		t.Fatal(err)
	}
	st.set("pve1", "down")
	first.Tick(context.Background())
	if _, err := first.ask("pve2", 20*time.Minute); err != nil {
		t.Fatal(err)
	}
	first.Close()

	again := newLeaseDesk(t, cfg, db, c, st)
	ls := again.Leases()
	if len(ls) != 2 || ls[0].Target != "pve1" || !ls[0].Extended || ls[0].DownAt.IsZero() || ls[1].Target != "pve2" {
		t.Fatalf("after restart: %+v", ls)
	}
	c.Add(25 * time.Minute)
	again.Tick(context.Background())
	if got := again.pages.list(); len(got) != 1 || !strings.HasPrefix(got[0], "pve1 did not come back") {
		t.Fatalf("pages after restart: %q", got)
	}
}

// No lease while a power action runs in the host's group: cycling pve1
// on ipmi_sim, a lease on pve2 is refused, naming the action.
func TestNoLeaseWhileAPowerActionRunsInTheGroup(t *testing.T) {
	sim := simtest.Start(t)
	cfg := site(sim)
	cfg.Leases = configs.Leases{Allow: []string{"ci"}, MaxConcurrent: 1, MaxFor: configs.Duration{Duration: time.Hour}}
	for i := range cfg.Groups {
		cfg.Groups[i].MaxConcurrent = 1
	}
	db := audit(t)
	pool := ipmi.NewPool()
	t.Cleanup(func() { pool.Close() })
	pc := narrow(cfg)
	pc.Leases = cfg.Leases
	d := New(pc, Options{BMC: pooled{pool}, Trail: db, DB: db.DB, State: (&states{}).get})
	t.Cleanup(d.Close)
	ctx := within(t, 30*time.Second)
	done := make(chan error, 1)
	go func() {
		_, err := d.Execute(ctx, Request{Target: "pve1", Action: configs.PowerCycle, By: "alice", Via: "test"})
		done <- err
	}()
	for {
		if _, _, busy := d.Guard().Busy(); busy {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("the cycle ended before the lease was asked for: %v", err)
		case <-time.After(time.Millisecond):
		}
	}
	_, _, err := d.Lease(ctx, LeaseRequest{Target: "pve2", Holder: "ci", For: time.Minute})
	leaseRefused(t, err, "power", "refused: cycle pve1 by alice is running in pve2's group; no lease while a power action runs there")
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, _, err := d.Lease(ctx, LeaseRequest{Target: "pve2", Holder: "ci", For: time.Minute}); err != nil {
		t.Fatalf("after the cycle: %v", err)
	}
}
