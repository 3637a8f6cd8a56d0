package classify

import (
	"strings"
	"sync"
	"testing"
	"time"

	"foghorn/clock"
	"foghorn/probes"
)

// peer is the other vantage point, as cmd gives it: its view of the
// targets, confirmed at each look (fresh) unless frozen, or gone.
type peer struct {
	clk *clock.Fake

	mu     sync.Mutex
	sees   map[string]State // confirmed by a good result at each look, for those up
	since  map[string]time.Time
	frozen time.Time // the view's time once it stopped being confirmed
	gone   bool
}

func (p *peer) View() (View, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.gone {
		return View{}, false
	}
	at := p.clk.Now()
	if !p.frozen.IsZero() {
		at = p.frozen
	}
	ts := map[string]Sight{}
	for n, s := range p.sees {
		ts[n] = Sight{State: s}
		if s == Up {
			ts[n] = Sight{State: s, Good: at, Since: p.since[n]}
		}
	}
	return View{Node: "ams", At: at, Targets: ts}, true
}

// see sets what the peer sees of names (a new map: views are replaced, never changed).
func (p *peer) see(st State, names ...string) {
	p.mu.Lock()
	m := map[string]State{}
	for k, v := range p.sees {
		m[k] = v
	}
	since := map[string]time.Time{}
	for k, v := range p.since {
		since[k] = v
	}
	for _, n := range names {
		if m[n] != st {
			since[n] = p.clk.Now()
		}
		m[n] = st
	}
	p.sees, p.since = m, since
	p.mu.Unlock()
}

// newVantageSim is a sim for node fra with peer ams, who sees all of
// names up; a view older than 45 s is stale.
func newVantageSim(t *testing.T, names []string, groups ...func(*sim)) (*sim, *peer) {
	cfg := simConfig(names...)
	var p *peer
	s := newSim(t, cfg, func(s *sim, o *Options) {
		for _, g := range groups {
			g(s)
		}
		p = &peer{clk: s.clk}
		o.Vantage, o.Here, o.Stale = p, "fra", 45*time.Second
	})
	p.see(Up, names...)
	s.set(probes.OK, names...)
	s.run(40 * time.Second)
	s.wantKeys()
	return s, p
}

func TestVantageDownFromOneSideIsAWarningThatSaysSo(t *testing.T) {
	t.Parallel()
	s, p := newVantageSim(t, []string{"pve1", "web"})
	s.set(probes.Critical, "pve1")
	s.run(time.Minute)
	s.wantKeys("target:pve1 F")
	e := s.last("target:pve1")
	if want := "pve1 down from fra only; ams sees it up: no answer from pve1 (host down or packets dropped)"; e.Summary != want {
		t.Errorf("summary\n got  %q\n want %q", e.Summary, want)
	}
	if e.Severity != "warning" || !strings.Contains(e.Detail, "the path from fra is broken, not pve1") {
		t.Errorf("severity %s, detail:\n%s", e.Severity, e.Detail)
	}
	// The peer sees it down too now: the same incident, critical, at once.
	p.see(Down, "pve1")
	s.c.PeerChanged()
	e = s.last("target:pve1")
	if e.Severity != "critical" || !strings.HasPrefix(e.Summary, "pve1 DOWN: ") {
		t.Errorf("down from both: %s %q", e.Severity, e.Summary)
	}
	// Up again from the peer: the recovery it saw first, as long as this
	// node has not failed since; still failing here, a warning again.
	p.see(Up, "pve1")
	s.c.PeerChanged()
	if e = s.last("target:pve1"); e.Severity != "critical" {
		t.Errorf("up again from ams, no failure here since: %s %q", e.Severity, e.Summary)
	}
	s.run(30 * time.Second)
	if e = s.last("target:pve1"); e.Severity != "warning" {
		t.Errorf("up again from ams: %s %q", e.Severity, e.Summary)
	}
	s.set(probes.OK, "pve1")
	s.run(time.Minute)
	s.wantKeys("target:pve1 F", "target:pve1 R")
	if e = s.last("target:pve1"); e.Summary != "pve1 up again from fra" {
		t.Errorf("resolved: %q", e.Summary)
	}
}

func TestVantageDownFromBothIsCritical(t *testing.T) {
	t.Parallel()
	s, p := newVantageSim(t, []string{"pve1"})
	p.see(Down, "pve1")
	s.c.PeerChanged()
	s.set(probes.Critical, "pve1")
	s.run(time.Minute)
	s.wantKeys("target:pve1 F")
	for _, e := range s.events {
		if e.Severity != "critical" {
			t.Fatalf("an event not critical:\n%s", s.dump())
		}
	}
}

