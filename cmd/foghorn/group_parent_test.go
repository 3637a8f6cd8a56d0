package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// The example's hosts name the router pair as their parent (parent =
// "routers"): they are reached through either router. These run the real
// binary on the example (newExample), the routers at 127.0.0.61/62.

// TestExampleOneRouterDownRefusedHostPages: with rt1 silent and rt2 up,
// pve1 is still reachable, so its web UI refusing connections (the host
// up, nothing listening) pages as pve1's own outage: it is not hidden as
// unreachable behind rt1.
func TestExampleOneRouterDownRefusedHostPages(t *testing.T) {
	web := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(web.Close)
	x := newExample(t, quietWorld, withTargetAddress(t, "pve1", web.Listener.Addr().String()))
	p := x.run(t)
	for _, name := range []string{"rt1", "rt2", "pve1"} {
		p.waitWithin(t, 90*time.Second, 0, "target up", map[string]string{"target": name})
	}
	silence(t, x.addr["rt1"])
	p.waitWithin(t, 60*time.Second, 0, "target down", map[string]string{"target": "rt1"})
	web.Close() // the Proxmox UI stops: connections to it are refused
	p.waitWithin(t, 2*time.Minute, 0, "target down", map[string]string{"target": "pve1"})
	t.Cleanup(func() {
		if t.Failed() {
			p.mu.Lock()
			t.Logf("log:\n%s", strings.Join(p.raw, "\n"))
			p.mu.Unlock()
		}
	})
	until(t, 2*time.Minute, "an SMS saying pve1 is down while rt2 answers", func() bool { return len(x.sms("pve1 DOWN")) > 0 })
	if ms := x.sms("pve1 DOWN"); strings.Contains(ms[0].Body, "unreachable") {
		t.Errorf("pve1's page: %q", ms[0].Body)
	}
}

// TestExampleBothRoutersDownHostsUnreachable: with both routers silent the
// pair is below min_up; the hosts behind it go down as unreachable, listed
// in the pair's one incident, and none opens an incident of its own.
func TestExampleBothRoutersDownHostsUnreachable(t *testing.T) {
	x := newExample(t, quietWorld)
	p := x.run(t)
	behind := []string{"pve1", "pve2", "pve3", "zabbix", "dns1"}
	for _, name := range append([]string{"rt1", "rt2"}, behind...) {
		p.waitWithin(t, 90*time.Second, 0, "target up", map[string]string{"target": name})
	}
	silence(t, x.addr["rt1"])
	silence(t, x.addr["rt2"])
	for _, name := range behind {
		p.waitWithin(t, 3*time.Minute, 0, "target down", map[string]string{"target": name})
	}
	want := "unreachable behind it (5): dns1, pve1, pve2, pve3, zabbix"
	var incs []apiIncident
	until(t, 30*time.Second, "the routers' incident listing "+want, func() bool {
		incs = x.openIncidents(t)
		for _, inc := range incs {
			if inc.Key == "group:routers" && strings.Contains(inc.Detail, want) {
				return true
			}
		}
		return false
	})
	for _, inc := range incs {
		for _, name := range behind {
			// Others may be open (the example's TLS check has no real
			// certificate on loopback): none may be about a host behind.
			if inc.Key != "group:routers" && (strings.Contains(inc.Summary, name) || strings.Contains(inc.Detail, name)) {
				t.Errorf("an incident of its own about %s: %s %q", name, inc.Key, inc.Summary)
			}
		}
		if inc.Key == "group:routers" && (inc.Severity != "critical" || !strings.Contains(inc.Summary, "5 behind them unreachable")) {
			t.Errorf("the routers' incident: %s %q", inc.Severity, inc.Summary)
		}
	}
	if n := len(x.sms("routers DOWN")); n == 0 {
		t.Errorf("no SMS about the pair")
	}
}

type apiIncident struct {
	Key, State, Severity, Summary, Detail string
}

// openIncidents lists the open incidents through the API.
func (x *exampleSite) openIncidents(t *testing.T) []apiIncident {
	t.Helper()
	req, _ := http.NewRequest("GET", x.base+"/api/v1/incidents", nil)
	req.Header.Set("Authorization", "Bearer "+e2eToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var all, out []apiIncident
	if err := json.NewDecoder(resp.Body).Decode(&all); err != nil {
		t.Fatalf("incidents: %v", err)
	}
	for _, inc := range all {
		if inc.State != "resolved" {
			out = append(out, inc)
		}
	}
	return out
}
