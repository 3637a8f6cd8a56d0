package escalation

import (
	"context"
	"testing"
	"time"
)

// slowSender starts an outage whose first page node-a takes its turn for
// and says it is sending, but cannot hand over yet (its send queue is
// behind a storm or a slow API): its pager holds the page. node-b, 3 s
// later, is then driven alone, node-a's engine left to its goroutines.
func slowSender(t *testing.T) (*pair, chan struct{}) {
	c := newPair(t)
	hold := make(chan struct{})
	c.a.p.mu.Lock()
	c.a.p.hold = hold
	c.a.p.mu.Unlock()
	c.fire(c.a, "target:rt1")
	if _, err := c.a.e.Step(context.Background()); err != nil {
		t.Fatal(err)
	}
	until(t, "node-a says it is sending", func() bool {
		for _, e := range c.b.e.Log().Entries() {
			if e.Kind == kindSending && e.Node == "node-a" {
				return true
			}
		}
		return false
	})
	c.a.dead = true // the test steps node-b only; node-a stays live in the net
	c.clk.Add(3 * time.Second)
	c.fire(c.b, "target:rt1")
	return c, hold
}

func until(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// A page node-a said it is sending is not sent by node-b at its turn
// while node-a is live: its send queue is not a dead node. Once node-a's
// hand-over is done the page is in the log as sent, and node-b never
// sends it.
func TestPeerSendingSlowlyIsWaitedForNotDuplicated(t *testing.T) {
	c, hold := slowSender(t)
	c.drive(3*time.Second + 2*peerTimeout) // past node-b's turn, by a peer_timeout
	if got := c.b.p.list("page"); len(got) != 0 {
		t.Fatalf("node-b sent while node-a was still sending: %v", got)
	}
	close(hold)
	until(t, "node-a's page in node-b's log as sent", func() bool {
		for _, e := range c.b.e.Log().Entries() {
			if e.Kind == "page" && e.Node == "node-a" && e.Step == 0 {
				return true
			}
		}
		return false
	})
	c.drive(4 * time.Minute)
	if got := c.b.p.list("page"); len(got) != 0 {
		t.Errorf("node-b sent a page node-a had sent: %v", got)
	}
	var peer int
	if err := c.b.db.QueryRow(`SELECT count(*) FROM notifications WHERE kind = 'page' AND state = 'peer'`).Scan(&peer); err != nil {
		t.Fatal(err)
	}
	if peer != 1 {
		t.Errorf("node-b's page recorded as sent by the peer: %d, want 1", peer)
	}
}

// The sender is lost while it says it is sending (killed mid-send):
// node-b sends within a poll of noticing.
func TestPeerLostWhileSendingOtherSendsAtOnce(t *testing.T) {
	c, hold := slowSender(t)
	defer close(hold)
	c.drive(3*time.Second + peerTimeout + time.Second) // node-b's turn came; it waits on node-a
	if got := c.b.p.list("page"); len(got) != 0 {
		t.Fatalf("node-b sent while node-a was sending: %v", got)
	}
	lost := c.clk.Now().Sub(c.t0)
	c.net.kill("node-a")
	c.drive(lost + peerTimeout)
	got := c.b.p.list("page")
	if len(got) != 1 {
		t.Fatalf("node-b's pages after node-a was lost mid-send: %v, want one", got)
	}
	if at := c.b.p.got[0].At; at-lost > peerTimeout/10+time.Millisecond {
		t.Errorf("node-b sent %s after node-a was lost, want within a poll (%s)", at-lost, peerTimeout/10)
	}
}

// A sender that stays live but never says the page went out (stuck, not
// dead) does not keep the page from the person: after sameWindow ×
// peer_timeout past its turn node-b sends it too (fail-open).
func TestPeerStuckSendingOtherSendsAfterTheBound(t *testing.T) {
	c, hold := slowSender(t)
	defer close(hold)
	turn := 3*time.Second + peerTimeout
	c.drive(turn + sameWindow*peerTimeout - time.Second)
	if got := c.b.p.list("page"); len(got) != 0 {
		t.Fatalf("node-b sent before the bound: %v", got)
	}
	c.drive(turn + sameWindow*peerTimeout + peerTimeout/10)
	if got := c.b.p.list("page"); len(got) != 1 {
		t.Fatalf("node-b's pages after the bound: %v, want one (fail-open)", got)
	}
}

// A page whose send failed for good on node-a ("unsent") is sent by
// node-b at once, not after the bound.
func TestPeerSendFailedOtherSendsAtOnce(t *testing.T) {
	c := newPair(t)
	c.a.p.mu.Lock()
	c.a.p.fail["sms"] = true
	c.a.p.mu.Unlock()
	c.outage("target:rt1")
	c.drive(3*time.Second + peerTimeout + time.Second)
	same(t, "node-b's pages", c.b.p.list("page"), []string{"18s page sms alice"})
}
