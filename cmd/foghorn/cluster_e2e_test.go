package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"foghorn/cluster"
	"foghorn/pager"
	"foghorn/pager/twiliosim"
)

// clusterPeerTimeout is the test's [cluster] peer_timeout. The default
// (15 s) would make a lost peer a page after a minute and the test take
// two; on loopback no packet is lost, so 2 s detects the same things in
// seconds. It is above configs.MinPeerTimeout, as a config must be.
const clusterPeerTimeout = 2 * time.Second

// clusterNode is one foghorn of a two-node cluster on loopback.
type clusterNode struct {
	name, cfg, base string
}

func clusterNodes(t *testing.T, sim func(public string) string) (fra, ams clusterNode) {
	t.Helper()
	return clusterNodesOf(t, sim, func(w http.ResponseWriter, r *http.Request) {})
}

// clusterNodesOf is clusterNodes whose one target, web, is served by site.
func clusterNodesOf(t *testing.T, sim func(public string) string, site http.HandlerFunc) (fra, ams clusterNode) {
	t.Helper()
	dir := t.TempDir()
	key := filepath.Join(dir, "cluster-key")
	if out, err := exec.Command(bin, "cluster-key", key).CombinedOutput(); err != nil {
		t.Fatalf("foghorn cluster-key: %v\n%s", err, out)
	}
	if fi, err := os.Stat(key); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the key file: %v, %v", fi, err)
	}
	if out, err := exec.Command(bin, "cluster-key", key).CombinedOutput(); exitCode(err) != 1 || !strings.Contains(string(out), "exists") {
		t.Fatalf("cluster-key overwrote an existing key: %v\n%s", err, out)
	}
	token, err := os.ReadFile("../../configs/twilio-token.example")
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "twilio-token"), string(token))
	web := httptest.NewServer(site)
	t.Cleanup(web.Close)

	gossip := map[string]int{"fra": freePort(t), "ams": freePort(t)}
	node := func(name, peer string) clusterNode {
		port := freePort(t)
		n := clusterNode{name: name, base: fmt.Sprintf("http://127.0.0.1:%d", port), cfg: filepath.Join(dir, name+".toml")}
		s := siteConfig(filepath.Join(dir, name), httpTarget("web", web.URL))
		s = strings.Replace(s, `listen = "127.0.0.1:0"`, fmt.Sprintf("listen = \"127.0.0.1:%d\"\npublic_url = %q", port, n.base), 1)
		s = strings.Replace(s, "simulator = true\nfrom = \"+15005550006\"\n", fmt.Sprintf(
			"account_sid = \"AC0123456789abcdef0123456789abcdef\"\nauth_token_file = \"twilio-token\"\nfrom = \"+14155550100\"\napi_base = %q\n",
			sim(n.base)), 1)
		s += fmt.Sprintf("[cluster]\nname = %q\nbind = \"127.0.0.1:%d\"\npeers = [\"127.0.0.1:%d\"]\nkey_file = \"cluster-key\"\npeer_timeout = %q\n",
			name, gossip[name], gossip[peer], clusterPeerTimeout)
		writeFile(t, n.cfg, s)
		return n
	}
	return node("fra", "ams"), node("ams", "fra")
}

func (n clusterNode) start(t *testing.T) *proc {
	t.Helper()
	p := start(t, "run", "-config", n.cfg, "-log-format", "json")
	p.wait(t, 0, "foghorn running", nil)
	return p
}

func fetchBody(t *testing.T, url string) string {
	t.Helper()
	_, _, body := get(t, "", url, "")
	return body
}

