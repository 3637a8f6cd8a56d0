package classify

import (
	"slices"
	"strings"
	"testing"
	"time"

	"foghorn/probes"
)

// All classification tests run on a fake clock with scripted answers
// (see sim): minutes of outage in microseconds, exact timings.

func TestClassifyRouterDownHostsUnreachable(t *testing.T) {
	t.Parallel()
	cfg := simConfig("rt1", "pve1<rt1", "pve2<rt1", "web<pve1", "other")
	s := newSim(t, cfg)
	all := []string{"rt1", "pve1", "pve2", "web", "other"}
	s.set(probes.OK, all...)
	s.run(40 * time.Second)
	s.wantKeys()

	s.set(probes.Critical, "rt1", "pve1", "pve2", "web")
	s.run(time.Minute)
	s.wantKeys("target:rt1 F")
	e := s.last("target:rt1")
	if want := []string{"pve1", "pve2", "web"}; !slices.Equal(e.Children, want) {
		t.Errorf("children %v, want %v", e.Children, want)
	}
	if want := "rt1 DOWN: no answer from rt1 (host down or packets dropped); 3 behind it unreachable: pve1, pve2, web"; e.Summary != want {
		t.Errorf("summary\n got  %q\n want %q", e.Summary, want)
	}
	if e.Severity != "critical" || !strings.Contains(e.Detail, "unreachable behind it (3): pve1, pve2, web") {
		t.Errorf("severity %s, detail:\n%s", e.Severity, e.Detail)
	}
	if e.Labels["name"] != "rt1" {
		t.Errorf("labels %v", e.Labels)
	}
	if d := s.first("target:rt1").At.Sub(s.downAt["rt1"]); d > 15*time.Second {
		t.Errorf("detected after %s, want within 15s (interval 10s, fall 3)", d)
	}

	s.set(probes.OK, all...)
	s.run(time.Minute)
	s.wantKeys("target:rt1 F", "target:rt1 R")
}

// A child whose slot comes before its router's finds the outage first: it
// must wait for the router's answer, not page.
func TestClassifyChildFirstIsHeld(t *testing.T) {
	t.Parallel()
	cfg := simConfig("rt1", "web<rt1")
	s := newSim(t, cfg)
	s.set(probes.OK, "rt1", "web")
	s.run(30 * time.Second)
	// Kill both just after web's probe ran... web fails first at its next slot,
	// rt1 a moment later: either order must give one incident, rt1's.
	// Outages far enough apart not to be flapping, each starting at
	// another point of the 10s cycle.
	for i := 0; i < 10; i++ {
		s.run(time.Duration(i+1) * 1300 * time.Millisecond)
		s.set(probes.Critical, "rt1", "web")
		s.run(30 * time.Second)
		s.set(probes.OK, "rt1", "web")
		s.run(16 * time.Minute)
	}
	for _, e := range s.events {
		if e.Key != "target:rt1" {
			t.Fatalf("an event not about rt1:\n%s", s.dump())
		}
	}
	if n := strings.Count(strings.Join(s.keys(), " "), "target:rt1 F"); n != 10 {
		t.Fatalf("%d incidents for 10 outages:\n%s", n, s.dump())
	}
}

// The parent answers: the child is down on its own, and pages.
func TestClassifyChildDownParentUp(t *testing.T) {
	t.Parallel()
	cfg := simConfig("rt1", "web<rt1")
	s := newSim(t, cfg)
	s.set(probes.OK, "rt1", "web")
	s.run(30 * time.Second)
	s.set(probes.Critical, "web")
	s.run(30 * time.Second)
	s.wantKeys("target:web F")
	if d := s.first("target:web").At.Sub(s.downAt["web"]); d > 15*time.Second {
		t.Errorf("detected after %s", d)
	}
}

func TestClassifyRouterPair(t *testing.T) {
	t.Parallel()
	cfg := simConfig("rt1", "rt2", "pve1<rt1", "pve2<rt2")
	group(cfg, "routers", 1, false, "rt1", "rt2")
	s := newSim(t, cfg)
	s.set(probes.OK, "rt1", "rt2", "pve1", "pve2")
	s.run(30 * time.Second)

	s.set(probes.Critical, "rt1")
	s.run(30 * time.Second)
	s.wantKeys("group:routers F")
	e := s.last("group:routers")
	if e.Severity != "warning" || e.Summary != "routers: rt1 down, 1 of 2 up (min 1)" {
		t.Errorf("one router down: %s %q", e.Severity, e.Summary)
	}
	if e.Labels["group"] != "routers" {
		t.Errorf("labels %v", e.Labels)
	}

	s.set(probes.Critical, "rt2", "pve1", "pve2")
	s.run(30 * time.Second)
	s.wantKeys("group:routers F") // the same incident, now critical
	e = s.last("group:routers")
	if e.Severity != "critical" || e.Summary != "routers DOWN: rt1, rt2 — no route into the site" {
		t.Errorf("both routers down: %s %q", e.Severity, e.Summary)
	}
	if !slices.Equal(e.Children, []string{"pve1", "pve2"}) {
		t.Errorf("children %v", e.Children)
	}

	s.set(probes.OK, "rt1", "rt2", "pve1", "pve2")
	s.run(time.Minute)
	s.wantKeys("group:routers F", "group:routers R")
}

