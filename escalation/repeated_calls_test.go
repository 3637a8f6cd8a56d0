package escalation

import (
	"context"
	"testing"
	"time"
)

// smsThenCall is one step that texts, then calls, and repeats.
const smsThenCall = people + `
[[policy]]
name = "ops"
  [[policy.step]]
  who = ["alice"]
  channels = ["sms", "voice"]
  until_ack = true
  interval = "10m"
`

// TestUnansweredCallRetriedWithinIOSRepeatedCallsWindow: iOS lets a second
// call from the same number within 3 minutes ring through Do Not Disturb.
// An unanswered call's next round is timed from the call's hand-over, so
// the retry call is placed inside that window even when the "unanswered"
// report comes late: after 30 s of ringing, after voicemail's answering
// machine detection (over a minute), or a slow callback.
func TestUnansweredCallRetriedWithinIOSRepeatedCallsWindow(t *testing.T) {
	for _, reportAfter := range []time.Duration{2 * time.Second, 35 * time.Second, 70 * time.Second, 100 * time.Second} {
		t.Run(reportAfter.String(), func(t *testing.T) {
			h := newHarness(t, smsThenCall, monday)
			// The gap between a round's SMS and its call is slept in real
			// time; the formula leaves room for it (gap) on top of the
			// margin, so the test runs without it.
			h.e = New(h.db, *h.e.cfg.Load(), h.p, Options{Clock: h.clk, Gap: -1})
			h.fire("target:rt1", "critical")
			h.drive(10 * time.Second)
			var call sent
			for _, s := range h.p.got {
				if s.Kind == KindPage && s.Channel == "voice" {
					call = s
				}
			}
			if call.ID == 0 {
				t.Fatalf("no call in the first round: %v", h.p.list("page"))
			}
			h.clk.Set(monday.Add(call.At + reportAfter))
			if err := h.e.Report(context.Background(), call.ID, Unanswered, "no answer"); err != nil {
				t.Fatal(err)
			}
			h.drive(call.At + 4*time.Minute)
			var retry time.Duration
			for _, s := range h.p.got {
				if s.Kind == KindPage && s.Channel == "voice" && s.ID != call.ID {
					retry = s.At
					break
				}
			}
			if retry == 0 {
				t.Fatalf("no retry call within 4 minutes: %v", h.p.list("page"))
			}
			gap := retry - call.At
			t.Logf("report %s after the call; the retry call %s after it", reportAfter, gap)
			if gap > repeatedCalls-repeatMargin {
				t.Errorf("retry call %s after the first: want under %s with margin (iOS Repeated Calls)", gap, repeatedCalls)
			}
			if gap < reportAfter {
				t.Errorf("retry call %s after the first, before its report (%s)", gap, reportAfter)
			}
		})
	}
}
