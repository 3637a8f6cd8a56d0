package twiliosim

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/twilio/twilio-go/client"
	api "github.com/twilio/twilio-go/rest/api/v2010"
)

func restError(t *testing.T, err error) *client.TwilioRestError {
	t.Helper()
	var te *client.TwilioRestError
	if !errors.As(err, &te) {
		t.Fatalf("err = %v (%T), want a *client.TwilioRestError", err, err)
	}
	return te
}

func TestWrongCredentials(t *testing.T) {
	sim, base := newSim(t, Options{})
	p := (&api.CreateMessageParams{}).SetTo(alice).SetFrom(foghornNr).SetBody("x")

	_, err := rest(t, base, testSID, "wrongtoken", 5*time.Second).Api.CreateMessage(p)
	if te := restError(t, err); te.Code != 20003 || te.Status != 401 || te.Message != "Authenticate" ||
		te.MoreInfo != "https://www.twilio.com/docs/errors/20003" {
		t.Errorf("wrong token: %+v", te)
	}
	other := "AC" + strings.Repeat("f", 32)
	if _, err := rest(t, base, other, testToken, 5*time.Second).Api.CreateMessage(p); restError(t, err).Code != 20003 {
		t.Errorf("wrong account: %v", err)
	}
	if n := len(sim.Messages()); n != 0 {
		t.Errorf("%d messages created without credentials", n)
	}
	ev := sim.Events()
	if len(ev) != 2 || ev[0].Status != 401 || ev[0].Kind != KindAPI || ev[0].Params.Get("To") != alice {
		t.Errorf("log = %+v", ev)
	}

	// The exact body shape, as Twilio sends it.
	req, _ := http.NewRequest(http.MethodGet, base+"/2010-04-01/Accounts/"+testSID+"/Calls/CAx.json", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	json.NewDecoder(resp.Body).Decode(&body)
	want := map[string]any{"code": 20003.0, "message": "Authenticate", "more_info": "https://www.twilio.com/docs/errors/20003", "status": 401.0}
	for k, v := range want {
		if body[k] != v {
			t.Errorf("401 body %s = %v, want %v (whole body %v)", k, body[k], v, body)
		}
	}
	if len(body) != len(want) || resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") == "" {
		t.Errorf("401 answer: status %d, body %v", resp.StatusCode, body)
	}
}

func TestValidationErrors(t *testing.T) {
	sim, base := newSim(t, Options{})
	sim.SetPhone(bob, Script{Reject: 21610})
	cl := rest(t, base, testSID, testToken, 5*time.Second)
	for _, tc := range []struct {
		name string
		p    *api.CreateMessageParams
		code int
	}{
		{"no To", (&api.CreateMessageParams{}).SetFrom(foghornNr).SetBody("x"), 21604},
		{"bad To", (&api.CreateMessageParams{}).SetTo("12345").SetFrom(foghornNr).SetBody("x"), 21211},
		{"no From", (&api.CreateMessageParams{}).SetTo(alice).SetBody("x"), 21603},
		{"no Body", (&api.CreateMessageParams{}).SetTo(alice).SetFrom(foghornNr), 21602},
		{"too long", (&api.CreateMessageParams{}).SetTo(alice).SetFrom(foghornNr).SetBody(strings.Repeat("x", 1601)), 21617},
		{"scripted reject", (&api.CreateMessageParams{}).SetTo(bob).SetFrom(foghornNr).SetBody("x"), 21610},
	} {
		_, err := cl.Api.CreateMessage(tc.p)
		if te := restError(t, err); te.Code != tc.code || te.Status != 400 {
			t.Errorf("%s: got %d/%d, want 400/%d", tc.name, te.Status, te.Code, tc.code)
		}
	}
	for _, tc := range []struct {
		name string
		p    *api.CreateCallParams
		code int
	}{
		{"no To", (&api.CreateCallParams{}).SetFrom(foghornNr).SetTwiml("<Response/>"), 21201},
		{"bad To", (&api.CreateCallParams{}).SetTo("+1").SetFrom(foghornNr).SetTwiml("<Response/>"), 21211},
		{"no From", (&api.CreateCallParams{}).SetTo(alice).SetTwiml("<Response/>"), 21213},
		{"no TwiML", (&api.CreateCallParams{}).SetTo(alice).SetFrom(foghornNr), 21205},
		{"bad TwiML", (&api.CreateCallParams{}).SetTo(alice).SetFrom(foghornNr).SetTwiml("<Response><Say>"), 12100},
	} {
		_, err := cl.Api.CreateCall(tc.p)
		if te := restError(t, err); te.Code != tc.code || te.Status != 400 {
			t.Errorf("call %s: got %d/%d, want 400/%d", tc.name, te.Status, te.Code, tc.code)
		}
	}
	if _, err := cl.Api.FetchMessage("SM00000000000000000000000000000000", nil); restError(t, err).Status != 404 {
		t.Errorf("fetch of an unknown message: %v", err)
	}
	if len(sim.Messages())+len(sim.Calls()) != 0 {
		t.Error("refused requests created resources")
	}
}

