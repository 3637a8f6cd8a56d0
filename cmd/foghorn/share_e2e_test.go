package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// Issue 15: silences and overrides are shared by the cluster
// (escalation/share_silences.go, wire_share.go). Two real foghorns on
// loopback, one Twilio simulator whose own record says who was paged.

// oneSMS is a policy of one SMS step to alice.
const oneSMS = "  [[policy.step]]\n  who = [\"alice\"]\n  channels = [\"sms\"]\n"

type shareSilence struct {
	ID   int64  `json:"id"`
	UID  string `json:"uid"`
	Node string `json:"node"`
}

func (h *haPair) silences(t *testing.T, name string) []shareSilence {
	t.Helper()
	code, body := apiCall(t, h.node(name).base, haToken, "GET", "/api/v1/silences", nil)
	if code != 200 {
		t.Fatalf("%s: GET silences: %d %s", name, code, body)
	}
	var out []shareSilence
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		t.Fatalf("%s: silences: %v: %s", name, err, body)
	}
	return out
}

// silence makes a silence of target for an hour through name's API (as
// its [server] token, "api"), and returns its uid.
func (h *haPair) silence(t *testing.T, name, target string) string {
	t.Helper()
	code, body := apiCall(t, h.node(name).base, haToken, "POST", "/api/v1/silences",
		map[string]any{"matchers": []string{fmt.Sprintf("name=%q", target)}, "for": "1h", "comment": "disk swap"})
	if code != 200 {
		t.Fatalf("%s: POST silence: %d %s", name, code, body)
	}
	for _, s := range h.silences(t, name) {
		if s.Node == name {
			return s.UID
		}
	}
	t.Fatalf("%s: the silence made is not listed", name)
	return ""
}

// audit is name's audit lines of kind, as "actor: detail".
func (h *haPair) audit(t *testing.T, name, kind string) []string {
	t.Helper()
	code, body := apiCall(t, h.node(name).base, haToken, "GET", "/api/v1/audit", nil)
	if code != 200 {
		t.Fatalf("%s: GET audit: %d %s", name, code, body)
	}
	var es []struct{ Kind, Actor, Detail string }
	json.Unmarshal([]byte(body), &es)
	var out []string
	for _, e := range es {
		if e.Kind == kind {
			out = append(out, e.Actor+": "+e.Detail)
		}
	}
	return out
}

// silencedOn is the silence an open incident of target on name is
// silenced by ("silence #1"), "" when it is not silenced or not open.
func (h *haPair) silencedOn(t *testing.T, name, target string) string {
	t.Helper()
	code, body := apiCall(t, h.node(name).base, haToken, "GET", "/api/v1/incidents", nil)
	if code != 200 {
		t.Fatalf("%s: GET incidents: %d %s", name, code, body)
	}
	var incs []struct{ Key, Silenced string }
	json.Unmarshal([]byte(body), &incs)
	for _, i := range incs {
		if i.Key == "target:"+target {
			return i.Silenced
		}
	}
	return ""
}

// silencedAcross takes web-000 (silenced) and web-001 (not) down at once
// and checks, on the positive signals, that web-000 pages nobody in its
// incident's life: web-001's page arrives, both nodes record web-000's
// incident as silenced, web-000 comes back and both resolve it, and the
// simulator has no page for it.
func silencedAcross(t *testing.T, h *haPair, site *flakySite) {
	t.Helper()
	from := len(h.sim.Messages())
	site.set(true, "web-000", "web-001")
	until(t, 20*time.Second, "web-001's page reaches alice", func() bool { return len(h.pagesSince(from, "web-001")) >= 1 })
	for _, name := range []string{"fra", "ams"} {
		until(t, 10*time.Second, name+" records web-000's incident as silenced", func() bool {
			return strings.HasPrefix(h.silencedOn(t, name, "web-000"), "silence #")
		})
	}
	site.set(false, "web-000")
	for _, name := range []string{"fra", "ams"} {
		until(t, 15*time.Second, name+" resolves web-000", func() bool {
			for _, i := range h.targetIncidents(t, name) {
				if i.Key == "target:web-000" {
					return false
				}
			}
			return true
		})
	}
	if p := h.pagesSince(from, "web-000"); len(p) != 0 {
		t.Errorf("silenced web-000 paged %d times", len(p))
	}
	if p := h.pagesSince(from, "web-001"); len(p) != 1 {
		t.Errorf("web-001 paged %d times, want 1", len(p))
	}
}

