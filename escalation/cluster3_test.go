package escalation

import (
	"fmt"
	"testing"
	"time"
)

// newTrio is newPair with a third node, node-c, last by name: it waits
// 2 × peer_timeout for a page.
func newTrio(t *testing.T) (*pair, *node) {
	t.Helper()
	c := newPair(t)
	n := c.start("node-c", t.TempDir())
	c.more = append(c.more, n)
	return c, n
}

// Three healthy nodes see 100 outages, node-b 3 s and node-c 5 s after
// node-a: every page goes once, and the three logs are alike.
func TestThreeNodesEveryPageGoesOnce(t *testing.T) {
	c, nc := newTrio(t)
	const n = 100
	for _, o := range []struct {
		n     *node
		after time.Duration
	}{{c.a, 0}, {c.b, 3 * time.Second}, {nc, 2 * time.Second}} {
		c.clk.Add(o.after)
		for i := range n {
			c.fire(o.n, fmt.Sprintf("target:h%d", i))
		}
		c.drive(c.clk.Now().Sub(c.t0))
	}
	c.drive(50 * time.Minute)
	got := c.pages()
	if len(got) != n*6 {
		t.Errorf("distinct notifications sent = %d, want %d", len(got), n*6)
	}
	for key, times := range got {
		if times != 1 {
			t.Errorf("notification %q sent %d times, want once", key, times)
		}
	}
	if a, b, cc := entriesText(c.a.e.Log()), entriesText(c.b.e.Log()), entriesText(nc.e.Log()); a != b || a != cc {
		t.Errorf("logs differ:\nnode-a:\n%s\nnode-b:\n%s\nnode-c:\n%s", a, b, cc)
	}
}

// node-a and node-b die unnoticed mid-escalation: node-c, third, waits its
// 2 × peer_timeout, finds no entry and sends.
func TestThreeNodesFirstTwoDieUnnoticedLastSendsAfterTwoPeerTimeouts(t *testing.T) {
	c, nc := newTrio(t)
	c.outage("target:rt1")
	c.drive(c.clk.Now().Sub(c.t0))
	c.clk.Add(2 * time.Second)
	c.fire(nc, "target:rt1") // 5 s after node-a
	c.drive(12 * time.Minute)
	if len(nc.p.list("page")) != 0 {
		t.Fatalf("node-c sent %v while the others were live", nc.p.list("page"))
	}
	for _, n := range []*node{c.a, c.b} {
		n.dead = true // they step no more, but node-c's view still has them first
		n.e.Stop()
		n.e.Wait()
	}
	c.drive(30 * time.Minute)
	// Step 2 was due at 25 min 5 s on node-c; it waited 30 s, then
	// settled 3 s (yieldToEarlier).
	same(t, "node-c's pages", nc.p.list("page"), []string{"25m38s page voice bob"})
}

// node-a dies, known: node-b is first and sends step 2 at its due time;
// node-c, second now, finds node-b's entry.
func TestThreeNodesSenderDiesNextSendsThirdFindsItsEntry(t *testing.T) {
	c, nc := newTrio(t)
	c.outage("target:rt1")
	c.drive(c.clk.Now().Sub(c.t0))
	c.clk.Add(2 * time.Second)
	c.fire(nc, "target:rt1")
	c.drive(12 * time.Minute)
	c.kill(c.a)
	c.drive(50 * time.Minute)
	same(t, "node-b's pages after node-a died", c.b.p.list("page"),
		[]string{"25m3s page voice bob", "35m3s page voice bob", "45m3s page voice bob"})
	same(t, "node-c's pages", nc.p.list("page"), nil)
	for key, times := range c.pages() {
		if times != 1 {
			t.Errorf("notification %q sent %d times, want once", key, times)
		}
	}
}

