package escalation

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// shortsApart is an outage of target:rt1 that the two nodes number
// differently: node-a already has #1 (target:db, which only it sees and
// pages alice for), so rt1 is node-a's #2 and node-b's #1. node-a sends
// the pages; alice has "#1 db" and "#2 rt1", both from node-a.
func shortsApart(t *testing.T) (c *pair, ia, ib, db *Incident) {
	t.Helper()
	c = newPair(t)
	db = c.fire(c.a, "target:db")
	c.drive(0)
	c.clk.Add(time.Second)
	ia, ib = c.outage("target:rt1")
	c.drive(c.clk.Now().Sub(c.t0) + 20*time.Second) // node-b's turn is over
	if db.Short != 1 || ia.Short != 2 || ib.Short != 1 || ia.Episode != ib.Episode {
		t.Fatalf("numbers: db #%d, rt1 #%d on node-a and #%d on node-b (episodes %q, %q)", db.Short, ia.Short, ib.Short, ia.Episode, ib.Episode)
	}
	same(t, "node-b's pages", c.b.p.list("page"), nil)
	return c, ia, ib, db
}

func TestReplyOnTheOtherNodeMeansTheNumberTheTextSaid(t *testing.T) {
	c, ia, ib, db := shortsApart(t)
	ctx := context.Background()
	// "2" on node-b: node-a's #2, rt1, which is node-b's #1; the reply
	// says the number alice read.
	got, err := c.b.e.ByShort(ctx, "alice", 2)
	if err != nil || got.ID != ib.ID || got.Short != 2 {
		t.Fatalf("node-b: alice's 2 = %+v, %v; want node-b's incident %d said as #2", got, err, ib.ID)
	}
	// "1" on node-b is node-a's db, which node-b does not have: not
	// node-b's own #1 (rt1), of which alice never got a text. It is
	// answered through the log: acked on node-a.
	one, err := c.b.e.ByShort(ctx, "alice", 1)
	if err != nil || one.ID >= 0 || one.Key != "target:db" || one.Short != 1 || one.Summary != "target:db DOWN" {
		t.Fatalf("node-b: alice's 1 = %+v, %v; want node-a's db, kept there", one, err)
	}
	if _, err := c.b.e.Snooze(ctx, one.ID, time.Hour, "alice"); !errors.Is(err, ErrElsewhere) {
		t.Errorf("snooze of node-a's db on node-b: %v, want ErrElsewhere", err)
	}
	if after, err := c.b.e.Ack(ctx, one.ID, "alice", "sms"); err != nil || after.State != Acknowledged {
		t.Fatalf("ack of node-a's db on node-b: %+v, %v", after, err)
	}
	c.settle()
	if d, _ := c.a.e.Get(ctx, db.ID); d.State != Acknowledged || d.AckedBy != "alice" {
		t.Errorf("node-a's db after alice's 1 on node-b: %s by %q", d.State, d.AckedBy)
	}
	if b1, _ := c.b.e.Get(ctx, ib.ID); b1.State != Triggered {
		t.Errorf("node-b's own #1 (rt1) after alice's 1: %s, want still triggered", b1.State)
	}
	// On node-a, its own numbers, as before.
	if got, err := c.a.e.ByShort(ctx, "alice", 1); err != nil || got.ID != db.ID {
		t.Errorf("node-a: alice's 1 = %+v, %v; want db", got, err)
	}
	// A bare ACK on node-b: the last page alice got, from node-a.
	if got, err := c.b.e.LastPaged(ctx, "alice"); err != nil || got.ID != ib.ID || got.Short != 2 {
		t.Errorf("node-b: alice's last page = %+v, %v; want rt1 (#2)", got, err)
	}
	// Bob never got a text: nothing of his.
	if _, err := c.b.e.ByShort(ctx, "bob", 1); !errors.Is(err, ErrNotFound) {
		t.Errorf("node-b: bob's 1: %v, want not found", err)
	}
	// The ack on node-b stops node-a's rt1, not its db.
	if _, err := c.b.e.Ack(ctx, got.ID, "alice", "sms"); err != nil {
		t.Fatal(err)
	}
	c.settle()
	if a, _ := c.a.e.Get(ctx, ia.ID); a.State != Acknowledged || a.AckedBy != "alice" {
		t.Errorf("node-a's rt1 after alice's reply on node-b: %s by %q", a.State, a.AckedBy)
	}

}

// The "acked by" notice reaches everyone paged in the episode once:
// node-a paged alice, bob acks on node-b, and only one of the two nodes
// tells alice.
func TestAckedByNoticeGoesOnceFromEitherNode(t *testing.T) {
	c, ia, ib, _ := shortsApart(t)
	ctx := context.Background()
	if _, err := c.b.e.Ack(ctx, ib.ID, "bob", "web"); err != nil {
		t.Fatal(err)
	}
	c.drive(c.clk.Now().Sub(c.t0) + time.Minute) // past node-b's turn
	all := append(c.a.p.list("acked"), c.b.p.list("acked")...)
	if len(all) != 1 {
		t.Fatalf("acked-by notices: node-a %v, node-b %v; want one to alice", c.a.p.list("acked"), c.b.p.list("acked"))
	}
	// Resolved: the same, once.
	if _, err := c.a.e.Handle(ctx, Alert{Key: "target:rt1", Source: "probe"}); err != nil {
		t.Fatal(err)
	}
	c.clk.Add(2 * time.Second)
	if _, err := c.b.e.Handle(ctx, Alert{Key: "target:rt1", Source: "probe"}); err != nil && !errors.Is(err, ErrResolved) {
		t.Fatal(err)
	}
	c.drive(c.clk.Now().Sub(c.t0) + time.Minute)
	if all := append(c.a.p.list("resolved"), c.b.p.list("resolved")...); len(all) != 1 {
		t.Errorf("resolved notices: node-a %v, node-b %v; want one to alice", c.a.p.list("resolved"), c.b.p.list("resolved"))
	}
	_ = ia
}

