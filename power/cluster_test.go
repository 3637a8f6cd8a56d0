package power

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"foghorn/clock"
	"foghorn/configs"
	"foghorn/ipmi"
	"foghorn/ipmi/simtest"
)

// link is the gossip between two nodes' shared power states, in process:
// each broadcast is handed to the other node's Merge on a goroutine of its
// own, as memberlist does. While held, messages queue (both nodes claim
// before either hears the other); while cut, they are lost and each node
// sees no live peer.
type link struct {
	mu    sync.Mutex
	nodes map[string]*Shared
	held  bool
	cut   bool
	queue []func()
	sent  int // messages handed to the link
}

func (l *link) send(from string) func([]byte) {
	return func(b []byte) {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.sent++
		if l.cut {
			return
		}
		for name, s := range l.nodes {
			if name == from {
				continue
			}
			deliver := func() { go s.Merge(slices.Clone(b)) }
			if l.held {
				l.queue = append(l.queue, deliver)
			} else {
				deliver()
			}
		}
	}
}

func (l *link) live() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cut {
		return 0
	}
	return len(l.nodes) - 1
}

func (l *link) hold() {
	l.mu.Lock()
	l.held = true
	l.mu.Unlock()
}

func (l *link) release() {
	l.mu.Lock()
	q := l.queue
	l.queue, l.held = nil, false
	l.mu.Unlock()
	for _, f := range q {
		f()
	}
}

func (l *link) sentN() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.sent
}

func (l *link) setCut(cut bool) {
	l.mu.Lock()
	l.cut = cut
	l.mu.Unlock()
}

// twoNodes are desks fra and ams on one fake clock, each with its own
// audit trail and BMC pool, sharing their power state over a link.
func twoNodes(t *testing.T, cfg *configs.Config, st *states) (fra, ams *Desk, clk *clock.Fake, l *link) {
	t.Helper()
	clk = clock.NewFake(time.Date(2026, 11, 23, 3, 0, 0, 0, time.UTC))
	l = &link{nodes: map[string]*Shared{}}
	mk := func(name string) *Desk {
		pool := ipmi.NewPool()
		d := New(narrow(cfg), Options{BMC: pooled{pool}, Trail: audit(t), State: st.get, Clock: clk})
		t.Cleanup(func() { d.Close(); pool.Close() })
		sh := d.Share(ShareOptions{Node: name, Live: l.live, Settle: time.Minute})
		sh.SetBroadcast(l.send(name))
		l.nodes[name] = sh
		return d
	}
	return mk("fra"), mk("ams"), clk, l
}

// eventually waits for ok, up to 5 s: the link delivers on goroutines.
func eventually(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !ok(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("after 5 s: %s", what)
		}
	}
}

// A code fra sent is confirmed by a reply that reached ams: same person,
// in time, once. Used on ams, it is used on fra too; another person's
// reply on ams finds nothing and leaves it; expired is expired on both.
func TestCodeMadeOnOneNodeConfirmsOnTheOtherOnce(t *testing.T) {
	sim := simtest.Start(t)
	fra, ams, clk, _ := twoNodes(t, site(sim), &states{})
	ctx := within(t, 30*time.Second)
	const alice, bob = "+4915100000001", "+4915100000002"
	cycle := Request{Target: "pve1", Action: configs.PowerCycle, By: "alice", Via: "sms"}

	off, err := fra.Offer(ctx, cycle, alice)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "ams holds fra's code", func() bool { h, ok := ams.Held(alice); return ok && h.Code == off.Code })
	var ce *CodeError
	if _, err := ams.Confirm(ctx, bob, "bob", off.Code, "sms"); !errors.As(err, &ce) || ce.Why != "none" {
		t.Fatalf("bob's reply on ams: %v", err)
	}
	// Not alice's person: nothing, and void (one guess per code).
	got, err := ams.Confirm(ctx, alice, "alice", off.Code, "sms")
	if err != nil || got.Request.Target != "pve1" || got.Host != "pve1" {
		t.Fatalf("alice's reply on ams: %+v %v", got, err)
	}
	if out, err := ams.Execute(ctx, got.Request); err != nil || !out.Confirmed {
		t.Fatalf("ams cycles pve1: %+v %v", out, err)
	}
	eventually(t, "the code is used on fra too", func() bool { _, ok := fra.Held(alice); return !ok })
	if _, err := fra.Confirm(ctx, alice, "alice", off.Code, "sms"); !errors.As(err, &ce) || ce.Why != "none" {
		t.Fatalf("the same code again on fra: %v", err)
	}
	if a := sim.Actions(); !slices.Equal(a, []string{"power 0", "power 1"}) {
		t.Fatalf("the BMC was asked %v; want one cycle", a)
	}

	// Expired on fra's clock is expired on ams.
	clk.Add(time.Hour) // out of the per-host hour
	off, err = fra.Offer(ctx, cycle, alice)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "ams holds the second code", func() bool { h, ok := ams.Held(alice); return ok && h.Code == off.Code })
	clk.Add(5*time.Minute + time.Second)
	if _, err := ams.Confirm(ctx, alice, "alice", off.Code, "sms"); !errors.As(err, &ce) || ce.Why != "expired" {
		t.Fatalf("an expired code on ams: %v", err)
	}
	// A cancel (any other message) on ams voids fra's code.
	off, _ = fra.Offer(ctx, cycle, alice)
	eventually(t, "ams holds the third code", func() bool { h, ok := ams.Held(alice); return ok && h.Code == off.Code })
	if _, ok := ams.Cancel(ctx, alice, "alice"); !ok {
		t.Fatal("ams did not cancel fra's code")
	}
	eventually(t, "cancelled on fra", func() bool { _, ok := fra.Held(alice); return !ok })
}

