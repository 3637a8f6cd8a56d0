package classify

import (
	"fmt"
	"time"

	"foghorn/probes"
)

// Two vantage points (issue 15): with a [cluster], the other node probes
// the same targets from another provider, and its view is an input here.
// A target down from this node only, while the peer sees it up, is a
// warning that says so ("pve1 down from fra only; ams sees it up"): it is
// the path from one provider that is broken, not the host. Down from
// both, it is what it would be alone. Without a fresh view of the peer's
// (no peer, a lost one, a view older than Options.Stale), this node's own
// view decides: fail open.

// View is what a peer sees of the targets.
type View struct {
	Node string // the peer's name, for the words ("ams sees it up")
	// At is when the peer made or last confirmed the view: a view older
	// than Options.Stale does not count.
	At      time.Time
	Targets map[string]Sight // a target not in it is unknown to the peer
}

// Sight is one target as the peer sees it.
type Sight struct {
	State State // Up or Down
	// Good is when the peer's last good result of it started (its clock):
	// the peer vouches for a target only with a good result newer than
	// the failure here was confirmed, not with one from before the outage.
	Good time.Time
	// Since is when the peer's state began (its clock; zero: unknown). A
	// peer up only since after the outage began here saw the outage too:
	// it is the recovery it saw first, not a broken path from here.
	Since time.Time
}

// Vantage gives the classifier the peer's latest view. It is asked under
// the classifier's lock and must not call back into it; false: no view
// (no peer, or the peer is lost).
type Vantage interface {
	View() (View, bool)
}

// PeerChanged judges the down targets again after the peer's view changed:
// one seen up from there is a warning, one seen down from both is told as
// down.
func (c *Classifier) PeerChanged() {
	c.mu.Lock()
	if !c.self.blind && c.o.Vantage != nil {
		for _, name := range sortedKeys(c.ts) {
			if k := c.ts[name]; k.state == Down || k.cls == clsOneSide {
				c.settle(k, false)
			}
		}
	}
	c.mu.Unlock()
	c.flush()
}

// peerView is the peer's view when it counts: fresh, and of another node.
func (c *Classifier) peerView() (View, bool) {
	if c.o.Vantage == nil {
		return View{}, false
	}
	v, ok := c.o.Vantage.View()
	if !ok || v.Targets == nil || c.now().Sub(v.At) > c.o.Stale {
		return View{}, false
	}
	return v, true
}

// downAt is when k was found down here (rise/fall), or began failing.
func (k *track) downAt() time.Time {
	if !k.downs[0].IsZero() {
		return k.downs[0]
	}
	return k.badSince
}

// oneSide reports whether k, down here, is seen up by the peer with a
// good result since k was found down here, with the peer's name. A
// target becomes one-sided only while this node's own latest result
// fails: one rising again is recovering (the peer saw the recovery
// first), and one restored at a restart has no result of this run yet.
func (c *Classifier) oneSide(k *track) (string, bool) {
	if k.restored || (good(k.last.Status) && k.cls != clsOneSide) {
		return "", false
	}
	v, ok := c.peerView()
	if !ok {
		return "", false
	}
	s := v.Targets[k.name]
	if s.State != Up || s.Good.Before(k.downAt()) {
		return "", false
	}
	if k.cls != clsOneSide && s.Since.After(k.downAt()) && !k.last.Start.After(s.Since) {
		// The peer came back up after the outage began here, and this
		// node has not failed since: both saw the outage, and the peer
		// saw the recovery first. This node's next result tells; until
		// then the outage stays what it was (a warning flip now would
		// page, and a peer's resolve of it would open a new incident).
		return "", false
	}
	return v.Node, true
}

// awaitPeer reports whether k's page waits for the peer's word: its fresh
// view sees k up, but by a result older than k's failure here (from
// before the outage, or the peer is failing it too and not yet down).
// The peer probes at the same interval and confirms its view every
// Options.Stale/6, so the wait is bounded (peerWait).
func (c *Classifier) awaitPeer(k *track) bool {
	v, ok := c.peerView()
	if !ok {
		return false
	}
	s := v.Targets[k.name]
	return s.State == Up && s.Good.Before(k.downAt())
}

// peerWait is how long k's page may wait for the peer's word: one of its
// intervals and a confirmation of the peer's view.
func (c *Classifier) peerWait(k *track) time.Duration {
	if c.o.Vantage == nil {
		return 0
	}
	return probes.Interval(k.t) + c.o.Stale/3 + time.Second
}

// oneSideWords: "pve1 down from fra only; ams sees it up: no reply ...".
func (c *Classifier) oneSideWords(k *track) string {
	peer, _ := c.oneSide(k)
	if peer == "" {
		peer = "the peer"
	}
	return fmt.Sprintf("%s down from %s only; %s sees it up", k.name, c.here(), peer)
}

func (c *Classifier) here() string {
	if c.o.Here == "" {
		return "this node"
	}
	return c.o.Here
}

// splitWords: "rt1 down from fra only; ams sees it up", for a group's
// members seen down from here only.
func (c *Classifier) splitWords(names []string) string {
	peer := "the peer"
	if v, ok := c.peerView(); ok {
		peer = v.Node
	}
	verb := "sees it"
	if len(names) > 1 {
		verb = "sees them"
	}
	return fmt.Sprintf("%s down from %s only; %s %s up", list(names, 3), c.here(), peer, verb)
}
