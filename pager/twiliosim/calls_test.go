package twiliosim

import (
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	api "github.com/twilio/twilio-go/rest/api/v2010"
	"github.com/twilio/twilio-go/twiml"
)

var caSID = regexp.MustCompile(`^CA[0-9a-f]{32}$`)

var allEvents = []string{"initiated", "ringing", "answered", "completed"}

// menu is the TwiML foghorn might send: a one-key Gather whose action is
// relative, written by twilio-go's twiml package (attributes in map order).
func menu(t *testing.T, prompt string) string {
	t.Helper()
	x, err := twiml.Voice([]twiml.Element{
		twiml.VoiceGather{
			Action: "/twilio/voice/gather?incident=7&step=2", NumDigits: "1", Timeout: "10", Method: "POST",
			InnerElements: []twiml.Element{twiml.VoiceSay{Message: prompt}},
		},
		twiml.VoiceSay{Message: "We did not get a key. Goodbye."},
		twiml.VoiceHangup{},
	})
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func placeCall(t *testing.T, base, to, twimlDoc, callback, amd string) *api.ApiV2010Call {
	t.Helper()
	p := &api.CreateCallParams{}
	p.SetTo(to).SetFrom(foghornNr).SetTwiml(twimlDoc).SetStatusCallback(callback).SetStatusCallbackEvent(allEvents)
	if amd != "" {
		p.SetMachineDetection(amd)
	}
	c, err := rest(t, base, testSID, testToken, 5*time.Second).Api.CreateCall(p)
	if err != nil {
		t.Fatalf("CreateCall: %v", err)
	}
	if c.Sid == nil || !caSID.MatchString(*c.Sid) || *c.Status != "queued" || *c.To != to {
		t.Fatalf("created call = %+v", c)
	}
	return c
}

// ackGather answers foghorn's side of the menu: 1 acknowledges, anything
// else repeats the menu.
func ackGather(t *testing.T, rc *receiver) {
	rc.on("/twilio/voice/gather", func(f url.Values) string {
		if f.Get("Digits") == "1" {
			x, _ := twiml.Voice([]twiml.Element{twiml.VoiceSay{Message: "Acknowledged. Thank you."}, twiml.VoiceHangup{}})
			return x
		}
		return menu(t, "Wrong key. Press 1 to acknowledge.")
	})
}

func TestCallAnswerPress1(t *testing.T) {
	rc := newReceiver(t, testToken)
	ackGather(t, rc)
	sim, base := newSim(t, Options{PublicURL: rc.URL})
	if err := sim.SetPhone(alice, Script{Keys: []string{"1"}}); err != nil {
		t.Fatal(err)
	}
	c := placeCall(t, base, alice, menu(t, "Routers dc1 down. Press 1 to acknowledge."), rc.URL+"/twilio/voice/status", "")

	st := rc.waitHits(t, "/twilio/voice/status", 4)
	if got := field(st, "CallStatus"); !slices.Equal(got, []string{"initiated", "ringing", "in-progress", "completed"}) {
		t.Errorf("call statuses = %v", got)
	}
	if got := field(st, "SequenceNumber"); !slices.Equal(got, []string{"0", "1", "2", "3"}) {
		t.Errorf("sequence numbers = %v", got)
	}
	if st[3].Form.Get("AnsweredBy") != "" || st[3].Form.Get("CallDuration") == "" {
		t.Errorf("completed callback = %v: want CallDuration, and no AnsweredBy without machine detection", st[3].Form)
	}
	g := rc.waitHits(t, "/twilio/voice/gather", 1)
	if len(g) != 1 || g[0].Form.Get("Digits") != "1" || g[0].Form.Get("CallSid") != *c.Sid {
		t.Errorf("gather posts = %+v", g)
	}
	calls := sim.Calls()
	want := []string{"Routers dc1 down. Press 1 to acknowledge.", "Acknowledged. Thank you."}
	if len(calls) != 1 || !slices.Equal(calls[0].Said, want) || !slices.Equal(calls[0].Digits, []string{"1"}) || calls[0].Status != "completed" {
		t.Errorf("Calls() = %+v, want said %q and digits [1]", calls, want)
	}
	got, err := rest(t, base, testSID, testToken, 5*time.Second).Api.FetchCall(*c.Sid, nil)
	if err != nil || *got.Status != "completed" || got.StartTime == nil || got.EndTime == nil {
		t.Errorf("FetchCall = %+v, %v", got, err)
	}
}

func TestCallWrongKeyThen1(t *testing.T) {
	rc := newReceiver(t, testToken)
	ackGather(t, rc)
	sim, base := newSim(t, Options{PublicURL: rc.URL})
	sim.SetPhone(alice, Script{Keys: []string{"9", "1"}})
	placeCall(t, base, alice, menu(t, "Press 1 to acknowledge."), rc.URL+"/status", "")

	rc.waitHits(t, "/status", 4)
	g := rc.got("/twilio/voice/gather")
	if got := field(g, "Digits"); !slices.Equal(got, []string{"9", "1"}) {
		t.Errorf("gather digits = %v, want [9 1]", got)
	}
	if g[0].Form.Get("Digits") == "" || len(g) != 2 {
		t.Fatalf("gather posts = %+v", g)
	}
	said := sim.Calls()[0].Said
	if !slices.Contains(said, "Wrong key. Press 1 to acknowledge.") || said[len(said)-1] != "Acknowledged. Thank you." {
		t.Errorf("said = %q", said)
	}
}

// A phone that only ever presses the wrong key ends after maxDocs menus.
func TestCallWrongKeyForeverIsBounded(t *testing.T) {
	rc := newReceiver(t, testToken)
	ackGather(t, rc)
	sim, base := newSim(t, Options{PublicURL: rc.URL})
	keys := slices.Repeat([]string{"9"}, 50)
	sim.SetPhone(alice, Script{Keys: keys})
	placeCall(t, base, alice, menu(t, "Press 1."), rc.URL+"/status", "")
	rc.waitHits(t, "/status", 4)
	if n := len(rc.got("/twilio/voice/gather")); n != maxDocs {
		t.Errorf("%d gather posts, want %d", n, maxDocs)
	}
}

func TestCallOutcomes(t *testing.T) {
	for _, tc := range []struct {
		name       string
		script     Script
		amd        string
		statuses   []string
		answeredBy string
		errorCode  string
		gathers    int
	}{
		{"busy", Script{Call: "busy"}, "", []string{"initiated", "busy"}, "", "", 0},
		{"no-answer", Script{Call: "no-answer"}, "", []string{"initiated", "ringing", "no-answer"}, "", "", 0},
		{"fail", Script{Call: "fail", CallError: 13224}, "", []string{"initiated", "failed"}, "", "13224", 0},
		{"voicemail", Script{Call: "voicemail", Keys: []string{"1"}}, "DetectMessageEnd",
			[]string{"initiated", "ringing", "in-progress", "completed"}, "machine_end_beep", "", 0},
		{"voicemail-enable", Script{Call: "voicemail"}, "Enable",
			[]string{"initiated", "ringing", "in-progress", "completed"}, "machine_start", "", 0},
		{"human-amd", Script{Keys: []string{"1"}}, "DetectMessageEnd",
			[]string{"initiated", "ringing", "in-progress", "completed"}, "human", "", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc := newReceiver(t, testToken)
			ackGather(t, rc)
			sim, base := newSim(t, Options{PublicURL: rc.URL})
			if err := sim.SetPhone(bob, tc.script); err != nil {
				t.Fatal(err)
			}
			placeCall(t, base, bob, menu(t, "Press 1."), rc.URL+"/status", tc.amd)
			rc.waitHits(t, "/status", len(tc.statuses))
			time.Sleep(20 * time.Millisecond) // nothing more may come
			st := rc.got("/status")
			if got := field(st, "CallStatus"); !slices.Equal(got, tc.statuses) {
				t.Errorf("statuses = %v, want %v", got, tc.statuses)
			}
			last := st[len(st)-1].Form
			if last.Get("AnsweredBy") != tc.answeredBy || last.Get("ErrorCode") != tc.errorCode {
				t.Errorf("final callback AnsweredBy %q ErrorCode %q, want %q %q", last.Get("AnsweredBy"), last.Get("ErrorCode"), tc.answeredBy, tc.errorCode)
			}
			if n := len(rc.got("/twilio/voice/gather")); n != tc.gathers {
				t.Errorf("%d gather posts, want %d (a machine never presses a key)", n, tc.gathers)
			}
			c := sim.Calls()[0]
			if c.Status != tc.statuses[len(tc.statuses)-1] || c.AnsweredBy != tc.answeredBy {
				t.Errorf("Calls()[0] = %+v", c)
			}
			if tc.name == "voicemail" && (len(c.Said) == 0 || !strings.Contains(strings.Join(c.Said, " "), "Press 1.")) {
				t.Errorf("the voicemail did not hear the message: said %q", c.Said)
			}
		})
	}
}

