package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"foghorn/pager"
	"foghorn/pager/ntfysim"
	"foghorn/pager/twiliosim"
	"foghorn/store"
)

// The ntfy channel on the real binary: configs/example.toml with [ntfy]
// pointed at the stand-in, a topic for each person of the rotation, and
// the first step's channels ["sms", "voice", "ntfy"], default limits.

const ntfyE2EToken = "tk_e2ee2ee2ee2ee2ee2ee2ee2ee2ee2e"

var examplePeople = map[string]string{"alice": "+4915112345671", "bob": "+4915112345672", "carol": "+14155550123"}

type ntfySite struct {
	*exampleSite
	ntfy   *ntfysim.Sim
	topics map[string]string // person → topic
}

func newNtfyExample(t *testing.T, so ntfysim.Options) *ntfySite {
	t.Helper()
	if so.Tokens == nil {
		so.Tokens = []string{ntfyE2EToken}
	}
	sim := ntfysim.New(so)
	base, err := sim.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	topics := map[string]string{}
	for name := range examplePeople {
		topics[name] = "foghorn-" + name + "-7c1e94b0a2d3"
	}
	x := newExample(t, quietWorld, func(s string) string {
		s = strings.Replace(s, "[self_check]", fmt.Sprintf("[ntfy]\nserver = %q\ntoken_file = \"ntfy-token\"\n\n[self_check]", base), 1)
		s = strings.Replace(s, "\n[[person]]\nname = \"bob\"", "[person.ntfy]\ntopic_file = \"ntfy-alice\"\n\n[[person]]\nname = \"bob\"", 1)
		s = strings.Replace(s, "\n[[person]]\nname = \"carol\"", "[person.ntfy]\ntopic_file = \"ntfy-bob\"\n\n[[person]]\nname = \"carol\"", 1)
		s = strings.Replace(s, "\n[[rotation]]", "[person.ntfy]\ntopic_file = \"ntfy-carol\"\n\n[[rotation]]", 1)
		return strings.Replace(s, `channels = ["sms", "voice"]  # all of them`, `channels = ["sms", "voice", "ntfy"]  # all of them`, 1)
	})
	for name, topic := range topics {
		writeFile(t, filepath.Join(x.dir, "ntfy-"+name), topic+"\n")
	}
	writeFile(t, filepath.Join(x.dir, "ntfy-token"), ntfyE2EToken+"\n")
	for _, ph := range examplePeople {
		x.sim.SetPhone(ph, twiliosim.Script{Call: "wait"}) // rings until hung up
	}
	return &ntfySite{exampleSite: x, ntfy: sim, topics: topics}
}

// page waits for the first page on anyone's topic: the person on call.
func (x *ntfySite) page(t *testing.T, d time.Duration) (person string, m ntfysim.Message) {
	t.Helper()
	until(t, d, "a page on an ntfy topic", func() bool {
		for p, topic := range x.topics {
			if ms := x.ntfy.Messages(topic); len(ms) > 0 {
				person, m = p, ms[0]
				return true
			}
		}
		return false
	})
	return person, m
}

func (x *ntfySite) incident(t *testing.T, summary string) map[string]any {
	t.Helper()
	_, body := apiCall(t, x.base, e2eToken, "GET", "/api/v1/incidents", nil)
	var incs []map[string]any
	json.Unmarshal([]byte(body), &incs)
	for _, inc := range incs {
		if inc["summary"] == summary {
			return inc
		}
	}
	t.Fatalf("no open incident %q in %s", summary, body)
	return nil
}

