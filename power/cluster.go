package power

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"foghorn/clock"
	"foghorn/configs"
)

// Power state shared by the foghorns of a [cluster] (Desk.Share): the
// confirmation codes waiting, and the guard's claims (an action in flight,
// and each action of the last hour for the rate limits).
//
// A code made on one node is honoured on the other (the person's reply
// reaches whichever node Twilio's webhook points at), with the same checks:
// the person, the expiry, one use. Using, cancelling or replacing a code is
// a newer entry for the phone (last writer wins: the later time, then the
// greater node name), so a code used on one node is used on both.
//
// A node about to act claims the action first and waits a moment (the
// settle time, or until every live peer echoed the claim) for a claim the
// peer made at the same moment. Of two claims in flight the earlier wins
// (then the lesser node name): both nodes pick the same one, the loser
// withdraws and refuses, naming the winner. Meanwhile the peer's claims
// count here: a claim in flight makes this node busy and counts its host
// as down in the quorum arithmetic, and every claim that went ahead counts
// in the per-host and per-site limits.
//
// When the nodes cannot talk. A duplicate page is harmless; two power
// actions at once in one quorum group are what the guard exists to stop.
// Still, power does not stop when the peer is unreachable: the node left
// must be able to cycle a hung host (fail-open, as the issue asks), and a
// node cannot tell a dead peer from a cut link. What it does:
//   - A claim the peer made stays in flight here until the peer ends it or
//     its bound passes (claimBound, the longest an action may take), even
//     when the peer is gone: a peer that went silent mid-action may still
//     be acting, so this node refuses (fail-closed) for at most that long.
//   - An action the peer starts while unreachable is unknown here. The
//     guard then decides on this node's own view: its probes (a host the
//     peer cycled is seen down after its fall, and then counts as down for
//     quorum), its own rate-limit history, and the peer's claims it knew.
//     That is the risk: in a split where both nodes reach the BMCs but not
//     each other, each may act on a different host of one quorum group
//     within a probe's fall of the other, or both may use the same hour's
//     limit. The settle wait (a gossip round trip) is no vote: a claim
//     that takes longer than it to arrive is not seen in time either.
type Shared struct {
	node   string
	clock  clock.Clock
	settle time.Duration
	live   func() int // live peers, this node not included
	log    *slog.Logger
	desk   *Desk

	mu      sync.Mutex
	claims  map[string]Claim
	send    func([]byte)
	seq     int
	echoes  map[string]map[string]bool // own claims waiting: the peers that echoed them
	changed chan struct{}              // closed and replaced when the claims change
	stats   ShareStats
}

// ShareStats counts what the sharing did, for /metrics.
type ShareStats struct {
	Claims uint64 // the peers' claims (or changes to them) taken
	Codes  uint64 // the peers' code entries taken (offers, uses, cancels)
	Lost   uint64 // this node's claims that gave way to a peer's earlier one
}

// Stats is what the sharing did so far.
func (s *Shared) Stats() ShareStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// Claim is one power action a node decided to do, as the nodes share it.
type Claim struct {
	ID     string              `json:"id"`
	Node   string              `json:"node"`
	Host   string              `json:"host"`
	Action configs.PowerAction `json:"action"`
	By     string              `json:"by"`
	At     time.Time           `json:"at"`    // claimed
	Until  time.Time           `json:"until"` // in flight at the latest until then
	Ended  time.Time           `json:"ended,omitzero"`
	// Lost says the claim gave way to an earlier one: nothing was done,
	// and it counts nowhere.
	Lost bool `json:"lost,omitempty"`
	Rev  int  `json:"rev"` // the owner's revision: the greater wins
}

// claimBound is how long a claim stays in flight when its node never ends
// it (it died, or cannot be heard): the longest an action with its
// read-back may take (actionTimeout), and a little more.
const claimBound = actionTimeout + 30*time.Second

// inFlight says whether c is an action going on at now.
func (c Claim) inFlight(now time.Time) bool {
	return !c.Lost && c.Ended.IsZero() && now.Before(c.Until)
}