// With the peer gone, the node left tells them itself (fail-open).
func TestAckedByNoticeSentByTheNodeLeftWhenThePeerIsGone(t *testing.T) {
	c, _, ib, _ := shortsApart(t)
	c.kill(c.a)
	if _, err := c.b.e.Ack(context.Background(), ib.ID, "bob", "web"); err != nil {
		t.Fatal(err)
	}
	c.drive(c.clk.Now().Sub(c.t0) + time.Minute)
	if got := c.b.p.list("acked"); len(got) != 1 || !contains(got[0], "alice") {
		t.Errorf("node-b's notices with node-a gone: %v; want one to alice", got)
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

// fireStorm is a storm as a node's classifier tells it: the key of the
// first target it saw fail, the others as children.
func (c *pair) fireStorm(n *node, lead string, children ...string) *Incident {
	c.t.Helper()
	inc, err := n.e.Handle(context.Background(), Alert{Key: "target:" + lead, Firing: true, Severity: "critical",
		Summary: "storm from " + lead, Source: "probe", Children: children})
	if err != nil {
		c.t.Fatal(err)
	}
	return inc
}

// A storm both nodes see, each first seeing another of its targets fail:
// one outage, paged once, acked once for both, whichever node saw it
// first.
func TestStormSeenByBothFirstFromDifferentTargetsPagesOnce(t *testing.T) {
	for _, first := range []string{"node-a", "node-b"} {
		t.Run(first+" first", func(t *testing.T) {
			c := newPair(t)
			one, two := c.a, c.b
			if first == "node-b" {
				one, two = c.b, c.a
			}
			ctx := context.Background()
			i1 := c.fireStorm(one, "rt1")
			c.settle()
			c.clk.Add(time.Second)
			i2 := c.fireStorm(two, "rt2")
			c.settle()
			c.clk.Add(time.Second)
			c.fireStorm(one, "rt1", "rt2", "rt3")
			c.settle()
			c.clk.Add(time.Second)
			c.fireStorm(two, "rt2", "rt1", "rt3")
			c.drive(20 * time.Minute)
			g1, _ := one.e.Get(ctx, i1.ID)
			g2, _ := two.e.Get(ctx, i2.ID)
			if g1.Episode != g2.Episode || g1.Episode != i1.Episode {
				t.Errorf("episodes: %s on %s (opened first), %s on %s; want both the first's %s", g1.Episode, one.name, g2.Episode, two.name, i1.Episode)
			}
			for k, n := range c.pages() {
				if n != 1 {
					t.Errorf("%s paged %d times", k, n)
				}
			}
			if n := len(c.a.p.list("page")) + len(c.b.p.list("page")); n != 3 {
				t.Errorf("pages: node-a %v, node-b %v; want the three SMS of step 1 once", c.a.p.list("page"), c.b.p.list("page"))
			}
			if _, err := two.e.Ack(ctx, i2.ID, "alice", "web"); err != nil {
				t.Fatal(err)
			}
			c.settle()
			if g1, _ := one.e.Get(ctx, i1.ID); g1.State != Acknowledged {
				t.Errorf("%s's storm after the ack on %s: %s", one.name, two.name, g1.State)
			}
		})
	}
}

// Both storms grow at once, each node judging the overlap as it records
// its own (the adoption runs on the alert's path, not a merge's): they
// settle on one episode, the first open's by node name at a tie.
func TestStormsGrowingAtOnceOnBothSettleOnOneEpisode(t *testing.T) {
	c := newPair(t)
	ctx := context.Background()
	ia := c.fireStorm(c.a, "web-a")
	ib := c.fireStorm(c.b, "web-b")
	c.settle()
	c.clk.Add(time.Second)
	c.fireStorm(c.a, "web-a", "web-000", "web-001", "web-002")
	c.fireStorm(c.b, "web-b", "web-000", "web-001", "web-002")
	c.drive(20 * time.Minute)
	ga, _ := c.a.e.Get(ctx, ia.ID)
	gb, _ := c.b.e.Get(ctx, ib.ID)
	if ga.Episode != ia.Episode || gb.Episode != ia.Episode {
		t.Errorf("episodes: node-a %s, node-b %s; want node-a's %s (same instant, lesser name)", ga.Episode, gb.Episode, ia.Episode)
	}
	if n := len(c.a.p.list("page")) + len(c.b.p.list("page")); n != 3 {
		t.Errorf("pages: node-a %v, node-b %v; want step 1's three once", c.a.p.list("page"), c.b.p.list("page"))
	}
}
