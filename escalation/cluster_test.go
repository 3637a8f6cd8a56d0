package escalation

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"foghorn/clock"
	"foghorn/configs"
	"foghorn/store"
)

// fakeState is package cluster's State, as the fake joins it.
type fakeState interface {
	MarshalBinary() ([]byte, error)
	Merge([]byte) error
}

// fakeNet joins foghorns in process the way package cluster joins them
// with memberlist: Position is a node's index among the live nodes it can
// see, sorted by name; a Channel's Broadcast reaches the same State on the
// others; heal is memberlist's full-state push/pull. split drops every
// message (a partition: each node then sees only itself); kill stops a
// node's gossip and takes it out of the others' view.
type fakeNet struct {
	mu    sync.Mutex
	nodes []*fakeNode
	split bool
	drop  bool // messages lost, but nobody noticed yet: positions stand
}

type fakeNode struct {
	net    *fakeNet
	name   string
	dead   bool
	states map[string]fakeState
}

type fakeChannel struct {
	from *fakeNode
	key  string
}

func (n *fakeNet) join(name string) *fakeNode {
	n.mu.Lock()
	defer n.mu.Unlock()
	node := &fakeNode{net: n, name: name, states: map[string]fakeState{}}
	n.nodes = append(n.nodes, node)
	return node
}

func (n *fakeNode) Position() int {
	n.net.mu.Lock()
	defer n.net.mu.Unlock()
	if n.net.split {
		return 0
	}
	var live []string
	for _, o := range n.net.nodes {
		if !o.dead {
			live = append(live, o.name)
		}
	}
	sort.Strings(live)
	return max(slices.Index(live, n.name), 0)
}

func (n *fakeNode) Live(name string) bool {
	n.net.mu.Lock()
	defer n.net.mu.Unlock()
	if n.net.split {
		return name == n.name
	}
	for _, o := range n.net.nodes {
		if o.name == name {
			return !o.dead
		}
	}
	return false
}

func (n *fakeNode) AddState(key string, s fakeState) *fakeChannel {
	n.net.mu.Lock()
	defer n.net.mu.Unlock()
	n.states[key] = s
	return &fakeChannel{from: n, key: key}
}

// Broadcast delivers b to the other live nodes at once, unless split.
func (c *fakeChannel) Broadcast(b []byte) {
	c.from.net.mu.Lock()
	var to []fakeState
	if !c.from.net.split && !c.from.net.drop && !c.from.dead {
		for _, o := range c.from.net.nodes {
			if o != c.from && !o.dead && o.states[c.key] != nil {
				to = append(to, o.states[c.key])
			}
		}
	}
	c.from.net.mu.Unlock()
	for _, s := range to {
		if err := s.Merge(b); err != nil {
			panic(err)
		}
	}
}

func (n *fakeNet) setSplit(v bool) {
	n.mu.Lock()
	n.split = v
	n.mu.Unlock()
}

func (n *fakeNet) kill(name string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, o := range n.nodes {
		if o.name == name {
			o.dead = true
		}
	}
}

