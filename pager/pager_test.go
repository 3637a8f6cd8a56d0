package pager

import (
	"context"
	"encoding/xml"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"foghorn/escalation"
	"foghorn/pager/twiliosim"
)

func TestAckBySMSReply(t *testing.T) {
	w := newWorld(t, smsFirst)
	w.sim.SetPhone(alicePh, twiliosim.Script{Replies: []string{"ACK"}})
	inc := w.fire("group:routers")
	w.step()

	eventually(t, "alice's ACK reply acks the incident", func() bool {
		return w.incident(inc.ID).State == escalation.Acknowledged
	})
	got := w.incident(inc.ID)
	if got.AckedBy != "alice" {
		t.Fatalf("acked by %q, want alice", got.AckedBy)
	}
	want := "[CRIT] #1 router pair DOWN (rt1, rt2) since 10:00: both unreachable by ICMP. Reply 1 to ack, 1R resolve, HELP."
	msgs := w.messagesTo(alicePh)
	if len(msgs) == 0 || msgs[0] != want {
		t.Fatalf("page SMS:\n got %q\nwant %q", msgs, want)
	}
	eventually(t, "the confirmation reaches alice", func() bool { return anyContains(w.messagesTo(alicePh), "#1 acked, paging stopped") })
	eventually(t, "delivery recorded", func() bool { return w.hasNote("page sms alice delivered") })

	// The SMS went with a status callback and a validity period.
	m := w.sim.Messages()[0]
	if m.ValidityPeriod != 900 || !strings.HasPrefix(m.StatusCallback, w.url+SMSStatusPath+"?n=") {
		t.Fatalf("validity %d, callback %q", m.ValidityPeriod, m.StatusCallback)
	}
	// Nothing more is sent once acked.
	n := len(w.sim.Messages())
	w.advance(30 * time.Minute)
	if len(w.sim.Calls()) != 0 || len(w.sim.Messages()) != n {
		t.Fatalf("paged after the ack: %d calls, %d messages (was %d)", len(w.sim.Calls()), len(w.sim.Messages()), n)
	}
}

const voiceAlice = `
[[policy]]
name = "ops"
  [[policy.step]]
  who = ["alice"]
  channels = ["voice"]
  fallback = ["sms"]
  repeat = 2
  interval = "10m"
`

// gatherXML is the part of a call's TwiML the test checks, read as XML
// because twilio-go writes attributes in random order.
type gatherXML struct {
	Gather struct {
		Action              string   `xml:"action,attr"`
		NumDigits           string   `xml:"numDigits,attr"`
		ActionOnEmptyResult string   `xml:"actionOnEmptyResult,attr"`
		Input               string   `xml:"input,attr"`
		Says                []string `xml:"Say"`
	} `xml:"Gather"`
}

func TestAckByKeyPress(t *testing.T) {
	w := newWorld(t, voiceAlice)
	w.sim.SetPhone(alicePh, twiliosim.Script{Call: "answer", Keys: []string{"9", "1"}}) // a wrong key first
	inc := w.fire("group:routers")
	w.step()

	eventually(t, "key 1 acks", func() bool { return w.incident(inc.ID).State == escalation.Acknowledged })
	if by := w.incident(inc.ID).AckedBy; by != "alice" {
		t.Fatalf("acked by %q", by)
	}
	eventually(t, "call ends", func() bool { c := w.callsTo(alicePh); return len(c) == 1 && c[0].Status == "completed" })
	c := w.callsTo(alicePh)[0]
	if !slices.Equal(c.Digits, []string{"9", "1"}) {
		t.Fatalf("digits %v", c.Digits)
	}
	said := strings.Join(c.Said, " / ")
	for _, s := range []string{"incident 1: router pair DOWN (rt1, rt2)", voiceMenu, "Sorry, 9 is not an option.", "Acknowledged. Paging for incident 1 has stopped."} {
		if !strings.Contains(said, s) {
			t.Errorf("call did not say %q; said: %s", s, said)
		}
	}
	if strings.Count(said, voiceMenu) != 2 {
		t.Errorf("a wrong key should repeat the menu once; said: %s", said)
	}
	if c.MachineDetection != "Enable" || !slices.Equal(c.Events, callEvents) || !strings.HasPrefix(c.StatusCallback, w.url+VoiceStatusPath+"?n=") {
		t.Errorf("call created with amd %q, events %v, callback %q", c.MachineDetection, c.Events, c.StatusCallback)
	}
	var doc gatherXML
	if err := xml.Unmarshal([]byte(c.Twiml), &doc); err != nil {
		t.Fatal(err)
	}
	g := doc.Gather
	if g.NumDigits != "1" || g.ActionOnEmptyResult != "true" || g.Input != "dtmf" || !strings.HasPrefix(g.Action, w.url+GatherPath+"?") || len(g.Says) != 2 {
		t.Errorf("gather: %+v", g)
	}
	eventually(t, "delivery recorded", func() bool { return w.hasNote("page voice alice delivered") })
}

