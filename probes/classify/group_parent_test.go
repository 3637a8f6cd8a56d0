package classify

import (
	"slices"
	"strings"
	"testing"
	"time"

	"foghorn/probes"
)

// A parent may be a group: the hosts behind a router pair are reached
// through either router, so they are cut off only while the pair is below
// min_up. These run on the sim's fake clock, like classify_test.go.

// One router of the pair down: the hosts behind the pair are still
// reachable through the other, so a host whose web server refuses pages
// on its own, as soon as the pair has answered — not held, not hidden.
func TestClassifyGroupParentOneRouterDownChildPages(t *testing.T) {
	t.Parallel()
	cfg := simConfig("rt1", "rt2", "web<routers", "pve1<routers")
	group(cfg, "routers", 1, false, "rt1", "rt2")
	s := newSim(t, cfg)
	s.set(probes.OK, "rt1", "rt2", "web", "pve1")
	s.run(30 * time.Second)
	s.wantKeys()

	// rt1 and web fail together: web is held until the pair answers
	// (rt2 does), then pages as itself.
	s.set(probes.Critical, "rt1", "web")
	s.run(time.Minute)
	wantAnyOrder(t, s, "group:routers F", "target:web F")
	e := s.last("target:web")
	if e.Severity != "critical" || !strings.HasPrefix(e.Summary, "web DOWN: ") {
		t.Errorf("web's page: %s %q", e.Severity, e.Summary)
	}
	if d := s.first("target:web").At.Sub(s.downAt["web"]); d > 20*time.Second {
		t.Errorf("web paged %s after it failed, want within 20s (fall 3 at 10s, and rt2's answer)", d)
	}
	g := s.last("group:routers")
	if g.Severity != "warning" || g.Summary != "routers: rt1 down, 1 of 2 up (min 1)" || len(g.Children) > 0 {
		t.Errorf("the pair with one router down: %s %q children %v", g.Severity, g.Summary, g.Children)
	}

	s.set(probes.OK, "rt1", "web")
	s.run(time.Minute)
	wantAnyOrder(t, s, "group:routers F", "target:web F", "group:routers R", "target:web R")
}

// wantAnyOrder is wantKeys for incidents of their own, whose order is
// the probes' slots.
func wantAnyOrder(t *testing.T, s *sim, want ...string) {
	t.Helper()
	got := slices.Sorted(slices.Values(s.keys()))
	if !slices.Equal(got, slices.Sorted(slices.Values(want))) {
		t.Fatalf("events:\n got  %v\n want %v (any order)\n%s", s.keys(), want, s.dump())
	}
}

// Both routers down: the pair is below min_up, what is behind it is
// unreachable, and the pair's one incident lists it: no page per host.
func TestClassifyGroupParentBothRoutersDownChildrenUnreachable(t *testing.T) {
	t.Parallel()
	cfg := simConfig("rt1", "rt2", "web<routers", "pve1<routers", "other")
	group(cfg, "routers", 1, false, "rt1", "rt2")
	s := newSim(t, cfg)
	all := []string{"rt1", "rt2", "web", "pve1", "other"}
	s.set(probes.OK, all...)
	s.run(30 * time.Second)

	s.set(probes.Critical, "rt1", "rt2", "web", "pve1")
	s.run(time.Minute)
	s.wantKeys("group:routers F")
	e := s.last("group:routers")
	if e.Severity != "critical" || e.Summary != "routers DOWN: rt1, rt2 — 0 of 2 up (min 1); 2 behind them unreachable" {
		t.Errorf("both routers down: %s %q", e.Severity, e.Summary)
	}
	if !slices.Equal(e.Children, []string{"pve1", "web"}) {
		t.Errorf("children %v, want [pve1 web]", e.Children)
	}
	if !strings.Contains(e.Detail, "unreachable behind it (2): pve1, web") {
		t.Errorf("detail:\n%s", e.Detail)
	}

	s.set(probes.OK, all...)
	s.run(time.Minute)
	s.wantKeys("group:routers F", "group:routers R")
}

// With every other target behind the pair, losing both is losing the
// site, and the page says so.
func TestClassifyGroupParentBothDownNoRouteIntoTheSite(t *testing.T) {
	t.Parallel()
	cfg := simConfig("rt1", "rt2", "web<routers", "pve1<routers", "db<pve1")
	group(cfg, "routers", 1, false, "rt1", "rt2")
	s := newSim(t, cfg)
	s.set(probes.OK, "rt1", "rt2", "web", "pve1", "db")
	s.run(30 * time.Second)
	s.set(probes.Critical, "rt1", "rt2", "web", "pve1", "db")
	s.run(time.Minute)
	s.wantKeys("group:routers F")
	e := s.last("group:routers")
	if e.Summary != "routers DOWN: rt1, rt2 — no route into the site" || !slices.Equal(e.Children, []string{"db", "pve1", "web"}) {
		t.Errorf("%q children %v", e.Summary, e.Children)
	}
}

// The pair's own parent (both routers behind the uplink) is the parent
// of what is behind the pair: the uplink down is one incident for all.
func TestClassifyGroupParentBehindCommonUplink(t *testing.T) {
	t.Parallel()
	cfg := simConfig("isp", "rt1<isp", "rt2<isp", "web<routers")
	group(cfg, "routers", 1, false, "rt1", "rt2")
	s := newSim(t, cfg)
	s.set(probes.OK, "isp", "rt1", "rt2", "web")
	s.run(30 * time.Second)
	s.set(probes.Critical, "isp", "rt1", "rt2", "web")
	s.run(time.Minute)
	s.wantKeys("target:isp F")
	if e := s.last("target:isp"); !slices.Equal(e.Children, []string{"rt1", "rt2", "web"}) {
		t.Errorf("children %v, want [rt1 rt2 web]\n%s", e.Children, s.dump())
	}
}
