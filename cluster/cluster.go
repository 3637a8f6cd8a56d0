// Package cluster lets two or three foghorns at different providers share
// state by gossip, over hashicorp/memberlist as Alertmanager's HA cluster
// does: memberlist finds the live nodes and detects a dead one; each kind
// of shared state (incidents, the notification log, silences) is a State
// that is pushed whole when nodes (re)join and broadcast piece by piece as
// it changes. There is no quorum and nothing waits for the peer: when the
// nodes cannot talk, each goes on alone (fail-open; a duplicate page is
// better than a lost one). The package knows nothing of probes or
// channels; cmd/foghorn joins it when [cluster] is set.
package cluster

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// Config is this node's part of [cluster], the key already decoded.
type Config struct {
	Name      string   // this node, unique among its peers
	Bind      string   // host:port for gossip, UDP and TCP
	Advertise string   // host:port the peers reach this node at; "" for Bind
	Peers     []string // the other nodes' host:port
	// Key is the gossip key, 16, 24 or 32 bytes (AES-GCM). Gossip
	// without one is refused: the nodes talk over the internet.
	Key []byte
	// PeerTimeout is the failure-detection horizon: a peer silent that
	// long is gone, and the n-th node waits n × PeerTimeout to send.
	PeerTimeout time.Duration
}

// Options are what Join needs besides the config.
type Options struct {
	Log *slog.Logger
}

// State is one kind of shared state. MarshalBinary gives all of it, for a
// joining node; Merge takes all or part of a peer's (a broadcast, or its
// whole state on join) and must be deterministic and idempotent, as the
// same piece may arrive more than once and in any order. Both are called
// from memberlist's goroutines, concurrently with the node's own use.
type State interface {
	MarshalBinary() ([]byte, error)
	Merge([]byte) error
}

// Member is one node as this node sees it.
type Member struct {
	Name string
	Addr string // host:port of its gossip
	Up   bool
	// Since is when it came up, or when it was last heard from when it is
	// down: a dead peer is known only after PeerTimeout of silence, and
	// the outage began at that silence.
	Since time.Time
}

// Peer is this node's membership in the cluster.
type Peer struct {
	ml       *memberlist.Memberlist
	q        *memberlist.TransmitLimitedQueue
	cfg      Config
	log      *slog.Logger
	reliable chan []byte // broadcasts too big for one UDP packet, sent by TCP

	mu     sync.Mutex
	states map[string]State
	nodes  map[string]*node // every other node ever seen, by name

	stop chan struct{}
	done sync.WaitGroup
	once sync.Once
}

// Join is New and Start: gossip on cfg.Bind, joined to cfg.Peers.
func Join(cfg Config, o Options) (*Peer, error) {
	p, err := New(cfg, o)
	if err != nil {
		return nil, err
	}
	p.Start()
	return p, nil
}

