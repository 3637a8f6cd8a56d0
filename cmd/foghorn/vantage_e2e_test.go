package main

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"foghorn/pager"
	"foghorn/pager/twiliosim"
)

// Issue 15, test 5: two vantage points. Each node's probes dial from a
// loopback address of its own ([cluster] probe_source); nftables drops
// fra's probes of web only: fra's incident is a warning that names fra
// ("web down from fra only; ams sees it up"), and nothing is critical.
// Then ams's too: down from both, the incident is critical.
func TestTwoVantagePointsDownFromOneIsAWarningFromBothCritical(t *testing.T) {
	pf, pa, sim, drop := vantageNodes(t)
	// The path from fra to web is broken; ams still gets through.
	drop("fra")
	const warn = "web down from fra only; ams sees it up"
	opened := pf.waitLine(t, 20*time.Second, "fra opens a warning naming fra", func(m map[string]any) bool {
		return strings.HasSuffix(fmt.Sprint(m["msg"]), " opened") && strings.HasPrefix(fmt.Sprint(m["summary"]), warn)
	})
	if opened["severity"] != "warning" {
		t.Errorf("fra opened %v, want a warning", opened)
	}
	until(t, 10*time.Second, "the warning reaches alice, naming fra", func() bool { return len(smsWith(sim, warn)) > 0 })
	t.Logf("one side: %q", smsWith(sim, warn)[0].Body)
	for _, p := range []*proc{pf, pa} {
		if l := p.findLine(func(m map[string]any) bool {
			return fmt.Sprint(m["severity"]) == "critical" || fmt.Sprint(m["to"]) == "critical"
		}); l != nil {
			t.Errorf("critical while only fra's path is broken: %v", l)
		}
	}
	if l := pa.findLine(func(m map[string]any) bool { return strings.HasSuffix(fmt.Sprint(m["msg"]), " opened") }); l != nil {
		t.Errorf("ams, which sees web up, opened an incident: %v", l)
	}

	// Now from ams too: web is down, whoever looks.
	drop("ams")
	pf.waitLine(t, 20*time.Second, "fra's incident turns critical", func(m map[string]any) bool {
		return strings.HasSuffix(fmt.Sprint(m["msg"]), " severity changed") && fmt.Sprint(m["to"]) == "critical" &&
			strings.HasPrefix(fmt.Sprint(m["summary"]), "web DOWN")
	})
	pa.waitLine(t, 20*time.Second, "ams opens it critical", func(m map[string]any) bool {
		return strings.HasSuffix(fmt.Sprint(m["msg"]), " opened") && fmt.Sprint(m["severity"]) == "critical" &&
			strings.HasPrefix(fmt.Sprint(m["summary"]), "web DOWN")
	})
	until(t, 10*time.Second, "the critical page reaches alice", func() bool { return len(smsWith(sim, "web DOWN")) > 0 })
	t.Logf("both sides: %q", smsWith(sim, "web DOWN")[0].Body)
	for _, m := range smsWith(sim, "web") {
		t.Logf("sms: %s", m.Body)
	}
	if n := len(smsWith(sim, "web down from fra only")); n != 1 {
		t.Errorf("%d warnings reached alice, want 1", n)
	}
}

