package main

import (
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"foghorn/pager/pushoversim"
	"foghorn/pager/twiliosim"
)

// Issue 16, point 5: Pushover on the real binary, with the example config
// (its default limits), the Twilio simulator and the Pushover stand-in.
// The example's first step becomes ["sms", "voice", "pushover"]: the SMS,
// the call a few seconds later, then the emergency push.

const poE2EToken = "azGDORePK8gMaC0QOYAMyEEuzJnyUi"

// The user keys of the example's people.
var poKeys = map[string]string{
	"alice": "uQiRzpo4DXghDmr9QzzfQu27cmVRsG",
	"bob":   "gznej3rKEVAvPUxu9vvNnqpmZpokzF",
	"carol": "cR7Vx2mLq9ZtW4bN8sYhJ3kD6fGpA1",
}

// The example's people's phones.
var poPhones = map[string]string{"alice": exampleAlice, "bob": "+4915112345672", "carol": "+14155550123"}

type poSite struct {
	*exampleSite
	po *pushoversim.Sim
}

// newPushoverExample is the example with [pushover] pointed at a stand-in,
// a user key for everyone, and pushover as the first step's third channel.
// Every phone rings until hung up.
func newPushoverExample(t *testing.T) *poSite { return newPushoverExampleAccepting(t, poE2EToken) }

// newPushoverExampleAccepting is newPushoverExample with a stand-in that
// accepts only token.
func newPushoverExampleAccepting(t *testing.T, token string) *poSite {
	t.Helper()
	po := pushoversim.New(pushoversim.Options{Token: token})
	for _, k := range poKeys {
		po.AddUser(k)
	}
	base, err := po.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { po.Close() })
	var dir string
	x := newExample(t, quietWorld, func(s string) string {
		section := fmt.Sprintf("[pushover]\ntoken_file = \"pushover-token\"\napi_base = %q\n\n[self_check]", base)
		s = strings.Replace(s, "[self_check]", section, 1)
		key := func(name string) string {
			return fmt.Sprintf("  [person.pushover]\n  user_key_file = \"pushover-%s\"\n\n", name)
		}
		s = strings.Replace(s, "[[person]]\nname = \"bob\"", key("alice")+"[[person]]\nname = \"bob\"", 1)
		s = strings.Replace(s, "[[person]]\nname = \"carol\"", key("bob")+"[[person]]\nname = \"carol\"", 1)
		s = strings.Replace(s, "[[rotation]]\nname = \"ops\"", key("carol")+"[[rotation]]\nname = \"ops\"", 1)
		old := `channels = ["sms", "voice"]  # all of them`
		if !strings.Contains(s, old) {
			t.Fatalf("example.toml no longer has %q", old)
		}
		return strings.Replace(s, old, `channels = ["sms", "voice", "pushover"]  # all of them`, 1)
	})
	dir = x.dir
	writeFile(t, filepath.Join(dir, "pushover-token"), poE2EToken+"\n")
	for name, k := range poKeys {
		writeFile(t, filepath.Join(dir, "pushover-"+name), k+"\n")
	}
	for _, ph := range poPhones {
		if err := x.sim.SetPhone(ph, twiliosim.Script{Call: "wait"}); err != nil {
			t.Fatal(err)
		}
	}
	return &poSite{exampleSite: x, po: po}
}

// emergency waits for the emergency push about summary and returns it
// with the person it went to.
func (x *poSite) emergency(t *testing.T, summary string) (pushoversim.Message, string) {
	t.Helper()
	var m pushoversim.Message
	until(t, 45*time.Second, "an emergency push about "+summary, func() bool {
		for _, mm := range x.po.Messages() {
			if mm.Priority == 2 && strings.Contains(mm.Title, summary) {
				m = mm
				return true
			}
		}
		return false
	})
	for name, k := range poKeys {
		if k == m.User {
			return m, name
		}
	}
	t.Fatalf("the push went to an unknown key")
	return m, ""
}

// ringing is the call to phone still ringing.
func (x *poSite) ringing(t *testing.T, phone string) twiliosim.Call {
	t.Helper()
	var c twiliosim.Call
	until(t, 30*time.Second, "a ringing call to "+phone, func() bool {
		for _, cc := range x.callsTo(phone) {
			if cc.Status == "ringing" {
				c = cc
				return true
			}
		}
		return false
	})
	return c
}

