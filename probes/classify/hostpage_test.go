package classify

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"foghorn/configs"
	"foghorn/ipmi/simtest"
	"foghorn/probes"
)

// hostPage is what a hung host's page is made of: the pager words it
// (summary, and the offer as "Reply CYCLE pve1 to power-cycle").
type hostPage struct {
	Key, Severity, Summary, Host string
	Offer                        configs.PowerAction
}

func (p hostPage) String() string {
	return fmt.Sprintf("%s [%s] %q host=%q offer=%q", p.Key, p.Severity, p.Summary, p.Host, p.Offer)
}

// hungHost runs a host whose BMC is a real ipmi_sim through the
// classifier, in one of two orders: "bmc first" (the uncorrectable ECC
// brings the BMC target down before the host stops answering) or "host
// first" (the host is down by its fall results before the BMC's are).
// It returns the critical page about pve1 and every event, with the storm
// window on: a host and its own BMC must never fold into a storm.
func hungHost(t *testing.T, bmcFirst bool) (hostPage, *bmcSim) {
	t.Helper()
	bmc := simtest.Start(t)
	probe := probes.IPMIProber(ipmiPool(t))
	cfg := simConfig("pve1", "pve1-bmc")
	cfg.Targets[0].BMC = "pve1-bmc"
	cfg.Targets[1].Kind, cfg.Targets[1].Severity = "ipmi", "warning"
	cfg.Power.Enabled = true
	tg := ipmiTarget(bmc.Host, bmc.Port, cfg.Targets[1].Fall, 2*time.Second)
	var mem probes.Memory
	s := newBMCSim(t, newSim(t, cfg), "pve1-bmc")
	s.bmc["pve1-bmc"] = func() probes.Result { return probe(context.Background(), tg, &mem) }
	s.set(probes.OK, "pve1")
	s.run(30 * time.Second)
	s.wantKeys()

	if bmcFirst {
		bmc.Console(simtest.UncorrectableECC)
		s.run(40 * time.Second)
		// Told as the host's news, at warning: nothing is down yet.
		s.wantKeys("target:pve1 F")
		if e := s.last("target:pve1"); e.Summary != "pve1's BMC reports SEL: DIMM A1 Uncorrectable ECC" ||
			e.Severity != "warning" || e.Offer != "" || e.Host != "pve1" {
			t.Fatalf("the BMC's report: %s\n%s", hostPage{e.Key, string(e.Severity), e.Summary, e.Host, e.Offer}, e.Detail)
		}
		s.set(probes.Critical, "pve1")
	} else {
		s.set(probes.Critical, "pve1")
		bmc.Console(simtest.UncorrectableECC)
	}
	s.run(time.Minute)
	var page *Event
	for i, e := range s.events {
		if e.Key == "target:pve1" && e.Firing && e.Severity == "critical" {
			page = &s.events[i]
			break
		}
	}
	if page == nil {
		t.Fatalf("no critical page about pve1:\n%s", s.dump())
	}
	if !bmcFirst {
		if first := s.first("target:pve1"); first.Severity != "critical" {
			t.Fatalf("host first: the first event about pve1 should be its page, got %q", first.Summary)
		}
	}
	return hostPage{page.Key, string(page.Severity), page.Summary, page.Host, page.Offer}, s
}

// A hung host whose BMC reports an uncorrectable ECC is one incident, the
// host's, with the same page in either order, five runs each: what is
// down, what the BMC says (the SEL finding once, not again as a sensor),
// and the cycle offered as a typed value. The BMC is never "pve1-bmc
// DOWN", never its own incident, never in a storm with its host.
func TestHungHostPageIsTheSameInEitherOrder(t *testing.T) {
	t.Parallel()
	simtest.Require(t)
	want := hostPage{Key: "target:pve1", Severity: "critical", Host: "pve1", Offer: configs.PowerCycle,
		Summary: "pve1 DOWN; BMC up; power on; SEL: DIMM A1 Uncorrectable ECC"}
	for _, order := range []struct {
		name     string
		bmcFirst bool
	}{{"bmc first", true}, {"host first", false}} {
		for run := 1; run <= 5; run++ {
			t.Run(fmt.Sprintf("%s/%d", order.name, run), func(t *testing.T) {
				t.Parallel()
				got, s := hungHost(t, order.bmcFirst)
				if got != want {
					t.Errorf("page\n got  %s\n want %s\n%s", got, want, s.dump())
				}
				// Then the BMC is down by its fall results too: still the one
				// incident, still the same words.
				s.run(time.Minute)
				for _, e := range s.events {
					if e.Key != "target:pve1" || strings.Contains(e.Summary, "pve1-bmc") || strings.Contains(e.Summary, "targets down") {
						t.Fatalf("an event that is not the host's one incident: %s %q\n%s", e.Key, e.Summary, s.dump())
					}
				}
				if e := s.last("target:pve1"); e.Summary != want.Summary || e.Offer != want.Offer || !e.Firing {
					t.Errorf("after the BMC went down too: %q offer %q\n%s", e.Summary, e.Offer, s.dump())
				}
				if bk := s.c.ts["pve1-bmc"]; bk.state != Down {
					t.Errorf("the BMC should be down by its results now (state %s): the test did not get that far", bk.state)
				}
			})
		}
	}
}

