package escalation

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"
)

// sharePair is a pair whose silences and overrides are cluster States
// too, as cmd's shareState makes them.
func sharePair(t *testing.T) *pair {
	t.Helper()
	c := newPair(t)
	for _, n := range []*node{c.a, c.b} {
		shareStates(n)
	}
	return c
}

func shareStates(n *node) {
	sc := n.net.AddState("silences", n.e.SharedSilences())
	n.e.SharedSilences().SetBroadcast(sc.Broadcast)
	oc := n.net.AddState("overrides", n.e.SharedOverrides())
	n.e.SharedOverrides().SetBroadcast(oc.Broadcast)
}

func (c *pair) silence(n *node, matcher string, d time.Duration) Silence {
	c.t.Helper()
	id, err := n.e.Silence(context.Background(), Silence{Matchers: []string{matcher}, Start: c.clk.Now(), End: c.clk.Now().Add(d), By: "alice", Comment: "maintenance"})
	if err != nil {
		c.t.Fatal(err)
	}
	c.settle()
	for _, s := range c.silences(n) {
		if s.ID == id {
			return s
		}
	}
	c.t.Fatalf("%s: silence #%d not listed", n.name, id)
	return Silence{}
}

func (c *pair) silences(n *node) []Silence {
	c.t.Helper()
	ss, err := n.e.Silences(context.Background(), c.clk.Now())
	if err != nil {
		c.t.Fatal(err)
	}
	return ss
}

func (c *pair) fireLabels(n *node, key string, labels map[string]string) {
	c.t.Helper()
	if _, err := n.e.Handle(context.Background(), Alert{Key: key, Firing: true, Severity: "critical", Summary: key + " DOWN", Source: "probe", Labels: labels}); err != nil {
		c.t.Fatal(err)
	}
}

// events are a node's audit lines of kind, as "actor: detail".
func events(t *testing.T, n *node, kind string) []string {
	t.Helper()
	rows, err := n.db.Query(`SELECT actor, detail FROM events WHERE kind = ? ORDER BY id`, kind)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var a, d string
		rows.Scan(&a, &d)
		out = append(out, a+": "+d)
	}
	return out
}

func uids(ss []Silence) []string {
	var out []string
	for _, s := range ss {
		out = append(out, s.UID)
	}
	return out
}

// A silence made on node-a keeps node-b from paging the outage it covers
// (while another target pages on both as usual), node-b's audit says it
// came from node-a; ended early on node-b, it ends on node-a, and the
// outage pages.
func TestSharedSilenceMadeOnOneNodeSilencesTheOtherAndEndsOnBoth(t *testing.T) {
	c := sharePair(t)
	s := c.silence(c.a, `name="pve1"`, 2*time.Hour)
	got := c.silences(c.b)
	if len(got) != 1 || got[0].UID != s.UID || got[0].Node != "node-a" {
		t.Fatalf("node-b's silences = %+v, want node-a's %s", got, s.UID)
	}
	if ev := events(t, c.b, "silence.add"); len(ev) != 1 || !strings.Contains(ev[0], "silence by alice via peer node-a") {
		t.Errorf("node-b's audit of the silence = %q, want one 'silence by alice via peer node-a'", ev)
	}
	for _, n := range []*node{c.a, c.b} {
		c.fireLabels(n, "target:pve1", map[string]string{"name": "pve1"})
		c.fireLabels(n, "target:pve2", map[string]string{"name": "pve2"})
	}
	c.drive(20 * time.Minute)
	for key := range c.pages() {
		if strings.Contains(key, "pve1") {
			t.Errorf("silenced pve1 paged: %s", key)
		}
	}
	if n := len(c.pages()); n == 0 {
		t.Fatal("pve2, not silenced, paged nobody: the test shows nothing")
	}
	for _, n := range []*node{c.a, c.b} {
		var silenced string
		if err := n.db.QueryRow(`SELECT silenced FROM incidents WHERE key = 'target:pve1'`).Scan(&silenced); err != nil || !strings.HasPrefix(silenced, "silence #") {
			t.Errorf("%s: pve1's incident silenced = %q, %v", n.name, silenced, err)
		}
	}

	if _, err := c.b.e.EndSilence(context.Background(), s.UID, "bob"); err != nil {
		t.Fatal(err)
	}
	c.settle()
	if got := c.silences(c.a); len(got) != 0 {
		t.Fatalf("node-a still has silences in force after node-b ended it: %+v", got)
	}
	if ev := events(t, c.a, "silence.delete"); len(ev) != 1 || !strings.HasPrefix(ev[0], "bob: ") || !strings.Contains(ev[0], "via peer node-b") {
		t.Errorf("node-a's audit of the end = %q", ev)
	}
	c.drive(25 * time.Minute)
	pve1 := 0
	for key, n := range c.pages() {
		if strings.Contains(key, "pve1") {
			pve1++
			if n != 1 {
				t.Errorf("%s sent %d times", key, n)
			}
		}
	}
	if pve1 == 0 {
		t.Error("the silence ended on both nodes but pve1 paged nobody")
	}
	if _, err := c.a.e.EndSilence(context.Background(), s.UID, "alice"); err == nil {
		t.Error("ending an ended silence again: no error")
	}
}