func (x *poSite) metric(t *testing.T, line string) float64 {
	t.Helper()
	for _, l := range strings.Split(fetchBody(t, x.base+"/metrics"), "\n") {
		if v, ok := strings.CutPrefix(l, line+" "); ok {
			var f float64
			fmt.Sscan(v, &f)
			return f
		}
	}
	return 0
}

// TestPushoverAckStopsTwilioCallWithinASecond: a critical page goes out
// as an emergency push with a receipt; acknowledging it on the phone acks
// the incident as that person, and the Twilio call still ringing for it
// is hung up in less than a second.
func TestPushoverAckStopsTwilioCallWithinASecond(t *testing.T) {
	x := newPushoverExample(t)
	p := x.run(t)
	r := &pagerRun{proc: p, base: x.base, sim: x.simURL}
	x.alert(t, "firing", "db1", "critical", "database primary down")
	m, who := x.emergency(t, "database primary down")
	if m.Retry != 60 || m.Expire != 3600 || !strings.HasPrefix(m.Callback, x.base+"/pushover/callback?n=") {
		t.Errorf("emergency push %+v: want retry 60, expire 3600 (the defaults) and the callback at the public URL", m)
	}
	call := x.ringing(t, poPhones[who])

	t0 := time.Now()
	if status, err := x.po.Acknowledge(m.Receipt); err != nil || status/100 != 2 {
		t.Fatalf("the callback: %d %v", status, err)
	}
	var ended twiliosim.Call
	until(t, 5*time.Second, "the ringing call hung up", func() bool {
		for _, c := range x.sim.Calls() {
			if c.SID == call.SID && !c.Ended.IsZero() {
				ended = c
				return true
			}
		}
		return false
	})
	took := ended.Ended.Sub(t0)
	t.Logf("Pushover acknowledged -> Twilio call %s hung up (%s) %s later", ended.SID, ended.Status, took.Round(time.Millisecond))
	if took >= time.Second {
		t.Errorf("the call was hung up %s after the Pushover ack, want < 1 s", took)
	}
	incs := r.until(t, "acked by "+who+" via pushover", acked(who))
	var via bool
	for _, e := range incs[0].Timeline {
		via = via || (e.Kind == "incident.ack" && strings.Contains(e.Detail, "pushover"))
	}
	if !via {
		t.Errorf("the timeline does not say the ack came by Pushover: %+v", incs[0].Timeline)
	}
}

// TestPushoverWebAckCancelsTheReceipt: an ack on the web (the API) cancels
// the live receipt, so the phone stops repeating it.
func TestPushoverWebAckCancelsTheReceipt(t *testing.T) {
	x := newPushoverExample(t)
	p := x.run(t)
	r := &pagerRun{proc: p, base: x.base, sim: x.simURL}
	x.alert(t, "firing", "db1", "critical", "database primary down")
	m, _ := x.emergency(t, "database primary down")
	incs := r.until(t, "the incident", func(incs []incident) bool { return len(incs) == 1 })
	if code, body := apiCall(t, x.base, e2eToken, "POST", fmt.Sprintf("/api/v1/incidents/%d/ack", incs[0].ID), nil, "X-Foghorn-User", "bob"); code != 200 {
		t.Fatalf("ack: %d %s", code, body)
	}
	until(t, 5*time.Second, "the receipt cancelled at Pushover", func() bool {
		got, _ := x.po.Receipt(m.Receipt)
		return !got.CancelledAt.IsZero()
	})
	p.wait(t, 0, "Pushover receipt cancelled: the phone stops repeating it", map[string]string{"receipt": m.Receipt})
}