func TestClassifyQuorum(t *testing.T) {
	t.Parallel()
	cfg := simConfig("pve1", "pve2", "pve3")
	group(cfg, "hypervisors", 2, true, "pve1", "pve2", "pve3")
	cfg.Groups[0].Severity = "warning" // a quorum loss is critical whatever the group says
	s := newSim(t, cfg)
	s.set(probes.OK, "pve1", "pve2", "pve3")
	s.run(30 * time.Second)

	s.set(probes.Critical, "pve1")
	s.run(30 * time.Second)
	e := s.last("group:hypervisors")
	if e.Severity != "warning" || e.Summary != "hypervisors: pve1 down, 2 of 3 up (quorum 2)" {
		t.Errorf("one down: %s %q", e.Severity, e.Summary)
	}
	s.set(probes.Critical, "pve2")
	s.run(30 * time.Second)
	e = s.last("group:hypervisors")
	if e.Severity != "critical" || e.Summary != "hypervisors lost quorum: 1 of 3 up, 2 needed; down: pve1, pve2" {
		t.Errorf("quorum lost: %s %q", e.Severity, e.Summary)
	}
	s.wantKeys("group:hypervisors F")
}

// Hypervisors behind a dead router are unreachable, not down: the group
// does not page "lost quorum", the router's incident says it.
func TestClassifyQuorumBehindRouter(t *testing.T) {
	t.Parallel()
	cfg := simConfig("rt1", "rt2", "pve1<rt1", "pve2<rt1", "pve3<rt2")
	group(cfg, "hypervisors", 2, true, "pve1", "pve2", "pve3")
	s := newSim(t, cfg)
	s.set(probes.OK, "rt1", "rt2", "pve1", "pve2", "pve3")
	s.run(30 * time.Second)
	s.set(probes.Critical, "rt1", "pve1", "pve2")
	s.run(time.Minute)
	s.wantKeys("target:rt1 F")
	if e := s.last("target:rt1"); !strings.Contains(e.Detail, "group hypervisors: 2 of 3 members unreachable") {
		t.Errorf("detail does not tell the quorum is unknown:\n%s", e.Detail)
	}
}

func TestClassifyBlind(t *testing.T) {
	t.Parallel()
	cfg := simConfig("a", "b", "c")
	canaries(cfg, 1, "198.51.100.1:443", "198.51.100.2:443")
	s := newSim(t, cfg)
	s.set(probes.OK, "a", "b", "c", "198.51.100.1:443", "198.51.100.2:443")
	s.run(time.Minute)

	// foghorn's own uplink dies: the canaries and every target fail.
	s.set(probes.Critical, "a", "b", "c", "198.51.100.1:443", "198.51.100.2:443")
	s.run(15 * time.Minute)
	s.wantKeys()
	if blind, _ := s.c.Blind(); !blind {
		t.Fatal("not blind with every canary down")
	}

	// Back: a and c answer, b really is down.
	s.set(probes.OK, "a", "c", "198.51.100.1:443", "198.51.100.2:443")
	s.run(2 * time.Minute)
	s.wantKeys("self N", "target:b F")
	n := s.last("self")
	if !strings.HasPrefix(n.Summary, "foghorn was offline 02:01–02:16 (15m") || !strings.Contains(n.Summary, "checks of 3 targets did not run; re-checking ") ||
		!strings.Contains(n.Summary, "b") || n.Severity != "info" || n.Firing {
		t.Errorf("notice: %+v", n)
	}
	if !strings.Contains(n.Detail, "canary 198.51.100.1:443") {
		t.Errorf("detail:\n%s", n.Detail)
	}
}

// One canary of two failing is not blindness (min_up 1), and does not
// hold pages.
func TestClassifyOneCanaryDown(t *testing.T) {
	t.Parallel()
	cfg := simConfig("a")
	canaries(cfg, 1, "198.51.100.1:443", "198.51.100.2:443")
	s := newSim(t, cfg)
	s.set(probes.OK, "a", "198.51.100.1:443", "198.51.100.2:443")
	s.run(time.Minute)
	s.set(probes.Critical, "a", "198.51.100.1:443")
	s.run(time.Minute)
	s.wantKeys("target:a F")
	if d := s.first("target:a").At.Sub(s.downAt["a"]); d > 15*time.Second {
		t.Errorf("detected after %s", d)
	}
}

