package main

import (
	"fmt"
	"html"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"foghorn/ipmi/simtest"
	"foghorn/pager"
	"foghorn/pager/twiliosim"
)

// powerSite is the [[target]] blocks of hosts answering on TCP (each on a
// listener of its own, up until closed) with a BMC each on a real
// ipmi_sim, then extra (the [power] section, groups).
func powerSite(t *testing.T, hosts map[string]net.Listener, bmcs map[string]*simtest.Sim, extra string) []string {
	t.Helper()
	pass := filepath.Join(t.TempDir(), "bmc-password")
	if err := os.WriteFile(pass, []byte(simtest.Password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, name := range slices.Sorted(maps.Keys(hosts)) {
		out = append(out, fmt.Sprintf("[[target]]\nname = %q\nkind = \"tcp\"\naddress = %q\ninterval = \"1s\"\ntimeout = \"500ms\"\nrise = 1\nfall = 1\nbmc = %q\n",
			name, hosts[name].Addr().String(), name+"-bmc"))
		b := bmcs[name]
		out = append(out, fmt.Sprintf("[[target]]\nname = %q\nkind = \"ipmi\"\naddress = %q\ntimeout = \"2s\"\n  [target.ipmi]\n  username = %q\n  password_file = %q\n  port = %d\n",
			name+"-bmc", b.Host, simtest.User, pass, b.Port))
	}
	return append(out, extra)
}

// upHosts are TCP listeners that accept (and close) every connection until
// the test closes them: hosts that are up.
func upHosts(t *testing.T, names ...string) map[string]net.Listener {
	t.Helper()
	out := map[string]net.Listener{}
	for _, n := range names {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
		out[n] = l
	}
	return out
}

// pveUp counts the pve* hosts (not their BMCs: a BMC's probe is slow to
// judge, and the guard needs it only not down) the named node sees up.
func (h *haPair) pveUp(t *testing.T, name string) int {
	t.Helper()
	n := 0
	for _, l := range strings.Split(fetchBody(t, h.node(name).base+"/metrics"), "\n") {
		if strings.HasPrefix(l, `foghorn_target_up{target="pve`) && !strings.Contains(l, "-bmc") && strings.HasSuffix(l, "} 1") {
			n++
		}
	}
	return n
}

var smsSeq atomic.Int64

// sms is alice's text reaching the named node's SMS webhook, signed as
// Twilio signs it (as when the number's webhook points at that node); it
// returns foghorn's reply.
func (h *haPair) sms(t *testing.T, name, body string) string {
	t.Helper()
	token, err := os.ReadFile("../../configs/twilio-token.example")
	if err != nil {
		t.Fatal(err)
	}
	u := h.node(name).base + pager.SMSPath
	form := url.Values{"AccountSid": {"AC0123456789abcdef0123456789abcdef"}, "From": {h.alicePhone}, "To": {"+14155550100"},
		"Body": {body}, "MessageSid": {fmt.Sprintf("SM%032d", smsSeq.Add(1))}}
	req, _ := http.NewRequest("POST", u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Twilio-Signature", twiliosim.Sign(strings.TrimSpace(string(token)), u, form))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("SMS %q to %s: %s %s", body, name, resp.Status, b)
	}
	m := regexp.MustCompile(`(?s)<Message>(.*?)</Message>`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("SMS %q to %s: no reply in %s", body, name, b)
	}
	return html.UnescapeString(string(m[1]))
}

// sent are the bodies of the SMS foghorn sent through the API (pages,
// outcomes), by the simulator's own record.
func (h *haPair) sent() []string {
	var out []string
	for _, m := range h.sim.Messages() {
		if m.Direction == "outbound-api" {
			out = append(out, m.Body)
		}
	}
	return out
}

func countPrefix(bodies []string, prefix string) int {
	n := 0
	for _, b := range bodies {
		if strings.HasPrefix(b, prefix) {
			n++
		}
	}
	return n
}

// The person texts CYCLE pve1 to fra and gets a code; the reply with the
// code reaches ams (Twilio's number webhook points at ams now): ams
// honours it, cycles pve1 once (ipmi_sim's record: off, then on) and
// sends the outcome. The same code sent to fra afterwards is used there
// too: nothing more is done.
func TestPowerCodeOfferedByOneNodeConfirmedByAReplyToTheOtherCyclesOnce(t *testing.T) {
	simtest.Require(t)
	bmc := simtest.Start(t)
	h := newHAPair(t, powerSite(t, upHosts(t, "pve1"), map[string]*simtest.Sim{"pve1": bmc},
		"[power]\nenabled = true\nallow = [\"alice\"]\n"), "  [[policy.step]]\n  who = [\"alice\"]\n")
	h.startBoth(t)
	until(t, 20*time.Second, "both nodes see pve1 up", func() bool { return h.pveUp(t, "fra") == 1 && h.pveUp(t, "ams") == 1 })

	offer := h.sms(t, "fra", "CYCLE pve1")
	m := regexp.MustCompile(`Reply CONFIRM (\d{4}) within 5 min\.$`).FindStringSubmatch(offer)
	if m == nil {
		t.Fatalf("fra's offer: %q", offer)
	}
	until(t, 10*time.Second, "ams has fra's code", func() bool {
		return h.metric(t, "ams", "foghorn_cluster_power_codes_merged_total") >= 1
	})
	if got := h.sms(t, "ams", "CONFIRM "+m[1]); got != "Working on it: CYCLE pve1. The result follows by SMS." {
		t.Fatalf("ams's answer to fra's code: %q", got)
	}
	until(t, 20*time.Second, "the outcome by SMS", func() bool { return countPrefix(h.sent(), "pve1 cycled: off, then on after ") == 1 })
	if got := bmc.Actions(); strings.Join(got, ",") != "power 0,power 1" {
		t.Fatalf("the BMC was asked %v; want one cycle", got)
	}
	until(t, 10*time.Second, "fra hears the code was used", func() bool {
		return h.metric(t, "fra", "foghorn_cluster_power_codes_merged_total") >= 1
	})
	if got := h.sms(t, "fra", "CONFIRM "+m[1]); !strings.HasPrefix(got, "Nothing to confirm") {
		t.Fatalf("the used code again, on fra: %q", got)
	}
	if got := bmc.Actions(); len(got) != 2 {
		t.Fatalf("the BMC was asked %v after the second use; want one cycle", got)
	}
}

// Both nodes are asked by the API at the same moment to cycle two hosts
// of one quorum group (2 of 3 needed): one acts, the other refuses with a
// message naming the first node's action. The two BMCs saw one cycle in
// all.
func TestPowerConflictingRequestsOnBothNodesAtOnceOneActsOneRefuses(t *testing.T) {
	simtest.Require(t)
	s1, s2 := simtest.Start(t), simtest.Start(t)
	hosts := upHosts(t, "pve1", "pve2", "pve3")
	h := newHAPair(t, powerSite(t, hosts, map[string]*simtest.Sim{"pve1": s1, "pve2": s2, "pve3": s2},
		"[power]\nenabled = true\nallow = [\"alice\", \"ci-deploy\"]\n[[group]]\nname = \"hypervisors\"\nmembers = [\"pve1\", \"pve2\", \"pve3\"]\nquorum = true\nmin_up = 2\n"+
			fmt.Sprintf("[[api_token]]\nname = \"ci-deploy\"\nsha256 = %q\n", sha(ciToken))),
		"  [[policy.step]]\n  who = [\"alice\"]\n")
	h.startBoth(t)
	until(t, 20*time.Second, "both nodes see the hosts up", func() bool { return h.pveUp(t, "fra") == 3 && h.pveUp(t, "ams") == 3 })

	type answer struct {
		code int
		body string
	}
	got := map[string]answer{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	startGun := make(chan struct{})
	for node, host := range map[string]string{"fra": "pve1", "ams": "pve2"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-startGun
			code, body := apiCall(t, h.node(node).base, ciToken, "POST", "/api/v1/power", powerRequest{Target: host, Action: "cycle"})
			mu.Lock()
			got[node] = answer{code, body}
			mu.Unlock()
		}()
	}
	close(startGun)
	wg.Wait()
	t.Logf("fra: %d %s; ams: %d %s", got["fra"].code, got["fra"].body, got["ams"].code, got["ams"].body)
	var winner, loser string
	switch {
	case got["fra"].code == 200 && got["ams"].code == http.StatusForbidden:
		winner, loser = "fra", "ams"
	case got["ams"].code == 200 && got["fra"].code == http.StatusForbidden:
		winner, loser = "ams", "fra"
	default:
		t.Fatalf("want one node to act and the other to refuse: fra %+v, ams %+v", got["fra"], got["ams"])
	}
	whose := map[string]string{"fra": "pve1", "ams": "pve2"}[winner]
	if b := got[loser].body; !strings.Contains(b, "foghorn-"+winner) || !strings.Contains(b, whose) {
		t.Fatalf("%s's refusal should name %s's action on %s: %s", loser, winner, whose, b)
	}
	if n := len(s1.Actions()) + len(s2.Actions()); n != 2 {
		t.Fatalf("the BMCs were asked %v and %v; want one cycle in all", s1.Actions(), s2.Actions())
	}
}

// pve1 goes down, seen by both nodes; its policy step has power =
// "cycle". The step takes the notification log's turn as a page does:
// ams (first by name) cycles pve1 at once, fra waits its turn, finds
// ams's entry and leaves the step to it. ipmi_sim saw one cycle, alice
// one page.
func TestPowerAutomatedStepRunsOnceAcrossBothNodes(t *testing.T) {
	simtest.Require(t)
	bmc := simtest.Start(t)
	hosts := upHosts(t, "pve1")
	h := newHAPair(t, powerSite(t, hosts, map[string]*simtest.Sim{"pve1": bmc},
		"[power]\nenabled = true\nautomated = true\nallow = [\"alice\"]\nper_host_per_hour = 5\n"),
		"  [[policy.step]]\n  who = [\"alice\"]\n  channels = [\"sms\"]\n  power = \"cycle\"\n")
	h.startBoth(t)
	until(t, 20*time.Second, "both nodes see pve1 up", func() bool { return h.pveUp(t, "fra") == 1 && h.pveUp(t, "ams") == 1 })

	hosts["pve1"].Close() // pve1 is down
	fra, ams := h.procs["fra"], h.procs["ams"]
	ams.waitLine(t, 30*time.Second, "ams's automated step done", func(l map[string]any) bool {
		return l["msg"] == "automated power step" && strings.HasPrefix(fmt.Sprint(l["outcome"]), "cycled: off, then on")
	})
	fra.waitLine(t, 30*time.Second, "fra leaves the step to ams", func(l map[string]any) bool {
		return l["msg"] == "automated power step left to the peer that took it" && l["peer"] == "ams" && l["host"] == "pve1"
	})
	if got := bmc.Actions(); strings.Join(got, ",") != "power 0,power 1" {
		t.Fatalf("the BMC was asked %v; want one cycle", got)
	}
	if line := fra.findLine(func(l map[string]any) bool { return l["msg"] == "automated power step" }); line != nil {
		t.Fatalf("fra decided the step too: %v", line)
	}
	until(t, 10*time.Second, "alice's page", func() bool { return countPrefix(h.sent(), "[CRIT]") >= 1 })
	if n := countPrefix(h.sent(), "[CRIT]"); n != 1 {
		t.Fatalf("%d pages for pve1, want 1: %q", n, h.sent())
	}
}