// TestPushoverForgedCallbackAcksNothing: a callback is not signed. One for
// a receipt foghorn never sent is refused 404; one for the live receipt
// makes foghorn ask Pushover, which says it is not acknowledged, so
// nothing is acked; an acknowledgement by another user key is ignored.
func TestPushoverForgedCallbackAcksNothing(t *testing.T) {
	x := newPushoverExample(t)
	p := x.run(t)
	r := &pagerRun{proc: p, base: x.base, sim: x.simURL}
	x.alert(t, "firing", "db1", "critical", "database primary down")
	m, who := x.emergency(t, "database primary down")
	post := func(u string, f url.Values) int {
		resp, err := http.PostForm(u, f)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	forged := url.Values{"receipt": {m.Receipt}, "acknowledged": {"1"}, "acknowledged_by": {poKeys[who]},
		"acknowledged_at": {fmt.Sprint(time.Now().Unix())}, "acknowledged_by_device": {"iphone"}}
	unknown := url.Values{"receipt": {"rUnknownUnknownUnknownUnknown0"}, "acknowledged": {"1"}, "acknowledged_by": {poKeys[who]}}
	if got := post(m.Callback, unknown); got != http.StatusNotFound {
		t.Errorf("callback for an unknown receipt: %d, want 404", got)
	}
	const pending = `foghorn_pager_pushover_receipts_total{event="unacknowledged"}`
	before := x.metric(t, pending)
	if got := post(m.Callback, forged); got != http.StatusNoContent {
		t.Errorf("forged callback for the live receipt: %d, want 204", got)
	}
	until(t, 10*time.Second, "foghorn asked Pushover and found it not acknowledged", func() bool { return x.metric(t, pending) > before })
	if incs := r.incidents(t); len(incs) != 1 || incs[0].State != "triggered" {
		t.Fatalf("a forged callback acked: %+v", incs)
	}

	other := "bob"
	if who == "bob" {
		other = "carol"
	}
	n := p.count()
	if _, err := x.po.AcknowledgeAs(m.Receipt, poKeys[other]); err != nil {
		t.Fatal(err)
	}
	p.wait(t, n, "Pushover receipt acknowledged by another user key; ignored (acks come only from the paged person's own key)",
		map[string]string{"receipt": m.Receipt})
	if incs := r.incidents(t); len(incs) != 1 || incs[0].State != "triggered" {
		t.Fatalf("%s's key acked %s's page: %+v", other, who, incs)
	}
	if strings.Contains(strings.Join(p.raw, "\n"), poKeys[other]) || strings.Contains(strings.Join(p.raw, "\n"), poE2EToken) {
		t.Error("a user key or the token is in the log")
	}
}

// TestPushoverKill9RestartKeepsFollowingTheReceipt: foghorn is killed
// while a receipt is live and the person acknowledges while it is down
// (the callback finds nobody); after the restart foghorn polls the
// receipts it has in the store and turns the acknowledgement into the ack.
func TestPushoverKill9RestartKeepsFollowingTheReceipt(t *testing.T) {
	x := newPushoverExample(t)
	p := x.run(t)
	x.alert(t, "firing", "db1", "critical", "database primary down")
	m, who := x.emergency(t, "database primary down")
	p.wait(t, 0, "Pushover emergency sent", map[string]string{"receipt": m.Receipt})
	p.cmd.Process.Kill() // kill -9
	<-p.done
	if status, err := x.po.Acknowledge(m.Receipt); err == nil {
		t.Fatalf("the callback reached a dead foghorn: %d", status)
	}
	p = x.run(t)
	p.wait(t, 0, "following Pushover receipts from before the restart", map[string]string{"receipts": "1"})
	r := &pagerRun{proc: p, base: x.base, sim: x.simURL}
	r.until(t, "acked by "+who+" via pushover after the restart", acked(who))
	got, _ := x.po.Receipt(m.Receipt)
	for i := 1; i < len(got.Polls); i++ {
		if d := got.Polls[i].Sub(got.Polls[i-1]); d < 5*time.Second {
			t.Errorf("receipt polled twice within %s; Pushover asks for at least 5 s", d)
		}
	}
}

// TestPushoverRefusedTokenIsAnnouncedBySMS: Pushover refusing the
// application's token fails every push alike: the vendor is down at once,
// /metrics says so, and everyone is told through Twilio, while the page
// still went out by SMS and call.
func TestPushoverRefusedTokenIsAnnouncedBySMS(t *testing.T) {
	x := newPushoverExampleAccepting(t, "anotherTokenAnotherTokenAnothe")
	p := x.run(t)
	x.alert(t, "firing", "db1", "critical", "database primary down")
	p.waitWithin(t, 45*time.Second, 0, "CHANNEL DOWN: every recent send failed; pages by this vendor are not going out", map[string]string{"vendor": "pushover"})
	until(t, 30*time.Second, "the outage told by SMS", func() bool { return len(x.sms("foghorn cannot send through pushover")) > 0 })
	m := x.sms("foghorn cannot send through pushover")[0]
	if !strings.Contains(m.Body, "application token is invalid") || strings.Contains(m.Body, poE2EToken) {
		t.Errorf("the outage SMS %q should say why, without the token", m.Body)
	}
	if v := x.metric(t, `foghorn_pager_channel_down{vendor="pushover"}`); v != 1 {
		t.Errorf(`foghorn_pager_channel_down{vendor="pushover"} = %v, want 1`, v)
	}
	if len(x.sms("database primary down")) == 0 {
		t.Error("the page itself did not go out by SMS")
	}
}
