package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// These run the real foghorn binary with its in-process Twilio simulator,
// play the people's phones through the simulator's control API, and read
// the outcome from foghorn's API and logs.

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// site is a pretend host whose health the test switches.
type site struct {
	*httptest.Server
	down atomic.Bool
}

func newSite(t *testing.T) *site {
	s := &site{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok")
	}))
	t.Cleanup(s.Close)
	return s
}

type pagerRun struct {
	*proc
	base, sim string
}

const e2eToken = "e2e-token-0123456789abcdef"

const (
	alicePhone = "+15005550101"
	bobPhone   = "+15005550102"
)

// startPaging runs foghorn with one http target, alice and bob, and the
// given policy steps.
func startPaging(t *testing.T, target string, steps string) *pagerRun {
	t.Helper()
	dir := t.TempDir()
	port, simPort := freePort(t), freePort(t)
	cfg := fmt.Sprintf(`[server]
listen = "127.0.0.1:%d"
public_url = "http://127.0.0.1:%d"
data_dir = %q
[twilio]
simulator = true
simulator_listen = "127.0.0.1:%d"
from = "+15005550006"
[self_check]
kind = "tcp"
canaries = ["127.0.0.1:%d"]
[escalation]
default_policy = "ops"
[[person]]
name = "alice"
phone = %q
[[person]]
name = "bob"
phone = %q
[[policy]]
name = "ops"
%s
[[target]]
name = "web"
kind = "http"
address = %q
interval = "1s"
timeout = "500ms"
rise = 1
fall = 1
`, port, port, filepath.Join(dir, "data"), simPort, port, alicePhone, bobPhone, steps, target)
	path := filepath.Join(dir, "foghorn.toml")
	writeFile(t, path, cfg)
	p := startEnv(t, []string{"FOGHORN_API_TOKEN=" + e2eToken}, "run", "-config", path, "-log-format", "json")
	p.wait(t, 0, "foghorn running", nil)
	return &pagerRun{proc: p, base: fmt.Sprintf("http://127.0.0.1:%d", port), sim: fmt.Sprintf("http://127.0.0.1:%d", simPort)}
}

func (r *pagerRun) do(t *testing.T, method, url string, body any) *http.Response {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, url, rd)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+e2eToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func (r *pagerRun) phone(t *testing.T, number string, script map[string]any) {
	t.Helper()
	resp := r.do(t, "PUT", r.sim+"/sim/phones/"+url.PathEscape(number), script)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("script %s: %s", number, resp.Status)
	}
}

type incident struct {
	ID       int64
	Short    int
	State    string
	AckedBy  string `json:"acked_by"`
	Timeline []struct{ Kind, Actor, Detail string }
}

func (r *pagerRun) incidents(t *testing.T) []incident {
	t.Helper()
	resp := r.do(t, "GET", r.base+"/api/v1/incidents", nil)
	defer resp.Body.Close()
	var out []incident
	json.NewDecoder(resp.Body).Decode(&out)
	return out
}