// Two foghorns on loopback with one Twilio simulator: each sees the other
// (/healthz, /metrics); when one dies by kill -9, the other pages
// "foghorn-ams unreachable from fra since ..." within 4 × peer_timeout
// (+ 5 s for detection and the send), and resolves it when it is back.
func TestClusterPeersSeeEachOtherAndALostPeerIsPagedThenResolved(t *testing.T) {
	var sim *twiliosim.Sim
	var simURL string
	fra, ams := clusterNodes(t, func(public string) string {
		if sim != nil {
			return simURL
		}
		token, _ := os.ReadFile("../../configs/twilio-token.example")
		// Webhooks (delivery reports) go to the first node only; the
		// test reads what was sent from the simulator's own record.
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
	})
	pf := fra.start(t)
	pa := ams.start(t)
	for _, c := range []struct {
		n    clusterNode
		peer string
	}{{fra, "ams"}, {ams, "fra"}} {
		until(t, 10*time.Second, c.n.name+"'s /healthz says ok and "+c.peer+" is up", func() bool {
			h := fetchBody(t, c.n.base+"/healthz")
			return strings.HasPrefix(h, "ok\n") && strings.Contains(h, "cluster peer "+c.peer+": up since")
		})
	}
	if h := fetchBody(t, fra.base+"/healthz"); !strings.Contains(h, "cluster: fra, position 2 of 2 live") {
		t.Errorf("fra's /healthz:\n%s", h)
	}
	m := fetchBody(t, fra.base+"/metrics")
	if !strings.Contains(m, "foghorn_cluster_members 2\n") || !strings.Contains(m, `foghorn_cluster_peer_up{peer="ams"} 1`) {
		t.Errorf("fra's /metrics has no cluster of two:\n%s", grepLines(m, "foghorn_cluster"))
	}

	killed := time.Now()
	pa.cmd.Process.Kill() // the VPS in Amsterdam dies
	<-pa.done
	const page = "foghorn-ams unreachable from fra since "
	limit := 4*clusterPeerTimeout + 5*time.Second
	until(t, limit, "fra pages that ams is unreachable", func() bool { return len(smsWith(sim, page)) > 0 })
	took := time.Since(killed)
	t.Logf("paged %s after the kill (limit %s): %q", took.Round(100*time.Millisecond), limit, smsWith(sim, page)[0].Body)
	// The silence is dated from ams's last answer, which came at most one
	// probe interval (peer_timeout / 5) before the kill.
	if took < 4*clusterPeerTimeout-clusterPeerTimeout/5 {
		t.Errorf("paged %s after the kill, before 4 × peer_timeout of silence", took)
	}
	if h := fetchBody(t, fra.base+"/healthz"); !strings.HasPrefix(h, "ok\n") || !strings.Contains(h, "warning: cluster peer ams: unreachable since") {
		t.Errorf("fra's /healthz with ams lost (fra still pages: ok, with a warning):\n%s", h)
	}
	if m := fetchBody(t, fra.base+"/metrics"); !strings.Contains(m, `foghorn_cluster_peer_up{peer="ams"} 0`) || !strings.Contains(m, "foghorn_cluster_members 1\n") {
		t.Errorf("fra's /metrics with ams lost:\n%s", grepLines(m, "foghorn_cluster"))
	}
	if n := len(smsWith(sim, "unreachable from ams")); n != 0 {
		t.Errorf("%d pages from the dead node", n)
	}

	ams.start(t)
	pf.wait(t, 0, "incident #1 resolved", map[string]string{"via": "cluster"})
	until(t, 10*time.Second, "fra's /healthz says ams is up again", func() bool {
		return strings.Contains(fetchBody(t, fra.base+"/healthz"), "cluster peer ams: up since")
	})
}