// New starts gossip on cfg.Bind without joining the peers yet: the states
// are added first (AddState), so the first full exchange on joining
// carries them all. Start joins.
func New(cfg Config, o Options) (*Peer, error) {
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	switch len(cfg.Key) {
	case 16, 24, 32:
	default:
		return nil, fmt.Errorf("cluster: the gossip key is %d bytes; it must be 16, 24 or 32", len(cfg.Key))
	}
	if cfg.PeerTimeout <= 0 {
		return nil, errors.New("cluster: peer timeout must be positive")
	}
	host, port, err := splitHostPort(cfg.Bind)
	if err != nil {
		return nil, fmt.Errorf("cluster: bind: %w", err)
	}
	kr, err := memberlist.NewKeyring(nil, cfg.Key)
	if err != nil {
		return nil, fmt.Errorf("cluster: keyring: %w", err)
	}
	p := &Peer{cfg: cfg, log: log, states: map[string]State{},
		stop: make(chan struct{}), nodes: map[string]*node{}, reliable: make(chan []byte, 256)}

	mc := memberlist.DefaultWANConfig()
	mc.Name = cfg.Name
	mc.BindAddr, mc.BindPort = host, port
	if cfg.Advertise != "" {
		if mc.AdvertiseAddr, mc.AdvertisePort, err = splitHostPort(cfg.Advertise); err != nil {
			return nil, fmt.Errorf("cluster: advertise: %w", err)
		}
	}
	// Every packet is encrypted and authenticated; one without the key,
	// or with another, is dropped.
	mc.SecretKey, mc.Keyring = cfg.Key, kr
	mc.GossipVerifyIncoming, mc.GossipVerifyOutgoing = true, true
	// Two nodes over the internet: there is no third to probe through,
	// so the direct probe and its suspicion decide. A probe every fifth
	// of the horizon, then four probe rounds of suspicion, make a
	// silent peer dead after about PeerTimeout.
	mc.ProbeInterval = max(cfg.PeerTimeout/5, 100*time.Millisecond)
	mc.ProbeTimeout = max(mc.ProbeInterval/2, 50*time.Millisecond)
	mc.SuspicionMult = 4
	mc.SuspicionMaxTimeoutMult = 1
	mc.IndirectChecks = 1
	mc.AwarenessMaxMultiplier = 1 // a slow node must not stretch the horizon
	mc.GossipInterval = 200 * time.Millisecond
	mc.GossipToTheDeadTime = 4 * cfg.PeerTimeout
	// A full state exchange now and then repairs any broadcast lost
	// while the nodes could not talk.
	mc.PushPullInterval = 4 * cfg.PeerTimeout
	mc.TCPTimeout = max(cfg.PeerTimeout, time.Second)
	// A node restarted on another address under the same name takes
	// its place once the old one has been dead a horizon.
	mc.DeadNodeReclaimTime = cfg.PeerTimeout
	mc.Logger = slog.NewLogLogger(log.With("from", "memberlist").Handler(), slog.LevelDebug)
	mc.Delegate, mc.Events, mc.Ping = (*delegate)(p), (*events)(p), (*pings)(p)

	p.q = &memberlist.TransmitLimitedQueue{RetransmitMult: mc.RetransmitMult, NumNodes: p.live}
	ml, err := memberlist.Create(mc)
	if err != nil {
		return nil, fmt.Errorf("cluster: start gossip on %s: %w", cfg.Bind, err)
	}
	p.ml = ml
	p.done.Add(1)
	go p.sendReliable()
	return p, nil
}

// Start joins the configured peers. A peer that cannot be reached now is
// not an error: it is tried again every PeerTimeout, so the two nodes may
// start in any order. Start is called once.
func (p *Peer) Start() {
	if err := p.join(); err != nil {
		p.log.Warn("no cluster peer reachable yet; trying again every peer_timeout", "peers", strings.Join(p.cfg.Peers, ","), "err", err)
	}
	p.done.Add(1)
	go p.rejoin()
}

func splitHostPort(s string) (string, int, error) {
	h, ps, err := net.SplitHostPort(s)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(ps)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("%q: bad port", s)
	}
	return h, port, nil
}

func (p *Peer) join() error {
	if len(p.cfg.Peers) == 0 {
		return nil
	}
	_, err := p.ml.Join(p.cfg.Peers)
	return err
}

// rejoin joins the configured peers again while a node once seen is down,
// or none was ever seen: memberlist stops trying a dead node, but a peer
// restarted after a crash must be found again whichever of the two
// started last. While all are up it costs nothing.
func (p *Peer) rejoin() {
	defer p.done.Done()
	t := time.NewTicker(p.cfg.PeerTimeout)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
		}
		if p.whole() {
			continue
		}
		if err := p.join(); err != nil {
			p.log.Debug("cluster peers still unreachable", "err", err)
		}
	}
}

// whole says whether some node was seen and every node seen is up.
func (p *Peer) whole() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, r := range p.nodes {
		if !r.Up {
			return false
		}
	}
	return len(p.nodes) > 0
}

// live counts the live nodes from the events' record: memberlist asks
// the queue for it before Create has returned.
func (p *Peer) live() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 1
	for _, r := range p.nodes {
		if r.Up {
			n++
		}
	}
	return n
}

// Name is this node's name.
func (p *Peer) Name() string { return p.cfg.Name }