// until polls the open incidents until ok says so.
func (r *pagerRun) until(t *testing.T, what string, ok func([]incident) bool) []incident {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		incs := r.incidents(t)
		if ok(incs) {
			return incs
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 20s; incidents: %+v", what, incs)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func acked(by string) func([]incident) bool {
	return func(incs []incident) bool {
		return len(incs) == 1 && incs[0].State == "acknowledged" && incs[0].AckedBy == by
	}
}

func TestPageAckBySMSReplyAndBadSenders(t *testing.T) {
	s := newSite(t)
	r := startPaging(t, s.URL, `  [[policy.step]]
  who = ["alice"]
  channels = ["sms"]
  until_ack = true
  interval = "30s"`)
	n := r.count()
	s.down.Store(true)
	_, n = r.wait(t, n, "SMS sent", map[string]string{"person": "alice", "kind": "page"})

	// A stranger's "ACK" is ignored; a forged webhook is refused; neither acks.
	resp := r.do(t, "POST", r.sim+"/sim/sms", map[string]string{"From": "+19995550199", "Body": "ACK"})
	resp.Body.Close()
	r.wait(t, n, "SMS from an unknown number ignored (only configured people's numbers may send commands)", nil)
	form := url.Values{"From": {alicePhone}, "To": {"+15005550006"}, "Body": {"ACK"}, "MessageSid": {"SMforged"}}
	req, _ := http.NewRequest("POST", r.base+"/twilio/sms", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Twilio-Signature", "bm90IGEgcmVhbCBzaWduYXR1cmU=")
	fresp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	fresp.Body.Close()
	if fresp.StatusCode != http.StatusForbidden {
		t.Fatalf("forged webhook: %s, want 403", fresp.Status)
	}
	if incs := r.incidents(t); len(incs) != 1 || incs[0].State != "triggered" {
		t.Fatalf("a stranger or a forgery changed the incident: %+v", incs)
	}

	// alice replies "ACK" from her phone: acked, and the reply says so.
	resp = r.do(t, "POST", r.sim+"/sim/sms", map[string]string{"From": alicePhone, "Body": " ack "})
	resp.Body.Close()
	r.until(t, "ack by SMS", acked("alice"))
	r.wait(t, n, "SMS command", map[string]string{"person": "alice", "verb": "ack"})

	// Recovery resolves and tells alice.
	s.down.Store(false)
	r.wait(t, n, "SMS sent", map[string]string{"person": "alice", "kind": "resolved"})
}

func TestNoAnswerEscalatesAndKeyPressAcks(t *testing.T) {
	s := newSite(t)
	r := startPaging(t, s.URL, `  [[policy.step]]
  who = ["alice"]
  channels = ["voice"]
  [[policy.step]]
  who = ["bob"]
  channels = ["voice"]
  delay = "3s"
  until_ack = true
  interval = "30s"`)
	r.phone(t, alicePhone, map[string]any{"call": "voicemail"})
	r.phone(t, bobPhone, map[string]any{"call": "answer", "keys": []string{"7", "1"}}) // a wrong key, then 1
	n := r.count()
	s.down.Store(true)
	_, n = r.wait(t, n, "call placed", map[string]string{"person": "alice"})
	// Voicemail is not an ack: the outcome is "unanswered" and paging goes on to bob.
	r.wait(t, n, "delivery outcome", map[string]string{"outcome": "unanswered"})
	r.wait(t, n, "call placed", map[string]string{"person": "bob"})
	incs := r.until(t, "ack by key", acked("bob"))
	var kinds []string
	for _, e := range incs[0].Timeline {
		kinds = append(kinds, e.Kind+":"+e.Detail)
	}
	tl := strings.Join(kinds, " | ")
	if !strings.Contains(tl, "voice to alice: unanswered") || !strings.Contains(tl, "incident.ack:via voice") {
		t.Errorf("timeline does not show voicemail then the key-press ack: %s", tl)
	}
}

func TestTwilioErrorsRetryAndFallBack(t *testing.T) {
	s := newSite(t)
	r := startPaging(t, s.URL, `  [[policy.step]]
  who = ["alice"]
  channels = ["sms", "voice"]`)
	// Twilio answers 500 twice, then works: the SMS is retried and goes out.
	resp := r.do(t, "PUT", r.sim+"/sim/fault", map[string]any{"status": 500, "next": 2})
	resp.Body.Close()
	// The SMS is then reported undelivered (30006, a landline): foghorn falls
	// back to the step's next channel and calls.
	r.phone(t, alicePhone, map[string]any{"sms": "undelivered", "sms_error": 30006, "call": "answer", "keys": []string{"1"}})
	n := r.count()
	s.down.Store(true)
	// Each from the start: callbacks and logs come from different
	// goroutines, so their lines need not be in this order.
	r.wait(t, n, "send failed; retrying", map[string]string{"person": "alice"})
	r.wait(t, n, "SMS sent", map[string]string{"person": "alice", "kind": "page"})
	r.wait(t, n, "delivery outcome", map[string]string{"outcome": "failed"})
	r.wait(t, n, "call placed", map[string]string{"person": "alice"})
	r.until(t, "ack by key after the fallback", acked("alice"))
}

func TestTestPageCLI(t *testing.T) {
	s := newSite(t)
	r := startPaging(t, s.URL, `  [[policy.step]]
  who = ["alice"]`)
	r.phone(t, alicePhone, map[string]any{"call": "answer", "keys": []string{"1"}})
	r.phone(t, bobPhone, map[string]any{"call": "no-answer"})
	cli := func(args ...string) (string, int) {
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "FOGHORN_API_TOKEN="+e2eToken)
		out, err := cmd.CombinedOutput()
		return string(out), exitCode(err)
	}
	if out, code := cli("test-page", "-url", r.base, "alice", "30s"); code != 0 || !strings.Contains(out, "answered: alice's phone works") {
		t.Fatalf("alice presses 1: %d\n%s", code, out)
	}
	if out, code := cli("test-page", "-url", r.base, "bob", "4s"); code != 1 || !strings.Contains(out, "NOT answered") {
		t.Fatalf("bob does not answer: %d\n%s", code, out)
	}
	if out, code := cli("test-page", "-url", r.base, "mallory"); code != 1 || !strings.Contains(out, `no person "mallory"`) {
		t.Fatalf("unknown person: %d\n%s", code, out)
	}
	if incs := r.incidents(t); len(incs) != 0 {
		t.Fatalf("test pages left incidents open: %+v", incs)
	}
}