// A peer that saw the target up before it failed here is waited for
// (its view is confirmed within Stale/3), not taken for the peer's word.
func TestVantageOldWordOfThePeerIsWaitedFor(t *testing.T) {
	t.Parallel()
	s, p := newVantageSim(t, []string{"pve1"})
	p.mu.Lock()
	p.frozen = s.clk.Now() // the peer's view was made before the outage
	p.mu.Unlock()
	s.set(probes.Critical, "pve1")
	s.run(12 * time.Second) // down here, the peer's word not newer yet (held up to Stale/3)
	s.wantKeys()
	p.mu.Lock()
	p.frozen = time.Time{} // confirmed: the peer sees it down
	p.mu.Unlock()
	p.see(Down, "pve1")
	s.c.PeerChanged()
	s.run(2 * time.Second)
	s.wantKeys("target:pve1 F")
	if e := s.first("target:pve1"); e.Severity != "critical" {
		t.Errorf("first event %s %q, want critical: both see it down", e.Severity, e.Summary)
	}
}

func TestVantageStalePeerViewDoesNotCount(t *testing.T) {
	t.Parallel()
	s, p := newVantageSim(t, []string{"pve1"})
	s.set(probes.Critical, "pve1")
	s.run(time.Minute)
	if e := s.last("target:pve1"); e.Severity != "warning" {
		t.Fatalf("one side: %s %q", e.Severity, e.Summary)
	}
	p.mu.Lock()
	p.frozen = s.clk.Now() // the peer stops confirming its view
	p.mu.Unlock()
	s.run(30 * time.Second)
	if e := s.last("target:pve1"); e.Severity != "warning" {
		t.Fatalf("view 30 s old (stale after 45 s): %s %q", e.Severity, e.Summary)
	}
	s.run(20 * time.Second)
	s.wantKeys("target:pve1 F")
	if e := s.last("target:pve1"); e.Severity != "critical" || !strings.HasPrefix(e.Summary, "pve1 DOWN") {
		t.Errorf("stale view: own view decides: %s %q", e.Severity, e.Summary)
	}
}

func TestVantagePeerGoneOwnViewDecides(t *testing.T) {
	t.Parallel()
	s, p := newVantageSim(t, []string{"pve1"})
	s.set(probes.Critical, "pve1")
	s.run(time.Minute)
	p.mu.Lock()
	p.gone = true
	p.mu.Unlock()
	s.c.PeerChanged()
	if e := s.last("target:pve1"); e.Severity != "critical" || !strings.HasPrefix(e.Summary, "pve1 DOWN") {
		t.Errorf("peer gone: %s %q", e.Severity, e.Summary)
	}
	// Alone from the start: a target down pages critical as without a cluster.
	s2, p2 := newVantageSim(t, []string{"web"})
	p2.mu.Lock()
	p2.gone = true
	p2.mu.Unlock()
	s2.set(probes.Critical, "web")
	s2.run(time.Minute)
	s2.wantKeys("target:web F")
	if e := s2.first("target:web"); e.Severity != "critical" {
		t.Errorf("no peer: %s %q", e.Severity, e.Summary)
	}
}

// A member seen down from one side only is a warning member: the group's
// incident says so, and it is critical only once members are down from both.
func TestVantageGroupMemberDownFromOneSide(t *testing.T) {
	t.Parallel()
	s, p := newVantageSim(t, []string{"rt1", "rt2"}, func(s *sim) { group(s.cfg, "routers", 1, false, "rt1", "rt2") })
	s.set(probes.Critical, "rt1", "rt2") // fra sees neither router
	s.run(time.Minute)
	s.wantKeys("group:routers F")
	e := s.last("group:routers")
	if want := "routers: rt1, rt2 down from fra only; ams sees them up (0 of 2 up here, min 1)"; e.Severity != "warning" || e.Summary != want {
		t.Errorf("both down from fra only: %s\n got  %q\n want %q", e.Severity, e.Summary, want)
	}
	p.see(Down, "rt1")
	s.c.PeerChanged()
	s.run(time.Second) // same severity: re-rendered at the next tick
	e = s.last("group:routers")
	if want := "routers: rt1 down, 0 of 2 up (min 1); rt2 down from fra only; ams sees it up"; e.Severity != "warning" || e.Summary != want {
		t.Errorf("rt1 down from both: %s\n got  %q\n want %q", e.Severity, e.Summary, want)
	}
	p.see(Down, "rt2")
	s.c.PeerChanged()
	if e = s.last("group:routers"); e.Severity != "critical" {
		t.Errorf("both down from both: %s %q", e.Severity, e.Summary)
	}
	s.wantKeys("group:routers F")
}