// An ack on node-c stops node-a's paging and cancels its calls.
func TestThreeNodesAckOnTheLastStopsTheFirst(t *testing.T) {
	c, nc := newTrio(t)
	c.outage("target:rt1")
	c.drive(c.clk.Now().Sub(c.t0))
	c.clk.Add(2 * time.Second)
	inc := c.fire(nc, "target:rt1")
	c.drive(26 * time.Minute) // bob's first call, from node-a
	if _, err := nc.e.Ack(t.Context(), inc.ID, "bob", "sms"); err != nil {
		t.Fatal(err)
	}
	c.drive(50 * time.Minute)
	for _, n := range c.all() {
		var state string
		if err := n.db.QueryRow(`SELECT state FROM incidents WHERE key = 'target:rt1'`).Scan(&state); err != nil || state != Acknowledged {
			t.Errorf("%s: %s %v, want acknowledged", n.name, state, err)
		}
	}
	if got := c.a.p.list("cancel"); len(got) == 0 {
		t.Errorf("node-a did not hang up: %v", c.a.p.list("page", "cancel"))
	}
	for key, times := range c.pages() {
		if times != 1 {
			t.Errorf("notification %q sent %d times, want once", key, times)
		}
	}
}

// All three split from the start: each opens its own episode of the
// outage and pages alone. Healed, the three settle on the first episode,
// and every page first due after the heal goes once.
func TestThreeNodesHealSettleOnOneEpisodeNoFurtherDuplicates(t *testing.T) {
	c, nc := newTrio(t)
	c.net.setSplit(true)
	c.outage("target:rt1")
	c.drive(c.clk.Now().Sub(c.t0))
	c.clk.Add(2 * time.Second)
	c.fire(nc, "target:rt1")
	c.drive(20 * time.Minute)
	before := c.pages()
	for _, n := range c.all() {
		if got := n.p.list("page"); len(got) != 3 {
			t.Fatalf("during the split each node pages alice three times; %s: %v", n.name, got)
		}
	}
	c.net.heal(t)
	c.settle()
	var eps []string
	for _, n := range c.all() {
		open, err := n.e.Open(t.Context())
		if err != nil || len(open) != 1 {
			t.Fatalf("%s after the heal: %+v %v", n.name, open, err)
		}
		eps = append(eps, open[0].Episode)
	}
	if eps[0] != eps[1] || eps[0] != eps[2] {
		t.Fatalf("after the heal the three name episodes %v, want one", eps)
	}
	c.drive(50 * time.Minute)
	same(t, "node-a's pages after the heal", c.a.p.list("page")[3:], []string{"25m0s page voice bob", "35m0s page voice bob", "45m0s page voice bob"})
	same(t, "node-b's pages after the heal", c.b.p.list("page")[3:], nil)
	same(t, "node-c's pages after the heal", nc.p.list("page")[3:], nil)
	for key, times := range c.pages() {
		if times != 1 && before[key] == 0 {
			t.Errorf("notification %q, first sent after the heal, went %d times", key, times)
		}
	}
	if a, b, cc := entriesText(c.a.e.Log()), entriesText(c.b.e.Log()), entriesText(nc.e.Log()); a != b || a != cc {
		t.Errorf("logs differ at the end:\nnode-a:\n%s\nnode-b:\n%s\nnode-c:\n%s", a, b, cc)
	}
}

// Split from the start, node-c opens first, then node-a, then node-b.
// Healed, node-b hears node-a's episode first and adopts it; node-a then
// hears node-c's, the first, and gives its own up: that end of node-a's
// episode is a merge, not a resolve, for node-b, which holds it too now.
// The three settle on node-c's episode with their incidents open.
func TestThreeNodesHealAnEpisodeMergedTwiceStaysOpenOnTheThird(t *testing.T) {
	c, nc := newTrio(t)
	c.net.setSplit(true)
	c.fire(nc, "target:rt1")
	c.drive(0)
	c.clk.Add(2 * time.Second)
	c.fire(c.a, "target:rt1")
	c.drive(c.clk.Now().Sub(c.t0))
	c.clk.Add(2 * time.Second)
	c.fire(c.b, "target:rt1")
	c.drive(20 * time.Minute)
	c.net.heal(t)
	c.settle()
	var eps []string
	for _, n := range c.all() {
		open, err := n.e.Open(t.Context())
		if err != nil || len(open) != 1 {
			t.Fatalf("%s after the heal: %+v %v", n.name, open, err)
		}
		eps = append(eps, open[0].Episode)
	}
	if eps[0] != eps[1] || eps[0] != eps[2] {
		t.Fatalf("after the heal the three name episodes %v, want one", eps)
	}
}
