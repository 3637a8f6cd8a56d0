package twiliosim

import (
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	api "github.com/twilio/twilio-go/rest/api/v2010"
)

// simGoroutines lists the goroutines running the simulator's code or
// started by it (its server's Serve is "created by ...simhttp.(*Server).Start").
func simGoroutines() []string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "pager/twiliosim.(*Sim)") || strings.Contains(g, "pager/internal/simhttp.(*Server)") {
			out = append(out, g)
		}
	}
	return out
}

// Close must end everything the simulator started: a phone ringing for an
// hour, a reply scheduled in an hour, a request held by an outage, and the
// server itself.
func TestCloseLeavesNoGoroutines(t *testing.T) {
	if g := simGoroutines(); len(g) != 0 {
		t.Fatalf("simulator goroutines before the test:\n%s", strings.Join(g, "\n\n"))
	}
	before := runtime.NumGoroutine()
	rc := newReceiver(t, testToken)
	sim := New(Options{AccountSID: testSID, AuthToken: testToken, Ring: time.Hour, InboundSMSURL: rc.URL + "/sms", PublicURL: rc.URL})
	base, err := sim.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cl := rest(t, base, testSID, testToken, 10*time.Second)
	sim.SetPhone(bob, Script{Replies: []string{"ACK"}, ReplyAfter: time.Hour})
	placeCall(t, base, alice, menu(t, "x"), rc.URL+"/status", "")
	sendSMS(t, base, bob, "x", rc.URL+"/sms-status")
	rc.waitHits(t, "/sms-status", 3)
	waitFor(t, func() bool { return sim.Calls()[0].Status == "ringing" }, "ringing")

	sim.SetFault(Fault{Hang: true})
	hung := make(chan error)
	go func() {
		_, err := cl.Api.CreateMessage((&api.CreateMessageParams{}).SetTo(alice).SetFrom(foghornNr).SetBody("x"))
		hung <- err
	}()
	waitFor(t, func() bool { return len(simGoroutines()) >= 4 }, "the hung request to arrive")

	start := time.Now()
	if err := sim.Close(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Close took %s", d)
	}
	if err := <-hung; err == nil {
		t.Error("the hung request succeeded")
	}
	if g := simGoroutines(); len(g) != 0 {
		t.Errorf("simulator goroutines after Close:\n%s", strings.Join(g, "\n\n"))
	}
	if err := sim.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if c := sim.Calls()[0]; c.Status != "canceled" {
		t.Errorf("call left %s by Close, want canceled", c.Status)
	}
	waitFor(t, func() bool { return runtime.NumGoroutine() <= before+4 }, "goroutines (now %d, were %d) to wind down", runtime.NumGoroutine(), before)
	if _, err := sim.Start("127.0.0.1:0"); err == nil {
		t.Error("Start after Close succeeded")
	}
}

// Handler serves under httptest as well as Start does.
func TestHandlerUnderHTTPTest(t *testing.T) {
	rc := newReceiver(t, testToken)
	sim := New(Options{AccountSID: testSID, AuthToken: testToken})
	defer sim.Close()
	srv := httptest.NewServer(sim.Handler())
	defer srv.Close()
	sendSMS(t, srv.URL, alice, "hello", rc.URL+"/s")
	if hs := rc.waitHits(t, "/s", 3); hs[2].Form.Get("MessageStatus") != "delivered" {
		t.Errorf("callbacks = %v", field(hs, "MessageStatus"))
	}
}

func TestSetPhoneRefusesUnknownBehaviour(t *testing.T) {
	sim := New(Options{})
	defer sim.Close()
	for _, sc := range []Script{{Call: "anwser"}, {SMS: "bounce"}, {ReplyAfter: -time.Second}} {
		if err := sim.SetPhone(alice, sc); err == nil {
			t.Errorf("SetPhone(%+v) accepted", sc)
		}
	}
}