// An override made on node-b ("carol covers alice") makes node-a page the
// cover; cancelled on node-a, node-b pages alice again.
func TestSharedOverrideMadeOnOneNodeIsFollowedByTheOther(t *testing.T) {
	c := sharePair(t)
	ctx := context.Background()
	if err := c.b.e.AddOverride(ctx, Override{Absent: "alice", Cover: "bob", Start: c.clk.Now(), End: c.clk.Now().Add(8 * time.Hour), By: "alice"}); err != nil {
		t.Fatal(err)
	}
	c.settle()
	ovs, err := Overrides(ctx, c.a.db, c.clk.Now())
	if err != nil || len(ovs) != 1 || ovs[0].Cover != "bob" || ovs[0].UID == "" {
		t.Fatalf("node-a's overrides = %+v, %v", ovs, err)
	}
	if got := coverFor(ctx, c.a.db, "alice", c.clk.Now()); got != "bob" {
		t.Errorf("node-a pages %s for alice, want bob", got)
	}
	if ev := events(t, c.a, "override.add"); len(ev) != 1 || !strings.Contains(ev[0], "override by alice via peer node-b") {
		t.Errorf("node-a's audit = %q", ev)
	}
	c.fire(c.a, "target:rt1")
	c.drive(time.Minute)
	if got := c.a.p.list("page"); len(got) != 1 || !strings.HasSuffix(got[0], " bob") {
		t.Errorf("node-a's pages = %q, want bob covering alice", got)
	}
	if err := c.a.e.EndOverride(ctx, ovs[0].UID, "alice"); err != nil {
		t.Fatal(err)
	}
	c.settle()
	if got := coverFor(ctx, c.b.db, "alice", c.clk.Now()); got != "alice" {
		t.Errorf("node-b still pages %s for alice after node-a cancelled the override", got)
	}
}

// recorder keeps what a node gossips, for replaying it in any order.
type recorder struct {
	mu  sync.Mutex
	got [][]byte
}

func (r *recorder) Broadcast(b []byte) {
	r.mu.Lock()
	r.got = append(r.got, append([]byte(nil), b...))
	r.mu.Unlock()
}

