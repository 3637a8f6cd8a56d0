package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"foghorn/clock"
	"foghorn/cluster"
	"foghorn/cmd/foghorn/dashboard"
	"foghorn/configs"
	"foghorn/escalation"
)

// clusterConfig is the cluster's part of cfg: [cluster], its key decoded
// (validation has checked it, so an error here is a config changed under
// foghorn's feet).
func clusterConfig(c *configs.Cluster) (cluster.Config, error) {
	key, err := configs.ClusterKey(c.Key.Reveal())
	if err != nil {
		return cluster.Config{}, fmt.Errorf("[cluster] key_file: %w", err)
	}
	return cluster.Config{Name: c.Name, Bind: c.Bind, Advertise: c.Advertise, Peers: slices.Clone(c.Peers),
		Key: key, PeerTimeout: c.PeerTimeout.Duration}, nil
}

// newCluster starts gossip when [cluster] is set, without joining yet:
// the engine is built on the peer (whose turn it is to send), and the
// shared states are added before the first exchange (shareState).
// Without [cluster] nothing of the cluster runs.
func (d *daemon) newCluster(cfg *configs.Config) error {
	if cfg.Cluster == nil {
		return nil
	}
	cc, err := clusterConfig(cfg.Cluster)
	if err != nil {
		return err
	}
	p, err := cluster.New(cc, cluster.Options{Log: d.log.With("stage", "cluster")})
	if err != nil {
		return err
	}
	d.peer = p
	d.joined = make(chan struct{})
	d.view = newVantage(cfg.Cluster, p.Peers)
	return nil
}

// shareState adds what the nodes share to the gossip: the notification
// log, once the engine has loaded it (Recover).
func (d *daemon) shareState() {
	if d.peer == nil {
		return
	}
	ch := d.peer.AddState("nflog", d.eng.Log())
	d.eng.Log().SetBroadcast(ch.Broadcast)
	vc := d.peer.AddState(viewKey, d.view)
	d.view.mu.Lock()
	d.view.ch = vc
	d.view.mu.Unlock()
	d.shareSilences()
}

// joinCluster joins the peers, after the probes: a lost peer is paged on
// this node's own view, which its canaries vouch for. It watches the
// peers for one that is lost.
func (d *daemon) joinCluster(ctx context.Context, cfg *configs.Config) error {
	if d.peer == nil {
		return nil
	}
	cc, err := clusterConfig(cfg.Cluster)
	if err != nil {
		return err
	}
	p := d.peer
	p.Start() // the first join, with the peers' full state, is done
	close(d.joined)
	d.m.reg.MustRegister(clusterMetrics{p, d.eng}, viewMetrics{d.view})
	w := newPeerWatch(cc, time.Now())
	// A lost peer paged before a restart is still open: the watch
	// resolves it when the peer is seen again.
	open, err := d.eng.Open(ctx)
	if err != nil {
		return fmt.Errorf("list open incidents: %w", err)
	}
	for _, inc := range open {
		if inc.Source == peerSource {
			w.firing[inc.Key] = true
		}
	}
	go d.watchPeers(ctx, w, clock.Real{})
	go d.shareView(ctx, cc.PeerTimeout)
	d.log.Info("cluster joined", "name", cc.Name, "bind", cc.Bind, "peers", strings.Join(cc.Peers, ","),
		"peer_timeout", cc.PeerTimeout)
	return nil
}

// clusterChanged says whether [cluster] differs between two configs: it
// changes only on restart, as memberlist's name and ports are fixed.
func clusterChanged(a, b *configs.Cluster) bool {
	if a == nil || b == nil {
		return a != b
	}
	return a.Name != b.Name || a.Bind != b.Bind || a.Advertise != b.Advertise || !slices.Equal(a.Peers, b.Peers) ||
		a.Key.Reveal() != b.Key.Reveal() || a.PeerTimeout.Duration != b.PeerTimeout.Duration || a.ProbeSource != b.ProbeSource
}

// peerSource is the incidents' source for a lost peer.
const peerSource = "cluster"

// lostAfter is how many horizons a peer must be gone before it is paged:
// a restart or a short network blip at either provider must not wake
// anyone, while a VPS that is gone is known within a minute by default.
const lostAfter = 4

// peerWatch decides, from this node's own view only, which lost peers to
// page and which to resolve. Each node pages about its peers itself:
// there is nobody to agree with when the peer is the one gone.
type peerWatch struct {
	self    string
	peers   []string // the configured addresses, for a peer never seen
	timeout time.Duration
	started time.Time
	firing  map[string]bool // alert key -> told the engine it fires
}