func post(t *testing.T, method, u string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, u, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestNtfyAckStopsTwilioCallWithinASecond: a critical page reaches the
// on-call person's topic with priority 5 and an "Ack #N" button; the
// button, pressed as the app does, acks as that person, and the Twilio
// call still ringing is hung up in well under a second.
func TestNtfyAckStopsTwilioCallWithinASecond(t *testing.T) {
	x := newNtfyExample(t, ntfysim.Options{})
	p := x.run(t)
	x.alert(t, "firing", "db1", "critical", "database primary down")
	person, m := x.page(t, 45*time.Second)
	phone := examplePeople[person]
	inc := x.incident(t, "database primary down")
	short := int(inc["short"].(float64))
	if m.Priority != 5 || m.Title != fmt.Sprintf("[CRIT] #%d database primary down", short) || m.Click != fmt.Sprintf("%s/incidents/%v", x.base, inc["id"]) {
		t.Fatalf("page %+v", m)
	}
	if len(m.Actions) != 1 || m.Actions[0].Label != fmt.Sprintf("Ack #%d", short) || m.Actions[0].Method != "POST" || !m.Actions[0].Clear ||
		!strings.HasPrefix(m.Actions[0].URL, x.base+pager.LinkAckPath+"?") {
		t.Fatalf("button %+v", m.Actions)
	}
	if m.Auth != "token:"+ntfyE2EToken {
		t.Fatalf("published as %q", m.Auth)
	}
	ringing := func() bool {
		for _, c := range x.callsTo(phone) {
			if c.Status == "ringing" {
				return true
			}
		}
		return false
	}
	until(t, 30*time.Second, "the call to "+person+" rings", ringing)

	start := time.Now()
	status, body, err := x.ntfy.Press(x.topics[person], m.ID, m.Actions[0].Label)
	if err != nil || status != http.StatusOK || !strings.Contains(body, "acknowledged by "+person) {
		t.Fatalf("press: %d %q %v", status, body, err)
	}
	for ringing() {
		if time.Since(start) > time.Second {
			t.Fatalf("the call still rings %s after the Ack button", time.Since(start))
		}
		time.Sleep(2 * time.Millisecond)
	}
	took := time.Since(start)
	t.Logf("ntfy Ack pressed → Twilio call hung up in %s", took.Round(time.Millisecond))
	if got := x.incident(t, "database primary down"); got["state"] != "acknowledged" || got["acked_by"] != person {
		t.Fatalf("incident %v by %v", got["state"], got["acked_by"])
	}
	p.wait(t, 0, "action link", map[string]string{"result": "ok", "person": person, "via": "ntfy"})
}

// TestNtfyLinkRefusedWhenForgedReplayedExpiredOrFetched: a GET shows the
// button and acks nothing; a link with a changed field or a made-up MAC
// is 403; an expired link is 410 even with a valid MAC (made with the
// key read from the store, as an attacker holding it would); a replay of
// a used link is 410. Only the one real press acks.
func TestNtfyLinkRefusedWhenForgedReplayedExpiredOrFetched(t *testing.T) {
	x := newNtfyExample(t, ntfysim.Options{})
	p := x.run(t)
	x.alert(t, "firing", "db1", "critical", "database primary down")
	person, m := x.page(t, 45*time.Second)
	link := m.Actions[0].URL
	u, _ := url.Parse(link)

	if code, body := post(t, "GET", link); code != 200 || !strings.Contains(body, `<form method="post"`) {
		t.Fatalf("GET: %d %q", code, body)
	}
	for k, v := range map[string]string{"p": "mallory", "i": "999", "s": "Zm9yZ2Vk", "c": "sms"} {
		q := u.Query()
		q.Set(k, v)
		if code, body := post(t, "POST", x.base+pager.LinkAckPath+"?"+q.Encode()); code != 403 {
			t.Fatalf("forged %s: %d %q", k, code, body)
		}
	}
	// Expired, validly signed: the key is in the store's meta table.
	db, err := store.OpenReadOnly(filepath.Join(x.dir, "data"))
	if err != nil {
		t.Fatal(err)
	}
	var hexKey string
	err = db.QueryRowContext(context.Background(), `SELECT value FROM meta WHERE key = 'link_key'`).Scan(&hexKey)
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	key, _ := hex.DecodeString(hexKey)
	q := u.Query()
	q.Set("e", strconv.FormatInt(time.Now().Add(-time.Minute).Unix(), 10))
	q.Set("n", "expired-link-id-0001")
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(strings.Join([]string{"foghorn-link-v1", "ack", q.Get("i"), q.Get("p"), q.Get("c"), q.Get("e"), q.Get("n")}, "\n")))
	q.Set("s", base64.RawURLEncoding.EncodeToString(mac.Sum(nil)))
	if code, body := post(t, "POST", x.base+pager.LinkAckPath+"?"+q.Encode()); code != 410 || !strings.Contains(body, "expired at") {
		t.Fatalf("expired: %d %q", code, body)
	}
	if got := x.incident(t, "database primary down"); got["state"] != "triggered" {
		t.Fatalf("a refused link acted: %v by %v", got["state"], got["acked_by"])
	}
	if code, body := post(t, "POST", link); code != 200 || !strings.Contains(body, "acknowledged by "+person) {
		t.Fatalf("press: %d %q", code, body)
	}
	if code, body := post(t, "POST", link); code != 410 || !strings.Contains(body, "already used") {
		t.Fatalf("replay: %d %q", code, body)
	}
	_, metrics := post(t, "GET", x.base+"/metrics")
	for _, want := range []string{`foghorn_pager_links_total{result="forged"} 4`, `foghorn_pager_links_total{result="expired"} 1`,
		`foghorn_pager_links_total{result="replayed"} 1`, `foghorn_pager_links_total{result="ok"} 1`, `foghorn_pager_links_total{result="confirm_page"} 1`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	p.wait(t, 0, "action link refused: forged", nil)
}

// TestNtfyFailuresRetryOrAreAnnounced: 500s and a 429 from ntfy are
// retried and the page goes out; a refused token is an outage at once,
// told by SMS (another vendor), and on /metrics.
func TestNtfyFailuresRetryOrAreAnnounced(t *testing.T) {
	t.Run("500 and 429 are retried", func(t *testing.T) {
		x := newNtfyExample(t, ntfysim.Options{})
		x.ntfy.SetFault(ntfysim.Fault{Status: 500, Next: 1})
		p := x.run(t)
		x.alert(t, "firing", "db1", "critical", "database primary down")
		p.waitWithin(t, 45*time.Second, 0, "send failed; retrying", map[string]string{"channel": "ntfy"})
		x.page(t, 15*time.Second)
		x.ntfy.SetFault(ntfysim.Fault{Status: 429, Next: 1})
		x.alert(t, "firing", "db2", "critical", "database replica down")
		until(t, 45*time.Second, "the second page despite a 429", func() bool {
			for _, topic := range x.topics {
				for _, m := range x.ntfy.Messages(topic) {
					if strings.Contains(m.Title, "database replica down") {
						return true
					}
				}
			}
			return false
		})
		var statuses []int
		for _, r := range x.ntfy.Requests() {
			statuses = append(statuses, r.Status)
		}
		if !strings.Contains(fmt.Sprint(statuses), "500 200") || !strings.Contains(fmt.Sprint(statuses), "429 200") {
			t.Fatalf("publishes %v", statuses)
		}
	})
	t.Run("401 is an outage told by SMS", func(t *testing.T) {
		x := newNtfyExample(t, ntfysim.Options{Tokens: []string{"tk_anotherone"}})
		p := x.run(t)
		x.alert(t, "firing", "db1", "critical", "database primary down")
		p.waitWithin(t, 45*time.Second, 0, "CHANNEL DOWN: every recent send failed; pages by this vendor are not going out", map[string]string{"vendor": "ntfy"})
		until(t, 30*time.Second, "an SMS saying ntfy fails", func() bool { return len(x.sms("ntfy is failing")) > 0 })
		if ms := x.sms("ntfy is failing"); !strings.Contains(ms[0].Body, "ntfy 401") {
			t.Fatalf("SMS %q", ms[0].Body)
		}
		_, metrics := post(t, "GET", x.base+"/metrics")
		if !strings.Contains(metrics, `foghorn_pager_channel_down{vendor="ntfy"} 1`) {
			t.Fatal("foghorn_pager_channel_down{vendor=\"ntfy\"} is not 1")
		}
		p.mu.Lock()
		logged := strings.Join(p.raw, "\n")
		p.mu.Unlock()
		if strings.Contains(logged, ntfyE2EToken) {
			t.Fatal("the token was logged")
		}
	})
}

// TestNtfyCheckConfigRefusesAPersonWithoutATopic: like "sms" without a
// phone, a step by ntfy that reaches a person with no topic is refused
// by check-config, with the line and the fix, and never names a topic.
func TestNtfyCheckConfigRefusesAPersonWithoutATopic(t *testing.T) {
	x := newNtfyExample(t, ntfysim.Options{})
	if out, code := runFor(t, 30*time.Second, "check-config", x.path); code != 0 {
		t.Fatalf("the ntfy example: exit %d\n%s", code, out)
	}
	text := strings.Replace(x.text, "[person.ntfy]\ntopic_file = \"ntfy-bob\"\n", "", 1)
	writeFile(t, x.path, text)
	out, code := runFor(t, 30*time.Second, "check-config", x.path)
	want := `"bob" has no ntfy topic for the "ntfy" channel; fix: add [person.ntfy] with topic_file under "bob"'s [[person]], or drop "ntfy" from the step`
	if code != 1 || !strings.Contains(out, want) {
		t.Fatalf("check-config: exit %d, want 1 with\n%s\ngot:\n%s", code, want, out)
	}
	for _, topic := range x.topics {
		if strings.Contains(out, topic) {
			t.Fatalf("a topic was printed:\n%s", out)
		}
	}
}
