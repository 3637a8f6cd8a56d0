package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// The demo's fixed addresses (configs/demo.toml).
const (
	demoBase    = "http://127.0.0.1:18080"
	demoSiteURL = "http://127.0.0.1:18090"
)

// narration waits for the log line whose message starts with prefix, at
// or after index from.
func (p *proc) narration(t *testing.T, d time.Duration, from int, prefix string) (map[string]any, int) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		p.mu.Lock()
		for i := from; i < len(p.lines); i++ {
			if msg, _ := p.lines[i]["msg"].(string); strings.HasPrefix(msg, prefix) {
				m := p.lines[i]
				p.mu.Unlock()
				return m, i + 1
			}
		}
		p.mu.Unlock()
		select {
		case err := <-p.done:
			t.Fatalf("foghorn demo exited (%v) before %q:\n%s", err, prefix, strings.Join(p.raw, "\n"))
		case <-time.After(100 * time.Millisecond):
		}
	}
	t.Fatalf("no log line %q within %s", prefix, d)
	return nil, 0
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

// demoIncident is an open incident as GET /api/v1/incidents shows it.
type demoIncident struct {
	ID                            int64
	Short                         int
	Key, State, Severity, Summary string
	AckedBy                       string `json:"acked_by"`
}

// demoState is what the API shows: each target's state, and the open
// incidents.
func demoState(t *testing.T) (map[string]string, []demoIncident) {
	t.Helper()
	var st struct {
		Targets []struct{ Target, State string }
	}
	getJSON(t, demoBase+"/api/v1/status", &st)
	states := map[string]string{}
	for _, x := range st.Targets {
		states[x.Target] = x.State
	}
	var incs []demoIncident
	getJSON(t, demoBase+"/api/v1/incidents", &incs)
	return states, incs
}

// siteAnswers is whether the demo site answers for a target, as foghorn's
// probe asks it.
func siteAnswers(name string) bool {
	c := &http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(demoSiteURL + "/" + name)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == 200
}

// The demo says only what it shows: each narration line of the story is
// checked against what the API, the demo site and the engine's log show
// at that moment — the hosts behind the router pair answer while one
// router is up and are unreachable (down on the dashboard, no incident
// of their own, not paged) while both are down — and the engine's log
// lines for the incident's life carry its number and id.
func TestDemoNarrationMatchesWhatItShows(t *testing.T) {
	if !portFree("127.0.0.1:18080") || !portFree("127.0.0.1:18090") || !portFree("127.0.0.1:18070") {
		t.Skip("the demo's fixed ports 18070/18080/18090 are in use (another demo running?)")
	}
	p := start(t, "demo", "-data-dir", t.TempDir(), "-log-format", "json")
	hosts := []string{"pve1", "pve2", "pve3", "web"}

	// rt1 down: one of the pair; the hosts behind still answer.
	line, n := p.narration(t, 90*time.Second, 0, "demo: rt1 is down")
	msg := line["msg"].(string)
	states, incs := demoState(t)
	if states["rt1"] != "down" || states["rt2"] != "up" || !strings.Contains(msg, "rt2 is up") {
		t.Errorf("narration %q; API: rt1 %s, rt2 %s", msg, states["rt1"], states["rt2"])
	}
	if len(incs) != 1 || incs[0].Severity != "warning" || !strings.Contains(msg, fmt.Sprintf("incident #%d WARNING", incs[0].Short)) {
		t.Errorf("narration %q; open incidents %+v", msg, incs)
	}
	for _, h := range hosts {
		if states[h] != "up" || !siteAnswers(h) || !strings.Contains(msg, h+" answers, up") {
			t.Errorf("%s behind the pair with one router up: API %s, site answers %v; narration %q", h, states[h], siteAnswers(h), msg)
		}
	}
	opened, _ := p.narration(t, time.Second, 0, "incident #1 opened")
	if len(incs) == 1 && (opened["incident"] != float64(incs[0].ID) || opened["short"] != float64(incs[0].Short)) {
		t.Errorf("opened log line %v; want incident=%d short=%d", opened, incs[0].ID, incs[0].Short)
	}

	// rt2 down too: critical; the hosts behind are unreachable, not paged.
	line, n = p.narration(t, 90*time.Second, n, "demo: rt2 is down too")
	msg = line["msg"].(string)
	states, incs = demoState(t)
	if states["rt2"] != "down" || len(incs) != 1 || incs[0].Severity != "critical" ||
		!strings.Contains(msg, fmt.Sprintf("incident #%d CRITICAL", incs[0].Short)) {
		t.Fatalf("narration %q; API: rt2 %s, open %+v", msg, states["rt2"], incs)
	}
	for _, h := range hosts {
		if states[h] != "down" || siteAnswers(h) || !strings.Contains(msg, h+" answers nothing, down (unreachable: no incident of its own, not paged)") {
			t.Errorf("%s behind the dead pair: API %s, site answers %v; narration %q", h, states[h], siteAnswers(h), msg)
		}
		if incs[0].Key == "target:"+h {
			t.Errorf("%s has an incident of its own: %+v", h, incs[0])
		}
	}
	id, short := incs[0].ID, incs[0].Short

	// bob acks.
	line, n = p.narration(t, 4*time.Minute, n, "demo: incident #")
	msg = line["msg"].(string)
	_, incs = demoState(t)
	if len(incs) != 1 || incs[0].State != "acknowledged" || incs[0].AckedBy != "bob" ||
		msg != fmt.Sprintf("demo: incident #%d acknowledged by bob; paging stopped. The routers come back in 15 s", short) {
		t.Errorf("narration %q; open %+v", msg, incs)
	}

	// The routers come back: nothing open, everything up.
	line, _ = p.narration(t, 90*time.Second, n, "demo: the routers are back")
	msg = line["msg"].(string)
	states, incs = demoState(t)
	if len(incs) != 0 || states["rt1"] != "up" || states["rt2"] != "up" {
		t.Errorf("narration %q; API: %v, open %+v", msg, states, incs)
	}
	for _, h := range hosts {
		if !strings.Contains(msg, h+" answers, ") {
			t.Errorf("narration %q does not say how %s is", msg, h)
		}
	}

	// The engine's log lines of the incident's life name it: "#N" in the
	// message, its number and id as attributes.
	for _, what := range []string{"opened", "severity changed", "escalated", "acknowledged", "resolved"} {
		l, _ := p.narration(t, 10*time.Second, 0, fmt.Sprintf("incident #%d %s", short, what))
		if l["incident"] != float64(id) || l["short"] != float64(short) {
			t.Errorf("log line %v: want incident=%d short=%d", l, id, short)
		}
	}
}

func portFree(addr string) bool {
	c := &http.Client{Timeout: time.Second}
	resp, err := c.Get("http://" + addr + "/")
	if err == nil {
		resp.Body.Close()
		return false
	}
	return true
}
