package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/notify/webhook"
	"github.com/prometheus/alertmanager/template"

	"foghorn/pager/twiliosim"
)

// Issue 15's last slices on two real foghorns: replies, notices and
// storms (escalation/replies.go, storms.go).

const bobCell = "+4915112345672"

// withBob adds bob to both nodes' configs, next to alice.
func (h *haPair) withBob(t *testing.T) {
	t.Helper()
	for _, n := range []clusterNode{h.nodes["fra"], h.nodes["ams"]} {
		b, err := os.ReadFile(n.cfg)
		if err != nil {
			t.Fatal(err)
		}
		s := strings.Replace(string(b), "[[policy]]\nname = \"ops\"\n",
			fmt.Sprintf("[[person]]\nname = \"bob\"\nphone = %q\n[[policy]]\nname = \"ops\"\n", bobCell), 1)
		writeFile(t, n.cfg, s)
	}
}

// edit changes one node's config before it starts.
func (h *haPair) edit(t *testing.T, name, old, new string) {
	t.Helper()
	n := h.node(name)
	b, err := os.ReadFile(n.cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), old) {
		t.Fatalf("%s's config has no %q", name, old)
	}
	writeFile(t, n.cfg, strings.Replace(string(b), old, new, 1))
}

// amAlert posts one Alertmanager alert to a node's intake.
func (h *haPair) amAlert(t *testing.T, name, fp, severity, summary string) {
	t.Helper()
	a := template.Alert{Status: "firing", Fingerprint: fp, StartsAt: time.Now(),
		Labels:      template.KV{"alertname": "Test", "instance": fp, "severity": severity},
		Annotations: template.KV{"summary": summary}}
	m := webhook.Message{Version: "4", GroupKey: "{}:{alertname=\"Test\"}",
		Data: &template.Data{Receiver: "foghorn", Status: "firing", Alerts: template.Alerts{a}}}
	if code, body := apiCall(t, h.node(name).base, haToken, "POST", "/api/v1/alertmanager", m); code/100 != 2 {
		t.Fatalf("%s: alertmanager intake: %d %s", name, code, body)
	}
}

type replyIncident struct {
	ID      int64  `json:"id"`
	Key     string `json:"key"`
	Short   int    `json:"short"`
	State   string `json:"state"`
	AckedBy string `json:"acked_by"`
	Episode string `json:"episode"`
}

// incident is the node's open incident of key (zero if none).
func (h *haPair) incident(t *testing.T, name, key string) replyIncident {
	t.Helper()
	_, body := apiCall(t, h.node(name).base, haToken, "GET", "/api/v1/incidents", nil)
	var incs []replyIncident
	if err := json.Unmarshal([]byte(body), &incs); err != nil {
		t.Fatalf("%s: incidents: %v: %s", name, err, body)
	}
	for _, inc := range incs {
		if inc.Key == key {
			return inc
		}
	}
	return replyIncident{}
}

// texts are the messages sent to phone (not the inbound ones) that
// contain every one of subs.
func (h *haPair) texts(phone string, subs ...string) []twiliosim.Message {
	var out []twiliosim.Message
	for _, m := range h.sim.Messages() {
		if m.Direction == "inbound" || m.To != phone {
			continue
		}
		ok := true
		for _, s := range subs {
			ok = ok && strings.Contains(m.Body, s)
		}
		if ok {
			out = append(out, m)
		}
	}
	return out
}