// The versions of a silence, heard twice, in reverse order and with an
// equal-time version from another node, leave every node with the same
// row: the later write, then the greater node name; replays change
// nothing and are counted as ignored.
func TestSharedSilencesMergeIsOrderFreeIdempotentAndBreaksTiesByNode(t *testing.T) {
	c := newPair(t)
	rec := &recorder{}
	c.a.e.SharedSilences().SetBroadcast(rec.Broadcast)
	s := c.silence(c.a, `name="pve1"`, time.Hour)
	c.clk.Add(time.Minute)
	if _, err := c.a.e.EndSilence(context.Background(), s.UID, "bob"); err != nil {
		t.Fatal(err)
	}
	if len(rec.got) != 2 {
		t.Fatalf("gossiped %d messages, want 2 (made, ended)", len(rec.got))
	}
	made, ended := rec.got[0], rec.got[1]
	b := c.b.e.SharedSilences()
	for _, m := range [][]byte{ended, made, ended, made} {
		if err := b.Merge(m); err != nil {
			t.Fatal(err)
		}
		c.settle()
	}
	if got := c.silences(c.b); len(got) != 0 {
		t.Errorf("node-b, after the end then the start: in force %+v, want none", got)
	}
	st := c.b.e.ShareStats()
	if st.SilencesMerged != 1 || st.Ignored != 3 {
		t.Errorf("node-b's counts = %+v, want 1 merged (the end) and 3 ignored", st)
	}
	if ev := events(t, c.b, "silence.delete"); len(ev) != 1 {
		t.Errorf("node-b's audit of the end, heard twice = %q, want one line", ev)
	}
	// A tie: the same uid written at the same instant by node-a and node-z.
	var rows []sharedRow
	json.Unmarshal(made, &rows)
	tie := rows[0]
	tie.Node, tie.Comment = "node-z", "node-z's version"
	tie.Updated = tie.Updated.Add(time.Minute) // the same instant as the end
	tb, _ := json.Marshal([]sharedRow{tie})
	var er []sharedRow
	json.Unmarshal(ended, &er)
	if ms(er[0].Updated) != ms(tie.Updated) {
		t.Fatalf("the tie is not one: %v vs %v", er[0].Updated, tie.Updated)
	}
	for _, n := range []*node{c.a, c.b} {
		n.e.SharedSilences().Merge(tb)
	}
	c.settle()
	fa, _ := c.a.e.SharedSilences().MarshalBinary()
	fb, _ := b.MarshalBinary()
	var ra, rb []sharedRow
	json.Unmarshal(fa, &ra)
	json.Unmarshal(fb, &rb)
	if len(ra) != 1 || len(rb) != 1 || ra[0].Node != "node-z" || rb[0].Node != "node-z" || ra[0].Comment != rb[0].Comment {
		t.Errorf("after a tie node-a has %+v, node-b %+v; want node-z's on both", ra, rb)
	}
}

// A partition: each side makes a silence and one side ends a silence both
// had. After the rejoin (the full push/pull a node joining gets) both
// nodes have the same rows: both new silences in force, the ended one
// over, no local row lost.
func TestSharedSilencesMadeApartAreOnBothAfterTheRejoin(t *testing.T) {
	c := sharePair(t)
	both := c.silence(c.a, `name="both"`, time.Hour) // before the split: on both
	c.net.setSplit(true)
	sa := c.silence(c.a, `name="from-a"`, time.Hour)
	sb := c.silence(c.b, `name="from-b"`, time.Hour)
	c.clk.Add(time.Second)
	// One side ends the shared one while the other keeps it.
	if _, err := c.b.e.EndSilence(context.Background(), both.UID, "bob"); err != nil {
		t.Fatal(err)
	}
	c.settle()
	if n := len(c.silences(c.a)); n != 2 {
		t.Fatalf("node-a during the split: %d silences, want 2 (both, from-a)", n)
	}
	c.net.heal(t)
	c.settle()
	for _, n := range []*node{c.a, c.b} {
		got := strings.Join(uids(c.silences(n)), " ")
		if !strings.Contains(got, sa.UID) || !strings.Contains(got, sb.UID) || strings.Contains(got, both.UID) {
			t.Errorf("%s after the rejoin: in force %s; want %s and %s, not the ended %s", n.name, got, sa.UID, sb.UID, both.UID)
		}
	}
	fa, _ := c.a.e.SharedSilences().MarshalBinary()
	fb, _ := c.b.e.SharedSilences().MarshalBinary()
	var ra, rb []sharedRow
	json.Unmarshal(fa, &ra)
	json.Unmarshal(fb, &rb)
	if len(ra) != 3 || len(rb) != 3 {
		t.Fatalf("rows: node-a %d, node-b %d, want 3 each", len(ra), len(rb))
	}
	for i := range ra {
		if ra[i].UID != rb[i].UID || ra[i].Node != rb[i].Node || !ra[i].Updated.Equal(rb[i].Updated) {
			t.Errorf("row %d differs: %+v vs %+v", i, ra[i], rb[i])
		}
	}
}