// vantageNodes starts fra and ams, each probing web from its own
// loopback address, and waits until each has the other's view; drop
// breaks the path from one node to web (nftables, the test's own table).
func vantageNodes(t *testing.T) (pf, pa *proc, sim *twiliosim.Sim, drop func(node string)) {
	t.Helper()
	var simURL string
	fra, ams := clusterNodesOf(t, func(public string) string {
		if sim != nil {
			return simURL
		}
		token, _ := os.ReadFile("../../configs/twilio-token.example")
		sim = twiliosim.New(twiliosim.Options{
			AccountSID: "AC0123456789abcdef0123456789abcdef", AuthToken: strings.TrimSpace(string(token)),
			Number: "+14155550100", PublicURL: public, InboundSMSURL: public + pager.SMSPath,
		})
		var err error
		if simURL, err = sim.Start("127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { sim.Close() })
		return simURL
	}, func(w http.ResponseWriter, r *http.Request) {})
	src := map[string]string{"fra": "127.0.0.2", "ams": "127.0.0.3"}
	var webPort string
	for _, n := range []clusterNode{fra, ams} {
		b, err := os.ReadFile(n.cfg)
		if err != nil {
			t.Fatal(err)
		}
		m := regexp.MustCompile(`address = "http://127\.0\.0\.1:(\d+)`).FindSubmatch(b)
		if m == nil {
			t.Fatalf("no web address in %s", n.cfg)
		}
		webPort = string(m[1])
		bad := strings.TrimSuffix(n.cfg, ".toml") + "-bad.toml"
		writeFile(t, bad, string(b)+"probe_source = \"192.0.2.77\"\n")
		if out, err := exec.Command(bin, "check-config", bad).CombinedOutput(); err == nil || !strings.Contains(string(out), "192.0.2.77 is not an address of this host") {
			t.Fatalf("check-config took a probe_source not of this host: %v\n%s", err, out)
		}
		writeFile(t, n.cfg, string(b)+fmt.Sprintf("probe_source = %q\n", src[n.name]))
		if out, err := exec.Command(bin, "check-config", n.cfg).CombinedOutput(); err != nil {
			t.Fatalf("check-config %s: %v\n%s", n.name, err, out)
		}
	}
	pf = fra.start(t)
	pa = ams.start(t)
	for _, c := range []struct {
		n    clusterNode
		peer string
	}{{fra, "ams"}, {ams, "fra"}} {
		until(t, 15*time.Second, c.n.name+" has "+c.peer+"'s view: web up", func() bool {
			return strings.Contains(fetchBody(t, c.n.base+"/metrics"), `foghorn_cluster_peer_view_targets{peer="`+c.peer+`",state="up"} 1`)
		})
	}

	drop = func(node string) {
		nft(t, "output", fmt.Sprintf("ip saddr %s ip daddr 127.0.0.1 tcp dport %s drop", src[node], webPort))
	}
	return pf, pa, sim, drop
}

// With the peer gone (kill -9), its view no longer counts: fra's own
// view decides, and its warning turns critical once ams is lost.
func TestVantagePeerKilledOwnViewDecides(t *testing.T) {
	pf, pa, sim, drop := vantageNodes(t)
	drop("fra")
	const warn = "web down from fra only; ams sees it up"
	pf.waitLine(t, 20*time.Second, "fra opens a warning naming fra", func(m map[string]any) bool {
		return strings.HasSuffix(fmt.Sprint(m["msg"]), " opened") && strings.HasPrefix(fmt.Sprint(m["summary"]), warn)
	})
	killed := time.Now()
	pa.cmd.Process.Kill()
	<-pa.done
	pf.waitLine(t, 2*clusterPeerTimeout+5*time.Second, "fra's incident turns critical on its own view", func(m map[string]any) bool {
		return strings.HasSuffix(fmt.Sprint(m["msg"]), " severity changed") && fmt.Sprint(m["to"]) == "critical" &&
			strings.HasPrefix(fmt.Sprint(m["summary"]), "web DOWN")
	})
	t.Logf("critical %s after the kill (peer_timeout %s)", time.Since(killed).Round(100*time.Millisecond), clusterPeerTimeout)
	until(t, 10*time.Second, "the critical page reaches alice", func() bool { return len(smsWith(sim, "web DOWN")) > 0 })
}

// findLine is the first log line so far that ok accepts, or nil.
func (p *proc) findLine(ok func(map[string]any) bool) map[string]any {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, m := range p.lines {
		if m != nil && ok(m) {
			return m
		}
	}
	return nil
}

// waitLine waits up to d for a log line that ok accepts.
func (p *proc) waitLine(t *testing.T, d time.Duration, what string, ok func(map[string]any) bool) map[string]any {
	t.Helper()
	var m map[string]any
	until(t, d, what, func() bool { m = p.findLine(ok); return m != nil })
	return m
}