// A Url call: the simulator fetches TwiML from foghorn, then follows a
// <Redirect>, a GET status callback, and Press from the control side on a
// phone a person is holding.
func TestCallURLRedirectAndPress(t *testing.T) {
	rc := newReceiver(t, testToken)
	ackGather(t, rc)
	clock := newFakeClock()
	sim, base := newSim(t, Options{Clock: clock})
	sim.SetPhone(alice, Script{Call: "wait"})
	rc.on("/twilio/voice/start", func(f url.Values) string {
		return `<Response><Say>Hello from foghorn.</Say><Redirect method="POST">menu?x=1</Redirect><Say>never said</Say></Response>`
	})
	rc.on("/twilio/voice/menu", func(f url.Values) string { return menu(t, "Press 1 now.") })

	p := &api.CreateCallParams{}
	p.SetTo(alice).SetFrom(foghornNr).SetUrl(rc.URL + "/twilio/voice/start").
		SetStatusCallback(rc.URL + "/status").SetStatusCallbackMethod("GET").SetStatusCallbackEvent([]string{"answered"})
	if _, err := rest(t, base, testSID, testToken, 5*time.Second).Api.CreateCall(p); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return sim.Calls()[0].Status == "ringing" }, "the phone to ring")
	if err := sim.Press(alice, "1"); err != nil {
		t.Fatal(err)
	}
	st := rc.waitHits(t, "/status", 2)
	if got := field(st, "CallStatus"); !slices.Equal(got, []string{"in-progress", "completed"}) {
		t.Errorf("GET status callbacks = %v (only answered and completed were asked for)", got)
	}
	if rc.got("/twilio/voice/start")[0].Form.Get("CallStatus") != "in-progress" {
		t.Error("the Url was fetched before the call was answered")
	}
	rc.waitHits(t, "/twilio/voice/menu", 1)
	if g := rc.waitHits(t, "/twilio/voice/gather", 1); g[0].Form.Get("Digits") != "1" {
		t.Errorf("gather = %v", g[0].Form)
	}
	c := sim.Calls()[0]
	if want := []string{"Hello from foghorn.", "Press 1 now.", "Acknowledged. Thank you."}; !slices.Equal(c.Said, want) {
		t.Errorf("said %q, want %q", c.Said, want)
	}
	if err := sim.Press(alice, "1"); err == nil {
		t.Error("Press on a phone with no live call succeeded")
	}
}