func TestVoicemailIsNotAnAck(t *testing.T) {
	w := newWorld(t, voiceAlice)
	w.sim.SetPhone(alicePh, twiliosim.Script{Call: "voicemail"})
	inc := w.fire("group:routers")
	w.step()

	eventually(t, "voicemail reported unanswered", func() bool { return w.hasNote("page voice alice unanswered") })
	eventually(t, "the machine is hung up on", func() bool { c := w.callsTo(alicePh); return len(c) == 1 && c[0].Status == "completed" })
	got := w.incident(inc.ID)
	if got.State != escalation.Triggered {
		t.Fatalf("voicemail changed the incident to %s", got.State)
	}
	if due := got.Due.Sub(w.clk.Now()); due > 2*time.Minute {
		t.Fatalf("next call in %s; a voicemail should bring it forward to 2m", due)
	}
	c := w.callsTo(alicePh)[0]
	if c.AnsweredBy != "machine_start" || len(c.Digits) != 0 {
		t.Fatalf("call: answered by %q, digits %v", c.AnsweredBy, c.Digits)
	}

	w.advance(2 * time.Minute)
	eventually(t, "called again", func() bool { return len(w.callsTo(alicePh)) == 2 })
	eventually(t, "second voicemail reported", func() bool {
		return slices.Equal(w.notes(), []string{"page voice alice unanswered", "page voice alice unanswered"})
	})
	if st := w.incident(inc.ID).State; st != escalation.Triggered {
		t.Fatalf("state %s after two voicemails", st)
	}
}

const aliceThenBob = `
[[policy]]
name = "ops"
  [[policy.step]]
  who = ["alice"]
  channels = ["voice"]
  [[policy.step]]
  who = ["bob"]
  channels = ["voice"]
  delay = "5m"
  until_ack = true
  interval = "10m"
`

func TestNoAnswerGoesToNextPerson(t *testing.T) {
	w := newWorld(t, aliceThenBob)
	w.sim.SetPhone(alicePh, twiliosim.Script{Call: "no-answer"})
	w.sim.SetPhone(bobPh, twiliosim.Script{Call: "answer", Keys: []string{"1"}})
	inc := w.fire("group:routers")
	w.step()

	eventually(t, "alice's call ends unanswered", func() bool { return w.hasNote("page voice alice unanswered") })
	if len(w.callsTo(bobPh)) != 0 {
		t.Fatal("bob called before step 2")
	}
	w.advance(5 * time.Minute)
	eventually(t, "bob acks with key 1", func() bool { return w.incident(inc.ID).State == escalation.Acknowledged })
	got := w.incident(inc.ID)
	if got.AckedBy != "bob" || got.Step != 1 {
		t.Fatalf("acked by %q at step %d", got.AckedBy, got.Step+1)
	}
	if c := w.callsTo(alicePh); len(c) != 1 || c[0].Status != "no-answer" {
		t.Fatalf("alice's calls: %+v", c)
	}
}