// A BMC that stops answering is down on its own ("pve1-bmc DOWN: no
// answer ..."); its host going down within the storm window is not a
// storm with it: the host's own page says the BMC is silent too, and the
// BMC is told with its host from then on.
func TestHostDoesNotJoinItsOwnBMCsStorm(t *testing.T) {
	t.Parallel()
	cfg := simConfig("pve1", "pve1-bmc")
	cfg.Targets[0].BMC = "pve1-bmc"
	cfg.Targets[1].Kind = "ipmi"
	cfg.Power.Enabled = true
	s := newBMCSim(t, newSim(t, cfg), "pve1-bmc")
	s.set(probes.OK, "pve1")
	s.answer("pve1-bmc", probes.OK, wordOn)
	s.run(30 * time.Second)
	s.answer("pve1-bmc", probes.Critical, nil)
	s.run(30 * time.Second)
	s.wantKeys("target:pve1-bmc F")
	s.set(probes.Critical, "pve1")
	s.run(30 * time.Second)
	for _, e := range s.events {
		if strings.Contains(e.Summary, "targets down") {
			t.Fatalf("a host and its BMC in a storm: %q\n%s", e.Summary, s.dump())
		}
	}
	if e := s.last("target:pve1"); e.Summary != "pve1 DOWN; "+bmcSilent || e.Offer != "" || e.Host != "pve1" {
		t.Errorf("host page %q offer %q host %q\n%s", e.Summary, e.Offer, e.Host, s.dump())
	}
	// One incident for the machine: the BMC's own is closed, saying why.
	s.wantKeys("target:pve1-bmc F", "target:pve1 F", "target:pve1-bmc R")
	if e := s.last("target:pve1-bmc"); e.Summary != "pve1-bmc is told with pve1 now: pve1 is down too" {
		t.Errorf("the BMC's incident closes with %q", e.Summary)
	}
}

// A host in a quorum group whose BMC reports first: the report is the
// host's (a warning), and once the host is down it is told in the group's
// incident, which is then about that one host and offers the cycle.
func TestGroupMemberBMCReportFirst(t *testing.T) {
	t.Parallel()
	cfg := simConfig("pve1", "pve2", "pve3", "pve1-bmc")
	cfg.Targets[0].BMC = "pve1-bmc"
	cfg.Targets[3].Kind, cfg.Targets[3].Severity = "ipmi", "warning"
	cfg.Power.Enabled = true
	group(cfg, "hypervisors", 2, true, "pve1", "pve2", "pve3")
	s := newBMCSim(t, newSim(t, cfg), "pve1-bmc")
	s.set(probes.OK, "pve1", "pve2", "pve3")
	s.answer("pve1-bmc", probes.OK, wordOn)
	s.run(30 * time.Second)
	s.answer("pve1-bmc", probes.Critical, wordECC)
	s.run(40 * time.Second)
	s.wantKeys("target:pve1 F")
	if e := s.last("target:pve1"); e.Summary != "pve1's BMC reports SEL: DIMM A1 Uncorrectable ECC" || e.Severity != "warning" {
		t.Fatalf("report %q %s", e.Summary, e.Severity)
	}
	s.set(probes.Critical, "pve1")
	s.run(time.Minute)
	s.wantKeys("target:pve1 F", "target:pve1 R", "group:hypervisors F")
	e := s.last("group:hypervisors")
	if want := "hypervisors: pve1 (" + bmcECC + ") down, 2 of 3 up (quorum 2)"; e.Summary != want || e.Host != "pve1" || e.Offer != configs.PowerCycle {
		t.Errorf("group page %q host %q offer %q\n%s", e.Summary, e.Host, e.Offer, s.dump())
	}
	if r := s.last("target:pve1"); r.Summary != "pve1 is down now: told in its group's incident" {
		t.Errorf("the report resolves with %q", r.Summary)
	}
}

// A restart while a BMC's report is open keeps it open: the stored state
// has no BMC word (only status and message), so the host stays told by
// its report until the BMC is heard again; then the host going down is
// the same incident, and pages as critical.
func TestBMCReportSurvivesRestart(t *testing.T) {
	t.Parallel()
	cfg := simConfig("pve1", "pve1-bmc")
	cfg.Targets[0].BMC = "pve1-bmc"
	cfg.Targets[1].Kind, cfg.Targets[1].Severity = "ipmi", "warning"
	cfg.Power.Enabled = true
	s := newBMCSim(t, newSim(t, cfg), "pve1-bmc")
	s.set(probes.OK, "pve1")
	s.answer("pve1-bmc", probes.OK, wordOn)
	s.run(30 * time.Second)
	s.answer("pve1-bmc", probes.Critical, wordECC)
	s.run(40 * time.Second)
	s.wantKeys("target:pve1 F")
	rows := s.c.saved(true)
	for i := range rows { // as the store keeps them (state.go)
		rows[i].Last.BMC, rows[i].Last.Kind = nil, ""
	}

	s2 := newBMCSim(t, newSim(t, cfg), "pve1-bmc")
	s2.clk.Jump(s.clk.Now().Add(2 * time.Second))
	s2.sim.due = map[string]time.Time{}
	s2.schedule()
	delete(s2.sim.due, "pve1-bmc")
	s2.c.Restore(rows)
	s2.set(probes.OK, "pve1")
	s2.sim.run(15 * time.Second) // the host answers before the BMC is heard again
	s2.answer("pve1-bmc", probes.Critical, wordECC)
	s2.run(30 * time.Second)
	s2.wantKeys()
	s2.set(probes.Critical, "pve1")
	s2.run(time.Minute)
	s2.wantKeys("target:pve1 F")
	if e := s2.last("target:pve1"); e.Summary != "pve1 DOWN; "+bmcECC || e.Severity != "critical" || e.Offer != configs.PowerCycle {
		t.Errorf("after the restart: %q %s offer %q\n%s", e.Summary, e.Severity, e.Offer, s2.dump())
	}
}
