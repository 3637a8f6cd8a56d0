package main

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"foghorn/pager"
	"foghorn/pager/twiliosim"
)

// SignalWire as the example's second provider, on a simulator of its own.
const (
	swProject = "0b5a1f3c-6d2e-4a7b-9c8d-1e2f3a4b5c6d"
	swToken   = "PTsimtoken0123456789abcdef"
	swKey     = "PSKsimsigningkey0123456789"
	swNumber  = "+14155550199"
)

// withSignalWire is an edit for newExample: the example's commented
// [[provider]] made real, pointed at a SignalWire simulator it starts
// (calling foghorn back at the example's public_url), with skip_for as
// given. The tokens come from the environment (swEnv).
func withSignalWire(t *testing.T, sw **twiliosim.Sim, skipFor string) func(string) string {
	return func(s string) string {
		t.Helper()
		m := regexp.MustCompile(`(?m)^public_url = "([^"]+)"`).FindStringSubmatch(s)
		if m == nil {
			t.Fatal("no public_url in the example")
		}
		base := m[1]
		sim := twiliosim.New(twiliosim.Options{SignalWire: true, AccountSID: swProject, AuthToken: swToken, SigningKey: swKey,
			Number: swNumber, PublicURL: base, InboundSMSURL: base + pager.SMSPath})
		u, err := sim.Start("127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { sim.Close() })
		*sw = sim
		block := regexp.MustCompile(`(?m)^# \[\[provider\]\]\n(# .*\n)+`).FindString(s)
		if block == "" {
			t.Fatal("the example has no commented [[provider]] block; update withSignalWire")
		}
		var lines []string
		for _, l := range strings.Split(strings.TrimSuffix(block, "\n"), "\n") {
			l = strings.TrimPrefix(l, "# ")
			switch {
			case strings.HasPrefix(l, "auth_token_file"), strings.HasPrefix(l, "signing_key_file"):
				continue // from the environment
			case strings.HasPrefix(l, "skip_for"):
				l = fmt.Sprintf("skip_for = %q", skipFor)
			}
			lines = append(lines, l)
		}
		lines = append(lines, fmt.Sprintf("api_base = %q", u+"/api/laml"))
		s = strings.Replace(s, block, strings.Join(lines, "\n")+"\n", 1)
		// [twilio] too: it is the provider that fails and comes back.
		return strings.Replace(s, `# skip_for = "5m"          # with a [[provider]]`, fmt.Sprintf("skip_for = %q # with a [[provider]]", skipFor), 1)
	}
}

var swEnv = []string{"FOGHORN_PROVIDER_SIGNALWIRE_TOKEN=" + swToken, "FOGHORN_PROVIDER_SIGNALWIRE_SIGNING_KEY=" + swKey}

// outbound is the messages sent by sim whose body contains s.
func outbound(sim *twiliosim.Sim, s string) []twiliosim.Message {
	var out []twiliosim.Message
	for _, m := range sim.Messages() {
		if m.Direction != "inbound" && strings.Contains(m.Body, s) {
			out = append(out, m)
		}
	}
	return out
}

// TestTwilioFailingPagesGoThroughSignalWireWithin30s is issue 16's first
// "done when", on the real binary with the example config and its
// default limits: Twilio answering 500s → a critical page reaches the
// phone through SignalWire within 30 s, and the switch is logged,
// counted and announced once; Twilio healthy again and the skip over →
// the next page goes through Twilio; Twilio unreachable (its listener
// closed) → through SignalWire again within 30 s.
func TestTwilioFailingPagesGoThroughSignalWireWithin30s(t *testing.T) {
	var sw *twiliosim.Sim
	x := newExample(t, quietWorld, withSignalWire(t, &sw, "3s"))
	p := x.run(t, swEnv...)

	// 1. Twilio answers every request with 500.
	x.sim.SetFault(twiliosim.Fault{Status: 500, Rate: 1})
	n := p.count()
	t0 := time.Now()
	x.alert(t, "firing", "fo1", "critical", "database primary down")
	var page twiliosim.Message
	until(t, 30*time.Second, "the page through SignalWire", func() bool {
		ms := outbound(sw, "database primary down")
		if len(ms) > 0 {
			page = ms[0]
		}
		return len(ms) > 0
	})
	t.Logf("Twilio 500s: the page reached %s through SignalWire %s after the alert", page.To, time.Since(t0).Round(time.Millisecond))
	if page.From != swNumber {
		t.Errorf("the SignalWire page came from %s, want %s", page.From, swNumber)
	}
	if len(x.sms("database primary down")) != 0 {
		t.Error("Twilio, answering 500s, delivered the page too")
	}
	p.wait(t, n, "provider switch", map[string]string{"from": "twilio", "to": "signalwire"})
	p.wait(t, n, "provider switch announced", map[string]string{"provider": "twilio", "to": "signalwire"})
	// Everyone is told, once, through the provider now used (the
	// example's SMTP server is not there).
	until(t, 15*time.Second, "the outage notice to all three people", func() bool {
		return len(outbound(sw, "Twilio failing since")) >= 3
	})
	once := map[string]int{}
	for _, msg := range outbound(sw, "Twilio failing since") {
		once[msg.To]++
	}
	if len(once) != 3 {
		t.Errorf("outage notices went to %v, want each of the three people once", once)
	}
	for to, c := range once {
		if c != 1 {
			t.Errorf("%s got the outage notice %d times", to, c)
		}
	}
	m := fetchBody(t, x.base+"/metrics")
	for _, want := range []string{`foghorn_pager_provider_switches_total{from="twilio",to="signalwire"}`, `foghorn_pager_provider_down{provider="twilio"} 1`} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics has no %s:\n%s", want, grepLines(m, "provider"))
		}
	}
	// The call ~5 s after the SMS goes the same way, with no wait on Twilio.
	until(t, 30*time.Second, "the call through SignalWire", func() bool {
		for _, c := range sw.Calls() {
			if c.To == page.To {
				return true
			}
		}
		return false
	})

	// 2. Twilio heals; once skip_for is over it is tried first again.
	x.sim.SetFault(twiliosim.Fault{})
	time.Sleep(3500 * time.Millisecond) // skip_for = "3s": the precondition, not an assertion
	n = p.count()
	x.alert(t, "firing", "fo2", "critical", "backup storage degraded")
	t.Cleanup(func() {
		if t.Failed() {
			p.mu.Lock()
			for _, l := range p.raw {
				if strings.Contains(l, "provider") || strings.Contains(l, "SMS") || strings.Contains(l, "backup") || strings.Contains(l, "not sent") {
					t.Log(l)
				}
			}
			p.mu.Unlock()
		}
	})
	until(t, 30*time.Second, "the next page through Twilio", func() bool { return len(x.sms("backup storage degraded")) > 0 })
	if len(outbound(sw, "backup storage degraded")) != 0 {
		t.Error("the page after the recovery went through SignalWire too")
	}
	p.wait(t, n, "provider switch", map[string]string{"from": "signalwire", "to": "twilio"})

	// 3. Twilio unreachable: its listener closed, every connection refused.
	x.sim.Close()
	n = p.count()
	t0 = time.Now()
	x.alert(t, "firing", "fo3", "critical", "mail queue stuck")
	until(t, 30*time.Second, "the page through SignalWire with Twilio unreachable", func() bool {
		return len(outbound(sw, "mail queue stuck")) > 0
	})
	t.Logf("Twilio unreachable: the page went through SignalWire %s after the alert", time.Since(t0).Round(time.Millisecond))
	p.wait(t, n, "provider switch", map[string]string{"from": "twilio", "to": "signalwire"})

	// Once per outage: nobody got the first outage's notice twice.
	per := map[string]int{}
	for _, msg := range outbound(sw, "Twilio failing since") {
		per[msg.To]++
	}
	for to, c := range per {
		if c > 2 {
			t.Errorf("%s got %d outage notices for two outages", to, c)
		}
	}
}