const aliceRepeatsThenBob = `
[[policy]]
name = "ops"
  [[policy.step]]
  who = ["alice"]
  channels = ["voice"]
  repeat = 2
  interval = "10m"
  [[policy.step]]
  who = ["bob"]
  channels = ["voice"]
  delay = "5m"
  until_ack = true
  interval = "10m"
`

func TestEscalateByKeyPress(t *testing.T) {
	w := newWorld(t, aliceRepeatsThenBob)
	w.sim.SetPhone(alicePh, twiliosim.Script{Keys: []string{"2"}})
	w.sim.SetPhone(bobPh, twiliosim.Script{Call: "wait"})
	inc := w.fire("group:routers")
	w.step()
	eventually(t, "alice escalates", func() bool { return w.incident(inc.ID).Step == 1 })
	w.step() // escalation made step 2 due now
	eventually(t, "bob is called", func() bool { return len(w.callsTo(bobPh)) == 1 })
	if st := w.incident(inc.ID).State; st != escalation.Triggered {
		t.Fatalf("state %s", st)
	}
}

func TestForgedSignatureRejected(t *testing.T) {
	w := newWorld(t, smsFirst)
	inc := w.fire("group:routers")
	w.step()
	eventually(t, "page delivered", func() bool { return w.hasNote("page sms alice delivered") })

	ack := url.Values{"From": {alicePh}, "To": {"+15005550006"}, "Body": {"ACK"}}
	forged := []struct {
		name string
		do   func() (int, string)
	}{
		{"no signature", func() (int, string) { return w.post(SMSPath, ack, "") }},
		{"wrong token", func() (int, string) { return w.post(SMSPath, ack, "notthetoken0000") }},
		{"signed for another URL", func() (int, string) {
			req, _ := http.NewRequest(http.MethodPost, w.url+SMSPath, strings.NewReader(ack.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("X-Twilio-Signature", twiliosim.Sign(testToken, w.url+SMSStatusPath+"?n=1", ack))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp.StatusCode, ""
		}},
		{"body changed after signing", func() (int, string) {
			signed := url.Values{"From": {alicePh}, "To": {"+15005550006"}, "Body": {"STATUS"}}
			req, _ := http.NewRequest(http.MethodPost, w.url+SMSPath, strings.NewReader(ack.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("X-Twilio-Signature", twiliosim.Sign(testToken, w.url+SMSPath, signed))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp.StatusCode, ""
		}},
		{"key press with a forged gather URL", func() (int, string) {
			ref := callRef{n: 1, incident: inc.ID, step: 0, person: "alice"}
			form := url.Values{"Digits": {"1"}, "CallSid": {"CAforged"}}
			return w.post(ref.url(""), form, "notthetoken0000")
		}},
		{"delivery failure with a forged status", func() (int, string) {
			return w.post(SMSStatusPath+"?n=1", url.Values{"MessageStatus": {"undelivered"}, "ErrorCode": {"30003"}}, "notthetoken0000")
		}},
	}
	for _, f := range forged {
		if code, _ := f.do(); code != http.StatusForbidden {
			t.Errorf("%s: HTTP %d, want 403", f.name, code)
		}
	}
	if st := w.incident(inc.ID).State; st != escalation.Triggered {
		t.Fatalf("a forged request changed the incident to %s", st)
	}
	if !w.hasNote("page sms alice delivered") || len(w.mail.got()) != 0 {
		t.Fatalf("a forged status changed the notification: %v (mails %d)", w.notes(), len(w.mail.got()))
	}
	s := w.p.Stats().Counts
	if s["webhooks/sms/forbidden"] != 4 || s["webhooks/gather/forbidden"] != 1 || s["webhooks/sms_status/forbidden"] != 1 {
		t.Fatalf("forbidden counters: %v", s)
	}
	// The same request, signed properly, works.
	if r := w.text(alicePh, "ACK"); !strings.Contains(r, "#1 acked") {
		t.Fatalf("signed ACK: reply %q", r)
	}
}

func TestUnknownNumberIgnored(t *testing.T) {
	w := newWorld(t, smsFirst)
	inc := w.fire("group:routers")
	w.step()
	if _, err := w.sim.ReplySMS(strangerP, "ACK 1"); err != nil {
		t.Fatal(err)
	}
	if r := w.text(strangerP, "1"); r != "" {
		t.Fatalf("stranger got a reply: %q", r)
	}
	if st := w.incident(inc.ID).State; st != escalation.Triggered {
		t.Fatalf("a stranger's SMS changed the incident to %s", st)
	}
	if m := w.messagesTo(strangerP); len(m) != 0 {
		t.Fatalf("stranger got messages: %q", m)
	}
	// A viewer may look, not act.
	if r := w.text(carolPh, "ACK 1"); !strings.Contains(r, "viewer") {
		t.Fatalf("viewer's ACK: %q", r)
	}
	if r := w.text(carolPh, "STATUS"); !strings.Contains(r, "#1 CRIT router pair DOWN") {
		t.Fatalf("viewer's STATUS: %q", r)
	}
	if st := w.incident(inc.ID).State; st != escalation.Triggered {
		t.Fatalf("a viewer changed the incident to %s", st)
	}
}

func TestTwilio500sRetried(t *testing.T) {
	w := newWorld(t, smsFirst)
	w.sim.SetFault(twiliosim.Fault{Status: 500, Next: 2})
	w.fire("group:routers")
	w.step()
	eventually(t, "delivered after retries", func() bool { return w.hasNote("page sms alice delivered") })
	var statuses []int
	for _, e := range w.sim.Events() {
		if e.Kind == twiliosim.KindAPI {
			statuses = append(statuses, e.Status)
		}
	}
	if !slices.Equal(statuses, []int{500, 500, 201}) {
		t.Fatalf("API answers %v, want 500, 500, 201", statuses)
	}
	if n := w.p.Stats().Counts["retries/sms"]; n != 2 {
		t.Fatalf("retries/sms = %v", n)
	}

	// 429 too, and calls too.
	w.sim.SetFault(twiliosim.Fault{Status: 429, Next: 1})
	if err := w.p.Notify(context.Background(), escalation.Intent{ID: 99, Incident: 1, Short: 1, Kind: "test", Channel: "voice",
		Person: "bob", Phone: bobPh, Text: "test call"}); err != nil {
		t.Fatal(err)
	}
	if n := w.p.Stats().Counts["retries/voice"]; n != 1 {
		t.Fatalf("retries/voice = %v", n)
	}
}

func TestRetriesGiveUpAndRespectContext(t *testing.T) {
	w := newWorld(t, smsFirst, worldOpt{opts: Options{Retries: 2, RetryBase: time.Hour}})
	w.sim.SetFault(twiliosim.Fault{Status: 503, Rate: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := w.p.Notify(ctx, escalation.Intent{ID: 5, Incident: 1, Short: 1, Kind: "page", Channel: "sms", Person: "alice", Phone: alicePh, Summary: "x"})
	if err == nil || time.Since(start) > 2*time.Second {
		t.Fatalf("err %v after %s", err, time.Since(start))
	}
	// A timeout is retried like a 5xx.
	w2 := newWorld(t, smsFirst, worldOpt{opts: Options{Retries: 1, APITimeout: 50 * time.Millisecond}})
	w2.sim.SetFault(twiliosim.Fault{Hang: true})
	err = w2.p.Notify(context.Background(), escalation.Intent{ID: 5, Incident: 1, Short: 1, Kind: "test", Channel: "sms", Person: "alice", Phone: alicePh, Text: "x"})
	if err == nil || w2.p.Stats().Counts["retries/sms"] != 1 {
		t.Fatalf("hung API: err %v, retries %v", err, w2.p.Stats().Counts)
	}
	w2.sim.SetFault(twiliosim.Fault{})
}

func TestPermanentFailureFallsBackToEmail(t *testing.T) {
	t.Run("refused by the API (21614 landline)", func(t *testing.T) {
		w := newWorld(t, smsFirst)
		w.sim.SetPhone(alicePh, twiliosim.Script{Reject: 21614})
		w.fire("group:routers")
		w.step()
		eventually(t, "page by email", func() bool { return len(w.mail.mailTo("alice@example.net")) == 1 })
		m := w.mail.mailTo("alice@example.net")[0]
		if !strings.Contains(m, "Subject: [CRIT] #1 router pair DOWN (rt1, rt2)") || !strings.Contains(m, "both unreachable by ICMP") {
			t.Fatalf("mail:\n%s", m)
		}
		eventually(t, "sms failed, email sent", func() bool {
			return slices.Equal(w.notes(), []string{"page sms alice unsent", "page email alice sent"})
		})
		n := 0
		for _, e := range w.sim.Events() {
			if e.Kind == twiliosim.KindAPI {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("a 400 was retried: %d API requests", n)
		}
	})
	t.Run("undelivered status callback (30006)", func(t *testing.T) {
		w := newWorld(t, smsFirst)
		w.sim.SetPhone(alicePh, twiliosim.Script{SMS: "undelivered", SMSError: 30006})
		inc := w.fire("group:routers")
		w.step()
		eventually(t, "page by email", func() bool { return len(w.mail.mailTo("alice@example.net")) == 1 })
		tl, _ := w.eng.Timeline(context.Background(), inc.ID)
		var failed string
		for _, e := range tl {
			if e.Kind == "delivery.failed" {
				failed = e.Detail
			}
		}
		if !strings.Contains(failed, "30006 landline or unreachable carrier") {
			t.Fatalf("delivery.failed detail %q; timeline %+v", failed, tl)
		}
	})
}

const bothRing = `
[[policy]]
name = "ops"
  [[policy.step]]
  who = ["alice", "bob"]
  channels = ["voice"]
  until_ack = true
  interval = "10m"
`

func TestCancelHangsUpRingingCalls(t *testing.T) {
	w := newWorld(t, bothRing)
	w.sim.SetPhone(alicePh, twiliosim.Script{Call: "wait"})
	w.sim.SetPhone(bobPh, twiliosim.Script{Call: "wait"})
	inc := w.fire("group:routers")
	w.step()
	eventually(t, "both phones ring", func() bool {
		a, b := w.callsTo(alicePh), w.callsTo(bobPh)
		return len(a) == 1 && len(b) == 1 && a[0].Status == "ringing" && b[0].Status == "ringing"
	})
	if r := w.text(alicePh, "1"); !strings.Contains(r, "#1 acked") {
		t.Fatalf("reply %q", r)
	}
	eventually(t, "both calls cancelled", func() bool {
		a, b := w.callsTo(alicePh), w.callsTo(bobPh)
		return a[0].Status == "canceled" && b[0].Status == "canceled"
	})
	if got := w.incident(inc.ID); got.State != escalation.Acknowledged || got.AckedBy != "alice" {
		t.Fatalf("incident %s by %s", got.State, got.AckedBy)
	}
	eventually(t, "bob hears who acked", func() bool { return anyContains(w.messagesTo(bobPh), "#1 acked by alice") })
	if anyContains(w.messagesTo(alicePh), "acked by alice") {
		t.Fatal("alice was told about her own ack")
	}
	// The hung-up calls are not reported as unanswered.
	time.Sleep(50 * time.Millisecond)
	for _, n := range w.notes() {
		if strings.HasPrefix(n, "page voice") && !strings.HasSuffix(n, " sent") {
			t.Errorf("cancelled call recorded as %q", n)
		}
	}
}

// The web page and the API ack with the request's context, which is gone
// by the time the engine dispatches the cancel: the calls must still be
// hung up.
func TestCancelOutlivesTheCallersContext(t *testing.T) {
	w := newWorld(t, bothRing)
	w.sim.SetPhone(alicePh, twiliosim.Script{Call: "wait"})
	w.sim.SetPhone(bobPh, twiliosim.Script{Call: "wait"})
	inc := w.fire("group:routers")
	w.step()
	eventually(t, "both phones ring", func() bool {
		cs := w.sim.Calls()
		return len(cs) == 2 && cs[0].Status == "ringing" && cs[1].Status == "ringing"
	})
	ctx, cancel := context.WithCancel(context.Background())
	if _, err := w.eng.Ack(ctx, inc.ID, "carol", "web"); err != nil {
		t.Fatal(err)
	}
	cancel() // the handler returned
	eventually(t, "both calls cancelled", func() bool {
		cs := w.sim.Calls()
		return cs[0].Status == "canceled" && cs[1].Status == "canceled"
	})
	eventually(t, "alice and bob hear who acked", func() bool {
		return anyContains(w.messagesTo(alicePh), "acked by carol") && anyContains(w.messagesTo(bobPh), "acked by carol")
	})
}

func TestCancelWhileCallIsBeingPlaced(t *testing.T) {
	w := newWorld(t, bothRing)
	w.sim.SetPhone(alicePh, twiliosim.Script{Call: "wait"})
	w.p.calls.add(&liveCall{n: 7, incident: 3, person: "alice", placed: w.clk.Now()})
	if err := w.p.Cancel(context.Background(), 3); err != nil {
		t.Fatal(err)
	}
	if !w.p.calls.placed(7, "CAx") {
		t.Fatal("a call cancelled before its SID was known is not hung up once it is")
	}
	if w.p.calls.placed(7, "CAx") {
		t.Fatal("hung up twice")
	}
}

func TestTwilioDownIsReportedByEmail(t *testing.T) {
	const both = `
[[policy]]
name = "ops"
  [[policy.step]]
  who = ["alice", "bob"]
  channels = ["sms"]
  until_ack = true
  interval = "5m"
`
	w := newWorld(t, both, worldOpt{opts: Options{Retries: 1, OutageAfter: 2}})
	w.sim.SetFault(twiliosim.Fault{Status: 503, Rate: 1})
	w.fire("group:routers")
	w.step()
	eventually(t, "everyone told by email", func() bool {
		return len(w.mail.mailTo("alice@example.net")) == 1 && len(w.mail.mailTo("bob@example.net")) == 1
	})
	m := w.mail.mailTo("alice@example.net")[0]
	if !strings.Contains(m, "Twilio is failing") || !strings.Contains(m, "#1 [CRIT] router pair DOWN") {
		t.Fatalf("outage mail:\n%s", m)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(w.p)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var down float64
	for _, mf := range mfs {
		if mf.GetName() == "foghorn_pager_channel_down" {
			for _, m := range mf.GetMetric() {
				if m.GetLabel()[0].GetValue() == "twilio" {
					down = m.GetGauge().GetValue()
				}
			}
		}
	}
	if down != 1 {
		t.Fatalf("foghorn_pager_channel_down{vendor=twilio} = %v", down)
	}
	st := w.p.Stats()
	if st.Counts["outages/twilio"] != 1 || !slices.Equal(st.Down, []string{"twilio"}) {
		t.Fatalf("stats %+v", st)
	}
	// Recovery is noticed on the next send, and said.
	w.sim.SetFault(twiliosim.Fault{})
	w.advance(5 * time.Minute)
	eventually(t, "recovery mail", func() bool { return anyContains(w.mail.mailTo("bob@example.net"), "Twilio works again") })
	if d := w.p.Stats().Down; len(d) != 0 {
		t.Fatalf("still down: %v", d)
	}
}

func TestRateLimitFallsBack(t *testing.T) {
	const fast = `
[[policy]]
name = "ops"
  [[policy.step]]
  who = ["alice"]
  channels = ["sms"]
  fallback = ["email"]
  until_ack = true
  interval = "1m"
`
	w := newWorld(t, fast, worldOpt{smsLimit: 2})
	w.fire("group:routers")
	w.step()
	w.advance(time.Minute)
	w.advance(time.Minute)
	eventually(t, "third page by email", func() bool { return len(w.mail.mailTo("alice@example.net")) == 1 })
	if n := len(w.messagesTo(alicePh)); n != 2 {
		t.Fatalf("%d SMS to alice, limit is 2", n)
	}
	if w.p.Stats().Counts["sends/sms/ratelimited"] != 1 {
		t.Fatalf("stats %v", w.p.Stats().Counts)
	}
	// The window slides: 15 minutes after the first, SMS go out again.
	w.advance(13 * time.Minute)
	eventually(t, "SMS again", func() bool { return len(w.messagesTo(alicePh)) == 3 })
}

func TestMalformedWebhooks(t *testing.T) {
	w := newWorld(t, smsFirst)
	cases := []struct {
		path string
		form url.Values
	}{
		{SMSPath, url.Values{"Body": {"ACK"}}},
		{SMSStatusPath, url.Values{"MessageStatus": {"delivered"}}},
		{SMSStatusPath + "?n=abc", url.Values{"MessageStatus": {"delivered"}}},
		{SMSStatusPath + "?n=5", url.Values{}},
		{VoiceStatusPath + "?n=-1", url.Values{"CallStatus": {"completed"}}},
		{GatherPath + "?n=1&i=x", url.Values{"Digits": {"1"}}},
		{GatherPath + "?n=1&i=1&s=0&r=0", url.Values{"Digits": {"1"}}},
	}
	for _, c := range cases {
		if code, body := w.post(c.path, c.form, testToken); code != http.StatusBadRequest {
			t.Errorf("%s %v: HTTP %d %s, want 400", c.path, c.form, code, body)
		}
	}
	// A status for a notification that does not exist is accepted and logged.
	if code, _ := w.post(SMSStatusPath+"?n=424242", url.Values{"MessageStatus": {"delivered"}}, testToken); code != http.StatusNoContent {
		t.Errorf("unknown notification: HTTP %d", code)
	}
	// GET is not a webhook.
	resp, err := http.Get(w.url + SMSPath)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: HTTP %d", resp.StatusCode)
	}
}

func TestNoKeyHangsUpAsUnanswered(t *testing.T) {
	w := newWorld(t, voiceAlice)
	w.sim.SetPhone(alicePh, twiliosim.Script{Call: "answer"}) // answers, presses nothing
	inc := w.fire("group:routers")
	w.step()
	eventually(t, "unanswered", func() bool { return w.hasNote("page voice alice unanswered") })
	eventually(t, "call ends", func() bool { c := w.callsTo(alicePh); return len(c) == 1 && c[0].Status == "completed" })
	if st := w.incident(inc.ID).State; st != escalation.Triggered {
		t.Fatalf("state %s", st)
	}
	if said := strings.Join(w.callsTo(alicePh)[0].Said, " "); !strings.Contains(said, "No answer recorded") {
		t.Fatalf("said %s", said)
	}
}

func TestSimulatorNeedsURL(t *testing.T) {
	w := newWorld(t, smsFirst)
	if _, err := New(testConfig(w.cfg), nil, Options{}); err == nil || !strings.Contains(err.Error(), "Options.APIBase") {
		t.Fatalf("simulator without URL: %v", err)
	}
	// A reload keeps the client and its connections when Twilio did not change.
	old := w.p.state().tw
	if err := w.p.SetConfig(testConfig(w.cfg)); err != nil || w.p.state().tw != old {
		t.Fatalf("reload: %v, client kept %v", err, w.p.state().tw == old)
	}
}

// TestProviderIDIsTheTwilioSID: what a cluster's notification log records
// as the provider's id of a page is the SID Twilio answered with.
func TestProviderIDIsTheTwilioSID(t *testing.T) {
	w := newWorld(t, smsFirst)
	w.p.opts.Store = w.db
	inc := w.fire("group:routers")
	w.step()
	eventually(t, "the page SMS reaches Twilio", func() bool { return len(w.sim.Messages()) > 0 })
	var id int64
	if err := w.db.QueryRow(`SELECT id FROM notifications WHERE incident = ? AND kind = 'page'`, inc.ID).Scan(&id); err != nil {
		t.Fatal(err)
	}
	eventually(t, "its SID is known", func() bool { return w.p.ProviderID(context.Background(), id) == w.sim.Messages()[0].SID })
}
