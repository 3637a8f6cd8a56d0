package escalation

import (
	"context"
	"slices"
	"strings"
)

// Storms across the foghorns of a cluster.
//
// A storm's incident is named after the first target a node saw fail
// ("target:rt1"), and two nodes may see the same targets fail in another
// order: one outage, two keys, and adoption by key (adopt) never joins
// them. So each node also says which targets its storm incidents tell of
// (a "targets" entry per episode and node), and an incident of this node
// whose targets overlap the peer's incident of an earlier episode adopts
// that episode, as it would one of its own key: the first open wins (by
// time, then node name), so both nodes settle on the same name, the
// peer's pages are found under it, and one ack or resolve ends both.
// The overlap is judged again whenever either side's targets or episodes
// change: the storm grows on each node as its probes see more targets
// fail, and the two views meet within a probe interval or two.

// maxTargets caps a "targets" entry.
const maxTargets = 64

// targetsKey names what node says episode ep tells of.
func targetsKey(ep, node string) string { return "targets/" + ep + "/" + node }

// shareTargets logs the targets inc tells of when they changed (a storm
// grew), and judges the overlap with the peer's incidents again, as for
// an incident just opened. It runs outside the engine's lock (adopt
// takes it).
func (e *Engine) shareTargets(ctx context.Context, inc *Incident, children []string) {
	fresh := inc.Opened.Equal(inc.Updated)
	lead, ok := strings.CutPrefix(inc.Key, "target:")
	if !ok || inc.Episode == "" || inc.State == Resolved {
		return
	}
	changed := false
	if len(children) > 0 {
		ts := append([]string{lead}, children...)
		slices.Sort(ts)
		ts = slices.Compact(ts)
		// Enough to find the overlap of one outage seen from two sides
		// (both lists are sorted), and a storm of hundreds is not
		// gossiped again for every target that joins.
		ts = ts[:min(len(ts), maxTargets)]
		key := targetsKey(inc.Episode, e.cl.Node)
		if old, ok := e.nfl.get(key); !ok || !slices.Equal(old.Targets, ts) {
			e.nfl.add(ctx, LogEntry{Key: key, Kind: "targets", Alert: inc.Key, Episode: inc.Episode, Targets: ts})
			changed = true
		}
	}
	if changed || fresh {
		e.stormCheck(ctx)
	}
}

// stormCheck moves each open target incident of this node to the earliest
// episode of another node whose targets overlap its own, when that one
// opened first. One check at a time: two merges must not move an
// incident twice.
func (e *Engine) stormCheck(ctx context.Context) {
	e.stormMu.Lock()
	defer e.stormMu.Unlock()
	type open struct {
		id      int64
		key, ep string
	}
	rows, err := e.db.QueryContext(ctx, `SELECT id, key, episode FROM incidents WHERE state != 'resolved' AND episode != '' AND key LIKE 'target:%'`)
	if err != nil {
		e.log.Warn("storms: open incidents not read", "err", err)
		return
	}
	var mine []open
	held := map[string]bool{}
	for rows.Next() {
		var o open
		if rows.Scan(&o.id, &o.key, &o.ep) == nil {
			mine = append(mine, o)
			held[o.ep] = true
		}
	}
	rows.Close()
	if len(mine) == 0 {
		return
	}
	heads := map[string]LogEntry{} // episode -> its episode entry
	peer := map[string][]string{}  // target -> the other nodes' episodes telling of it
	own := map[string][]string{}   // episode -> the targets this node's incident tells of
	ended := map[string]bool{}     // episodes resolved (or merged into another)
	var theirs []LogEntry
	for _, en := range e.nfl.match(func(en LogEntry) bool {
		return en.Kind == "episode" || en.Kind == "targets" || en.Kind == "resolve"
	}) {
		switch {
		case en.Kind == "resolve":
			ended[en.Episode] = true
		case en.Kind == "episode":
			heads[en.Episode] = en
			if en.Node != e.cl.Node {
				theirs = append(theirs, en)
			}
		case en.Node == e.cl.Node:
			own[en.Episode] = en.Targets
		default:
			theirs = append(theirs, en)
		}
	}
	for _, en := range theirs {
		if ended[en.Episode] {
			continue
		}
		ts := en.Targets
		if en.Kind == "episode" {
			lead, ok := strings.CutPrefix(en.Alert, "target:")
			if !ok {
				continue
			}
			ts = []string{lead}
		}
		for _, t := range ts {
			if !slices.Contains(peer[t], en.Episode) {
				peer[t] = append(peer[t], en.Episode)
			}
		}
	}
	for _, o := range mine {
		head, ok := heads[o.ep]
		if !ok {
			continue
		}
		ts := own[o.ep]
		if len(ts) == 0 {
			ts = []string{strings.TrimPrefix(o.key, "target:")}
		}
		var best LogEntry
		for _, t := range ts {
			for _, ep := range peer[t] {
				h, ok := heads[ep]
				if !ok || ep == o.ep || held[ep] {
					continue // not known yet, ours already, or another incident's here
				}
				if best.Episode == "" || earlier(h, best) {
					best = h
				}
			}
		}
		if best.Episode == "" || !earlier(best, head) {
			continue // no overlap, or ours opened first: the peer adopts ours
		}
		e.log.Info("storm: same outage as the peer's incident (their targets overlap)", "incident", o.id, "key", o.key,
			"peer_key", best.Alert, "episode", best.Episode, "peer", best.Node)
		if e.adopt(ctx, best, o.id) {
			e.stats.storms.Add(1)
		}
		held[best.Episode] = true
	}
}