// The incidents are numbered apart (ams has #1, an Alertmanager warning
// only it was sent; web-000 is ams's #2 and fra's #1), ams sends every
// page, and alice's replies go to fra's webhook, signed by the
// simulator: "1" acks ams's warning (through the log: fra has no such
// incident), not fra's #1; "2" acks web-000 on both, and ams hangs up
// the calls it has ringing. Bob, paged for both, hears each "acked by
// alice" once.
func TestHAReplyToAmsPageAtFraAcksThatIncidentOnBothAndStopsAmsCalls(t *testing.T) {
	site, targets, names := webTargets(t, 1)
	h := newHAPair(t, targets, "  [[policy.step]]\n  who = [\"alice\", \"bob\"]\n  channels = [\"sms\", \"voice\"]\n")
	h.withBob(t)
	for _, p := range []string{h.alicePhone, bobCell} {
		if err := h.sim.SetPhone(p, twiliosim.Script{Call: "wait"}); err != nil {
			t.Fatal(err)
		}
	}
	h.startBoth(t)
	for _, n := range []string{"fra", "ams"} {
		until(t, 15*time.Second, n+" sees web-000 up", func() bool { return h.targetsUp(t, n) == 1 })
	}
	h.amAlert(t, "ams", "fp-db", "warning", "db replica lag")
	until(t, 15*time.Second, "ams texts alice and bob #1 (its warning, SMS only)", func() bool {
		return len(h.texts(h.alicePhone, "#1", "db replica lag")) == 1 && len(h.texts(bobCell, "#1", "db replica lag")) == 1
	})
	from := len(h.sim.Calls())
	site.set(true, names...)
	until(t, 20*time.Second, "ams pages web-000 (SMS, then calls alice and bob) and fra leaves all four to it", func() bool {
		ringing := 0
		for _, c := range h.sim.Calls()[from:] {
			if c.Status == "ringing" {
				ringing++
			}
		}
		return ringing == 2 && h.metric(t, "fra", "foghorn_cluster_pages_sent_by_peer_total") >= 4
	})
	fra, ams := h.incident(t, "fra", "target:web-000"), h.incident(t, "ams", "target:web-000")
	if fra.Short != 1 || ams.Short != 2 || fra.Episode != ams.Episode {
		t.Fatalf("web-000: fra's #%d, ams's #%d (episodes %s, %s); want #1 and #2 of one episode", fra.Short, ams.Short, fra.Episode, ams.Episode)
	}
	if n := len(h.texts(h.alicePhone, "#2", "web-000")); n != 1 {
		t.Fatalf("alice's texts with #2 web-000: %d, want ams's one page", n)
	}

	// "1": what alice read as #1 is ams's warning.
	if _, err := h.sim.ReplySMS(h.alicePhone, "1"); err != nil {
		t.Fatal(err)
	}
	until(t, 10*time.Second, "fra answers alice's 1 with the warning's number and words", func() bool {
		return len(h.texts(h.alicePhone, "#1 acked", "db replica lag")) == 1
	})
	until(t, 10*time.Second, "ams's warning acked by alice", func() bool {
		return h.incident(t, "ams", "am:fp-db").State == "acknowledged"
	})
	if inc := h.incident(t, "fra", "target:web-000"); inc.State != "triggered" {
		t.Errorf("fra's own #1 (web-000) after alice's 1: %s by %q, want still triggered", inc.State, inc.AckedBy)
	}
	if inc := h.incident(t, "ams", "target:web-000"); inc.State != "triggered" {
		t.Errorf("ams's web-000 after alice's 1: %s, want still triggered", inc.State)
	}

	// "2": web-000, on both; ams's ringing calls end.
	acked := time.Now()
	if _, err := h.sim.ReplySMS(h.alicePhone, "2"); err != nil {
		t.Fatal(err)
	}
	until(t, 10*time.Second, "fra answers alice's 2 with ams's number", func() bool {
		return len(h.texts(h.alicePhone, "#2 acked", "web-000")) == 1
	})
	for _, n := range []string{"fra", "ams"} {
		until(t, 10*time.Second, n+"'s web-000 acked by alice", func() bool {
			inc := h.incident(t, n, "target:web-000")
			return inc.State == "acknowledged" && inc.AckedBy == "alice"
		})
	}
	until(t, 10*time.Second, "ams hung up both calls", func() bool {
		ended := 0
		for _, c := range h.sim.Calls()[from:] {
			if !c.Ended.IsZero() {
				ended++
			}
		}
		return ended == 2
	})
	t.Logf("alice's 2 on fra -> ams's calls hung up within %s", time.Since(acked).Round(time.Millisecond))

	// Bob hears each ack once: ams sends, fra finds ams's entry on its turn.
	until(t, 15*time.Second, "fra left its acked-by notice to bob to ams", func() bool {
		return h.metric(t, "fra", "foghorn_cluster_notices_sent_by_peer_total") >= 1
	})
	if got := h.texts(bobCell, "acked by alice", "web-000"); len(got) != 1 {
		t.Errorf("bob's 'acked by alice' for web-000: %d, want 1", len(got))
	}
	if got := h.texts(bobCell, "acked by alice", "db replica lag"); len(got) != 1 {
		t.Errorf("bob's 'acked by alice' for the warning: %d, want 1", len(got))
	}
	if got := h.texts(h.alicePhone, "acked by"); len(got) != 0 {
		t.Errorf("alice, who acked, was told: %v", got)
	}
	if n := len(h.sim.Calls()) - from; n != 2 {
		t.Errorf("%d calls, want ams's two", n)
	}
}