// Clocks: a silence "from now" written by a node whose clock is ten
// minutes ahead is in force here at once, not ten minutes later; one
// ended early there is over here at once; and a node whose clock is
// behind the silence's writer still ends it (its write is stamped after
// the version it ended).
func TestSharedSilencesAcrossSkewedClocks(t *testing.T) {
	c := newPair(t)
	ahead := c.clk.Now().Add(10 * time.Minute)
	row := sharedRow{UID: "node-z-1", Node: "node-z", Updated: ahead, Start: ahead, End: ahead.Add(time.Hour), By: "carol", Matchers: []string{`name="pve1"`}}
	b, _ := json.Marshal([]sharedRow{row})
	c.a.e.SharedSilences().Merge(b)
	c.settle()
	if got := c.silences(c.a); len(got) != 1 || got[0].Start.After(c.clk.Now()) {
		t.Fatalf("a silence from a clock 10 min ahead: %+v, want in force now", got)
	}
	// Ended there at its now (10 min ahead): over here now.
	end := row
	end.Updated, end.End, end.Ended, end.EndedBy = ahead.Add(time.Second), ahead.Add(time.Second), ahead.Add(time.Second), "carol"
	b, _ = json.Marshal([]sharedRow{end})
	c.a.e.SharedSilences().Merge(b)
	c.settle()
	if got := c.silences(c.a); len(got) != 0 {
		t.Fatalf("ended on a clock 10 min ahead, still in force here: %+v", got)
	}

	// A silence made by node-z 10 min ahead, ended on node-a (behind it).
	row.UID = "node-z-2"
	b, _ = json.Marshal([]sharedRow{row})
	c.a.e.SharedSilences().Merge(b)
	c.settle()
	rec := &recorder{}
	c.a.e.SharedSilences().SetBroadcast(rec.Broadcast)
	if _, err := c.a.e.EndSilence(context.Background(), "node-z-2", "alice"); err != nil {
		t.Fatal(err)
	}
	var out []sharedRow
	json.Unmarshal(rec.got[0], &out)
	if !out[0].newer(row.Updated, row.Node) {
		t.Errorf("node-a's end (at %v) does not win over node-z's silence (at %v): node-z would keep it", out[0].Updated, row.Updated)
	}
}

// A silence made before the node had a cluster (no node name in its row,
// as the migration leaves old rows) is shared too, on the first push/pull.
func TestSharedSilenceFromBeforeTheClusterIsShared(t *testing.T) {
	c := sharePair(t)
	now := c.clk.Now()
	if _, err := c.a.db.Exec(`INSERT INTO silences (matchers, start_at, end_at, created_by, comment, uid, updated_at) VALUES ('["name=\"old\""]', ?, ?, 'alice', '', 'local-1', ?)`,
		ms(now), ms(now.Add(time.Hour)), ms(now)); err != nil {
		t.Fatal(err)
	}
	c.net.heal(t)
	c.settle()
	if got := c.silences(c.b); len(got) != 1 || got[0].UID != "local-1" || got[0].Node != "node-a" {
		t.Errorf("node-b's silences = %+v, want node-a's local-1", got)
	}
}
