package cluster

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// The tests run real memberlist nodes on loopback, each on a port of its
// own. A short horizon keeps them fast; loopback loses no packets.
const horizon = time.Second

var testKey = bytes.Repeat([]byte{7}, 32)

// kv is a State: a map merged by union, the newest value per key (here:
// the greater string) winning, so merges commute.
type kv struct {
	mu     sync.Mutex
	m      map[string]string
	merged chan struct{}
}

func newKV(pairs ...string) *kv {
	s := &kv{m: map[string]string{}, merged: make(chan struct{}, 1)}
	for i := 0; i+1 < len(pairs); i += 2 {
		s.m[pairs[i]] = pairs[i+1]
	}
	return s
}

func (s *kv) MarshalBinary() ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return json.Marshal(s.m)
}

func (s *kv) Merge(b []byte) error {
	var in map[string]string
	if err := json.Unmarshal(b, &in); err != nil {
		return err
	}
	s.mu.Lock()
	for k, v := range in {
		if v > s.m[k] {
			s.m[k] = v
		}
	}
	s.mu.Unlock()
	select {
	case s.merged <- struct{}{}:
	default:
	}
	return nil
}

func (s *kv) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return fmt.Sprint(s.m)
}

func (s *kv) get(k string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[k]
}

func start(t *testing.T, name string, key []byte, peers ...*Peer) *Peer {
	t.Helper()
	return startOn(t, name, "127.0.0.1:0", key, peers...)
}