// Members are the live nodes, this one included, sorted by name: the
// order in which they send.
func (p *Peer) Members() []Member {
	var out []Member
	for _, n := range p.ml.Members() {
		m := Member{Name: n.Name, Addr: n.Address(), Up: true}
		p.mu.Lock()
		if k := p.nodes[n.Name]; k != nil {
			m.Since = k.Since
		}
		p.mu.Unlock()
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b Member) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Peers are the other nodes ever seen since this one started, up or
// down, sorted by name: what /healthz shows, and how a lost peer is found.
func (p *Peer) Peers() []Member {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]Member, 0, len(p.nodes))
	for _, n := range p.nodes {
		out = append(out, n.Member)
	}
	slices.SortFunc(out, func(a, b Member) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Position is this node's index among the live nodes sorted by name. The
// first (0) sends at once; the n-th waits n × PeerTimeout and sends only
// if nobody did, so a dead first node delays a page by one horizon.
func (p *Peer) Position() int {
	for i, m := range p.Members() {
		if m.Name == p.cfg.Name {
			return i
		}
	}
	return 0
}

// Live reports whether the node named is among the live ones now.
func (p *Peer) Live(name string) bool {
	for _, n := range p.ml.Members() {
		if n.Name == name {
			return true
		}
	}
	return false
}

// Wait is how long this node waits before it sends: Position × PeerTimeout.
func (p *Peer) Wait() time.Duration { return time.Duration(p.Position()) * p.cfg.PeerTimeout }

// Channel broadcasts one State's changes to the other nodes.
type Channel struct {
	p   *Peer
	key string
}

// AddState shares s under key: the peers' states of the same key get its
// broadcasts and its full state on join. Add every state before the
// first broadcast; a key added twice replaces the first.
func (p *Peer) AddState(key string, s State) *Channel {
	p.mu.Lock()
	p.states[key] = s
	p.mu.Unlock()
	return &Channel{p: p, key: key}
}

// maxPacket is what fits in one gossip packet with memberlist's own
// framing and encryption around it; a bigger broadcast goes by TCP.
const maxPacket = 1024

// Broadcast hands b to the other nodes' State of this channel's key. It
// does not wait: small pieces ride the gossip, which retransmits them; a
// big one is sent to each live node over TCP. One lost while the peer was
// away arrives with the next full-state exchange.
func (c *Channel) Broadcast(b []byte) {
	msg := frame(c.key, b)
	if len(msg) > maxPacket {
		select {
		case c.p.reliable <- msg:
		default:
			c.p.log.Warn("cluster broadcast queue full; the peers get this change at the next full exchange", "state", c.key)
		}
		return
	}
	// At once to each live node, in a packet of its own: the gossip
	// carries one packet a GossipInterval, and a storm's hundreds of
	// entries would reach the peer only after its turn came, seconds
	// late (found by TestHABothHealthyHundredIncidentsPageOnceAcksOnEitherStopBoth:
	// duplicate pages). The gossip queue still carries it, for a packet
	// lost; merging it twice changes nothing.
	for _, n := range c.p.ml.Members() {
		if n.Name == c.p.cfg.Name {
			continue
		}
		if err := c.p.ml.SendBestEffort(n, msg); err != nil {
			c.p.log.Debug("cluster: cannot send a broadcast to a peer", "peer", n.Name, "err", err)
		}
	}
	c.p.q.QueueBroadcast(broadcast(msg))
}

func (p *Peer) sendReliable() {
	defer p.done.Done()
	for {
		select {
		case <-p.stop:
			return
		case msg := <-p.reliable:
			for _, n := range p.ml.Members() {
				if n.Name == p.cfg.Name {
					continue
				}
				if err := p.ml.SendReliable(n, msg); err != nil {
					p.log.Debug("cluster: cannot send a broadcast to a peer", "peer", n.Name, "err", err)
				}
			}
		}
	}
}

// Leave tells the peers this node is going (they stop waiting for it at
// once instead of after PeerTimeout), then stops gossip.
func (p *Peer) Leave(timeout time.Duration) error {
	err := p.ml.Leave(timeout)
	if cerr := p.Close(); err == nil {
		err = cerr
	}
	return err
}

// Close stops gossip without a word to the peers, as a crash would.
func (p *Peer) Close() error {
	var err error
	p.once.Do(func() {
		close(p.stop)
		p.done.Wait()
		err = p.ml.Shutdown()
	})
	return err
}

// frame is a message: the state's key, length first, then its bytes.
func frame(key string, b []byte) []byte {
	out := binary.AppendUvarint(make([]byte, 0, len(key)+len(b)+binary.MaxVarintLen64), uint64(len(key)))
	return append(append(out, key...), b...)
}

func unframe(msg []byte) (key string, b []byte, err error) {
	n, k := binary.Uvarint(msg)
	if k <= 0 || uint64(len(msg)-k) < n {
		return "", nil, errors.New("cluster: malformed message")
	}
	return string(msg[k : k+int(n)]), msg[k+int(n):], nil
}

// merge hands b, a copy it may keep, to the state of key.
func (p *Peer) merge(key string, b []byte) {
	p.mu.Lock()
	s := p.states[key]
	p.mu.Unlock()
	if s == nil {
		p.log.Debug("cluster: state from a peer that this node does not share", "state", key)
		return
	}
	if err := s.Merge(slices.Clone(b)); err != nil {
		p.log.Warn("cluster: cannot merge a peer's state", "state", key, "err", err)
	}
}

type broadcast []byte

func (b broadcast) Message() []byte                       { return b }
func (b broadcast) Invalidates(memberlist.Broadcast) bool { return false }
func (b broadcast) Finished()                             {}

// delegate is memberlist's view of the shared states.
type delegate Peer

func (d *delegate) NodeMeta(int) []byte { return nil }

func (d *delegate) NotifyMsg(msg []byte) {
	key, b, err := unframe(msg)
	if err != nil {
		d.log.Debug("cluster: dropped a message", "err", err)
		return
	}
	(*Peer)(d).merge(key, b)
}

func (d *delegate) GetBroadcasts(overhead, limit int) [][]byte {
	return d.q.GetBroadcasts(overhead, limit)
}

// LocalState is every state, whole: a sequence of frames, each prefixed
// with its length.
func (d *delegate) LocalState(bool) []byte {
	d.mu.Lock()
	keys := make([]string, 0, len(d.states))
	for k := range d.states {
		keys = append(keys, k)
	}
	states := make([]State, len(keys))
	slices.Sort(keys)
	for i, k := range keys {
		states[i] = d.states[k]
	}
	d.mu.Unlock()
	var out []byte
	for i, s := range states {
		b, err := s.MarshalBinary()
		if err != nil {
			d.log.Warn("cluster: cannot marshal a state for a peer", "state", keys[i], "err", err)
			continue
		}
		f := frame(keys[i], b)
		out = append(binary.AppendUvarint(out, uint64(len(f))), f...)
	}
	return out
}

func (d *delegate) MergeRemoteState(buf []byte, _ bool) {
	for len(buf) > 0 {
		n, k := binary.Uvarint(buf)
		if k <= 0 || uint64(len(buf)-k) < n {
			d.log.Warn("cluster: malformed state from a peer")
			return
		}
		key, b, err := unframe(buf[k : k+int(n)])
		if err != nil {
			d.log.Warn("cluster: malformed state from a peer", "err", err)
			return
		}
		(*Peer)(d).merge(key, b)
		buf = buf[k+int(n):]
	}
}

// events keeps the record of the other nodes for Peers.
type events Peer

func (e *events) NotifyJoin(n *memberlist.Node)  { e.set(n, true) }
func (e *events) NotifyLeave(n *memberlist.Node) { e.set(n, false) }
func (e *events) NotifyUpdate(*memberlist.Node)  {}

// node is the record of another node: the Member, and when it last
// answered a probe.
type node struct {
	Member
	heard time.Time
}

func (e *events) set(n *memberlist.Node, up bool) {
	if n.Name == e.cfg.Name {
		return
	}
	now := time.Now()
	e.mu.Lock()
	defer e.mu.Unlock()
	r := e.nodes[n.Name]
	if r == nil {
		r = &node{Member: Member{Name: n.Name}}
		e.nodes[n.Name] = r
	}
	r.Addr = n.Address()
	switch {
	case up && !r.Up:
		r.Since, r.heard = now, now
	case !up && r.Up:
		// Judged dead about a horizon after its last answer. A peer
		// whose UDP acks never came (a firewall passing only TCP) has
		// no recent last answer: its outage starts a horizon ago.
		r.Since = r.heard
		if now.Sub(r.heard) > 2*e.cfg.PeerTimeout {
			r.Since = now.Add(-e.cfg.PeerTimeout)
		}
	}
	r.Up = up
	if up {
		e.log.Info("cluster peer up", "peer", n.Name, "addr", r.Addr)
	} else {
		e.log.Warn("cluster peer gone", "peer", n.Name, "addr", r.Addr, "last_heard", r.Since)
	}
}

// pings notes when each peer last answered, so a lost peer's outage is
// dated from its silence, not from when the silence was judged.
type pings Peer

func (p *pings) AckPayload() []byte { return nil }
func (p *pings) NotifyPingComplete(n *memberlist.Node, _ time.Duration, _ []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if r := p.nodes[n.Name]; r != nil && r.Up {
		r.heard = time.Now()
	}
}