func newPeerWatch(cc cluster.Config, now time.Time) *peerWatch {
	return &peerWatch{self: cc.Name, peers: cc.Peers, timeout: cc.PeerTimeout, started: now, firing: map[string]bool{}}
}

// aloneKey is the alert of a node that has not seen any peer since it
// started: it cannot name the peer it has never heard from.
const aloneKey = "peer:?"

// alerts are what changed at now for the engine. A node that is blind
// (its own canaries fail) raises nothing: it is its own network that is
// gone, not the peer. Resolutions go out even then.
func (w *peerWatch) alerts(now time.Time, seen []cluster.Member, blind bool) []escalation.Alert {
	var out []escalation.Alert
	set := func(key string, firing bool, summary, detail string, labels map[string]string) {
		if w.firing[key] == firing || (firing && blind) {
			return
		}
		sev := configs.Critical
		out = append(out, escalation.Alert{Key: key, Firing: firing, Severity: sev, Summary: summary, Detail: detail,
			Labels: labels, Source: peerSource, At: now})
	}
	horizon := lostAfter * w.timeout
	anyUp := false
	for _, m := range seen {
		key := "peer:" + m.Name
		labels := map[string]string{"peer": m.Name}
		if m.Up {
			anyUp = true
			set(key, false, fmt.Sprintf("%s reachable from %s again", foghornName(m.Name), w.self), "", labels)
			continue
		}
		if now.Sub(m.Since) >= horizon {
			// The pager adds "since" and the time the incident opened,
			// in the reader's zone; the silence began a little earlier.
			set(key, true, fmt.Sprintf("%s unreachable from %s", foghornName(m.Name), w.self),
				fmt.Sprintf("gossip with %s (%s) silent since %s UTC. Until it is back, %s pages alone for everything (fail-open): check that VPS, its provider and the firewall between the two.",
					m.Name, m.Addr, m.Since.UTC().Format(time.DateTime), w.self), labels)
		}
	}
	switch {
	case anyUp || len(seen) > 0:
		set(aloneKey, false, fmt.Sprintf("%s sees a cluster peer", w.self), "", nil)
	case now.Sub(w.started) >= horizon:
		set(aloneKey, true, fmt.Sprintf("no cluster peer reachable from %s", w.self),
			fmt.Sprintf("%s has not reached any of its [cluster] peers (%s) since it started at %s UTC; it pages alone for everything (fail-open). Check the peers, the gossip key and the firewall (UDP and TCP).",
				w.self, strings.Join(w.peers, ", "), w.started.UTC().Format(time.DateTime)), nil)
	}
	return out
}

// told notes that the engine took a, so it is not handed again.
func (w *peerWatch) told(a escalation.Alert) { w.firing[a.Key] = a.Firing }

// foghornName is how a page names a peer: "foghorn-ams", so that it is not
// read as one of the site's hosts.
func foghornName(n string) string {
	if strings.HasPrefix(n, "foghorn") {
		return n
	}
	return "foghorn-" + n
}

// watchPeers hands the engine the watch's alerts, once a second.
func (d *daemon) watchPeers(ctx context.Context, w *peerWatch, clk clock.Clock) {
	for {
		blind, _ := d.cls.Blind()
		for _, a := range w.alerts(clk.Now(), d.peer.Peers(), blind) {
			if _, err := d.eng.Handle(ctx, a); err != nil {
				d.log.Error("cannot record a cluster peer's incident; trying again", "key", a.Key, "err", err)
				continue
			}
			w.told(a)
		}
		select {
		case <-ctx.Done():
			return
		case <-clk.After(time.Second):
		}
	}
}

// clusterHealth is the cluster as /healthz and the dashboard show it.
func (d *daemon) clusterHealth() []dashboard.Peer {
	if d.peer == nil {
		return nil
	}
	out := []dashboard.Peer{{Name: d.peer.Name(), Self: true, Up: true}}
	for _, m := range d.peer.Peers() {
		out = append(out, dashboard.Peer{Name: m.Name, Up: m.Up, Since: m.Since})
	}
	return out
}