// A canary that cannot be probed at all (say, no permission to ping) must
// not make foghorn think itself blind and hold every page.
func TestClassifyCanaryCannotRun(t *testing.T) {
	t.Parallel()
	cfg := simConfig("a")
	canaries(cfg, 1, "198.51.100.1:443")
	s := newSim(t, cfg)
	s.set(probes.OK, "a")
	s.set(probes.Unknown, "198.51.100.1:443")
	s.run(time.Minute)
	s.set(probes.Critical, "a")
	s.run(time.Minute)
	s.wantKeys("target:a F")
	if d := s.first("target:a").At.Sub(s.downAt["a"]); d > 15*time.Second {
		t.Errorf("detected after %s", d)
	}
}

// Fast flapping stays one incident from the first page on, at warning.
func TestClassifyFlappingFast(t *testing.T) {
	t.Parallel()
	cfg := simConfig("x")
	cfg.Targets[0].Rise, cfg.Targets[0].Fall = 1, 1
	s := newSim(t, cfg)
	s.set(probes.OK, "x")
	s.run(30 * time.Second)
	for i := 0; i < 60; i++ { // ten minutes, a change every probe
		if i%2 == 0 {
			s.set(probes.Critical, "x")
		} else {
			s.set(probes.OK, "x")
		}
		s.run(10 * time.Second)
	}
	s.wantKeys("target:x F")
	e := s.last("target:x")
	if e.Severity != "warning" || !strings.HasPrefix(e.Summary, "x FLAPPING: ") {
		t.Errorf("while flapping: %s %q", e.Severity, e.Summary)
	}
	s.set(probes.OK, "x")
	s.run(20 * time.Minute)
	s.wantKeys("target:x F", "target:x R")
}

// Slow flapping (down a minute, up two) changes state in few results; the
// downs rule makes it one flapping incident by the third time.
func TestClassifyFlappingSlow(t *testing.T) {
	t.Parallel()
	cfg := simConfig("x")
	s := newSim(t, cfg)
	s.set(probes.OK, "x")
	s.run(30 * time.Second)
	for i := 0; i < 10; i++ {
		s.set(probes.Critical, "x")
		s.run(time.Minute)
		s.set(probes.OK, "x")
		s.run(2 * time.Minute)
	}
	keys := s.keys()
	opens := 0
	for _, k := range keys {
		if k == "target:x F" {
			opens++
		}
	}
	if opens > 3 {
		t.Fatalf("%d incidents for one flapping target:\n%s", opens, s.dump())
	}
	if e := s.last("target:x"); !e.Firing || !strings.Contains(e.Summary, "FLAPPING") || e.Severity != "warning" {
		t.Fatalf("not held as flapping: %+v\n%s", e, s.dump())
	}
	// Calm again: it resolves once the downs age out.
	s.run(20 * time.Minute)
	if e := s.last("target:x"); e.Firing {
		t.Fatalf("still open after 20 calm minutes:\n%s", s.dump())
	}
}

func TestClassifyStorm(t *testing.T) {
	t.Parallel()
	cfg := simConfig("sw1", "a<sw1", "b<sw1", "c<sw1", "d<sw1", "e<sw1", "db1")
	cfg.Targets[6].Policy = "dba" // another owner: paged on its own
	s := newSim(t, cfg)
	all := []string{"sw1", "a", "b", "c", "d", "e", "db1"}
	s.set(probes.OK, all...)
	s.run(30 * time.Second)
	s.set(probes.Critical, "a", "b", "c", "d", "e", "db1")
	s.run(time.Minute)
	got := slices.Compact(slices.Sorted(slices.Values(s.keys())))
	if len(got) != 2 || got[1] != "target:db1 F" {
		t.Fatalf("want one storm incident and db1's own, got %v\n%s", got, s.dump())
	}
	storm := s.last(strings.TrimSuffix(got[0], " F"))
	if !strings.HasPrefix(storm.Summary, "5 targets down: ") || !strings.HasSuffix(storm.Summary, " — all behind sw1, which answers") {
		t.Errorf("storm summary %q", storm.Summary)
	}
	if len(storm.Children) != 4 {
		t.Errorf("storm children %v", storm.Children)
	}
	s.set(probes.OK, all...)
	s.run(time.Minute)
	for _, key := range []string{"target:db1", storm.Key} {
		if e := s.last(key); e.Firing {
			t.Errorf("not resolved: %+v\n%s", e, s.dump())
		}
	}
}