func startOn(t *testing.T, name, bind string, key []byte, peers ...*Peer) *Peer {
	t.Helper()
	var addrs []string
	for _, p := range peers {
		addrs = append(addrs, p.addr())
	}
	p, err := Join(Config{Name: name, Bind: bind, Peers: addrs, Key: key, PeerTimeout: horizon}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func (p *Peer) addr() string { return p.ml.LocalNode().Address() }

// eventually waits for cond, failing with what it last saw after limit.
func eventually(t *testing.T, limit time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		ok, saw := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s, %s: saw %s", limit, what, saw)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func names(ms []Member) string {
	var s []string
	for _, m := range ms {
		s = append(s, fmt.Sprintf("%s(up=%v)", m.Name, m.Up))
	}
	return strings.Join(s, ",")
}

func TestPeersSeeEachOtherSortedByNameAndKnowTheirPosition(t *testing.T) {
	b := start(t, "b", testKey)
	a := start(t, "a", testKey, b)
	c := start(t, "c", testKey, a)
	for _, p := range []*Peer{a, b, c} {
		eventually(t, 5*time.Second, p.Name()+" sees a, b, c", func() (bool, string) {
			ms := p.Members()
			return names(ms) == "a(up=true),b(up=true),c(up=true)", names(ms)
		})
	}
	for want, p := range []*Peer{a, b, c} {
		if got := p.Position(); got != want {
			t.Errorf("%s is at position %d, want %d", p.Name(), got, want)
		}
		if got := p.Wait(); got != time.Duration(want)*horizon {
			t.Errorf("%s waits %s, want %s", p.Name(), got, time.Duration(want)*horizon)
		}
	}
	if got := names(a.Peers()); got != "b(up=true),c(up=true)" {
		t.Errorf("a's peers: %s", got)
	}
}

func TestAJoiningNodeGetsTheWholeStateAndGivesItsOwn(t *testing.T) {
	a := start(t, "a", testKey)
	sa := newKV("incident:1", "open", "incident:2", "acked")
	a.AddState("incidents", sa)
	b, err := Join(Config{Name: "b", Bind: "127.0.0.1:0", Peers: []string{a.addr()}, Key: testKey, PeerTimeout: horizon}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	// b's state is added after its Join: the periodic exchange, not only
	// the one at join, carries the state both ways.
	sb := newKV("incident:3", "open")
	b.AddState("incidents", sb)
	// memberlist's first periodic exchange comes after a random stagger
	// of up to one interval (4 horizons), then every interval.
	eventually(t, 10*horizon, "the states converge", func() (bool, string) {
		ok := sb.get("incident:1") == "open" && sb.get("incident:2") == "acked" && sa.get("incident:3") == "open"
		return ok, fmt.Sprintf("a=%v b=%v", sa, sb)
	})
}

func TestStateIsPushedOnJoin(t *testing.T) {
	a := start(t, "a", testKey)
	sa := newKV("incident:1", "open")
	a.AddState("incidents", sa)
	sb := newKV()
	b, err := Join(Config{Name: "b", Bind: "127.0.0.1:0", Key: testKey, PeerTimeout: horizon}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	b.AddState("incidents", sb)
	b.cfg.Peers = []string{a.addr()}
	if err := b.join(); err != nil {
		t.Fatal(err)
	}
	// The join's push/pull has run when Join returns.
	if got := sb.get("incident:1"); got != "open" {
		t.Fatalf("after the join b has incident:1 = %q", got)
	}
}

func TestBroadcastsReachTheSameStateOnEveryOtherNode(t *testing.T) {
	a := start(t, "a", testKey)
	b := start(t, "b", testKey, a)
	c := start(t, "c", testKey, a)
	sa, sb, sc := newKV(), newKV(), newKV()
	other := newKV()
	ch := a.AddState("nflog", sa)
	b.AddState("nflog", sb)
	c.AddState("nflog", sc)
	c.AddState("silences", other)
	eventually(t, 5*time.Second, "three members", func() (bool, string) {
		return len(a.Members()) == 3 && len(b.Members()) == 3 && len(c.Members()) == 3, names(a.Members())
	})
	small, _ := json.Marshal(map[string]string{"page:1": "sent"})
	big := map[string]string{}
	for i := range 200 { // well over one UDP packet: it goes by TCP
		big[fmt.Sprintf("page:%03d", i)] = strings.Repeat("x", 20)
	}
	bigb, _ := json.Marshal(big)
	ch.Broadcast(small)
	ch.Broadcast(bigb)
	for _, s := range []*kv{sb, sc} {
		eventually(t, 5*time.Second, "both broadcasts arrive", func() (bool, string) {
			return s.get("page:1") == "sent" && s.get("page:199") == big["page:199"], s.get("page:1")
		})
	}
	if other.String() != "map[]" {
		t.Errorf("another state's Merge got the broadcast: %v", other)
	}
}

func TestANodeWithAnotherKeyIsNotAdmitted(t *testing.T) {
	a := start(t, "a", testKey)
	b := start(t, "b", testKey, a)
	eventually(t, 5*time.Second, "a and b", func() (bool, string) { return len(a.Members()) == 2, names(a.Members()) })
	wrong := make([]byte, 32)
	rand.Read(wrong)
	m := start(t, "mallory", wrong)
	m.cfg.Peers = []string{a.addr(), b.addr()}
	if err := m.join(); err == nil {
		t.Fatal("a node with another key joined")
	}
	for _, p := range []*Peer{a, b, m} {
		if n := len(p.Members()); (p == m && n != 1) || (p != m && n != 2) {
			t.Errorf("%s sees %s", p.Name(), names(p.Members()))
		}
	}
}

func TestALostPeerIsDownSinceItWentSilentAndUpWhenBack(t *testing.T) {
	a := start(t, "a", testKey)
	b := start(t, "b", testKey, a)
	bind := b.addr()
	eventually(t, 5*time.Second, "a sees b", func() (bool, string) { return len(a.Members()) == 2, names(a.Members()) })
	killed := time.Now()
	b.Close() // no leave: as kill -9
	eventually(t, 3*horizon, "a sees b gone", func() (bool, string) {
		ps := a.Peers()
		return len(ps) == 1 && !ps[0].Up && len(a.Members()) == 1, names(ps)
	})
	if since := a.Peers()[0].Since; since.After(killed) || killed.Sub(since) > horizon {
		t.Errorf("b down since %s; it was killed at %s", since.Format(time.StampMilli), killed.Format(time.StampMilli))
	}
	if a.Position() != 0 {
		t.Errorf("a alone is at position %d", a.Position())
	}
	// b comes back on the same address, a does not list it: a's record
	// of b was made by gossip, and b finds a by its own peers list.
	startOn(t, "b", bind, testKey, a)
	eventually(t, 5*time.Second, "a sees b again", func() (bool, string) {
		ps := a.Peers()
		return len(ps) == 1 && ps[0].Up && len(a.Members()) == 2, names(ps)
	})
}

func TestARestartedNodeIsFoundAgainByThePeerThatListsIt(t *testing.T) {
	b := start(t, "b", testKey)
	bind := b.addr()
	a := start(t, "a", testKey, b)
	eventually(t, 5*time.Second, "a sees b", func() (bool, string) { return len(a.Members()) == 2, names(a.Members()) })
	b.Close()
	eventually(t, 3*horizon, "a sees b gone", func() (bool, string) { return len(a.Members()) == 1, names(a.Members()) })
	// b restarts with no peers of its own: only a's rejoin can find it.
	b2 := startOn(t, "b", bind, testKey)
	eventually(t, 4*horizon, "b is found again", func() (bool, string) {
		return len(b2.Members()) == 2 && len(a.Members()) == 2, names(a.Members())
	})
}
