package main

import (
	"time"

	"foghorn/configs"
	"foghorn/power"
)

// powerKey is the power desk's state in the cluster's gossip.
const powerKey = "power"

// sharePower shares the power desk's confirmation codes and its guard's
// claims with the peers (power.Shared), before the cluster is joined: the
// first exchange carries them. Without [cluster] nothing is shared.
func (d *daemon) sharePower(cfg *configs.Config) {
	if d.peer == nil {
		return
	}
	sh := d.guard.Share(power.ShareOptions{Node: d.peer.Name(), Live: func() int { return len(d.peer.Members()) - 1 },
		Settle: powerSettle(cfg.Cluster.PeerTimeout.Duration)})
	ch := d.peer.AddState(powerKey, sh)
	sh.SetBroadcast(ch.Broadcast)
	d.m.reg.MustRegister(
		counterFunc("foghorn_cluster_power_claims_merged_total", "Power actions claimed by the other nodes (or changes to them) taken from their gossip.",
			func() uint64 { return sh.Stats().Claims }),
		counterFunc("foghorn_cluster_power_codes_merged_total", "Confirmation codes made, used or cancelled on the other nodes, taken from their gossip.",
			func() uint64 { return sh.Stats().Codes }),
		counterFunc("foghorn_cluster_power_claims_lost_total", "Power actions of this node refused because another node claimed one first.",
			func() uint64 { return sh.Stats().Lost }))
}

// powerSettle is how long a power claim waits for the peer's echo at
// most: a probe interval (a fifth of peer_timeout, which a live peer
// answers within), between 200 ms and 2 s. The echo of a live peer comes
// in a round trip, long before.
func powerSettle(peerTimeout time.Duration) time.Duration {
	return min(max(peerTimeout/5, 200*time.Millisecond), 2*time.Second)
}