// Two healthy foghorns see the same outage and open an incident each, a
// moment apart: the page goes out once. ams is first by name and sends at
// once; fra waits its turn (peer_timeout), finds ams's entry in the shared
// notification log, and sends nothing (the simulator's own record says
// what reached the phone).
func TestTwoFoghornsPageOnceForOneOutage(t *testing.T) {
	var sim *twiliosim.Sim
	var simURL string
	var down atomic.Bool
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
	}, func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
		}
	})
	fra.start(t)
	ams.start(t)
	for _, c := range []struct {
		n    clusterNode
		peer string
	}{{fra, "ams"}, {ams, "fra"}} {
		until(t, 10*time.Second, c.n.name+" sees "+c.peer, func() bool {
			return strings.Contains(fetchBody(t, c.n.base+"/healthz"), "cluster peer "+c.peer+": up since")
		})
	}
	down.Store(true)
	// Both nodes decided: ams sent on its turn, fra found ams's entry.
	deadline := time.Now().Add(4*clusterPeerTimeout + 10*time.Second)
	for !(metricAtLeast(fetchBody(t, ams.base+"/metrics"), "foghorn_cluster_pages_sent_on_turn_total", 1) &&
		metricAtLeast(fetchBody(t, fra.base+"/metrics"), "foghorn_cluster_pages_sent_by_peer_total", 1)) {
		if time.Now().After(deadline) {
			t.Fatalf("ams did not send the page with fra leaving it to ams:\nams: %s\nfra: %s\nsms: %+v",
				grepLines(fetchBody(t, ams.base+"/metrics"), "foghorn_cluster"), grepLines(fetchBody(t, fra.base+"/metrics"), "foghorn_cluster"), smsWith(sim, "web"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	var pages []twiliosim.Message
	for _, m := range smsWith(sim, "web") {
		if !strings.Contains(m.Body, "resolved") {
			pages = append(pages, m)
		}
	}
	if len(pages) != 1 {
		t.Fatalf("%d pages reached alice for one outage, want 1: %+v", len(pages), pages)
	}
	if m := fetchBody(t, fra.base+"/metrics"); metricAtLeast(m, "foghorn_cluster_pages_sent_on_turn_total", 1) {
		t.Errorf("fra sent a page of its own too:\n%s", grepLines(m, "foghorn_cluster"))
	}
}

// metricAtLeast says whether the unlabelled metric name is at least n.
func metricAtLeast(text, name string, n float64) bool {
	for _, l := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(l, name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return err == nil && f >= n
		}
	}
	return false
}

func smsWith(sim *twiliosim.Sim, s string) []twiliosim.Message {
	var out []twiliosim.Message
	for _, m := range sim.Messages() {
		if m.Direction != "inbound" && strings.Contains(m.Body, s) {
			out = append(out, m)
		}
	}
	return out
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// The watch pages a lost peer only after 4 × peer_timeout of silence, not
// while this node is blind itself, and resolves it when the peer is back.
func TestLostPeerIsPagedAfterFourHorizonsOnlyWhenThisNodeSeesTheOutside(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 3, 12, 0, 0, time.UTC)
	w := newPeerWatch(cluster.Config{Name: "fra", Peers: []string{"ams.example.net:7946"}, PeerTimeout: 15 * time.Second}, t0)
	down := []cluster.Member{{Name: "ams", Addr: "198.51.100.7:7946", Since: t0}}
	if a := w.alerts(t0.Add(59*time.Second), down, false); len(a) != 0 {
		t.Fatalf("paged before 4 × peer_timeout: %+v", a)
	}
	if a := w.alerts(t0.Add(time.Minute), down, true); len(a) != 0 {
		t.Fatalf("paged while blind: %+v", a)
	}
	a := w.alerts(t0.Add(time.Minute), down, false)
	if len(a) != 1 || a[0].Key != "peer:ams" || !a[0].Firing || a[0].Summary != "foghorn-ams unreachable from fra" || !strings.Contains(a[0].Detail, "silent since 2026-12-01 03:12:00 UTC") || a[0].Source != "cluster" {
		t.Fatalf("got %+v", a)
	}
	w.told(a[0])
	if a := w.alerts(t0.Add(2*time.Minute), down, false); len(a) != 0 {
		t.Fatalf("paged again: %+v", a)
	}
	up := []cluster.Member{{Name: "ams", Up: true, Since: t0.Add(3 * time.Minute)}}
	a = w.alerts(t0.Add(3*time.Minute), up, true)
	if len(a) != 1 || a[0].Key != "peer:ams" || a[0].Firing {
		t.Fatalf("not resolved when back: %+v", a)
	}
}

// A node that has never reached a peer since it started says so after the
// same wait: it cannot name the peer, but it knows it is alone.
func TestANodeThatNeverReachedAPeerPagesThatItIsAlone(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 3, 12, 0, 0, time.UTC)
	w := newPeerWatch(cluster.Config{Name: "fra", Peers: []string{"ams.example.net:7946"}, PeerTimeout: 15 * time.Second}, t0)
	a := w.alerts(t0.Add(time.Minute), nil, false)
	if len(a) != 1 || !a[0].Firing || a[0].Summary != "no cluster peer reachable from fra" || !strings.Contains(a[0].Detail, "ams.example.net:7946") {
		t.Fatalf("got %+v", a)
	}
	w.told(a[0])
	a = w.alerts(t0.Add(2*time.Minute), []cluster.Member{{Name: "ams", Up: true}}, false)
	if len(a) != 1 || a[0].Key != aloneKey || a[0].Firing {
		t.Fatalf("not resolved when a peer came: %+v", a)
	}
}
