package twiliosim

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	api "github.com/twilio/twilio-go/rest/api/v2010"
	"github.com/twilio/twilio-go/twiml"
)

var smSID = regexp.MustCompile(`^SM[0-9a-f]{32}$`)

func sendSMS(t *testing.T, base string, to, body, callback string) *api.ApiV2010Message {
	t.Helper()
	p := &api.CreateMessageParams{}
	p.SetTo(to).SetFrom(foghornNr).SetBody(body).SetValidityPeriod(600)
	if callback != "" {
		p.SetStatusCallback(callback)
	}
	m, err := rest(t, base, testSID, testToken, 5*time.Second).Api.CreateMessage(p)
	if err != nil {
		t.Fatalf("CreateMessage: %v", err)
	}
	return m
}

func TestSMSDelivered(t *testing.T) {
	rc := newReceiver(t, testToken)
	sim, base := newSim(t, Options{})

	m := sendSMS(t, base, alice, "DOWN routers@dc1 (0 of 2 up). Reply ACK 7", rc.URL+"/twilio/sms/status?n=1")
	if m.Sid == nil || !smSID.MatchString(*m.Sid) {
		t.Fatalf("sid = %v, want SM + 32 hex", m.Sid)
	}
	if *m.Status != "queued" || *m.To != alice || *m.From != foghornNr || *m.Body == "" || m.DateCreated == nil {
		t.Errorf("created message = status %q to %q from %q date %v", *m.Status, *m.To, *m.From, m.DateCreated)
	}
	if _, err := time.Parse(time.RFC1123Z, *m.DateCreated); err != nil {
		t.Errorf("date_created %q is not RFC 2822: %v", *m.DateCreated, err)
	}

	hs := rc.waitHits(t, "/twilio/sms/status", 3)
	if got, want := field(hs, "MessageStatus"), []string{"queued", "sent", "delivered"}; !slices.Equal(got, want) {
		t.Errorf("status callbacks = %v, want %v", got, want)
	}
	if hs[2].Form.Get("MessageSid") != *m.Sid || hs[2].Form.Get("To") != alice || hs[2].Form.Get("ErrorCode") != "" {
		t.Errorf("delivered callback = %v", hs[2].Form)
	}

	got, err := rest(t, base, testSID, testToken, 5*time.Second).Api.FetchMessage(*m.Sid, nil)
	if err != nil {
		t.Fatalf("FetchMessage: %v", err)
	}
	if *got.Status != "delivered" || got.DateSent == nil {
		t.Errorf("fetched status %q date_sent %v, want delivered with a date", *got.Status, got.DateSent)
	}
	msgs := sim.Messages()
	if len(msgs) != 1 || msgs[0].ValidityPeriod != 600 || msgs[0].Status != "delivered" {
		t.Errorf("Messages() = %+v", msgs)
	}
}

func TestSMSUndeliveredAndFailed(t *testing.T) {
	rc := newReceiver(t, testToken)
	sim, base := newSim(t, Options{})
	if err := sim.SetPhone(alice, Script{SMS: "undelivered"}); err != nil {
		t.Fatal(err)
	}
	if err := sim.SetPhone(bob, Script{SMS: "failed", SMSError: 30006}); err != nil {
		t.Fatal(err)
	}
	sendSMS(t, base, alice, "page 1", rc.URL+"/a")
	sendSMS(t, base, bob, "page 2", rc.URL+"/b")

	a := rc.waitHits(t, "/a", 3)
	if got := field(a, "MessageStatus"); !slices.Equal(got, []string{"queued", "sent", "undelivered"}) || a[2].Form.Get("ErrorCode") != "30003" {
		t.Errorf("undelivered: statuses %v, ErrorCode %q; want ... undelivered with 30003", got, a[2].Form.Get("ErrorCode"))
	}
	b := rc.waitHits(t, "/b", 2)
	if got := field(b, "MessageStatus"); !slices.Equal(got, []string{"queued", "failed"}) || b[1].Form.Get("ErrorCode") != "30006" {
		t.Errorf("failed: statuses %v, ErrorCode %q; want queued, failed with 30006", got, b[1].Form.Get("ErrorCode"))
	}
}