// Both nodes are asked at the same moment to cycle two hosts of one
// quorum group (2 of 3), each before it heard of the other's claim. The
// claims are resolved alike on both: at the same time, the lesser node
// name (ams) goes first; fra refuses, naming ams's action. The BMC of
// the loser's host is never touched, and the winner's action counts in
// fra's per-host limit.
func TestConcurrentClaimsOnBothNodesOneActsTheOtherRefusesNamingIt(t *testing.T) {
	s1, s2 := simtest.Start(t), simtest.Start(t)
	cfg := site(s1, s2) // pve1 on s1, pve2 and pve3 on s2
	cfg.Power.PerHostPerHour = 1
	cfg.Power.Allow = []string{"alice", "bob"}
	fra, ams, clk, l := twoNodes(t, cfg, &states{})
	ctx := within(t, 30*time.Second)

	l.hold()
	type result struct {
		out Outcome
		err error
	}
	res := map[string]chan result{"fra": make(chan result, 1), "ams": make(chan result, 1)}
	before := l.sentN()
	go func() {
		out, err := fra.Execute(ctx, Request{Target: "pve1", Action: configs.PowerCycle, By: "alice", Via: "sms"})
		res["fra"] <- result{out, err}
	}()
	go func() {
		out, err := ams.Execute(ctx, Request{Target: "pve2", Action: configs.PowerCycle, By: "bob", Via: "sms"})
		res["ams"] <- result{out, err}
	}()
	eventually(t, "both nodes claimed", func() bool { return l.sentN() >= before+2 })
	l.release()
	a, f := <-res["ams"], <-res["fra"]
	if a.err != nil || !a.out.Confirmed {
		t.Fatalf("ams (first by name at the same moment) should act: %+v %v", a.out, a.err)
	}
	r := refusal(t, f.err, "busy")
	if !strings.Contains(r.Msg, "cycle pve2 by bob from foghorn-ams was claimed first") || !strings.Contains(r.Msg, "one power action at a time across the cluster") {
		t.Fatalf("fra's refusal should name ams's action: %q", r.Msg)
	}
	if got := s1.Actions(); len(got) != 0 {
		t.Fatalf("pve1's BMC was asked %v; fra lost and must not act", got)
	}
	if got := s2.Actions(); !slices.Equal(got, []string{"power 0", "power 1"}) {
		t.Fatalf("pve2's BMC was asked %v; want one cycle", got)
	}
	// ams's cycle counts on fra; fra's withdrawn claim counts nowhere.
	eventually(t, "fra hears ams's action ended", func() bool {
		_, _, busy := fra.Guard().Busy()
		return !busy
	})
	refusal(t, fra.Check(ctx, Request{Target: "pve2", Action: configs.PowerCycle, By: "alice"}), "per_host_per_hour")
	if err := ams.Check(ctx, Request{Target: "pve1", Action: configs.PowerCycle, By: "alice"}); err != nil {
		t.Fatalf("pve1 on ams after fra's claim lost: %v", err)
	}
	// An earlier claim wins whatever the names: fra claims first now.
	clk.Add(time.Hour)
	l.hold()
	before = l.sentN()
	go func() {
		out, err := fra.Execute(ctx, Request{Target: "pve3", Action: configs.PowerCycle, By: "alice"})
		res["fra"] <- result{out, err}
	}()
	eventually(t, "fra claimed", func() bool { return l.sentN() >= before+1 })
	clk.Add(time.Millisecond)
	go func() {
		out, err := ams.Execute(ctx, Request{Target: "pve1", Action: configs.PowerCycle, By: "bob"})
		res["ams"] <- result{out, err}
	}()
	eventually(t, "ams claimed", func() bool { return l.sentN() >= before+2 })
	l.release()
	a, f = <-res["ams"], <-res["fra"]
	if f.err != nil {
		t.Fatalf("fra claimed first and should act: %v", f.err)
	}
	if r := refusal(t, a.err, "busy"); !strings.Contains(r.Msg, "cycle pve3 by alice from foghorn-fra was claimed first") {
		t.Fatalf("ams's refusal: %q", r.Msg)
	}
	if got := s1.Actions(); len(got) != 0 {
		t.Fatalf("pve1's BMC was asked %v", got)
	}
}

