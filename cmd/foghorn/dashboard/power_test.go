package dashboard

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"foghorn/configs"
	"foghorn/escalation"
)

// powerCall is one request the dashboard made of the guard.
type powerCall struct {
	host   string
	action configs.PowerAction
	by     string
	force  bool
	dryRun bool
}

// guardSeat stands where cmd wires the real guard: it answers as the
// guard would and keeps what it was asked.
type guardSeat struct {
	mu     sync.Mutex
	calls  []powerCall
	refuse string // a refusal for every request, when set
}

func (g *guardSeat) Power(ctx context.Context, host string, action configs.PowerAction, by string, force, dryRun bool) (string, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.calls = append(g.calls, powerCall{host, action, by, force, dryRun})
	if g.refuse != "" {
		return "", errors.New(g.refuse)
	}
	if dryRun {
		return "allowed", nil
	}
	return "cycled: off, then on after 1.1s", nil
}

func (g *guardSeat) done() []powerCall {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []powerCall
	for _, c := range g.calls {
		if !c.dryRun {
			out = append(out, c)
		}
	}
	return out
}

// withPower is the env with [power] on, rt1 and rt2 a quorum pair, the
// audit trail and g wired in, and an incident about the host rt2.
func withPower(t *testing.T, g *guardSeat) (*env, *escalation.Incident) {
	e := newEnv(t, "")
	src := siteConfig("") + "\n[power]\nenabled = true\nallow = [\"alice\"]\n\n[[group]]\nname = \"pair\"\nmembers = [\"rt1\", \"rt2\"]\nquorum = true\nmin_up = 1\n"
	cfg, err := configs.Parse("t.toml", t.TempDir(), []byte(src), func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	e.cfg.Store(cfg)
	e.dash, err = New(Options{Engine: e.eng, Source: e.board, Config: func() *Config { return narrow(e.cfg.Load()) },
		Log: slog.New(slog.NewTextHandler(e.logs, nil)), Audit: e.db, Power: g})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	e.dash.Routes(mux)
	e.srv.Close()
	e.srv = httptest.NewServer(mux)
	t.Cleanup(e.srv.Close)
	if _, err := e.eng.Handle(context.Background(), escalation.Alert{Key: "target:rt2", Firing: true, Severity: "critical",
		Summary: "rt2 hung", Labels: cfg.Target("rt2").LabelSet(), Source: "probe", Host: "rt2", Offer: configs.PowerCycle}); err != nil {
		t.Fatal(err)
	}
	inc := e.waitIncident(func(*escalation.Incident) bool {
		incs, _ := e.eng.Open(context.Background())
		return len(incs) == 2
	}, "for rt2")
	incs, _ := e.eng.Open(context.Background())
	for i := range incs {
		if incs[i].Host == "rt2" {
			inc = &incs[i]
		}
	}
	return e, inc
}

// Issue 12, point 5: the host's incident offers the power action; the
// dashboard shows what will happen, the quorum standing and the guard's
// dry run first, and acts only on the confirming POST with its CSRF token.
func TestDashboardPowerIsConfirmedFirst(t *testing.T) {
	g := &guardSeat{}
	e, inc := withPower(t, g)
	c := e.client("")
	c.mustLogin("alice", alicePW)

	r := c.get(fmt.Sprintf("/incidents/%d", inc.ID))
	r.has(t, fmt.Sprintf(`action="/incidents/%d/power"`, inc.ID), `<select name="action" aria-label="power action"><option>cycle</option>`)
	if r := c.get(fmt.Sprintf("/incidents/%d", e.inc.ID)); strings.Contains(r.body, "/power") {
		t.Error("an incident with no host offers a power action")
	}

	r = c.get(fmt.Sprintf("/incidents/%d/power?action=cycle", inc.ID))
	r.has(t, "Cycle rt2?", "switches it off and on again", "pair: 1 of 2 up now, needs 1; cycling rt2 leaves 0: below quorum",
		"The guard allows it now", "Cycle rt2 now")
	if len(g.done()) != 0 || len(g.calls) != 1 || !g.calls[0].dryRun || g.calls[0].by != "alice" {
		t.Fatalf("the confirmation page must only dry-run, as alice: %+v", g.calls)
	}

	post := func(form url.Values) resp { return c.post(fmt.Sprintf("/incidents/%d/power", inc.ID), form) }
	if r := post(url.Values{"action": {"cycle"}, "host": {"rt2"}}); r.code != http.StatusForbidden || len(g.done()) != 0 {
		t.Fatalf("a power POST without the CSRF token: %d, done %+v", r.code, g.done())
	}
	if r := post(url.Values{"csrf": {c.csr}, "action": {"cycle"}, "host": {"rt1"}}); r.code != http.StatusConflict || len(g.done()) != 0 {
		t.Fatalf("a power POST for another host than the incident's: %d, done %+v", r.code, g.done())
	}
	r = post(url.Values{"csrf": {c.csr}, "action": {"cycle"}, "host": {"rt2"}})
	if r.code != http.StatusSeeOther {
		t.Fatalf("confirmed cycle: %d\n%s", r.code, r.body)
	}
	if d := g.done(); len(d) != 1 || d[0] != (powerCall{"rt2", configs.PowerCycle, "alice", false, false}) {
		t.Fatalf("the guard was asked: %+v", d)
	}
	c.get(fmt.Sprintf("/incidents/%d", inc.ID)).has(t, "Cycle rt2: cycled: off, then on after 1.1s")

	// A refusal is shown with the guard's reason, and no button.
	g.refuse = "refused: cycling rt2 would leave pair with 0 up, below min_up 1"
	r = c.get(fmt.Sprintf("/incidents/%d/power?action=cycle", inc.ID))
	r.has(t, "refused: cycling rt2 would leave pair with 0 up")
	if strings.Contains(r.body, "Cycle rt2 now") {
		t.Error("a refused action still offers its button")
	}

	// A viewer sees the page, is not dry-run for, and cannot act.
	n := len(g.calls)
	v := e.client("")
	v.mustLogin("victor", victorPW)
	r = v.get(fmt.Sprintf("/incidents/%d/power?action=cycle", inc.ID))
	r.has(t, "You are a viewer")
	if r := v.post(fmt.Sprintf("/incidents/%d/power", inc.ID), url.Values{"csrf": {v.csr}, "action": {"cycle"}, "host": {"rt2"}}); r.code != http.StatusForbidden {
		t.Errorf("a viewer's power POST: %d", r.code)
	}
	if len(g.calls) != n {
		t.Errorf("the guard was asked for a viewer: %+v", g.calls[n:])
	}
	if r := c.get(fmt.Sprintf("/incidents/%d/power?action=cycle", e.inc.ID)); r.code != http.StatusNotFound {
		t.Errorf("the power page of an incident with no host: %d", r.code)
	}
}

// Issue 12, point 5: the dashboard's audit page lists who did what, with
// filters.
func TestDashboardAuditPage(t *testing.T) {
	e, inc := withPower(t, &guardSeat{})
	c := e.client("")
	c.mustLogin("alice", alicePW)
	if r := c.post(fmt.Sprintf("/incidents/%d/ack", inc.ID), url.Values{"csrf": {c.csr}}); r.code != http.StatusSeeOther {
		t.Fatalf("ack: %d", r.code)
	}
	if r := c.post("/silences", url.Values{"csrf": {c.csr}, "target": {"web"}, "for": {"1h"}, "comment": {"deploy"}}); r.code != http.StatusSeeOther {
		t.Fatalf("silence: %d", r.code)
	}
	e.db.Event(context.Background(), "power.refused", "rt2", "ci-deploy", "refused: ci-deploy may not ask for power actions via api")

	r := c.get("/audit")
	r.has(t, `<a href="/audit">Audit</a>`, "Audit trail", "acked</b> <a href=\"/incidents/", "<code>rt2</code>", "via web",
		"silence added", `[name=&#34;web&#34;]`, "power REFUSED", "ci-deploy may not")
	r = c.get("/audit?since=1h&who=ci-deploy")
	r.has(t, "power REFUSED")
	if strings.Contains(r.body, "silence added") {
		t.Error("who=ci-deploy lists alice's silence")
	}
	r = c.get("/audit?since=1h&target=web")
	r.has(t, "silence added")
	if strings.Contains(r.body, "power REFUSED") {
		t.Error("target=web lists rt2's power refusal")
	}
	v := e.client("")
	v.mustLogin("victor", victorPW)
	v.get("/audit").has(t, "power REFUSED")
}