// first orders two claims: the earlier, then the lesser node name.
func (c Claim) first(o Claim) bool {
	if !c.At.Equal(o.At) {
		return c.At.Before(o.At)
	}
	if c.Node != o.Node {
		return c.Node < o.Node
	}
	return c.ID < o.ID
}

// sharedCode is a phone's code as the nodes share it; Void is a code used,
// cancelled or voided by a wrong guess.
type sharedCode struct {
	Phone string    `json:"phone"`
	Offer Offer     `json:"offer"`
	Void  bool      `json:"void,omitempty"`
	At    time.Time `json:"at"`
	Node  string    `json:"node"`
}

// newer says whether c replaces o. Of one offer (its code and expiry),
// the void entry wins whatever the clocks say: a code used on a node whose
// clock is behind is still used. Of two offers, the later, then the
// greater node name.
func (c sharedCode) newer(o sharedCode) bool {
	if c.Offer.Code == o.Offer.Code && c.Offer.Expires.Equal(o.Offer.Expires) {
		return c.Void && !o.Void
	}
	if !c.At.Equal(o.At) {
		return c.At.After(o.At)
	}
	return c.Node > o.Node
}

// message is what the nodes send each other: pieces as they change, or
// everything for a joining node. From names the sender: a message that
// carries one of this node's claims from a peer is that peer's echo.
type message struct {
	From   string       `json:"from"`
	Claims []Claim      `json:"claims,omitempty"`
	Codes  []sharedCode `json:"codes,omitempty"`
}

// ShareOptions are what sharing needs of the cluster.
type ShareOptions struct {
	// Node is this foghorn's name in the cluster.
	Node string
	// Live counts the peers reachable now (this node not included): a
	// claim waits for that many echoes at most.
	Live func() int
	// Settle is the longest a claim waits for the peers' echoes before
	// the node acts; a claim from the peer that arrives later than that is
	// not seen in time. Default DefaultSettle.
	Settle time.Duration
}

// DefaultSettle is ShareOptions.Settle when not set: a few round trips
// between two providers.
const DefaultSettle = time.Second

// Share makes the desk's codes and its guard's claims shared: register
// the result as a cluster State and give it the channel (SetBroadcast).
func (d *Desk) Share(o ShareOptions) *Shared {
	if o.Settle <= 0 {
		o.Settle = DefaultSettle
	}
	if o.Live == nil {
		o.Live = func() int { return 0 }
	}
	s := &Shared{node: o.Node, clock: d.o.Clock, settle: o.Settle, live: o.Live, log: d.o.Log, desk: d,
		claims: map[string]Claim{}, echoes: map[string]map[string]bool{}, changed: make(chan struct{})}
	d.mu.Lock()
	d.sh = s
	d.mu.Unlock()
	d.guard.mu.Lock()
	d.guard.sh = s
	d.guard.mu.Unlock()
	return s
}

// SetBroadcast sets what sends a change to the peers (the cluster
// Channel's Broadcast).
func (s *Shared) SetBroadcast(f func([]byte)) {
	s.mu.Lock()
	s.send = f
	s.mu.Unlock()
}

func (s *Shared) broadcast(m message) {
	s.mu.Lock()
	send := s.send
	s.mu.Unlock()
	if send == nil {
		return
	}
	m.From = s.node
	b, err := json.Marshal(m)
	if err != nil {
		s.log.Error("power: cannot encode the shared state", "err", err)
		return
	}
	send(b)
}

// MarshalBinary is the whole shared state: the claims of the last hour
// and the codes not expired.
func (s *Shared) MarshalBinary() ([]byte, error) {
	now := s.clock.Now()
	m := message{From: s.node}
	s.mu.Lock()
	s.gcLocked(now)
	for _, c := range s.claims {
		m.Claims = append(m.Claims, c)
	}
	s.mu.Unlock()
	m.Codes = s.desk.sharedCodes(now)
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("power: encode the shared state: %w", err)
	}
	return b, nil
}

