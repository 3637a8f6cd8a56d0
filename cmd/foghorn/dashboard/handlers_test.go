package dashboard

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"foghorn/escalation"
)

func TestCSRFRejected(t *testing.T) {
	e := newEnv(t, "")
	c := e.client("")
	c.mustLogin("alice", alicePW)
	path := fmt.Sprintf("/incidents/%d/ack", e.inc.ID)

	// A wrong token differs from the right one in its first character
	// (prefixing "x" was the right token whenever it began with "x").
	wrong := "x" + c.csr[1:]
	if c.csr[0] == 'x' {
		wrong = "y" + c.csr[1:]
	}
	other := e.client("")
	other.mustLogin("alice", alicePW) // her other phone: a different session, a different token
	for name, tc := range map[string]struct {
		form url.Values
		hdr  []string
	}{
		"no token":                {url.Values{}, nil},
		"wrong token":             {url.Values{"csrf": {wrong}}, nil},
		"another session's":       {url.Values{"csrf": {other.csr}}, nil},
		"right token, other site": {url.Values{"csrf": {c.csr}}, []string{"Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site"}},
	} {
		r := c.post(path, tc.form, tc.hdr...)
		if r.code != http.StatusForbidden {
			t.Errorf("%s: %d, want 403", name, r.code)
		}
		r.has(t, "This form has expired", "Nothing was changed")
	}
	if r := c.post("/silences", url.Values{"target": {"rt1"}, "for": {"1h"}}); r.code != http.StatusForbidden {
		t.Errorf("silence without token: %d, want 403", r.code)
	}
	if inc := e.get(e.inc.ID); inc.State != escalation.Triggered || inc.AckedBy != "" {
		t.Errorf("after refused posts the incident is %s (acked by %q), want triggered", inc.State, inc.AckedBy)
	}
	if tl := e.timeline(e.inc.ID); strings.Contains(tl, "incident.ack") {
		t.Errorf("a refused post reached the timeline:\n%s", tl)
	}
	if ss, _ := e.eng.Silences(context.Background(), time.Now()); len(ss) != 0 {
		t.Errorf("a refused post added silences: %v", ss)
	}
	// Not logged in at all: sent to the login page, nothing done.
	if r := e.client("").post(path, url.Values{}); r.code != http.StatusSeeOther || r.h.Get("Location") != "/login" {
		t.Errorf("post without a session: %d %q, want 303 to /login", r.code, r.h.Get("Location"))
	}
}

func TestViewerCannotAct(t *testing.T) {
	e := newEnv(t, "")
	c := e.client("")
	c.mustLogin("victor", victorPW)

	r := c.get("/")
	r.has(t, "victor · viewer", "rt1", "rt1 DOWN: connection refused", "read only")
	if strings.Contains(r.body, "/ack\"") || strings.Contains(r.body, `action="/silences"`) {
		t.Error("a viewer is shown action forms")
	}
	for _, p := range []string{"ack", "resolve", "escalate", "snooze"} {
		r := c.post(fmt.Sprintf("/incidents/%d/%s", e.inc.ID, p), url.Values{"csrf": {c.csr}, "for": {"30m"}})
		if r.code != http.StatusForbidden {
			t.Errorf("viewer %s: %d, want 403", p, r.code)
		}
		r.has(t, "Read-only: you are a viewer", "Nothing was changed")
	}
	if r := c.post("/silences", url.Values{"csrf": {c.csr}, "target": {"rt1"}, "for": {"1h"}}); r.code != http.StatusForbidden {
		t.Errorf("viewer silence: %d, want 403", r.code)
	}
	inc := e.get(e.inc.ID)
	if inc.State != escalation.Triggered || inc.AckedBy != "" || inc.Step != e.inc.Step {
		t.Errorf("after a viewer's posts the incident is %s, acked by %q, step %d", inc.State, inc.AckedBy, inc.Step)
	}
	if !strings.Contains(e.logs.String(), "viewer tried to act") {
		t.Error("a viewer's attempt is not logged")
	}
}

