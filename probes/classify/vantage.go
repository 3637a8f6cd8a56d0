package classify

import (
	"fmt"
	"time"
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
	Targets map[string]State // Up or Down; a target not in it is unknown to the peer
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

// oneSide reports whether k, down here, is seen up by the peer in a view
// made since k began failing here (an older one may predate the outage),
// with the peer's name.
func (c *Classifier) oneSide(k *track) (string, bool) {
	v, ok := c.peerView()
	if !ok || v.Targets[k.name] != Up || v.At.Before(k.badSince) {
		return "", false
	}
	return v.Node, true
}

// awaitPeer reports whether k's page waits for the peer's word: it has a
// fresh view that sees k up but is older than k's failures here. The
// peer confirms its view every Options.Stale/3 at least, so the wait is
// bounded (holdFor).
func (c *Classifier) awaitPeer(k *track) bool {
	v, ok := c.peerView()
	return ok && v.Targets[k.name] == Up && v.At.Before(k.from())
}

// peerWait is how long a page may wait for the peer's word.
func (c *Classifier) peerWait() time.Duration {
	if c.o.Vantage == nil {
		return 0
	}
	return c.o.Stale/3 + time.Second
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
