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
// binary on the example (newExample), the routers at 127.0.0.61/62, and
// pve1's web UI on a listener of the test's own, which it stops: the host
// up, nothing listening, connections refused.

// refusedPVE1 is the example with pve1's web UI on a TLS listener the
// test stops (stop), without the peers loopback has no answer for and
// without quiet hours (pve1's page is its group's warning).
func refusedPVE1(t *testing.T) (x *exampleSite, stop func()) {
	t.Helper()
	web := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(web.Close)
	x = newExample(t, quietWorld, withoutQuietHours, withTargetAddress(t, "pve1", web.Listener.Addr().String()))
	return x, web.Close
}

// logOnFailure prints foghorn's log when the test failed without it.
func logOnFailure(t *testing.T, p *proc) {
	t.Cleanup(func() {
		if t.Failed() {
			p.mu.Lock()
			t.Logf("log:\n%s", strings.Join(p.raw, "\n"))
			p.mu.Unlock()
		}
	})
}

// TestExampleOneRouterDownRefusedHostPages: with rt1 silent and rt2 up,
// pve1 is still reachable, so its web UI refusing connections pages as
// pve1's own outage (told in its hypervisors group's incident): it is
// not hidden as unreachable behind rt1.
func TestExampleOneRouterDownRefusedHostPages(t *testing.T) {
	x, stop := refusedPVE1(t)
	p := x.run(t)
	logOnFailure(t, p)
	for _, name := range []string{"rt1", "rt2", "pve1"} {
		p.waitWithin(t, 90*time.Second, 0, "target up", map[string]string{"target": name})
	}
	silence(t, x.addr["rt1"])
	p.waitWithin(t, 60*time.Second, 0, "target down", map[string]string{"target": "rt1"})
	stop()
	p.waitWithin(t, 2*time.Minute, 0, "target down", map[string]string{"target": "pve1"})
	const want = "hypervisors: pve1 down, 2 of 3 up"
	until(t, time.Minute, "an SMS saying "+want+" while rt2 answers", func() bool { return len(x.sms(want)) > 0 })
	if body := x.sms(want)[0].Body; strings.Contains(body, "unreachable") {
		t.Errorf("pve1's page: %q", body)
	}
}

// TestExampleBothRoutersDownHostsUnreachable: with both routers silent the
// pair is below min_up; pve1 failing then is unreachable, listed in the
// pair's one incident, and no other incident is about it.
func TestExampleBothRoutersDownHostsUnreachable(t *testing.T) {
	x, stop := refusedPVE1(t)
	p := x.run(t)
	logOnFailure(t, p)
	for _, name := range []string{"rt1", "rt2", "pve1"} {
		p.waitWithin(t, 90*time.Second, 0, "target up", map[string]string{"target": name})
	}
	silence(t, x.addr["rt1"])
	silence(t, x.addr["rt2"])
	p.waitWithin(t, 60*time.Second, 0, "target down", map[string]string{"target": "rt1"})
	p.waitWithin(t, 60*time.Second, 0, "target down", map[string]string{"target": "rt2"})
	stop()
	p.waitWithin(t, 2*time.Minute, 0, "target down", map[string]string{"target": "pve1"})
	const want = "unreachable behind it (1): pve1"
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
		if inc.Key == "group:routers" && (inc.Severity != "critical" || !strings.Contains(inc.Summary, "1 behind them unreachable")) {
			t.Errorf("the routers' incident: %s %q", inc.Severity, inc.Summary)
		}
		if inc.Key != "group:routers" && (strings.Contains(inc.Summary, "pve1") || strings.Contains(inc.Detail, "pve1")) {
			t.Errorf("an incident of its own about pve1: %s %q", inc.Key, inc.Summary)
		}
	}
	if len(x.sms("routers DOWN: rt1, rt2")) == 0 {
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
	var out []apiIncident
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("incidents: %v", err)
	}
	return out
}
