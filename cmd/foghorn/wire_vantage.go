package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"foghorn/cluster"
	"foghorn/configs"
	"foghorn/probes"
	"foghorn/probes/classify"
)

// Two vantage points (issue 15): each node shares its view of the targets
// (up or down, by rise/fall) as the cluster state "view", and its
// classifier is given the peer's: a target down from one node only is a
// warning that says so, down from both it is critical, and without a
// fresh view of the peer's (lost, or silent for staleAfter horizons) a
// node's own view decides.

// viewKey is the cluster state of the nodes' target views.
const viewKey = "view"

// staleAfter is how many peer_timeouts old a peer's view may be and
// count; each node confirms its own every half peer_timeout.
const staleAfter = 3

// viewMsg is one node's view on the wire. Targets is null while the node
// is blind (its canaries fail): a node that cannot see the site has no
// view of it.
type viewMsg struct {
	Node    string              `json:"node"`
	At      time.Time           `json:"at"`
	Targets map[string]sightMsg `json:"targets"`
}

// sightMsg is one target in a view: its state, and when its last good
// result started (omitted while it fails).
type sightMsg struct {
	State classify.State `json:"s"`
	Good  time.Time      `json:"good,omitzero"`
	Since time.Time      `json:"since,omitzero"` // when the state began
}

// vantage is this node's view, shared, and the peers' views, as
// classify.Vantage.
type vantage struct {
	self  string
	stale time.Duration
	live  func() []cluster.Member // the peers, Up or not
	// changed is signalled when a peer's view changed (PeerChanged runs on
	// a goroutine of its own, not memberlist's).
	changed chan struct{}

	mu    sync.Mutex
	mine  viewMsg
	ch    *cluster.Channel
	peers map[string]viewMsg
}

func newVantage(cc *configs.Cluster, live func() []cluster.Member) *vantage {
	return &vantage{self: cc.Name, stale: staleAfter * cc.PeerTimeout.Duration, live: live,
		changed: make(chan struct{}, 1), mine: viewMsg{Node: cc.Name}, peers: map[string]viewMsg{}}
}

// probeSource is [cluster] probe_source, or nil.
func probeSource(cfg *configs.Config) net.IP {
	if cfg.Cluster == nil {
		return nil
	}
	return net.ParseIP(cfg.Cluster.ProbeSource)
}

// MarshalBinary is this node's view, for a node that joins.
func (v *vantage) MarshalBinary() ([]byte, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return json.Marshal(v.mine)
}

// Merge takes a peer's view; a newer one replaces the older (by its
// own clock's At), and this node's own view coming back is ignored.
func (v *vantage) Merge(b []byte) error {
	var m viewMsg
	if err := json.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("view: %w", err)
	}
	if m.Node == "" || m.Node == v.self {
		return nil
	}
	v.mu.Lock()
	old, ok := v.peers[m.Node]
	newer := !ok || m.At.After(old.At)
	if newer {
		v.peers[m.Node] = m
	}
	v.mu.Unlock()
	if newer && (!ok || !sameTargets(old.Targets, m.Targets) || (old.Targets == nil) != (m.Targets == nil)) {
		select {
		case v.changed <- struct{}{}:
		default:
		}
	}
	return nil
}

func sameTargets(a, b map[string]sightMsg) bool {
	if len(a) != len(b) {
		return false
	}
	for k, s := range a {
		if b[k].State != s.State {
			return false
		}
	}
	return true
}

// publish makes ts this node's view at now (none while blind) and
// broadcasts it.
func (v *vantage) publish(now time.Time, ts []classify.TargetState, blind bool) {
	var m map[string]sightMsg
	if !blind {
		m = make(map[string]sightMsg, len(ts))
		for _, t := range ts {
			if t.State != classify.Up && t.State != classify.Down {
				continue
			}
			s := sightMsg{State: t.State, Since: t.Since}
			if st := t.Last.Status; st == probes.OK || st == probes.Warning {
				s.Good = t.Last.Start
			}
			m[t.Target] = s
		}
	}
	v.mu.Lock()
	v.mine = viewMsg{Node: v.self, At: now, Targets: m}
	b, err := json.Marshal(v.mine)
	ch := v.ch
	v.mu.Unlock()
	if err == nil && ch != nil {
		ch.Broadcast(b)
	}
}

// View is the live peers' views that are fresh, as one: a target is up
// if a peer sees it up; the oldest view's At. With two nodes, it is the
// peer's.
func (v *vantage) View() (classify.View, bool) {
	live := map[string]bool{}
	for _, m := range v.live() {
		if m.Up {
			live[m.Name] = true
		}
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	var out classify.View
	var names []string
	for name, m := range v.peers {
		if !live[name] || m.Targets == nil || time.Since(m.At) > v.stale {
			continue
		}
		names = append(names, name)
		if out.Targets == nil {
			out.Targets, out.At = map[string]classify.Sight{}, m.At
		}
		if m.At.Before(out.At) {
			out.At = m.At
		}
		for t, s := range m.Targets {
			// Up if any peer sees it up, by its newest good result.
			if o := out.Targets[t]; o.State != classify.Up || (s.State == classify.Up && s.Good.After(o.Good)) {
				out.Targets[t] = classify.Sight{State: s.State, Good: s.Good, Since: s.Since}
			}
		}
	}
	if out.Targets == nil {
		return classify.View{}, false
	}
	slices.Sort(names)
	out.Node = strings.Join(names, "+")
	return out, true
}

// publishView shares this node's view now: after a target changed state.
func (d *daemon) publishView() {
	if d.view == nil || d.cls == nil {
		return
	}
	blind, _ := d.cls.Blind()
	d.view.publish(time.Now(), d.cls.Targets(), blind)
}

// shareView confirms this node's view every half peer_timeout (a view
// not confirmed for staleAfter of them no longer counts at the peer), and
// has the classifier judge again when the peer's view changed.
func (d *daemon) shareView(ctx context.Context, every time.Duration) {
	d.publishView()
	t := time.NewTicker(every / 2)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			d.publishView()
		case <-d.view.changed:
			d.cls.PeerChanged()
		}
	}
}

// viewMetrics is foghorn_cluster_peer_view_targets{peer,state}: the
// targets each peer's fresh view has, up and down (none while its view is
// stale, the peer lost or blind).
type viewMetrics struct{ v *vantage }

var peerViewDesc = prometheus.NewDesc("foghorn_cluster_peer_view_targets",
	"Targets in a peer's fresh view (the other vantage point), by the state it sees.", []string{"peer", "state"}, nil)

func (viewMetrics) Describe(ch chan<- *prometheus.Desc) { ch <- peerViewDesc }

func (m viewMetrics) Collect(ch chan<- prometheus.Metric) {
	live := map[string]bool{}
	for _, p := range m.v.live() {
		live[p.Name] = p.Up
	}
	m.v.mu.Lock()
	defer m.v.mu.Unlock()
	for name, pv := range m.v.peers {
		n := map[classify.State]int{}
		if live[name] && pv.Targets != nil && time.Since(pv.At) <= m.v.stale {
			for _, s := range pv.Targets {
				n[s.State]++
			}
		}
		for _, s := range []classify.State{classify.Up, classify.Down} {
			ch <- prometheus.MustNewConstMetric(peerViewDesc, prometheus.GaugeValue, float64(n[s]), name, string(s))
		}
	}
}