// The peer's action in flight counts here: its host is as good as down
// for quorum, and this node is busy. When the peer goes silent mid-action
// its claim stays in flight until its bound (fail-closed for that long),
// then this node decides on its own view again (fail-open).
func TestPeerActionInFlightCountsAsDownAndOutlivesThePeerUntilItsBound(t *testing.T) {
	cfg := site(&simtest.Sim{})
	_, ams, clk, l := twoNodes(t, cfg, &states{})
	ctx := within(t, 10*time.Second)
	now := clk.Now()
	claim := Claim{ID: "fra/1/1", Node: "fra", Host: "pve1", Action: configs.PowerCycle, By: "alice", At: now, Until: now.Add(claimBound), Rev: 1}
	b, _ := json.Marshal(message{From: "fra", Claims: []Claim{claim}})
	if err := l.nodes["ams"].Merge(b); err != nil {
		t.Fatal(err)
	}
	r := refusal(t, ams.Check(ctx, Request{Target: "pve2", Action: configs.PowerCycle, By: "alice"}), "quorum")
	if !strings.Contains(r.Msg, "pve1 (foghorn-fra) is under another foghorn's power action now; cycling pve2 would leave 1") {
		t.Fatalf("quorum refusal: %q", r.Msg)
	}
	// Status changes nothing: allowed.
	if err := ams.Check(ctx, Request{Target: "pve2", Action: configs.PowerStatus, By: "alice"}); err != nil {
		t.Fatalf("status: %v", err)
	}
	// Power on takes nothing away from quorum, but one action at a time.
	r = refusal(t, ams.Check(ctx, Request{Target: "pve2", Action: configs.PowerOn, By: "alice"}), "busy")
	if !strings.HasPrefix(r.Msg, "refused: cycle pve1 by alice from foghorn-fra is still running (started 0s ago)") {
		t.Fatalf("busy refusal: %q", r.Msg)
	}
	// fra goes silent mid-action: its claim holds until its bound.
	l.setCut(true)
	clk.Add(claimBound - time.Second)
	refusal(t, ams.Check(ctx, Request{Target: "pve2", Action: configs.PowerOn, By: "alice"}), "busy")
	clk.Add(2 * time.Second)
	if err := ams.Check(ctx, Request{Target: "pve2", Action: configs.PowerOn, By: "alice"}); err != nil {
		t.Fatalf("after the claim's bound ams decides alone: %v", err)
	}
	// fra's action still counts in the limits for its hour.
	cfg.Power.PerSitePerHour = 1
	ams.Update(narrow(cfg))
	refusal(t, ams.Check(ctx, Request{Target: "pve2", Action: configs.PowerOn, By: "alice"}), "per_site_per_hour")
}

// A claim with no live peer decides at once: nothing to wait for.
func TestClaimWithoutLivePeerDoesNotWait(t *testing.T) {
	_, ams, _, l := twoNodes(t, site(&simtest.Sim{}), &states{})
	l.setCut(true)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, first := l.nodes["ams"].claim(ctx, Request{Target: "pve1", Action: configs.PowerCycle, By: "alice"}, "pve1")
	if first != nil || c.Node != "ams" || ctx.Err() != nil {
		t.Fatalf("claim %+v lost to %+v (%v)", c, first, ctx.Err())
	}
	_ = ams
}