// Merge takes a peer's pieces: a claim of a higher revision replaces
// ours, a newer code entry for a phone replaces ours. A peer's fresh
// claims are echoed back with this node's own claims in flight, in one
// message: the peer then knows this node has its claim, and what this
// node was doing when it got it.
func (s *Shared) Merge(b []byte) error {
	var m message
	if err := json.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("power: decode a peer's state: %w", err)
	}
	now := s.clock.Now()
	var fresh []Claim
	s.mu.Lock()
	for _, c := range m.Claims {
		if c.ID == "" {
			continue
		}
		if c.Node == s.node {
			if w := s.echoes[c.ID]; w != nil && m.From != s.node {
				w[m.From] = true
			}
		}
		if old, ok := s.claims[c.ID]; ok && old.Rev >= c.Rev {
			continue
		}
		if c.Node == s.node {
			continue // ours, from before a restart: the audit trail has them
		}
		s.claims[c.ID] = c
		fresh = append(fresh, c)
		s.stats.Claims++
	}
	if len(m.Claims) > 0 {
		close(s.changed)
		s.changed = make(chan struct{})
	}
	var echo []Claim
	if len(fresh) > 0 {
		echo = append(echo, fresh...)
		for _, c := range s.claims {
			if c.Node == s.node && c.inFlight(now) {
				echo = append(echo, c)
			}
		}
	}
	s.mu.Unlock()
	codes := s.desk.mergeCodes(m.Codes)
	if len(codes) > 0 {
		s.mu.Lock()
		s.stats.Codes += uint64(len(codes))
		s.mu.Unlock()
	}
	if len(echo) > 0 || len(codes) > 0 {
		s.broadcast(message{Claims: echo, Codes: codes})
	}
	return nil
}

// gcLocked forgets claims older than the rate limits look back.
func (s *Shared) gcLocked(now time.Time) {
	for id, c := range s.claims {
		if now.Sub(c.At) > time.Hour+claimBound {
			delete(s.claims, id)
		}
	}
}

// others are the peers' claims: those in flight at now, the earliest
// first, and the times of those that went ahead since (for the limits).
func (s *Shared) others(now, since time.Time) (flying []Claim, went []done) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gcLocked(now)
	for _, c := range s.claims {
		if c.Node == s.node || c.Lost {
			continue
		}
		if c.inFlight(now) {
			flying = append(flying, c)
		}
		if c.At.After(since) {
			went = append(went, done{host: c.Host, at: c.At})
		}
	}
	slices.SortFunc(flying, func(a, b Claim) int {
		if a.first(b) {
			return -1
		}
		return 1
	})
	return flying, went
}

// claim shares this node's claim for an action and waits for the peers'
// echoes (at most the settle time); then it says the earlier claim in
// flight of another node, if one is: this claim lost to it, and is
// withdrawn. Without a live peer it decides at once.
func (s *Shared) claim(ctx context.Context, req Request, host string) (Claim, *Claim) {
	now := s.clock.Now()
	s.mu.Lock()
	s.seq++
	c := Claim{ID: fmt.Sprintf("%s/%d/%d", s.node, now.UnixNano(), s.seq), Node: s.node, Host: host, Action: req.Action,
		By: actor(req), At: now, Until: now.Add(claimBound), Rev: 1}
	s.claims[c.ID] = c
	waiting := map[string]bool{}
	s.echoes[c.ID] = waiting
	s.mu.Unlock()
	s.broadcast(message{Claims: []Claim{c}})

	peers := s.live()
	deadline := s.clock.After(s.settle)
	for peers > 0 {
		s.mu.Lock()
		n, changed := len(waiting), s.changed
		s.mu.Unlock()
		if n >= peers {
			break
		}
		select {
		case <-changed:
			continue
		case <-deadline:
		case <-ctx.Done():
		}
		break
	}
	s.mu.Lock()
	delete(s.echoes, c.ID)
	s.mu.Unlock()
	flying, _ := s.others(s.clock.Now(), now)
	for _, o := range flying {
		if o.first(c) {
			s.mu.Lock()
			s.stats.Lost++
			s.mu.Unlock()
			s.update(c.ID, func(c *Claim) { c.Lost = true })
			return c, &o
		}
	}
	return c, nil
}