func TestInjectedFaults(t *testing.T) {
	sim, base := newSim(t, Options{})
	cl := rest(t, base, testSID, testToken, 5*time.Second)
	send := func() error {
		_, err := cl.Api.CreateMessage((&api.CreateMessageParams{}).SetTo(alice).SetFrom(foghornNr).SetBody("retry me"))
		return err
	}

	sim.SetFault(Fault{Next: 2})
	for i := range 2 {
		if te := restError(t, send()); te.Status != 500 || te.Code != 20500 {
			t.Errorf("request %d: %+v, want 500/20500", i, te)
		}
	}
	if err := send(); err != nil {
		t.Errorf("third request: %v, want success once Next is used up", err)
	}
	if f := sim.Fault(); f.Next != 0 {
		t.Errorf("Fault().Next = %d after use", f.Next)
	}

	sim.SetFault(Fault{Status: 429, Rate: 1})
	for range 3 {
		if te := restError(t, send()); te.Status != 429 || te.Code != 20429 {
			t.Errorf("rate 1: %+v, want 429/20429", te)
		}
	}
	sim.SetFault(Fault{})
	if err := send(); err != nil {
		t.Errorf("after healing: %v", err)
	}
	if n := len(sim.Messages()); n != 2 {
		t.Errorf("%d messages created, want 2 (failed requests create nothing)", n)
	}
	var injected int
	for _, e := range sim.Events() {
		if e.Err == "injected fault" {
			injected++
		}
	}
	if injected != 5 {
		t.Errorf("%d injected faults logged, want 5", injected)
	}
}

// An unreachable API: requests hang until the client's own timeout.
func TestInjectedHang(t *testing.T) {
	sim, base := newSim(t, Options{})
	sim.SetFault(Fault{Hang: true})
	cl := rest(t, base, testSID, testToken, 200*time.Millisecond)
	start := time.Now()
	_, err := cl.Api.CreateMessage((&api.CreateMessageParams{}).SetTo(alice).SetFrom(foghornNr).SetBody("x"))
	var ue *url.Error
	if !errors.As(err, &ue) || !ue.Timeout() {
		t.Fatalf("err = %v, want a client timeout", err)
	}
	if d := time.Since(start); d < 150*time.Millisecond || d > 3*time.Second {
		t.Errorf("gave up after %s, want about the client's 200ms", d)
	}
	sim.SetFault(Fault{})
	if _, err := cl.Api.CreateMessage((&api.CreateMessageParams{}).SetTo(alice).SetFrom(foghornNr).SetBody("x")); err != nil {
		t.Errorf("after the outage: %v", err)
	}
	waitFor(t, func() bool {
		for _, e := range sim.Events() {
			if strings.Contains(e.Err, "hung") {
				return true
			}
		}
		return false
	}, "the hung request to be logged")
}

func TestTransportKeepsPathAndRefusesBadBase(t *testing.T) {
	_, base := newSim(t, Options{})
	req, _ := http.NewRequest(http.MethodGet, "https://api.twilio.com/sim/phones", nil)
	resp, err := (&http.Client{Transport: Transport(base)}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || req.URL.Host != "api.twilio.com" {
		t.Errorf("status %d body %s; caller's URL now %s", resp.StatusCode, b, req.URL)
	}
	if _, err := (&http.Client{Transport: Transport("127.0.0.1:1")}).Get("https://api.twilio.com/"); err == nil {
		t.Error("a base URL without scheme was accepted")
	}
}
