package classify

import (
	"context"
	"strings"
	"testing"
	"time"

	"foghorn/configs"
	"foghorn/ipmi"
	"foghorn/ipmi/simtest"
	"foghorn/probes"
)

// bmcSim is a sim where the BMC targets are not probed by the sim's
// world (whose messages are "connected to ..."): the test feeds their
// results itself, with the ipmi probe's words.
type bmcSim struct {
	*sim
	bmc map[string]func() probes.Result // what each BMC answers from now on
}

func newBMCSim(t *testing.T, s *sim, bmcs ...string) *bmcSim {
	b := &bmcSim{sim: s, bmc: map[string]func() probes.Result{}}
	for _, n := range bmcs {
		delete(s.due, n)
	}
	return b
}

// answer makes bmc answer st with w from now on, worded as the ipmi
// probe words it (nil w: silent, with the probe's error).
func (b *bmcSim) answer(bmc string, st probes.Status, w *probes.BMCWord) {
	msg := bmcSilentMsg
	if w == nil {
		w = &probes.BMCWord{}
	} else {
		msg = bmcText(w)
	}
	b.bmc[bmc] = func() probes.Result { return probes.Result{Target: bmc, Kind: "ipmi", Status: st, Msg: msg, BMC: w} }
}

// run runs the sim, probing the BMCs every 10 s as the scheduler would.
func (b *bmcSim) run(d time.Duration) {
	for end := b.clk.Now().Add(d); b.clk.Now().Before(end); {
		for _, name := range sortedKeys(b.bmc) {
			r := b.bmc[name]()
			r.Start = b.clk.Now()
			b.c.Observe(r)
		}
		b.sim.run(10 * time.Second)
	}
}

const (
	bmcECC       = "BMC up; power on; SEL: DIMM A1 Uncorrectable ECC"
	bmcSilentMsg = "no answer from pve1-bmc within 2s (RMCP+ session): check the address, port 623/udp and the network"
)

var (
	wordOn  = &probes.BMCWord{Answered: true, PowerOn: true}
	wordOff = &probes.BMCWord{Answered: true}
	wordECC = &probes.BMCWord{Answered: true, PowerOn: true, Findings: []string{"SEL: DIMM A1 Uncorrectable ECC"}}
)

// A host down while its BMC answers: the page says what the BMC says and
// offers the power action. The BMC then goes silent too: the page says
// that points at the network or the power. The BMC is linked by bmc = on
// the host (not host = on the BMC).
func TestClassifyHostDownBMCUp(t *testing.T) {
	t.Parallel()
	cfg := simConfig("pve1", "pve1-bmc")
	cfg.Targets[0].BMC = "pve1-bmc"
	cfg.Targets[1].Kind, cfg.Targets[1].Severity = "ipmi", "warning"
	cfg.Escalation.StormWindow.Duration = 0
	cfg.Power.Enabled = true
	s := newBMCSim(t, newSim(t, cfg), "pve1-bmc")
	s.set(probes.OK, "pve1")
	s.answer("pve1-bmc", probes.OK, wordOn)
	s.run(30 * time.Second)
	s.wantKeys()

	s.set(probes.Critical, "pve1")
	s.answer("pve1-bmc", probes.Critical, wordECC)
	s.run(time.Minute)
	s.wantKeys("target:pve1 F")
	e := s.last("target:pve1")
	if want := "pve1 DOWN; " + bmcECC; e.Summary != want {
		t.Errorf("summary\n got  %q\n want %q", e.Summary, want)
	}
	if e.Offer != configs.PowerCycle || e.Host != "pve1" || strings.Contains(e.Detail, "Reply") {
		t.Errorf("the event should offer the cycle as a typed value (%q on %q), never words:\n%s", e.Offer, e.Host, e.Detail)
	}
	if e.Severity != "critical" || !strings.Contains(e.Detail, "no answer from pve1") {
		t.Errorf("severity %s (want critical: the BMC reports a fault), detail:\n%s", e.Severity, e.Detail)
	}

	// The BMC stops answering: same incident, new words, no offer.
	s.answer("pve1-bmc", probes.Critical, nil)
	s.run(time.Minute)
	s.wantKeys("target:pve1 F")
	e = s.last("target:pve1")
	if want := "pve1 DOWN; BMC not answering either (network or power?)"; e.Summary != want {
		t.Errorf("summary\n got  %q\n want %q", e.Summary, want)
	}
	if e.Offer != "" || !strings.Contains(e.Detail, "BMC pve1-bmc: "+bmcSilentMsg) {
		t.Errorf("detail:\n%s", e.Detail)
	}

	// Back: the host's incident resolves; the BMC never had its own.
	s.set(probes.OK, "pve1")
	s.answer("pve1-bmc", probes.OK, wordOn)
	s.run(2 * time.Minute)
	s.wantKeys("target:pve1 F", "target:pve1 R")
}