// A BMC that reports a fault raises its host's page to critical and is
// told in it, not paged apart.
func TestClassifyBMC(t *testing.T) {
	t.Parallel()
	cfg := simConfig("h", "h-bmc")
	cfg.Targets[0].Severity = "warning"
	cfg.Targets[1].Kind, cfg.Targets[1].Host = "ipmi", "h"
	cfg.Escalation.StormWindow.Duration = 0
	s := newSim(t, cfg)
	s.set(probes.OK, "h", "h-bmc")
	s.run(30 * time.Second)
	s.set(probes.Critical, "h", "h-bmc")
	s.run(time.Minute)
	s.wantKeys("target:h F")
	e := s.last("target:h")
	if e.Severity != "critical" || !strings.Contains(e.Detail, "BMC h-bmc: no answer from h-bmc") {
		t.Errorf("%s\n%s", e.Severity, e.Detail)
	}
}

func TestClassifyWarningAndReboot(t *testing.T) {
	t.Parallel()
	cfg := simConfig("sw")
	s := newSim(t, cfg)
	s.set(probes.OK, "sw")
	s.run(30 * time.Second)
	s.set(probes.Warning, "sw")
	s.run(time.Minute)
	s.wantKeys("target:sw F")
	if e := s.last("target:sw"); e.Severity != "warning" || e.Summary != "sw WARNING: sw answers slowly" {
		t.Errorf("%s %q", e.Severity, e.Summary)
	}
	s.set(probes.OK, "sw")
	s.run(time.Minute)
	s.wantKeys("target:sw F", "target:sw R")

	s.c.Observe(probes.Result{Target: "sw", Start: s.clk.Now(), Status: probes.Warning, Rebooted: true, Msg: "rebooted: sysUpTime went from 5d to 2m"})
	if e := s.events[len(s.events)-1]; !e.Notice || e.Key != "reboot:sw" || e.Summary != "sw rebooted: rebooted: sysUpTime went from 5d to 2m" {
		t.Errorf("reboot: %+v", e)
	}
}

// A restart resumes from saved state: what was down stays down without a
// new event; what recovered while foghorn was away resolves; what went
// down untold must fail again to page.
func TestClassifyRestart(t *testing.T) {
	t.Parallel()
	cfg := simConfig("a", "b", "c", "d")
	s := newSim(t, cfg)
	s.set(probes.OK, "a", "b", "c", "d")
	s.run(30 * time.Second)
	s.set(probes.Critical, "a")
	s.run(2 * time.Minute)
	s.set(probes.Critical, "c")
	s.run(2 * time.Minute)
	s.wantKeys("target:a F", "target:c F")
	rows := s.c.saved(true)

	s2 := newSim(t, cfg)
	s2.clk.Jump(s.clk.Now().Add(5 * time.Minute))
	s2.due = map[string]time.Time{}
	s2.schedule()
	s2.c.Restore(rows)
	s2.set(probes.OK, "b", "c", "d")
	s2.set(probes.Critical, "a")
	s2.run(time.Minute)
	s2.wantKeys("target:c R")
	if e := s2.last("target:c"); e.Firing {
		t.Fatal(e)
	}
	// a recovers later: its incident, open from before, resolves.
	s2.set(probes.OK, "a")
	s2.run(time.Minute)
	s2.wantKeys("target:c R", "target:a R")
}

// Targets paged before their switch went down are joined by it: the
// storm's incident names the switch as the common cause.
func TestClassifyStormCommonCause(t *testing.T) {
	t.Parallel()
	cfg := simConfig("sw1", "a<sw1", "b<sw1", "c<sw1")
	s := newSim(t, cfg)
	s.set(probes.OK, "sw1", "a", "b", "c")
	s.run(30 * time.Second)
	s.set(probes.Critical, "a", "b", "c")
	s.run(20 * time.Second)
	got := slices.Compact(s.keys())
	if len(got) != 1 {
		t.Fatalf("want one storm incident, got %v\n%s", got, s.dump())
	}
	key := strings.TrimSuffix(got[0], " F")
	if e := s.last(key); !strings.HasPrefix(e.Summary, "3 targets down: ") || !strings.HasSuffix(e.Summary, " — all behind sw1, which answers") {
		t.Errorf("before the switch: %q", e.Summary)
	}
	s.set(probes.Critical, "sw1")
	s.run(20 * time.Second)
	s.wantKeys(key + " F")
	if e := s.last(key); !strings.HasPrefix(e.Summary, "sw1 DOWN: no answer from sw1") || !strings.HasSuffix(e.Summary, "; 3 behind it down or unreachable: a, b, c") {
		t.Errorf("with the switch down: %q", e.Summary)
	}
}