// TestSignalWireCallbacksNeedItsSigningKey: a status callback naming
// SignalWire (&p=signalwire) is checked with SignalWire's Signing Key in
// X-SignalWire-Signature: a forged one and one signed with the Twilio
// auth token are refused (403, logged); one signed with the key passes.
func TestSignalWireCallbacksNeedItsSigningKey(t *testing.T) {
	var sw *twiliosim.Sim
	x := newExample(t, quietWorld, withSignalWire(t, &sw, "5m"))
	p := x.run(t, swEnv...)
	raw, err := os.ReadFile(filepath.Join(x.dir, "twilio-token.example"))
	if err != nil {
		t.Fatal(err)
	}
	twToken := strings.TrimSpace(string(raw))
	u := x.base + pager.SMSStatusPath + "?n=1&p=signalwire"
	form := url.Values{"MessageSid": {"SMx"}, "MessageStatus": {"delivered"}}
	post := func(header, sig string) int {
		req, _ := http.NewRequest("POST", u, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set(header, sig)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	n := p.count()
	if got := post("X-SignalWire-Signature", "bm90IGEgcmVhbCBzaWduYXR1cmU="); got != http.StatusForbidden {
		t.Errorf("forged SignalWire callback: %d, want 403", got)
	}
	p.wait(t, n, "Twilio webhook refused: bad X-Twilio-Signature (wrong auth token, or public_url is not the URL Twilio calls)", map[string]string{"route": "sms_status"})
	for _, h := range []string{"X-SignalWire-Signature", "X-Twilio-Signature"} {
		if got := post(h, twiliosim.Sign(twToken, u, form)); got != http.StatusForbidden {
			t.Errorf("SignalWire callback signed with the Twilio token in %s: %d, want 403", h, got)
		}
	}
	if got := post("X-SignalWire-Signature", twiliosim.Sign(swKey, u, form)); got/100 != 2 {
		t.Errorf("SignalWire callback signed with its Signing Key: %d, want 2xx", got)
	}
	// An unknown provider in the URL is refused whatever signs it.
	u = x.base + pager.SMSStatusPath + "?n=1&p=mallory"
	if got := post("X-Twilio-Signature", twiliosim.Sign(twToken, u, form)); got != http.StatusForbidden {
		t.Errorf("callback naming an unknown provider: %d, want 403", got)
	}
}

// TestVcardListsEveryCallerID: `foghorn vcard PERSON` prints one vCard 3.0
// with [twilio]'s number and the SignalWire provider's, each labelled,
// with CRLF line ends and folded lines; an unknown person is refused,
// naming the known ones.
func TestVcardListsEveryCallerID(t *testing.T) {
	var sw *twiliosim.Sim
	x := newExample(t, withSignalWire(t, &sw, "5m"))
	out, errOut, code := runSplit(t, swEnv, "vcard", "alice", "-config", x.path)
	if code != 0 {
		t.Fatalf("vcard alice: exit %d\n%s", code, errOut)
	}
	for _, want := range []string{"BEGIN:VCARD\r\nVERSION:3.0\r\n", "FN:foghorn pager\r\n",
		"item1.TEL;TYPE=WORK,VOICE:+14155550100\r\n", "item1.X-ABLabel:foghorn twilio\r\n",
		"item2.TEL;TYPE=WORK,VOICE:" + swNumber + "\r\n", "item2.X-ABLabel:foghorn signalwire\r\n", "END:VCARD\r\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("the card has no %q:\n%s", want, out)
		}
	}
	for _, l := range strings.Split(out, "\r\n") {
		if len(l) > 75 {
			t.Errorf("line of %d octets, not folded: %q", len(l), l)
		}
	}
	if strings.Count(out, "BEGIN:VCARD") != 1 || strings.Contains(strings.ReplaceAll(out, "\r\n", ""), "\n") {
		t.Errorf("not one card with CRLF line ends:\n%q", out)
	}
	_, errOut, code = runSplit(t, swEnv, "vcard", "mallory", "-config", x.path)
	if code != 1 || !strings.Contains(errOut, `no person "mallory"`) || !strings.Contains(errOut, "alice, bob, carol") {
		t.Errorf("unknown person: exit %d\n%s", code, errOut)
	}
}

// TestCheckConfigProviders: check-config on the example with its
// [[provider]] says where to point the SignalWire number's webhook, and
// refuses it without its token and Signing Key, naming the variables.
func TestCheckConfigProviders(t *testing.T) {
	var sw *twiliosim.Sim
	x := newExample(t, withSignalWire(t, &sw, "5m"))
	out, errOut, code := runSplit(t, swEnv, "check-config", x.path)
	if code != 0 || !strings.Contains(out, `provider "signalwire": SignalWire dashboard`) || !strings.Contains(out, swNumber+`'s "A message comes in" webhook to `+x.base+"/twilio/sms") {
		t.Errorf("check-config with the provider: exit %d\n%s\n%s", code, out, errOut)
	}
	out, errOut, code = runSplit(t, nil, "check-config", x.path)
	if code != 1 || !strings.Contains(out+errOut, "FOGHORN_PROVIDER_SIGNALWIRE_TOKEN") || !strings.Contains(out+errOut, "FOGHORN_PROVIDER_SIGNALWIRE_SIGNING_KEY") {
		t.Errorf("check-config without the provider's secrets: exit %d\n%s\n%s", code, out, errOut)
	}
}