// Power off at the BMC offers ON, not CYCLE; with power actions off in
// the config, nothing is offered but the BMC's word is still told.
func TestClassifyHostDownBMCOffers(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		enabled bool
		word    *probes.BMCWord
		offer   configs.PowerAction
	}{
		{true, wordOff, configs.PowerOn},
		{false, wordECC, ""},
	} {
		cfg := simConfig("pve1", "pve1-bmc")
		cfg.Targets[1].Kind, cfg.Targets[1].Host = "ipmi", "pve1"
		cfg.Escalation.StormWindow.Duration = 0
		cfg.Power.Enabled = c.enabled
		s := newBMCSim(t, newSim(t, cfg), "pve1-bmc")
		s.set(probes.OK, "pve1")
		s.answer("pve1-bmc", probes.OK, wordOn)
		s.run(30 * time.Second)
		s.set(probes.Critical, "pve1")
		s.answer("pve1-bmc", probes.Critical, c.word)
		s.run(time.Minute)
		e := s.last("target:pve1")
		if e.Summary != "pve1 DOWN; "+bmcText(c.word) || e.Offer != c.offer || strings.Contains(e.Detail, "Reply") {
			t.Errorf("power enabled %v, BMC %+v:\nsummary %q offer %q\ndetail:\n%s", c.enabled, c.word, e.Summary, e.Offer, e.Detail)
		}
	}
}

// A host in a quorum group is told in the group's incident: a lone down
// member says what its BMC says there, and the offer leads the detail.
func TestClassifyGroupMemberDownBMCUp(t *testing.T) {
	t.Parallel()
	cfg := simConfig("pve1", "pve2", "pve3", "pve1-bmc")
	cfg.Targets[0].BMC = "pve1-bmc"
	cfg.Targets[3].Kind = "ipmi"
	cfg.Power.Enabled = true
	group(cfg, "hypervisors", 2, true, "pve1", "pve2", "pve3")
	s := newBMCSim(t, newSim(t, cfg), "pve1-bmc")
	s.set(probes.OK, "pve1", "pve2", "pve3")
	s.answer("pve1-bmc", probes.OK, wordOn)
	s.run(30 * time.Second)
	s.set(probes.Critical, "pve1")
	s.answer("pve1-bmc", probes.Critical, wordECC)
	s.run(time.Minute)
	e := s.last("group:hypervisors")
	if want := "hypervisors: pve1 (" + bmcECC + ") down, 2 of 3 up (quorum 2)"; e.Summary != want {
		t.Errorf("summary\n got  %q\n want %q", e.Summary, want)
	}
	if e.Host != "pve1" || e.Offer != configs.PowerCycle {
		t.Errorf("a group with one member down is about that host: host %q offer %q", e.Host, e.Offer)
	}
	for _, k := range s.keys() {
		if k != "group:hypervisors F" {
			t.Fatalf("events %v: the BMC must not page on its own\n%s", s.keys(), s.dump())
		}
	}
}

// The same against a real BMC (ipmi_sim): the ipmi probe's own words
// reach the host's page, an uncorrectable ECC injected on the BMC's
// console included; then the BMC stops.
func TestClassifyHostDownRealBMC(t *testing.T) {
	t.Parallel()
	bmc := simtest.Start(t)
	probe := probes.IPMIProber(ipmiPool(t))
	tg := ipmiTarget(bmc.Host, bmc.Port, 3, time.Second)
	var mem probes.Memory
	cfg := simConfig("pve1", "pve1-bmc")
	cfg.Targets[0].BMC = "pve1-bmc"
	cfg.Targets[1].Kind = "ipmi"
	cfg.Escalation.StormWindow.Duration = 0
	cfg.Power.Enabled = true
	s := newBMCSim(t, newSim(t, cfg), "pve1-bmc")
	s.bmc["pve1-bmc"] = func() probes.Result { return probe(context.Background(), tg, &mem) }
	s.set(probes.OK, "pve1")
	s.run(30 * time.Second)
	s.wantKeys()

	bmc.Console(simtest.UncorrectableECC)
	s.set(probes.Critical, "pve1")
	s.run(30 * time.Second)
	s.wantKeys("target:pve1 F")
	e := s.last("target:pve1")
	// The sensor still asserts it too: "sensors: DIMM A1 Uncorrectable
	// ECC" may come with it, in either order.
	if !strings.HasPrefix(e.Summary, "pve1 DOWN; BMC up; power on; ") || !strings.Contains(e.Summary, "SEL: DIMM A1 Uncorrectable ECC") {
		t.Errorf("summary %q\n%s", e.Summary, s.dump())
	}
	if e.Offer != configs.PowerCycle || e.Severity != "critical" {
		t.Errorf("%s, offer %q, detail:\n%s", e.Severity, e.Offer, e.Detail)
	}

	bmc.Stop() // nothing listens: refused at once
	s.run(40 * time.Second)
	s.wantKeys("target:pve1 F")
	if e := s.last("target:pve1"); e.Summary != "pve1 DOWN; BMC not answering either (network or power?)" {
		t.Errorf("summary %q\n%s", e.Summary, e.Detail)
	}
}

// ipmiTarget and ipmiPool are probes' test helpers (probes/ipmi_test.go).
func ipmiTarget(host string, port int, fall int, timeout time.Duration) *configs.Target {
	return &configs.Target{Name: "pve1-bmc", Kind: "ipmi", Address: host, Fall: fall,
		Timeout: configs.Duration{Duration: timeout},
		IPMI: &configs.IPMI{Username: simtest.User, Password: configs.NewSecret(simtest.Password),
			Interface: "lanplus", CipherSuite: 3, Port: port}}
}

func ipmiPool(t *testing.T) *ipmi.Pool {
	p := ipmi.NewPool()
	t.Cleanup(func() { p.Close() })
	return p
}
