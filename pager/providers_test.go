package pager

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twilio/twilio-go/client"

	"foghorn/configs"
	"foghorn/escalation"
	"foghorn/pager/twiliosim"
)

// withSignalWire starts a SignalWire simulator and returns the
// [[provider]] for it, its secrets in files.
func withSignalWire(t *testing.T) (*twiliosim.Sim, string) {
	t.Helper()
	sw := twiliosim.New(twiliosim.Options{SignalWire: true, AuthToken: "PTswtoken0123", Number: "+15550100099"})
	base, err := sw.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sw.Close() })
	dir := t.TempDir()
	tok, key := filepath.Join(dir, "sw-token"), filepath.Join(dir, "sw-key")
	os.WriteFile(tok, []byte("PTswtoken0123\n"), 0o600)
	os.WriteFile(key, []byte(twiliosim.DefaultSigningKey+"\n"), 0o600)
	return sw, fmt.Sprintf(`
[[provider]]
name = "signalwire"
kind = "signalwire"
project_id = %q
space = "example"
api_base = %q
auth_token_file = %q
signing_key_file = %q
from = "+15550100099"
skip_for = "1m"
`, twiliosim.DefaultProjectID, base+"/api/laml", tok, key)
}

// callsVia is the calls sim placed to phone.
func callsVia(sim *twiliosim.Sim, phone string) int {
	n := 0
	for _, c := range sim.Calls() {
		if c.To == phone {
			n++
		}
	}
	return n
}

const callAlice = `
[[policy]]
name = "ops"
  [[policy.step]]
  who = ["alice"]
  channels = ["voice"]
  until_ack = true
  interval = "10m"
`

// TestRetryCallKeepsItsCallerIDForIOSRepeatedCalls: a call that went
// through SignalWire while Twilio failed is retried through SignalWire,
// the same caller ID, within 3 minutes (iOS's Repeated Calls ring through
// Do Not Disturb only then) even though Twilio works again and comes
// first; once 3 minutes have passed, calls go through Twilio again.
func TestRetryCallKeepsItsCallerIDForIOSRepeatedCalls(t *testing.T) {
	sw, prov := withSignalWire(t)
	w := newWorld(t, callAlice+prov)
	sw.SetPhone(alicePh, twiliosim.Script{Call: "no-answer"})
	w.sim.SetPhone(alicePh, twiliosim.Script{Call: "no-answer"})
	w.sim.SetFault(twiliosim.Fault{Status: 500, Rate: 1})
	w.fire("target:rt1")
	w.step()
	eventually(t, "the first call through SignalWire", func() bool { return callsVia(sw, alicePh) == 1 })
	eventually(t, "its no-answer reported, the retry brought forward", func() bool { return w.retryDue(3 * time.Minute) })
	w.sim.SetFault(twiliosim.Fault{})

	// Twilio's skip (1m) ends; the retry round is due 2m30s after the
	// call (escalation: repeatedCalls).
	w.advance(90 * time.Second)
	w.advance(61 * time.Second)
	eventually(t, "the retry call", func() bool { return callsVia(sw, alicePh)+callsVia(w.sim, alicePh) == 2 })
	if got := callsVia(sw, alicePh); got != 2 {
		t.Fatalf("the retry within 3 minutes went through Twilio (another caller ID): SignalWire placed %d of 2", got)
	}
	if from := sw.Calls()[1].From; from != "+15550100099" {
		t.Errorf("retry from %s", from)
	}

	eventually(t, "the retry's no-answer reported, the next round brought forward", func() bool { return w.retryDue(6 * time.Minute) })
	// Past the window the first provider is first again.
	w.advance(4 * time.Minute)
	w.advance(time.Minute)
	eventually(t, "a call through Twilio", func() bool { return callsVia(w.sim, alicePh) >= 1 })
	if s := strings.Join(w.notes(), ", "); !strings.Contains(s, "page voice alice") {
		t.Errorf("notes: %s", s)
	}
}