// A phone nobody picks up rings for the call's Timeout on the clock.
func TestCallWaitTimesOut(t *testing.T) {
	rc := newReceiver(t, testToken)
	clock := newFakeClock()
	sim, base := newSim(t, Options{Clock: clock, PublicURL: rc.URL})
	sim.SetPhone(alice, Script{Call: "wait"})
	p := &api.CreateCallParams{}
	p.SetTo(alice).SetFrom(foghornNr).SetTwiml(menu(t, "x")).SetTimeout(30).SetStatusCallback(rc.URL + "/status")
	if _, err := rest(t, base, testSID, testToken, 5*time.Second).Api.CreateCall(p); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return clock.Waiting() == 1 }, "ringing")
	clock.Add(29 * time.Second)
	time.Sleep(20 * time.Millisecond)
	if s := sim.Calls()[0].Status; s != "ringing" {
		t.Fatalf("status after 29 s = %s", s)
	}
	clock.Add(time.Second)
	if st := rc.waitHits(t, "/status", 1); st[0].Form.Get("CallStatus") != "no-answer" {
		t.Errorf("final status = %v", st[0].Form)
	}
}

func TestCallCancelAndHangup(t *testing.T) {
	rc := newReceiver(t, testToken)
	sim, base := newSim(t, Options{PublicURL: rc.URL})
	sim.SetPhone(alice, Script{Call: "wait"})
	cl := rest(t, base, testSID, testToken, 5*time.Second)
	c := placeCall(t, base, alice, menu(t, "x"), rc.URL+"/status", "")
	waitFor(t, func() bool { return sim.Calls()[0].Status == "ringing" }, "ringing")

	up, err := cl.Api.UpdateCall(*c.Sid, (&api.UpdateCallParams{}).SetStatus("canceled"))
	if err != nil || *up.Status != "canceled" {
		t.Fatalf("UpdateCall canceled = %v, %v", up, err)
	}
	st := rc.waitHits(t, "/status", 3)
	if got := field(st, "CallStatus"); !slices.Equal(got, []string{"initiated", "ringing", "canceled"}) {
		t.Errorf("statuses = %v", got)
	}

	// Hang up an answered call from inside its own Gather webhook, as foghorn
	// does once it has the key: the simulator must not wait on foghorn.
	rc.on("/twilio/voice/gather", func(f url.Values) string {
		up, err := cl.Api.UpdateCall(f.Get("CallSid"), (&api.UpdateCallParams{}).SetStatus("completed"))
		if err != nil || *up.Status != "completed" {
			t.Errorf("UpdateCall completed = %v, %v", up, err)
		}
		return `<Response><Say>too late</Say></Response>`
	})
	sim.SetPhone(bob, Script{Keys: []string{"1"}})
	c2 := placeCall(t, base, bob, menu(t, "x"), rc.URL+"/status2", "")
	st = rc.waitHits(t, "/status2", 4)
	if st[3].Form.Get("CallStatus") != "completed" {
		t.Errorf("final = %v", st[3].Form)
	}
	for _, x := range sim.Calls() {
		if x.SID == *c2.Sid && slices.Contains(x.Said, "too late") {
			t.Errorf("the call went on after it was hung up: %q", x.Said)
		}
	}
	if _, err := cl.Api.UpdateCall("CA00000000000000000000000000000000", (&api.UpdateCallParams{}).SetStatus("completed")); err == nil {
		t.Error("UpdateCall of an unknown call succeeded")
	}
}