func TestResponderAcks(t *testing.T) {
	e := newEnv(t, "")
	c := e.client("")
	c.mustLogin("alice", alicePW)

	r := c.post(fmt.Sprintf("/incidents/%d/ack", e.inc.ID), url.Values{"csrf": {c.csr}, "back": {"/"}})
	if r.code != http.StatusSeeOther || r.h.Get("Location") != "/" {
		t.Fatalf("ack: %d %q, want 303 to /\n%s", r.code, r.h.Get("Location"), r.body)
	}
	inc := e.get(e.inc.ID)
	if inc.State != escalation.Acknowledged || inc.AckedBy != "alice" {
		t.Fatalf("after ack: %s by %q, want acknowledged by alice", inc.State, inc.AckedBy)
	}
	if tl := e.timeline(e.inc.ID); !strings.Contains(tl, "incident.ack alice via web") {
		t.Errorf("timeline lacks the ack:\n%s", tl)
	}
	r = c.get("/")
	r.has(t, "#1 acknowledged by you: paging stopped.", "acknowledged", "acked by <b>alice</b>")
	if strings.Contains(r.body, "Ack #1") {
		t.Error("an acked incident still offers Ack")
	}
	// The flash is shown once.
	if r := c.get("/"); strings.Contains(r.body, "paging stopped.") {
		t.Error("the flash message came back")
	}
	r = c.get(fmt.Sprintf("/incidents/%d", e.inc.ID))
	r.has(t, "Timeline", "acked", "via web", "paged")

	// Everyone's phone stops: the engine told the pager to cancel.
	deadline := time.Now().Add(5 * time.Second)
	for !slices.ContainsFunc(e.rec.kinds(e.inc.ID), func(s string) bool { return strings.HasPrefix(s, "cancel") }) {
		if time.Now().After(deadline) {
			t.Fatalf("no cancel after the ack; sent: %v", e.rec.kinds(e.inc.ID))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestActions(t *testing.T) {
	e := newEnv(t, "")
	c := e.client("")
	c.mustLogin("alice", alicePW)
	id := e.inc.ID
	path := func(a string) string { return fmt.Sprintf("/incidents/%d/%s", id, a) }

	if r := c.post(path("snooze"), url.Values{"csrf": {c.csr}, "for": {"3d"}}); r.code != http.StatusBadRequest {
		t.Errorf("snooze for a time not offered: %d, want 400", r.code)
	}
	r := c.post(path("snooze"), url.Values{"csrf": {c.csr}, "for": {"30m"}})
	if r.code != http.StatusSeeOther || r.h.Get("Location") != fmt.Sprintf("/incidents/%d", id) {
		t.Fatalf("snooze: %d %q", r.code, r.h.Get("Location"))
	}
	inc := e.get(id)
	if inc.State != escalation.Acknowledged || time.Until(inc.Snoozed) < 29*time.Minute {
		t.Errorf("after snooze 30m: %s until %s", inc.State, inc.Snoozed)
	}
	c.get(fmt.Sprintf("/incidents/%d", id)).has(t, "snoozed for 30m", "snoozed until", "Ack #1")

	// Escalate names the step the page showed; a second press for the same
	// step (a colleague's, a double tap) does not move it twice.
	from := fmt.Sprint(inc.Step)
	if r := c.post(path("escalate"), url.Values{"csrf": {c.csr}, "from": {from}}); r.code != http.StatusSeeOther {
		t.Fatalf("escalate: %d", r.code)
	}
	inc = e.get(id)
	if inc.Step != 1 || inc.State != escalation.Triggered {
		t.Errorf("after escalate: step %d %s, want step index 1, triggered", inc.Step, inc.State)
	}
	c.post(path("escalate"), url.Values{"csrf": {c.csr}, "from": {from}})
	if got := e.get(id).Step; got != 1 {
		t.Errorf("a second escalate from the same step moved it to %d", got)
	}
	c.get("/").has(t, "already escalated past step 1")

	if r := c.post("/silences", url.Values{"csrf": {c.csr}, "target": {"nope"}, "for": {"1h"}}); r.code != http.StatusBadRequest {
		t.Errorf("silence an unknown target: %d, want 400", r.code)
	}
	if r := c.post("/silences", url.Values{"csrf": {c.csr}, "target": {"rt1"}, "for": {"2h"}, "comment": {"swapping the PSU"}}); r.code != http.StatusSeeOther {
		t.Fatalf("silence: %d", r.code)
	}
	ss, err := e.eng.Silences(context.Background(), time.Now())
	if err != nil || len(ss) != 1 || ss[0].Matchers[0] != `name="rt1"` || ss[0].By != "alice" || time.Until(ss[0].End) < 119*time.Minute {
		t.Fatalf("silences after silencing rt1 for 2h: %+v %v", ss, err)
	}
	c.get("/").has(t, `name=&#34;rt1&#34;`, "swapping the PSU", "rt1 silenced for 2h", "<b>silenced until ")

	if r := c.post(path("resolve"), url.Values{"csrf": {c.csr}}); r.code != http.StatusSeeOther {
		t.Fatalf("resolve: %d", r.code)
	}
	if inc := e.get(id); inc.State != escalation.Resolved || inc.ResolvedBy != "alice" {
		t.Errorf("after resolve: %s by %q", inc.State, inc.ResolvedBy)
	}
	// Pressing again on a stale page is not an error for the person.
	c.post(path("ack"), url.Values{"csrf": {c.csr}})
	c.get("/").has(t, "Already resolved", "No open incidents.")

	if r := c.post("/incidents/999/ack", url.Values{"csrf": {c.csr}}); r.code != http.StatusNotFound {
		t.Errorf("ack of an unknown incident: %d, want 404", r.code)
	}
	if r := c.post(path("reboot"), url.Values{"csrf": {c.csr}}); r.code != http.StatusNotFound {
		t.Errorf("unknown action: %d, want 404", r.code)
	}
	if r := c.get("/incidents/999"); r.code != http.StatusNotFound {
		t.Errorf("unknown incident page: %d, want 404", r.code)
	}
}

func TestOverview(t *testing.T) {
	e := newEnv(t, "")
	e.board.mu.Lock()
	e.board.health.Blind = append(e.board.health.Blind, Window{Start: time.Now().Add(-4 * time.Minute)})
	e.board.health.ReloadErr, e.board.health.ReloadAt = "t.toml:12: unknown person \"carl\"", time.Now()
	e.board.mu.Unlock()
	c := e.client("")
	c.mustLogin("victor", victorPW)
	r := c.get("/")
	r.has(t,
		"1 down", "2 up", "1 open, 1 unacked", // summary
		"routers", "1/2 up, needs 1", "fra1", "connection refused", "2 ms", // targets
		`aria-label="last 30 results: 26 ok, 4 failed`, // sparkline
		"<b>ops</b>:", "next <b>", // on call
		"foghorn is BLIND since", "voice: 3 sent", "busy", "refused just now", "unknown person &#34;carl&#34;", // health
		"Timeline (", // incident timeline
	)
	// Security headers on pages.
	if csp := r.h.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("CSP %q", csp)
	}
	if r.h.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", r.h.Get("Cache-Control"))
	}
	// Static files are served from the binary.
	for _, f := range []string{"style.css", "app.js"} {
		if r := c.get("/static/" + f + "?v=" + staticVersion[f]); r.code != http.StatusOK || len(r.body) < 100 {
			t.Errorf("GET /static/%s: %d (%d bytes)", f, r.code, len(r.body))
		}
	}
}

// With [cluster], the health section names this node and each peer, and
// a lost peer shows as bad: this node pages alone then.
func TestOverviewShowsTheClusterPeers(t *testing.T) {
	e := newEnv(t, "")
	e.board.mu.Lock()
	e.board.health.Cluster = []Peer{{Name: "fra", Self: true, Up: true},
		{Name: "ams", Since: e.clock.Now().Add(-3 * time.Minute)}, {Name: "par", Up: true, Since: e.clock.Now().Add(-time.Hour)}}
	e.board.mu.Unlock()
	c := e.client("")
	c.mustLogin("victor", victorPW)
	c.get("/").has(t, "<dt>Cluster</dt>", "fra (this node)", `<div class="bad">ams unreachable since`, "this node pages alone", "par up since")
}

// The overview says who holds which maintenance lease until when, an
// overrun one marked, and who waits for one.
func TestOverviewShowsTheMaintenanceLeases(t *testing.T) {
	e := newEnv(t, "")
	e.board.mu.Lock()
	until := e.clock.Now().Add(20 * time.Minute)
	e.board.health.Leases = []Lease{{ID: 3, Target: "pve2", Holder: "ci", Reason: "kernel 6.12", State: "held", Until: until},
		{ID: 2, Target: "pve1", Holder: "alice", State: "overrun", Until: e.clock.Now()}}
	e.board.health.Waiting = []Lease{{ID: 9, Target: "pve3", Holder: "ci", Reason: "refused: group pve has 1 lease held", State: "waiting", Until: until}}
	e.board.mu.Unlock()
	c := e.client("")
	c.mustLogin("victor", victorPW)
	c.get("/").has(t, "Maintenance leases", "pve2: lease #3 by ci, held · kernel 6.12 · until", `<li class="bad">pve1: lease #2 by alice, overrun`,
		"ci wants pve3 (ticket 9): refused: group pve has 1 lease held")
}