// TestSilentProviderIsSkippedAfterMissedDeliveryWindows: a provider that
// takes every SMS and then never reports one delivered (nor failed for
// the number) is as good as down: after OutageAfter SMS in a row without
// a report within the delivery window (3m by default), it is skipped and
// the next SMS goes through SignalWire.
func TestSilentProviderIsSkippedAfterMissedDeliveryWindows(t *testing.T) {
	sw, prov := withSignalWire(t)
	w := newWorld(t, callAlice+prov)
	w.sim.SetFault(twiliosim.Fault{DropCallbacks: 1})
	send := func(id int64) {
		t.Helper()
		in := escalation.Intent{ID: id, Incident: 1, Short: 1, Kind: escalation.KindPage, Channel: configs.SMS, Person: "alice",
			Phone: alicePh, Severity: "critical", Summary: "router pair DOWN"}
		if err := w.p.Notify(context.Background(), in); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		send(int64(100 + i))
		w.clk.Add(10 * time.Second)
	}
	if n := len(sw.Messages()); n != 0 {
		t.Fatalf("SignalWire sent %d before Twilio missed a window", n)
	}
	w.clk.Add(3 * time.Minute)
	send(200)
	eventually(t, "the SMS through SignalWire", func() bool {
		for _, m := range sw.Messages() {
			if m.To == alicePh && strings.Contains(m.Body, "router pair DOWN") {
				return true
			}
		}
		return false
	})
	if got := w.p.Stats().Counts["provider_switches/twilio/signalwire"]; got != 1 {
		t.Errorf("switches twilio→signalwire = %v, want 1", got)
	}
}

// TestSignalWireThroughTwilioGo checks what the design rests on: twilio-go
// refuses a SignalWire project ID (a UUID) as the account SID before
// sending (error 21222), and the laml transport lets it talk to
// SignalWire's /api/laml unchanged, as the project, with the API token.
func TestSignalWireThroughTwilioGo(t *testing.T) {
	sw := twiliosim.New(twiliosim.Options{SignalWire: true, AuthToken: "PTswtoken0123", Number: "+15550100099"})
	base, err := sw.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sw.Close() })
	ctx := context.Background()

	plain := newTwilioAPI(twiliosim.DefaultProjectID, "PTswtoken0123", "+15550100099", base+"/api/laml", 2*time.Second)
	_, err = plain.sms(ctx, alicePh, "hello", "", 0)
	var te *client.TwilioRestError
	if !errors.As(err, &te) || te.Code != 21222 {
		t.Fatalf("twilio-go with a UUID account SID: %v, want its local 21222", err)
	}
	if len(sw.Events()) != 0 {
		t.Fatalf("twilio-go sent the refused request: %v", sw.Events())
	}

	pv := newProvider(provider{name: "signalwire", kind: configs.KindSignalWire, account: twiliosim.DefaultProjectID,
		token: "PTswtoken0123", from: "+15550100099", base: base + "/api/laml"}, 2*time.Second)
	sid, err := pv.sms(ctx, alicePh, "hello", "", 0)
	if err != nil || sid == "" {
		t.Fatalf("through laml: %q, %v", sid, err)
	}
	ev := sw.Events()[0]
	if want := "/api/laml/2010-04-01/Accounts/" + twiliosim.DefaultProjectID + "/Messages.json"; ev.URL != want || ev.Status != 201 {
		t.Errorf("request %s → %d, want %s → 201", ev.URL, ev.Status, want)
	}
	bad := newProvider(provider{name: "signalwire", kind: configs.KindSignalWire, account: twiliosim.DefaultProjectID,
		token: "PTwrong", from: "+15550100099", base: base + "/api/laml"}, 2*time.Second)
	if _, err := bad.sms(ctx, alicePh, "hello", "", 0); !credentialRefused(err) {
		t.Errorf("a wrong SignalWire token: %v, want a credential refusal (401)", err)
	}
}

// TestEachTransientFailureSwitchesInTheSameSend: whatever way Twilio
// fails for everyone — 500, 503, 429, refused credentials (401), or a
// request that hangs until the client's timeout — the same send goes out
// through SignalWire, with no retries on Twilio first; a 400 for this
// number only does not switch.
func TestEachTransientFailureSwitchesInTheSameSend(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault twiliosim.Fault
	}{
		{"500", twiliosim.Fault{Status: 500, Rate: 1}},
		{"503", twiliosim.Fault{Status: 503, Rate: 1}},
		{"429", twiliosim.Fault{Status: 429, Rate: 1}},
		{"401", twiliosim.Fault{Status: 401, Rate: 1}},
		{"hang", twiliosim.Fault{Hang: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sw, prov := withSignalWire(t)
			w := newWorld(t, callAlice+prov, worldOpt{opts: Options{APITimeout: 300 * time.Millisecond}})
			w.sim.SetFault(tc.fault)
			in := escalation.Intent{ID: 7, Incident: 1, Short: 1, Kind: escalation.KindPage, Channel: configs.SMS, Person: "alice",
				Phone: alicePh, Severity: "critical", Summary: "router pair DOWN"}
			start := time.Now()
			if err := w.p.Notify(context.Background(), in); err != nil {
				t.Fatalf("Notify: %v", err)
			}
			// (The switch's announcement may go through SignalWire too:
			// carol has no email.)
			pages := 0
			for _, m := range sw.Messages() {
				if m.To == alicePh && strings.Contains(m.Body, "router pair DOWN") {
					pages++
				}
			}
			if pages != 1 {
				t.Fatalf("SignalWire sent %d pages to alice, want 1", pages)
			}
			if api := apiCalls(w.sim); api != 1 {
				t.Errorf("Twilio was asked %d times; want once, then the switch", api)
			}
			t.Logf("%s: through SignalWire in %s", tc.name, time.Since(start).Round(time.Millisecond))
		})
	}
	t.Run("400 for one number", func(t *testing.T) {
		sw, prov := withSignalWire(t)
		w := newWorld(t, callAlice+prov)
		in := escalation.Intent{ID: 7, Incident: 1, Short: 1, Kind: escalation.KindPage, Channel: configs.SMS, Person: "alice",
			Phone: "+1555", Severity: "critical", Summary: "router pair DOWN"}
		if err := w.p.Notify(context.Background(), in); err == nil {
			t.Fatal("a bad number was accepted")
		}
		if n := len(sw.Messages()); n != 0 {
			t.Errorf("a 400 for one number switched providers (%d SMS through SignalWire)", n)
		}
	})
}

