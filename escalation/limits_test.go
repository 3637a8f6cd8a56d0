package escalation

import (
	"context"
	"fmt"
	"testing"
	"time"
)

const onePerson = people + `
[[policy]]
name = "ops"
  [[policy.step]]
  who = ["carol"]
  channels = ["sms"]
`

// TestCapCountsOnlyWhatWasSent: pages the pager refused (a rate limit, a
// channel down) reached nobody and do not count toward max_per_hour; a
// critical page that finds the cap truly used up waits for the hour and
// is then sent, never dropped.
func TestCapCountsOnlyWhatWasSent(t *testing.T) {
	h := newHarness(t, onePerson, monday)
	h.p.fail["sms"] = true
	for i := range 25 {
		h.fire(fmt.Sprintf("target:w%02d", i), "warning")
	}
	h.drive(time.Second)
	h.p.fail["sms"] = false
	h.fire("target:rt1", "critical")
	h.drive(2 * time.Second)
	sentCrit := false
	for _, s := range h.p.got {
		sentCrit = sentCrit || s.Summary == "target:rt1 DOWN"
	}
	if !sentCrit {
		t.Fatalf("after 25 refused warnings the critical page was not sent: %q", h.p.list("page"))
	}

	// Now the cap is used up by pages really sent within the hour:
	// warnings take all but the last, which a critical takes; a second
	// critical then waits for the hour.
	h2 := newHarness(t, onePerson, monday)
	for i := range 20 {
		h2.fire(fmt.Sprintf("target:w%02d", i), "warning")
	}
	h2.drive(time.Second)
	h2.fire("target:rt1", "critical")
	h2.drive(2 * time.Second)
	h2.fire("target:rt2", "critical")
	h2.drive(10 * time.Minute)
	count := func(summary string) (n int) {
		for _, s := range h2.p.got {
			if s.Summary == summary {
				n++
			}
		}
		return n
	}
	if n := count("target:w19 DOWN"); n != 0 {
		t.Errorf("the 20th warning was sent: warnings must leave the last page of the hour to a critical")
	}
	if n := count("target:rt1 DOWN"); n == 0 {
		t.Fatalf("the first critical page did not get the page warnings left it")
	}
	if n := count("target:rt2 DOWN"); n != 0 {
		t.Fatalf("the second critical page went out beyond max_per_hour before the hour freed")
	}
	var held int
	h2.db.QueryRow(`SELECT count(*) FROM events WHERE kind = 'page.held'`).Scan(&held)
	if held == 0 {
		t.Fatal("the held critical page is not in the timeline")
	}
	h2.drive(61 * time.Minute)
	if count("target:rt2 DOWN") == 0 {
		rows, _ := h2.db.Query(`SELECT kind, subject, detail FROM events ORDER BY id DESC LIMIT 8`)
		for rows.Next() {
			var k, sub, d string
			rows.Scan(&k, &sub, &d)
			t.Log(k, sub, d)
		}
		rows.Close()
		t.Fatalf("the critical page held by max_per_hour was never sent once the hour freed: %q", h2.p.list("page")[20:])
	}
}

// limitedPager refuses the first critical page with a limit that frees at
// until, as the pager does when sms_per_15m is used up.
type limitedPager struct {
	*pager
	until time.Time
	once  bool
}

func (p *limitedPager) Notify(ctx context.Context, in Intent) error {
	if in.Severity == "critical" && !p.once {
		p.once = true
		p.pager.Notify(ctx, in)
		return &Later{Until: p.until, Err: fmt.Errorf("rate limit")}
	}
	return p.pager.Notify(ctx, in)
}

// TestCriticalHeldByLimitIsSentLater: a critical page the rate limit
// refuses is held and sent once the window frees, even past sms_validity.
func TestCriticalHeldByLimitIsSentLater(t *testing.T) {
	h := newHarness(t, onePerson, monday)
	lp := &limitedPager{pager: h.p, until: h.clk.Now().Add(300 * time.Millisecond)}
	h.e.notify = lp
	h.fire("target:rt1", "critical")
	h.drive(time.Second)
	deadline := time.Now().Add(5 * time.Second)
	for {
		var state string
		h.db.QueryRow(`SELECT state FROM notifications ORDER BY id LIMIT 1`).Scan(&state)
		if state == "sent" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("held critical page is %q, not sent after the window freed", state)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := len(h.p.list("page")); n != 2 {
		t.Fatalf("%d tries of the held page, want 2 (refused, then sent)", n)
	}
}