// update changes one of this node's claims and tells the peers.
func (s *Shared) update(id string, f func(*Claim)) {
	s.mu.Lock()
	c, ok := s.claims[id]
	if ok {
		f(&c)
		c.Rev++
		s.claims[id] = c
	}
	s.mu.Unlock()
	if ok {
		s.broadcast(message{Claims: []Claim{c}})
	}
}

// end says this node's action is over: the peers stop counting it in flight.
func (s *Shared) end(id string) {
	now := s.clock.Now()
	s.update(id, func(c *Claim) { c.Ended = now })
}

// withdraw says this node's claim came to nothing (the audit trail could
// not be written): it counts nowhere.
func (s *Shared) withdraw(id string) {
	s.update(id, func(c *Claim) { c.Lost = true })
}

// changes is a channel closed at the next change of the peers' claims.
func (s *Shared) changes() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

// shareCode tells the peers the code entry for phone.
func (s *Shared) shareCode(c sharedCode) {
	c.Node = s.node
	s.broadcast(message{Codes: []sharedCode{c}})
}

// fromPeer is how a refusal names the node a claim is from.
func fromPeer(node string) string {
	if strings.HasPrefix(node, "foghorn") {
		return node
	}
	return "foghorn-" + node
}

// put holds h for phone, and tells the peers. Entries gone past their
// expiry are forgotten.
func (d *Desk) put(phone string, h *held) {
	d.mu.Lock()
	if d.codes == nil {
		d.codes = map[string]*held{}
	}
	for ph, old := range d.codes {
		if h.at.After(old.offer.Expires) {
			delete(d.codes, ph)
		}
	}
	h.node = ""
	if d.sh != nil {
		h.node = d.sh.node
	}
	d.codes[phone] = h
	sh := d.sh
	d.mu.Unlock()
	if sh != nil {
		sh.shareCode(sharedCode{Phone: phone, Offer: h.offer, Void: h.void, At: h.at})
	}
}

// take is the code waiting for phone, nil when none is; either way the
// phone has none after: one use, on every node.
func (d *Desk) take(phone string, now time.Time) *held {
	d.mu.Lock()
	h := d.codes[phone]
	d.mu.Unlock()
	if h == nil || h.void {
		return nil
	}
	d.put(phone, &held{offer: h.offer, void: true, at: now})
	return h
}

// sharedCodes are the code entries not expired, for a joining peer.
func (d *Desk) sharedCodes(now time.Time) []sharedCode {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []sharedCode
	for ph, h := range d.codes {
		if !now.After(h.offer.Expires) {
			out = append(out, sharedCode{Phone: ph, Offer: h.offer, Void: h.void, At: h.at, Node: h.node})
		}
	}
	return out
}

// mergeCodes takes the peer's code entries newer than this node's, and
// returns them (to gossip on).
func (d *Desk) mergeCodes(in []sharedCode) []sharedCode {
	now := d.o.Clock.Now()
	var fresh []sharedCode
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, c := range in {
		if c.Phone == "" || now.After(c.Offer.Expires) {
			continue
		}
		if old := d.codes[c.Phone]; old != nil && !c.newer(sharedCode{Offer: old.offer, Void: old.void, At: old.at, Node: old.node}) {
			continue
		}
		if d.codes == nil {
			d.codes = map[string]*held{}
		}
		d.codes[c.Phone] = &held{offer: c.Offer, void: c.Void, at: c.At, node: c.Node}
		fresh = append(fresh, c)
	}
	return fresh
}

// lostTo is the refusal of a claim that gave way to another node's
// earlier one.
func lostTo(req Request, first Claim) *Refusal {
	msg := fmt.Sprintf("refused: %s %s by %s from %s was claimed first (at the same moment, %s UTC); one power action at a time across the cluster",
		first.Action, first.Host, first.By, fromPeer(first.Node), first.At.UTC().Format("15:04:05.000"))
	if !req.Automated {
		msg += ": try again when it ends"
	}
	return &Refusal{Rule: "busy", Msg: msg}
}