func TestGatherNumDigitsEmptyResultAndNoPublicURL(t *testing.T) {
	rc := newReceiver(t, testToken)
	sim, base := newSim(t, Options{PublicURL: rc.URL + "/twilio/"})
	sim.SetPhone(alice, Script{Keys: []string{"17"}})
	doc := `<Response><Gather numDigits="1" action="gather"><Say>one key</Say></Gather></Response>`
	placeCall(t, base, alice, doc, rc.URL+"/s1", "")
	if g := rc.waitHits(t, "/twilio/gather", 1); g[0].Form.Get("Digits") != "1" {
		t.Errorf("numDigits=1 with keys 17: Digits %q, want 1", g[0].Form.Get("Digits"))
	}

	// No keys at all, but the Gather wants to hear about it.
	doc = `<Response><Gather actionOnEmptyResult="true" action="/empty"/><Say>not reached</Say></Response>`
	placeCall(t, base, bob, doc, rc.URL+"/s2", "")
	if g := rc.waitHits(t, "/empty", 1); g[0].Form.Get("Digits") != "" || !g[0].Form.Has("Digits") {
		t.Errorf("empty result: %v", g[0].Form)
	}
	rc.waitHits(t, "/s2", 1)

	// A relative action with no PublicURL to resolve it: the call ends, logged.
	sim2, base2 := newSim(t, Options{})
	sim2.SetPhone(alice, Script{Keys: []string{"1"}})
	placeCall(t, base2, alice, menu(t, "x"), rc.URL+"/s3", "")
	rc.waitHits(t, "/s3", 4)
	var logged bool
	for _, e := range sim2.Events() {
		logged = logged || (e.Kind == KindGather && strings.Contains(e.Err, "PublicURL"))
	}
	if !logged {
		t.Errorf("no gather error logged: %+v", sim2.Events())
	}
}