// clusterLines are /healthz's lines on the cluster: one for this node and
// one per peer. A lost peer does not make /healthz fail: this node still
// pages, alone.
func (d *daemon) clusterLines() (info, warnings []string) {
	ps := d.clusterHealth()
	if ps == nil {
		return nil, nil
	}
	info = append(info, fmt.Sprintf("cluster: %s, position %d of %d live", ps[0].Name, d.peer.Position()+1, len(d.peer.Members())))
	for _, p := range ps[1:] {
		if p.Up {
			info = append(info, fmt.Sprintf("cluster peer %s: up since %s UTC", p.Name, p.Since.UTC().Format(time.TimeOnly)))
		} else {
			warnings = append(warnings, fmt.Sprintf("cluster peer %s: unreachable since %s UTC; %s pages alone (fail-open)",
				p.Name, p.Since.UTC().Format(time.TimeOnly), ps[0].Name))
		}
	}
	if len(ps) == 1 {
		warnings = append(warnings, "cluster: no peer seen yet; "+ps[0].Name+" pages alone (fail-open)")
	}
	return info, warnings
}

// clusterMetrics are foghorn_cluster_members (live nodes, this one
// included) and foghorn_cluster_peer_up{peer}.
type clusterMetrics struct {
	p   *cluster.Peer
	eng *escalation.Engine
}

var (
	clusterMembersDesc = prometheus.NewDesc("foghorn_cluster_members", "Live nodes of the cluster, this one included.", nil, nil)
	clusterPeerUpDesc  = prometheus.NewDesc("foghorn_cluster_peer_up", "1 while the peer is reachable by gossip, 0 when it is lost.", []string{"peer"}, nil)
	nflogEntriesDesc   = prometheus.NewDesc("foghorn_cluster_log_entries", "Entries in the shared notification log.", nil, nil)
	nflogMergedDesc    = prometheus.NewDesc("foghorn_cluster_log_merged_total", "Entries taken from the other nodes' gossip.", nil, nil)
	nflogPeerDesc      = prometheus.NewDesc("foghorn_cluster_pages_sent_by_peer_total", "Pages this node did not send because another node's log entry came first.", nil, nil)
	nflogTurnsDesc     = prometheus.NewDesc("foghorn_cluster_pages_sent_on_turn_total", "Pages this node sent on its turn: as the first live node, or finding no other node's entry by its turn.", nil, nil)
	// Issue 15's last slices (escalation/replies.go, storms.go).
	noticesPeerDesc  = prometheus.NewDesc("foghorn_cluster_notices_sent_by_peer_total", "Acked-by and resolved notices this node did not send because another node's log entry came first.", nil, nil)
	noticesTurnsDesc = prometheus.NewDesc("foghorn_cluster_notices_sent_on_turn_total", "Acked-by and resolved notices this node sent on its turn.", nil, nil)
	stormsJoinedDesc = prometheus.NewDesc("foghorn_cluster_storms_joined_total", "Storm incidents of this node that joined another node's earlier one because their targets overlap.", nil, nil)
)

func (clusterMetrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- clusterMembersDesc
	ch <- clusterPeerUpDesc
	ch <- nflogEntriesDesc
	ch <- nflogMergedDesc
	ch <- nflogPeerDesc
	ch <- nflogTurnsDesc
	ch <- noticesPeerDesc
	ch <- noticesTurnsDesc
	ch <- stormsJoinedDesc
}

func (c clusterMetrics) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(clusterMembersDesc, prometheus.GaugeValue, float64(len(c.p.Members())))
	for _, m := range c.p.Peers() {
		up := 0.0
		if m.Up {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(clusterPeerUpDesc, prometheus.GaugeValue, up, m.Name)
	}
	st := c.eng.ClusterStats()
	ch <- prometheus.MustNewConstMetric(nflogEntriesDesc, prometheus.GaugeValue, float64(st.Entries))
	ch <- prometheus.MustNewConstMetric(nflogMergedDesc, prometheus.CounterValue, float64(st.Merged))
	ch <- prometheus.MustNewConstMetric(nflogPeerDesc, prometheus.CounterValue, float64(st.Peer))
	ch <- prometheus.MustNewConstMetric(nflogTurnsDesc, prometheus.CounterValue, float64(st.Turns))
	ch <- prometheus.MustNewConstMetric(noticesPeerDesc, prometheus.CounterValue, float64(st.NoticesPeer))
	ch <- prometheus.MustNewConstMetric(noticesTurnsDesc, prometheus.CounterValue, float64(st.NoticesTurns))
	ch <- prometheus.MustNewConstMetric(stormsJoinedDesc, prometheus.CounterValue, float64(st.Storms))
}