// apiCalls counts the REST requests sim logged.
func apiCalls(sim *twiliosim.Sim) int {
	n := 0
	for _, e := range sim.Events() {
		if e.Kind == twiliosim.KindAPI {
			n++
		}
	}
	return n
}

// TestAckHangsUpThroughTheProviderThatPlacedTheCall: a call placed
// through SignalWire is hung up through SignalWire when the incident is
// acked, even with Twilio working again and first in line.
func TestAckHangsUpThroughTheProviderThatPlacedTheCall(t *testing.T) {
	sw, prov := withSignalWire(t)
	w := newWorld(t, callAlice+prov)
	sw.SetPhone(alicePh, twiliosim.Script{Call: "wait"})
	w.sim.SetFault(twiliosim.Fault{Status: 500, Rate: 1})
	inc := w.fire("target:rt1")
	w.step()
	eventually(t, "the call ringing through SignalWire", func() bool {
		cs := sw.Calls()
		return len(cs) == 1 && cs[0].Status == "ringing"
	})
	w.sim.SetFault(twiliosim.Fault{})
	before := apiCalls(w.sim)
	if _, err := w.eng.Ack(context.Background(), inc.ID, "alice", "web"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "SignalWire's call hung up", func() bool {
		cs := sw.Calls()
		return cs[0].Status == "canceled" || cs[0].Status == "completed"
	})
	for _, e := range w.sim.Events()[before:] {
		if e.Kind == twiliosim.KindAPI && strings.Contains(e.URL, "/Calls/") {
			t.Errorf("the hang-up went to Twilio: %s %s", e.Method, e.URL)
		}
	}
}

// retryDue reports whether the open incident's next round is due within
// d of the test's start (an unanswered call's report brought it forward).
func (w *world) retryDue(d time.Duration) bool {
	var due int64
	w.db.QueryRow(`SELECT due FROM incidents WHERE state = 'triggered'`).Scan(&due)
	return due > 0 && due <= monday.Add(d).UnixMilli()
}

// TestFindLooksInEveryProvidersRecords: after a kill that lost the SID, a
// page sent through SignalWire is found in SignalWire's own Messages list
// (from its own number), not taken for unsent.
func TestFindLooksInEveryProvidersRecords(t *testing.T) {
	sw, prov := withSignalWire(t)
	w := newWorld(t, callAlice+prov)
	w.sim.SetFault(twiliosim.Fault{Status: 500, Rate: 1})
	in := escalation.Intent{ID: 7, Incident: 1, Short: 1, Kind: escalation.KindPage, Channel: configs.SMS, Person: "alice",
		Phone: alicePh, Severity: "critical", Summary: "router pair DOWN"}
	since := w.clk.Now()
	if err := w.p.Notify(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	w.sim.SetFault(twiliosim.Fault{})
	// A queued message has no DateSent yet (on Twilio too), so the lookup
	// (made at a restart, later than this) sees it once it was sent.
	eventually(t, "SignalWire sent the SMS", func() bool {
		for _, m := range sw.Messages() {
			if m.To == alicePh && m.Status != "queued" {
				return true
			}
		}
		return false
	})
	sids, err := w.p.Find(context.Background(), in, since.Add(-time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var want string
	for _, m := range sw.Messages() {
		if m.To == alicePh && strings.Contains(m.Body, "router pair DOWN") {
			want = m.SID
		}
	}
	if len(sids) != 1 || sids[0] != want {
		t.Fatalf("Find = %v, want SignalWire's %s", sids, want)
	}
}