// A silence made through fra's API keeps ams (the first to send) from
// paging the outage it covers, and ams's audit says whose it is and where
// it came from; ended early through ams's API, it ends on fra too and the
// outage, still on, pages once.
func TestShareSilenceMadeOnFraKeepsAmsFromPagingAndEndsOnBoth(t *testing.T) {
	site, targets, _ := webTargets(t, 2)
	h := newHAPair(t, targets, oneSMS)
	h.startBoth(t)
	until(t, 15*time.Second, "both see the targets up", func() bool { return h.targetsUp(t, "fra") == 2 && h.targetsUp(t, "ams") == 2 })
	uid := h.silence(t, "fra", "web-000")
	until(t, 10*time.Second, "ams took fra's silence", func() bool {
		ss := h.silences(t, "ams")
		return len(ss) == 1 && ss[0].UID == uid && h.metric(t, "ams", "foghorn_cluster_silences_merged_total") == 1
	})
	if a := h.audit(t, "ams", "silence.add"); len(a) != 1 || !strings.Contains(a[0], "silence by api via peer fra") {
		t.Errorf("ams's audit of the silence: %q, want 'silence by api via peer fra'", a)
	}
	silencedAcross(t, h, site)

	// Still silenced and down: web-000 again, ended on ams.
	from := len(h.sim.Messages())
	site.set(true, "web-000")
	for _, name := range []string{"fra", "ams"} {
		until(t, 10*time.Second, name+" records web-000's new incident as silenced", func() bool {
			return strings.HasPrefix(h.silencedOn(t, name, "web-000"), "silence #")
		})
	}
	byPeer := h.metric(t, "fra", "foghorn_cluster_pages_sent_by_peer_total") + h.metric(t, "ams", "foghorn_cluster_pages_sent_by_peer_total")
	if code, body := apiCall(t, h.nodes["ams"].base, haToken, "DELETE", "/api/v1/silences/"+uid, nil); code != 200 {
		t.Fatalf("ams: DELETE silence: %d %s", code, body)
	}
	until(t, 10*time.Second, "fra ended the silence ams ended", func() bool { return len(h.silences(t, "fra")) == 0 })
	if a := h.audit(t, "fra", "silence.delete"); len(a) != 1 || !strings.Contains(a[0], "ended by api via peer ams") {
		t.Errorf("fra's audit of the end: %q", a)
	}
	until(t, 15*time.Second, "web-000, no longer silenced, pages", func() bool { return len(h.pagesSince(from, "web-000")) >= 1 })
	until(t, 10*time.Second, "both nodes decided the page (one sent, one left it)", func() bool {
		return h.metric(t, "fra", "foghorn_cluster_pages_sent_by_peer_total")+h.metric(t, "ams", "foghorn_cluster_pages_sent_by_peer_total") > byPeer
	})
	if p := h.pagesSince(from, "web-000"); len(p) != 1 {
		t.Errorf("web-000 paged %d times after the end, want 1", len(p))
	}
}

// An override made on ams ("bob covers alice") makes fra page bob: ams is
// gone (kill -9) when the outage begins, so fra sends alone, on what it
// took from ams.
func TestShareOverrideMadeOnAmsMakesFraPageTheCover(t *testing.T) {
	site, targets, _ := webTargets(t, 1)
	h := newHAPair(t, targets, oneSMS)
	const bobPhone = "+4915112345672"
	for _, n := range []clusterNode{h.nodes["fra"], h.nodes["ams"]} {
		b, err := os.ReadFile(n.cfg)
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, n.cfg, string(b)+"[[person]]\nname = \"bob\"\nphone = \""+bobPhone+"\"\n")
	}
	h.startBoth(t)
	until(t, 15*time.Second, "both see the target up", func() bool { return h.targetsUp(t, "fra") == 1 && h.targetsUp(t, "ams") == 1 })
	end := time.Now().Add(2 * time.Hour)
	if code, body := apiCall(t, h.nodes["ams"].base, haToken, "POST", "/api/v1/overrides", map[string]any{"absent": "alice", "cover": "bob", "end": end}); code != 200 {
		t.Fatalf("ams: POST override: %d %s", code, body)
	}
	until(t, 10*time.Second, "fra took ams's override", func() bool {
		return h.metric(t, "fra", "foghorn_cluster_overrides_merged_total") == 1
	})
	if a := h.audit(t, "fra", "override.add"); len(a) != 1 || !strings.Contains(a[0], "override by api via peer ams") {
		t.Errorf("fra's audit of the override: %q", a)
	}
	h.procs["ams"].kill9(t)
	from := len(h.sim.Messages())
	site.set(true, "web-000")
	until(t, 20*time.Second, "fra pages web-000", func() bool { return len(h.pagesSince(from, "web-000")) >= 1 })
	for _, m := range h.sim.Messages()[from:] {
		if m.Direction != "inbound" && pageTarget.FindString(m.Body) == "web-000" && m.To != bobPhone {
			t.Errorf("web-000 paged %s, not bob (%s) who covers alice: %q", m.To, bobPhone, m.Body)
		}
	}
	if n := h.metric(t, "fra", "foghorn_cluster_pages_sent_on_turn_total"); n < 1 {
		t.Errorf("fra sent %v pages on its turn: the page was not fra's", n)
	}
}

// A silence made on fra while ams was down (kill -9) reaches ams when it
// rejoins (the full push/pull on join), and ams, the first to send,
// pages nobody for the outage it covers.
func TestShareSilenceMadeWhileAmsWasDownReachesItOnRejoin(t *testing.T) {
	site, targets, _ := webTargets(t, 2)
	h := newHAPair(t, targets, oneSMS)
	h.startBoth(t)
	h.procs["ams"].kill9(t)
	uid := h.silence(t, "fra", "web-000")
	h.start(t, "ams")
	h.waitPeers(t, 15*time.Second)
	until(t, 10*time.Second, "ams has fra's silence", func() bool {
		ss := h.silences(t, "ams")
		return len(ss) == 1 && ss[0].UID == uid
	})
	until(t, 15*time.Second, "both see the targets up", func() bool { return h.targetsUp(t, "fra") == 2 && h.targetsUp(t, "ams") == 2 })
	silencedAcross(t, h, site)
}