// The same outage seen from both, the peer a moment later: its last good
// result is from before this node found the target down, so this node
// waits for its word and pages critical, never a warning first.
func TestVantageOutageSeenFromBothAMomentApartIsNeverAWarning(t *testing.T) {
	t.Parallel()
	s, p := newVantageSim(t, []string{"pve1"})
	s.set(probes.Critical, "pve1")
	s.run(time.Second)
	p.mu.Lock()
	p.frozen = s.clk.Now() // the peer's last good result: a second into the outage here
	p.mu.Unlock()
	s.run(14 * time.Second) // down here; the peer still says up, failing since
	s.wantKeys()
	p.see(Down, "pve1") // its fall is done too
	s.c.PeerChanged()
	s.run(time.Second)
	s.wantKeys("target:pve1 F")
	for _, e := range s.events {
		if e.Severity != "critical" {
			t.Fatalf("a warning before the page:\n%s", s.dump())
		}
	}
}

// A host and its silent BMC down from here only: the host's warning tells
// both, as without a peer its page would (the BMC, found first, is told
// with its host once the host is down).
func TestVantageHostAndBMCDownFromOneSideAreOneWarning(t *testing.T) {
	t.Parallel()
	s, _ := newVantageSim(t, []string{"pve1", "pve1-bmc"}, func(s *sim) {
		s.cfg.Targets[1].Kind, s.cfg.Targets[1].Host = "ipmi", "pve1"
	})
	s.set(probes.Critical, "pve1", "pve1-bmc")
	s.run(time.Minute)
	s.wantKeys("target:pve1-bmc F", "target:pve1 F", "target:pve1-bmc R")
	if e := s.last("target:pve1"); e.Severity != "warning" || !strings.HasPrefix(e.Summary, "pve1 down from fra only; ams sees it up") {
		t.Errorf("%s %q", e.Severity, e.Summary)
	}
	if e := s.last("target:pve1-bmc"); e.Summary != "pve1-bmc is told with pve1 now: pve1 is down too" {
		t.Errorf("the BMC's own incident ends: %q", e.Summary)
	}
}

// Found by TestHAKillTheSenderMidEscalationOtherSendsNextStep: a node
// killed while a target was down, restarted after it came back, restored
// it down; the peer's view (up, by a result newer than the failure
// before the kill) made it "down from ams only" and paged a warning the
// moment the views met, before this node had probed it once. Restored,
// it waits for a result of its own: up again, it resolves.
func TestVantageTargetRestoredDownIsNotOneSidedBeforeAResultOfItsOwn(t *testing.T) {
	t.Parallel()
	s, p := newVantageSim(t, []string{"pve1"})
	p.see(Down, "pve1")
	s.c.PeerChanged()
	s.set(probes.Critical, "pve1")
	s.run(time.Minute)
	s.wantKeys("target:pve1 F")
	rows := s.c.saved(true)

	var p2 *peer
	s2 := newSim(t, simConfig("pve1"), func(s2 *sim, o *Options) {
		p2 = &peer{clk: s2.clk}
		o.Vantage, o.Here, o.Stale = p2, "fra", 45*time.Second
	})
	s2.clk.Jump(s.clk.Now().Add(time.Minute))
	s2.due = map[string]time.Time{}
	s2.c.Restore(rows)
	p2.see(Up, "pve1") // the peer saw it come back while this node was down
	s2.c.PeerChanged()
	for _, e := range s2.events {
		if e.Severity == "warning" {
			t.Fatalf("restored down, judged one-sided before a result of its own: %q\n%s", e.Summary, s2.dump())
		}
	}
	s2.schedule()
	s2.set(probes.OK, "pve1")
	s2.run(time.Minute)
	if e := s2.last("target:pve1"); e.Firing {
		t.Errorf("up again after the restart, not resolved:\n%s", s2.dump())
	}
	for _, e := range s2.events {
		if e.Severity == "warning" {
			t.Errorf("a warning after the restart: %q", e.Summary)
		}
	}
}
