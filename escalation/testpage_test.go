package escalation

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"
)

// The schedule of test pages runs on the engine's clock: at test_page's
// time everyone on call gets a test page (SMS and call), and one nobody
// answers within testPageWait is resolved, recorded and reported.
func TestScheduledTestPageOnTheEngineClock(t *testing.T) {
	cfgText := strings.Replace(twoStep, `ack_timeout = "2h"`, "ack_timeout = \"2h\"\ntest_page = \"0 11 * * MON\"", 1)
	h := newHarness(t, cfgText, monday)
	var mu sync.Mutex
	var missed []string
	h.e = New(h.db, *h.e.cfg.Load(), h.p, Options{Clock: h.clk, Gap: -1, Unanswered: func(p string) {
		mu.Lock()
		defer mu.Unlock()
		missed = append(missed, p)
	}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	defer func() { cancel(); <-done; h.e.Wait() }()
	go func() {
		defer close(done)
		h.e.TestPages(ctx)
	}()
	until := func(what string, ok func() bool, tick func()) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !ok(); time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			tick()
		}
	}
	until("the schedule to wait", func() bool { return h.clk.Waiting() > 0 }, func() {})
	next, _ := h.clk.Next()
	if want := monday.Add(2 * time.Hour); !next.Equal(want) {
		t.Fatalf("test page scheduled at %s, want %s", next, want)
	}
	h.clk.Set(next)
	until("the test page", func() bool { return len(h.p.list("page")) == 2 }, func() {})
	same(t, "test page", h.p.list("page"), []string{"2h0m0s page sms alice", "2h0m0s page voice alice"})
	until("the test page to go unanswered", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(missed) > 0
	}, func() {
		if h.clk.Waiting() >= 2 { // the next week's schedule and the answer's wait
			h.clk.Add(30 * time.Second)
		}
	})
	same(t, "unanswered", missed, []string{"alice"})
	if elapsed := h.clk.Now().Sub(next); elapsed < testPageWait {
		t.Fatalf("given up after %s, before testPageWait", elapsed)
	}
	var n int
	h.db.QueryRow(`SELECT count(*) FROM events WHERE kind = 'test-page.unanswered' AND detail = 'not answered within 10m0s'`).Scan(&n)
	if n != 1 {
		t.Fatalf("test-page.unanswered events: %d", n)
	}
	open, err := h.e.Open(context.Background())
	if err != nil || len(open) != 0 {
		t.Fatalf("open after the test page: %v %v", open, err)
	}
}