// A scripted "reply ACK after 10 minutes" waits on the simulator's clock,
// so the test moves the clock instead of sleeping.
func TestSMSScriptedReplyAfterDelay(t *testing.T) {
	rc := newReceiver(t, testToken)
	clock := newFakeClock()
	sim, base := newSim(t, Options{InboundSMSURL: rc.URL + "/twilio/sms", Clock: clock})
	if err := sim.SetPhone(alice, Script{Replies: []string{"ACK 7"}, ReplyAfter: 10 * time.Minute}); err != nil {
		t.Fatal(err)
	}
	m := sendSMS(t, base, alice, "DOWN: reply ACK 7", rc.URL+"/status")
	rc.waitHits(t, "/status", 3)
	waitFor(t, func() bool { return clock.Waiting() == 1 }, "the reply to be scheduled")
	// The reply is used up by the first message: a second gets none.
	second := sendSMS(t, base, alice, "still down", "")
	waitFor(t, func() bool {
		msgs := sim.Messages()
		return msgs[len(msgs)-1].SID == *second.Sid && msgs[len(msgs)-1].Status == "delivered"
	}, "the second message to be delivered")
	time.Sleep(20 * time.Millisecond)
	if n := clock.Waiting(); n != 1 {
		t.Fatalf("%d replies scheduled, want 1: a reply is used once", n)
	}
	clock.Add(9 * time.Minute)
	time.Sleep(20 * time.Millisecond)
	if n := len(rc.got("/twilio/sms")); n != 0 {
		t.Fatalf("reply sent after 9 of 10 minutes (%d hits)", n)
	}
	clock.Add(time.Minute)
	in := rc.waitHits(t, "/twilio/sms", 1)[0].Form
	if in.Get("From") != alice || in.Get("To") != foghornNr || in.Get("Body") != "ACK 7" || !smSID.MatchString(in.Get("MessageSid")) {
		t.Errorf("inbound webhook = %v", in)
	}
	time.Sleep(20 * time.Millisecond)
	if n := len(rc.got("/twilio/sms")); n != 1 {
		t.Errorf("%d replies, want exactly 1 (replies are used once)", n)
	}
	var inbound []Message
	for _, x := range sim.Messages() {
		if x.Direction == "inbound" {
			inbound = append(inbound, x)
		}
	}
	if len(inbound) != 1 || inbound[0].Created.Sub(clock.Now()) != 0 || inbound[0].To != *m.From {
		t.Errorf("inbound messages = %+v", inbound)
	}
}

// ReplySMS is the person typing; foghorn's TwiML <Message> answer goes back
// to the phone, as with Twilio.
func TestReplySMSAndTwiMLAnswer(t *testing.T) {
	rc := newReceiver(t, testToken)
	sim, _ := newSim(t, Options{InboundSMSURL: rc.URL + "/twilio/sms"})
	rc.on("/twilio/sms", func(f url.Values) string {
		x, _ := twiml.Messages([]twiml.Element{twiml.MessagingMessage{Body: "Acked incident 7 for " + f.Get("From")}})
		return x
	})

	m, err := sim.ReplySMS(bob, "ACK 7")
	if err != nil {
		t.Fatal(err)
	}
	in := rc.waitHits(t, "/twilio/sms", 1)[0].Form
	if in.Get("From") != bob || in.Get("To") != foghornNr || in.Get("Body") != "ACK 7" || in.Get("MessageSid") != m.SID {
		t.Errorf("inbound webhook = %v, message %+v", in, m)
	}
	waitFor(t, func() bool {
		for _, x := range sim.Messages() {
			if x.Direction == "outbound-reply" && x.To == bob && x.Body == "Acked incident 7 for "+bob && x.Status == "delivered" {
				return true
			}
		}
		return false
	}, "the TwiML reply to reach %s", bob)
}

func TestReplySMSWebhookRefuses(t *testing.T) {
	sim, _ := newSim(t, Options{})
	if _, err := sim.ReplySMS(bob, "ACK"); err == nil {
		t.Error("ReplySMS without InboundSMSURL succeeded")
	}

	refuse := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "bad signature", http.StatusForbidden)
	}))
	defer refuse.Close()
	sim2, _ := newSim(t, Options{InboundSMSURL: refuse.URL + "/twilio/sms"})
	if _, err := sim2.ReplySMS(bob, "ACK"); err == nil || !strings.Contains(err.Error(), "403") {
		t.Errorf("ReplySMS to a webhook answering 403: err = %v, want one naming 403", err)
	}
	ev := sim2.Events()
	if len(ev) != 1 || ev[0].Kind != KindSMS || ev[0].Status != http.StatusForbidden || ev[0].Err == "" {
		t.Errorf("Events() = %+v, want one sms event with status 403", ev)
	}
}