// heal ends a split and pushes and pulls every pair's full state.
func (n *fakeNet) heal(t *testing.T) {
	n.setSplit(false)
	n.mu.Lock()
	n.drop = false
	n.mu.Unlock()
	n.mu.Lock()
	nodes := slices.Clone(n.nodes)
	n.mu.Unlock()
	for _, a := range nodes {
		for _, b := range nodes {
			if a == b || a.dead || b.dead {
				continue
			}
			for key, s := range a.states {
				full, err := s.MarshalBinary()
				if err != nil {
					t.Fatal(err)
				}
				if err := b.states[key].Merge(full); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
}

// peerTimeout is [cluster] peer_timeout in these tests.
const peerTimeout = 15 * time.Second

// clusterPolicy is twoStep with room for a storm of a hundred incidents
// in max_per_hour: alice by SMS at 0, 5 and 10 min, then bob by voice
// every 10 min from 25 min until someone acks.
const clusterPolicy = `
[twilio]
simulator = true
from = "+15005550006"
[self_check]
canaries = ["127.0.0.1"]
[escalation]
default_policy = "ops"
ack_timeout = "2h"
max_per_hour = 100000
[[person]]
name = "alice"
phone = "+4915112345671"
[[person]]
name = "bob"
phone = "+4915112345672"
[[policy]]
name = "ops"
  [[policy.step]]
  who = ["alice"]
  channels = ["sms"]
  repeat = 2
  interval = "5m"
  [[policy.step]]
  who = ["bob"]
  channels = ["voice"]
  delay = "15m"
  until_ack = true
  interval = "10m"
`

// node is one foghorn of a test cluster: its engine on its own store, its
// pager, its place in the fake net.
type node struct {
	name string
	e    *Engine
	db   *store.DB
	dir  string
	p    *pager
	net  *fakeNode
	dead bool
}

type pair struct {
	t    *testing.T
	clk  *clock.Fake
	t0   time.Time
	net  *fakeNet
	a    *node // node-a: position 0 while both live
	b    *node
	more []*node // a third node (cluster3_test.go)
	cfg  Config
}

func newPair(t *testing.T) *pair {
	t.Helper()
	cfg, err := configs.Parse("t.toml", t.TempDir(), []byte(clusterPolicy), func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	c := &pair{t: t, clk: clock.NewFake(monday), t0: monday, net: &fakeNet{}, cfg: configOf(cfg)}
	c.a, c.b = c.start("node-a", t.TempDir()), c.start("node-b", t.TempDir())
	return c
}

// start opens a node's store in dir and joins it to the net, as cmd
// would: the engine's log is a cluster State, its channel the broadcast.
func (c *pair) start(name, dir string) *node {
	c.t.Helper()
	db, err := store.Open(context.Background(), dir)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { db.Close() })
	n := &node{name: name, db: db, dir: dir, p: &pager{clk: c.clk, t0: c.t0, fail: map[string]bool{}}, net: c.net.join(name)}
	n.e = New(db, c.cfg, n.p, Options{Clock: c.clk, Gap: -1,
		Cluster: &Cluster{Node: name, Peer: n.net, PeerTimeout: peerTimeout, Retention: 90 * 24 * time.Hour}})
	ch := n.net.AddState("nflog", n.e.Log())
	n.e.Log().SetBroadcast(ch.Broadcast)
	if _, err := n.e.Recover(context.Background()); err != nil {
		c.t.Fatal(err)
	}
	return n
}

func (c *pair) live() []*node {
	var out []*node
	for _, n := range c.all() {
		if !n.dead {
			out = append(out, n)
		}
	}
	return out
}

// all are the nodes, dead or alive.
func (c *pair) all() []*node { return append([]*node{c.a, c.b}, c.more...) }

// ProviderID makes the test pager name a provider's id, as the real one
// names Twilio's SID.
func (p *pager) ProviderID(_ context.Context, notification int64) string {
	return fmt.Sprintf("SM%d", notification)
}

// settled reports whether every send is done or waiting its turn with a
// deadline still ahead: nothing more happens until the clock moves.
func (e *Engine) settled() bool {
	now := e.clock.Now()
	e.turns.Lock()
	ahead := 0
	for _, t := range e.waiting {
		if t.After(now) {
			ahead++
		}
	}
	e.turns.Unlock()
	return e.busy.Load() == int64(ahead)
}

// settle waits until both engines have done all they can at this instant.
func (c *pair) settle() {
	c.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		done := true
		for _, n := range c.live() {
			done = done && n.e.settled()
		}
		if done {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatal("engines did not settle within 20s")
		}
		time.Sleep(time.Millisecond)
	}
}

// drive runs the live engines in fake time up to t0+d, stopping at every
// due step and every turn's deadline on the way.
func (c *pair) drive(d time.Duration) {
	c.t.Helper()
	end := c.t0.Add(d)
	for range 100000 {
		var next time.Time
		for _, n := range c.live() {
			due, err := n.e.Step(context.Background())
			if err != nil {
				c.t.Fatal(err)
			}
			if !due.IsZero() && (next.IsZero() || due.Before(next)) {
				next = due
			}
		}
		c.settle()
		if w, ok := c.clk.Next(); ok && (next.IsZero() || w.Before(next)) {
			next = w
		}
		if !next.After(c.clk.Now()) && !next.IsZero() {
			continue // something became due while settling
		}
		if next.IsZero() || next.After(end) {
			c.clk.Set(end)
			for _, n := range c.live() {
				if _, err := n.e.Step(context.Background()); err != nil {
					c.t.Fatal(err)
				}
			}
			c.settle()
			return
		}
		c.clk.Set(next)
	}
	c.t.Fatal("drive did not reach its end")
}

func (c *pair) fire(n *node, key string) *Incident {
	c.t.Helper()
	inc, err := n.e.Handle(context.Background(), Alert{Key: key, Firing: true, Severity: "critical", Summary: key + " DOWN", Source: "probe"})
	if err != nil {
		c.t.Fatal(err)
	}
	return inc
}

// outage is one outage seen by both nodes: node-a opens its incident and
// pages at once; node-b's probes see it 3 s later.
func (c *pair) outage(key string) (a, b *Incident) {
	c.t.Helper()
	a = c.fire(c.a, key)
	c.drive(c.clk.Now().Sub(c.t0))
	c.clk.Add(3 * time.Second)
	return a, c.fire(c.b, key)
}

// kill stops a node: no gossip, no steps, out of the other's view.
func (c *pair) kill(n *node) {
	c.net.kill(n.name)
	n.dead = true
	n.e.Stop()
	n.e.Wait()
}

// pages counts the pages both nodes handed to their pagers, by the name
// of the notification in the shared log.
func (c *pair) pages() map[string]int {
	out := map[string]int{}
	for _, n := range c.all() {
		n.p.mu.Lock()
		for _, s := range n.p.got {
			if s.Kind == KindPage {
				out[s.logKey]++
			}
		}
		n.p.mu.Unlock()
	}
	return out
}

func entriesText(l *Log) string {
	var b strings.Builder
	for _, e := range l.Entries() {
		fmt.Fprintf(&b, "%s %s %s\n", e.Key, e.Node, e.At.Format(time.RFC3339Nano))
	}
	return b.String()
}

func TestBothHealthyEveryPageGoesOnce(t *testing.T) {
	c := newPair(t)
	const n = 100
	for i := range n {
		c.fire(c.a, fmt.Sprintf("target:h%d", i))
	}
	c.drive(0)
	c.clk.Add(3 * time.Second) // node-b's probes see the outage a little later
	for i := range n {
		c.fire(c.b, fmt.Sprintf("target:h%d", i))
	}
	c.drive(50 * time.Minute)

	got := c.pages()
	// Per incident: alice by SMS at 0, 5, 10 min; bob by voice at 25, 35, 45.
	if len(got) != n*6 {
		t.Errorf("distinct notifications sent = %d, want %d", len(got), n*6)
	}
	for key, times := range got {
		if key == "" || times != 1 {
			t.Errorf("notification %q sent %d times, want once", key, times)
		}
	}
	var peer int
	if err := c.b.db.QueryRow(`SELECT count(*) FROM notifications WHERE kind = 'page' AND state = 'peer'`).Scan(&peer); err != nil {
		t.Fatal(err)
	}
	if peer != n*6 {
		t.Errorf("node-b's pages recorded as sent by the peer = %d, want %d (it waited its turn each time)", peer, n*6)
	}
	if a, b := entriesText(c.a.e.Log()), entriesText(c.b.e.Log()); a != b {
		t.Errorf("logs differ:\nnode-a:\n%s\nnode-b:\n%s", a, b)
	}
	for _, e := range c.b.e.Log().Entries() {
		if e.Kind == "page" && (e.Node != "node-a" || e.Provider == "" || e.Person == "" || e.Channel == "" || e.Episode == "" || e.Pass == 0) {
			t.Errorf("page entry without what was sent to whom by whom: %+v", e)
		}
	}
}

func TestPositionZeroDiesMidEscalationOtherSendsNextStepWithinPeerTimeout(t *testing.T) {
	c := newPair(t)
	c.outage("target:rt1")
	c.drive(12 * time.Minute) // alice's three SMS, from node-a
	if sms := c.a.p.list("page"); len(sms) != 3 || len(c.b.p.list("page")) != 0 {
		t.Fatalf("before the death: node-a sent %v, node-b %v; want node-a's three SMS only", sms, c.b.p.list("page"))
	}
	c.kill(c.a)
	c.drive(50 * time.Minute)

	// Step 2 was due at 25 min on node-a, 25 min 3 s on node-b, which is
	// first now: it sends at once, well within peer_timeout of the due time.
	same(t, "node-b's pages after node-a died", c.b.p.list("page"),
		[]string{"25m3s page voice bob", "35m3s page voice bob", "45m3s page voice bob"})
	for key, times := range c.pages() {
		if times != 1 {
			t.Errorf("notification %q sent %d times, want once", key, times)
		}
	}
}

// TestPositionZeroDiesUnnoticedOtherSendsAfterItsWait: memberlist has not
// yet seen node-a go; node-b still stands second, waits its turn, finds no
// entry, settles peer_timeout/5 (yieldToEarlier) and sends.
func TestPositionZeroDiesUnnoticedOtherSendsAfterItsWait(t *testing.T) {
	c := newPair(t)
	c.outage("target:rt1")
	c.drive(12 * time.Minute)
	c.a.dead = true // node-a steps no more, but node-b's view still has it first
	c.a.e.Stop()
	c.a.e.Wait()
	c.drive(30 * time.Minute)
	same(t, "node-b's pages", c.b.p.list("page"), []string{"25m21s page voice bob"})
}

func TestPartitionBothSendAtMostOneDuplicatePerNotification(t *testing.T) {
	c := newPair(t)
	c.outage("target:rt1")
	c.drive(time.Minute)
	c.net.setSplit(true)
	c.drive(30 * time.Minute)

	a, b := c.a.p.list("page"), c.b.p.list("page")
	same(t, "node-a's pages", a, []string{"0s page sms alice", "5m0s page sms alice", "10m0s page sms alice", "25m0s page voice bob"})
	same(t, "node-b's pages (fail open: it cannot hear node-a)", b, []string{"5m3s page sms alice", "10m3s page sms alice", "25m3s page voice bob"})
	for key, times := range c.pages() {
		if times > 2 {
			t.Errorf("notification %q sent %d times during the split, want at most twice", key, times)
		}
	}
}

func TestHealLogsConvergeNoFurtherDuplicates(t *testing.T) {
	c := newPair(t)
	// Split from the start: each node opens its own episode of the outage.
	c.net.setSplit(true)
	c.outage("target:rt1")
	c.drive(20 * time.Minute)
	before := c.pages()
	if len(c.a.p.list("page")) != 3 || len(c.b.p.list("page")) != 3 {
		t.Fatalf("during the split each node pages alice three times; got node-a %v, node-b %v", c.a.p.list("page"), c.b.p.list("page"))
	}

	c.net.heal(t)
	c.settle()
	if a, b := entriesText(c.a.e.Log()), entriesText(c.b.e.Log()); a != b {
		t.Errorf("logs differ after heal:\nnode-a:\n%s\nnode-b:\n%s", a, b)
	}
	ia, _ := c.a.e.Open(context.Background())
	ib, _ := c.b.e.Open(context.Background())
	if len(ia) != 1 || len(ib) != 1 || ia[0].Episode != ib[0].Episode {
		t.Fatalf("after heal both incidents should name one episode: %+v / %+v", ia, ib)
	}

	c.drive(50 * time.Minute)
	same(t, "node-a's pages after the heal", c.a.p.list("page")[3:], []string{"25m0s page voice bob", "35m0s page voice bob", "45m0s page voice bob"})
	same(t, "node-b's pages after the heal", c.b.p.list("page")[3:], nil)
	for key, times := range c.pages() {
		if times != 1 && before[key] == 0 {
			t.Errorf("notification %q, first sent after the heal, went %d times", key, times)
		}
	}
	if a, b := entriesText(c.a.e.Log()), entriesText(c.b.e.Log()); a != b {
		t.Errorf("logs differ at the end:\nnode-a:\n%s\nnode-b:\n%s", a, b)
	}
}

func TestAckOnBAcksOnAAndCancelsItsCalls(t *testing.T) {
	c := newPair(t)
	ia, ib := c.outage("target:rt1")
	c.drive(26 * time.Minute) // node-a is calling bob
	if _, err := c.b.e.Ack(context.Background(), ib.ID, "bob", "web"); err != nil {
		t.Fatal(err)
	}
	c.settle()
	got, err := c.a.e.Get(context.Background(), ia.ID)
	if err != nil || got.State != Acknowledged || got.AckedBy != "bob" {
		t.Fatalf("node-a's incident after node-b's ack: %+v %v", got, err)
	}
	if cancels := c.a.p.list("cancel"); len(cancels) != 1 {
		t.Errorf("node-a's Notifier.Cancel calls = %v, want one for its incident", cancels)
	}
	c.drive(2 * time.Hour)
	if n := len(c.a.p.list("page")) + len(c.b.p.list("page")); n != 4 {
		t.Errorf("pages after the ack: %v / %v; want none beyond the first four", c.a.p.list("page"), c.b.p.list("page"))
	}
	// node-a told alice (whom it paged) who took it; node-b paged nobody.
	same(t, "node-a's notices", c.a.p.list("acked"), []string{"26m0s acked sms alice"})
	same(t, "node-b's notices", c.b.p.list("acked"), nil)
}

func TestResolveOnAResolvesOnB(t *testing.T) {
	c := newPair(t)
	_, ib := c.outage("target:rt1")
	c.drive(6 * time.Minute)
	if _, err := c.a.e.Handle(context.Background(), Alert{Key: "target:rt1", Source: "probe"}); err != nil {
		t.Fatal(err)
	}
	c.settle()
	got, err := c.b.e.Get(context.Background(), ib.ID)
	if err != nil || got.State != Resolved {
		t.Fatalf("node-b's incident after node-a resolved: %+v %v", got, err)
	}
	// A new outage of the key is a new episode on both.
	c.clk.Add(time.Minute)
	na := c.fire(c.a, "target:rt1")
	nb := c.fire(c.b, "target:rt1")
	if na.Episode == got.Episode || na.Episode != nb.Episode {
		t.Errorf("new outage: episodes %q and %q, the old one %q", na.Episode, nb.Episode, got.Episode)
	}
}

func TestLogSurvivesRestart(t *testing.T) {
	c := newPair(t)
	c.fire(c.a, "target:rt1")
	c.drive(6 * time.Minute)
	want := entriesText(c.b.e.Log())
	if want == "" {
		t.Fatal("node-b's log is empty")
	}
	c.b.e.Stop()
	c.b.e.Wait()
	c.b.db.Close()
	c.net.kill("node-b")
	c.b = c.start("node-b", c.b.dir)
	if got := entriesText(c.b.e.Log()); got != want {
		t.Errorf("log after restart:\n%s\nwant:\n%s", got, want)
	}
}

func TestMergeIsLastWriterWinsByTimeThenNode(t *testing.T) {
	c := newPair(t)
	l := c.a.e.Log()
	at := monday.Add(time.Minute)
	put := func(node string, at time.Time, by string) {
		b := fmt.Appendf(nil, `[{"key":"ack/x","kind":"ack","node":%q,"by":%q,"at":%q,"expires":%q}]`,
			node, by, at.Format(time.RFC3339Nano), at.Add(time.Hour).Format(time.RFC3339Nano))
		if err := l.Merge(b); err != nil {
			t.Fatal(err)
		}
	}
	put("node-b", at, "first")
	put("node-a", at, "same time, lesser node") // loses to node-b
	if e, _ := l.get("ack/x"); e.By != "first" {
		t.Errorf("same timestamp: %q won, want node-b's", e.By)
	}
	put("node-a", at.Add(time.Millisecond), "later")
	if e, _ := l.get("ack/x"); e.By != "later" {
		t.Errorf("later timestamp: %q won, want the later", e.By)
	}
	put("node-c", at, "older")
	if e, _ := l.get("ack/x"); e.By != "later" {
		t.Errorf("older entry replaced a newer one: %q", e.By)
	}
	c.clk.Set(at.Add(2 * time.Hour))
	if _, ok := l.get("ack/x"); ok {
		t.Error("an expired entry is still served")
	}
}

// TestConcurrentOpensNameOnePage: both nodes open an incident for the
// outage before either hears of the other's (the gossip is lost); once it
// arrives, node-b's incident joins node-a's episode, and the page node-b
// claimed meanwhile takes the new name: it finds node-a's entry and is
// not sent twice.
func TestConcurrentOpensNameOnePage(t *testing.T) {
	c := newPair(t)
	c.net.mu.Lock()
	c.net.drop = true
	c.net.mu.Unlock()
	c.fire(c.a, "target:rt1")
	c.drive(0)
	c.clk.Add(time.Second)
	c.fire(c.b, "target:rt1")
	c.drive(5 * time.Second) // node-b's first page waits its turn under its own episode
	c.net.heal(t)
	c.settle()
	c.drive(20 * time.Minute)
	same(t, "node-a's pages", c.a.p.list("page"), []string{"0s page sms alice", "5m0s page sms alice", "10m0s page sms alice"})
	same(t, "node-b's pages", c.b.p.list("page"), nil)
	if st := c.b.e.ClusterStats(); st.Peer != 3 || st.Turns != 0 || st.Merged == 0 || st.Entries == 0 {
		t.Errorf("node-b's cluster counts: %+v; want 3 pages left to the peer", st)
	}
	var renamed int
	c.b.db.QueryRow(`SELECT count(*) FROM notifications WHERE logkey LIKE 'page/target:rt1@' || ? || '@node-a/%'`, monday.UnixMilli()).Scan(&renamed)
	if renamed != 3 {
		t.Errorf("node-b's pages named after node-a's episode: %d, want 3", renamed)
	}
}

// TestSingleNodeHasNoLog: without a cluster nothing is logged, nothing
// waits, and incidents name no episode.
func TestSingleNodeHasNoLog(t *testing.T) {
	h := newHarness(t, twoStep, monday)
	inc := h.fire("target:rt1", "critical")
	h.drive(time.Minute)
	if h.e.Log() != nil || inc.Episode != "" || h.e.ClusterStats() != (ClusterStats{}) {
		t.Errorf("single node: log %v, episode %q, stats %+v", h.e.Log(), inc.Episode, h.e.ClusterStats())
	}
	same(t, "pages", h.p.list("page"), []string{"0s page sms alice"})
}

// TestAckHeardWhileStoppedAppliedAtRestart: the peer's ack reached this
// node's log while its engine was down; the restart applies it.
func TestAckHeardWhileStoppedAppliedAtRestart(t *testing.T) {
	c := newPair(t)
	ia, ib := c.outage("target:rt1")
	c.drive(time.Minute)
	c.b.e.Stop()
	c.b.e.Wait()
	if _, err := c.a.e.Ack(context.Background(), ia.ID, "alice", "web"); err != nil {
		t.Fatal(err)
	}
	c.settle()
	if got, _ := c.b.e.Get(context.Background(), ib.ID); got.State != Triggered {
		t.Fatalf("a stopped engine acted on the gossip: %s", got.State)
	}
	c.b.db.Close()
	c.net.kill("node-b")
	c.b = c.start("node-b", c.b.dir)
	c.b.e.Wait()
	if got, err := c.b.e.Get(context.Background(), ib.ID); err != nil || got.State != Acknowledged || got.AckedBy != "alice" {
		t.Fatalf("node-b's incident after the restart: %+v %v", got, err)
	}
}

// TestEntriesExpireAfterTheRetention: past the retention an entry is
// neither served, nor handed to a peer, nor kept in the store.
func TestEntriesExpireAfterTheRetention(t *testing.T) {
	c := newPair(t)
	c.outage("target:rt1")
	c.drive(time.Minute)
	if len(c.b.e.Log().Entries()) == 0 {
		t.Fatal("node-b's log is empty")
	}
	c.clk.Add(91 * 24 * time.Hour)
	if es := c.b.e.Log().Entries(); len(es) != 0 {
		t.Errorf("expired entries still live: %v", es)
	}
	c.b.e.Stop()
	c.b.e.Wait()
	c.b.db.Close()
	c.net.kill("node-b")
	c.b = c.start("node-b", c.b.dir)
	var n int
	if err := c.b.db.QueryRow(`SELECT count(*) FROM nflog`).Scan(&n); err != nil || n != 0 {
		t.Errorf("expired entries left in the store: %d %v", n, err)
	}
}

// node-b opens the outage first but, second by name, waits its turn;
// node-a opens it a second later, has not heard of node-b's episode (the
// messages were lost, nobody noticed), and sends at once under its own.
// When the two logs meet, node-a adopts node-b's earlier episode and says
// again, under that name, what it sent: node-b, at its turn, finds it and
// sends nothing. (Found by the binary test TestTwoFoghornsPageOnceForOneOutage:
// without the re-publishing, node-b sent the page again.)
func TestPositionZeroSentUnderItsOwnEpisodeThenAdoptedThePeersEarlierOne(t *testing.T) {
	c := newPair(t)
	c.net.mu.Lock()
	c.net.drop = true
	c.net.mu.Unlock()
	ib := c.fire(c.b, "target:rt1")
	c.drive(0)
	c.clk.Add(time.Second)
	ia := c.fire(c.a, "target:rt1")
	c.drive(time.Second)
	if ia.Episode == ib.Episode {
		t.Fatalf("both nodes named one episode though the messages were lost: %s", ia.Episode)
	}
	same(t, "node-a's pages before the logs meet", c.a.p.list("page"), []string{"1s page sms alice"})
	c.net.heal(t)
	c.settle()
	oa, _ := c.a.e.Open(context.Background())
	if len(oa) != 1 || oa[0].Episode != ib.Episode {
		t.Fatalf("node-a did not adopt node-b's earlier episode %s: %+v", ib.Episode, oa)
	}
	c.drive(2 * time.Minute) // node-b's turn comes at peer_timeout
	same(t, "node-b's pages (node-a's, re-published under node-b's episode, found at its turn)", c.b.p.list("page"), nil)
	if st := c.b.e.ClusterStats(); st.Peer != 1 {
		t.Errorf("node-b's stats: %+v, want one page left to node-a", st)
	}
}