// A storm of N targets seen by both, which each node first sees fail
// from another target: web-a, which only ams probes, fails first there,
// web-b, which only fra probes, first there (a node never waits for the
// peer's word on a target the peer does not have), then the N shared
// ones. Each node names its storm after its own first (target:web-a,
// target:web-b); it is one incident on both, paged once, and one ack
// ends both.
func TestHAStormOfNSeenFirstFromDifferentTargetsPagesOnce(t *testing.T) {
	const n = 3
	site, targets, names := webTargets(t, n)
	h := newHAPairTimeout(t, 10*time.Second, targets, "  [[policy.step]]\n  who = [\"alice\"]\n  channels = [\"sms\"]\n  interval = \"10m\"\n")
	base := strings.TrimSuffix(strings.Split(strings.Split(targets[0], "address = \"")[1], "\"")[0], "/"+names[0])
	own := map[string]string{"ams": "web-a", "fra": "web-b"}
	for _, name := range []string{"fra", "ams"} {
		h.edit(t, name, "storm_window = \"0s\"", "storm_window = \"1m\"")
		b, err := os.ReadFile(h.node(name).cfg)
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, h.node(name).cfg, string(b)+httpTarget(own[name], base+"/"+own[name]))
	}
	h.startBoth(t)
	for _, name := range []string{"fra", "ams"} {
		until(t, 20*time.Second, name+" sees its targets up", func() bool { return h.targetsUp(t, name) == n+1 })
	}
	site.set(true, "web-a", "web-b")
	until(t, 15*time.Second, "ams opened target:web-a, fra target:web-b", func() bool {
		return h.incident(t, "ams", "target:web-a").ID != 0 && h.incident(t, "fra", "target:web-b").ID != 0
	})
	site.set(true, names...)
	until(t, 30*time.Second, "one node's storm joined the other's", func() bool {
		return h.metric(t, "fra", "foghorn_cluster_storms_joined_total")+h.metric(t, "ams", "foghorn_cluster_storms_joined_total") == 1
	})
	until(t, 30*time.Second, "the storm's page decided on both (one sent it, the other left it)", func() bool {
		sent := h.metric(t, "fra", "foghorn_cluster_pages_sent_on_turn_total") + h.metric(t, "ams", "foghorn_cluster_pages_sent_on_turn_total")
		left := h.metric(t, "fra", "foghorn_cluster_pages_sent_by_peer_total") + h.metric(t, "ams", "foghorn_cluster_pages_sent_by_peer_total")
		return sent >= 1 && left >= 1
	})
	ia, ifra := h.incident(t, "ams", "target:web-a"), h.incident(t, "fra", "target:web-b")
	if ia.Episode == "" || ia.Episode != ifra.Episode {
		t.Errorf("episodes: ams %q, fra %q; want one", ia.Episode, ifra.Episode)
	}
	for _, name := range []string{"fra", "ams"} {
		if incs := h.targetIncidents(t, name); len(incs) != 1 {
			t.Errorf("%s's incidents: %+v, want the one storm", name, incs)
		}
	}
	var pages []string
	for _, m := range h.texts(h.alicePhone) {
		if strings.HasPrefix(m.Body, "[") {
			pages = append(pages, m.Body)
		}
	}
	if len(pages) != 1 {
		t.Errorf("alice's pages: %q, want one", pages)
	}
	h.ack(t, "fra", ifra.ID)
	until(t, 10*time.Second, "ams's storm acked by the ack on fra", func() bool {
		return h.incident(t, "ams", "target:web-a").State == "acknowledged"
	})
	t.Logf("storm: ams's target:web-a and fra's target:web-b are one episode %s; one page: %q", ia.Episode, pages)
}
