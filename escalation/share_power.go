package escalation

import (
	"context"
	"fmt"
)

// Automated power steps in a cluster. Each node's engine runs the same
// policy for the same outage, so each would hand its power desk the same
// step: the host would be cycled twice. The step takes the notification
// log's turn, as a page does: the node first by name decides it at once
// and writes an entry for it (powerKey) before the step's pages go; the
// next node waits its turn and, finding that entry, leaves the step to the
// peer; finding none (the first node is gone, or never had the outage), it
// decides the step itself. When the nodes cannot talk each is first and
// each decides: the power guard's own rules (its claims shared while they
// could talk, its limits, quorum on its own probes) are then all that
// stands between the two (power.Shared says what that risks).
//
// The turn counts in foghorn_cluster_pages_sent_on_turn_total (or
// _by_peer_total) as a page's does.

// powerKey names a step's automated power action in the log: a page of
// the step to nobody, by no channel, so that an episode adopted later
// re-publishes it with the pages (adopt).
func powerKey(ep string, pass, step int) string { return pageKey(ep, pass, step, "policy", "power") }

// powerTurns takes the power intents of a batch out of it, in a cluster,
// each with its incident's pages: the first node decides them now, in
// order, before the pages; a later node decides them after its turn, and
// only then sends their pages (which wait no more: the turn was taken).
// What is left is dispatched as before.
func (e *Engine) powerTurns(ctx context.Context, intents []Intent) []Intent {
	if e.cl == nil || e.nfl == nil {
		return intents
	}
	type step struct {
		power Intent
		pages []Intent
	}
	var steps []*step
	byInc := map[int64]*step{}
	for _, in := range intents {
		if in.Kind == KindPower && in.logKey != "" {
			s := &step{power: in}
			steps = append(steps, s)
			byInc[in.Incident] = s
		}
	}
	if len(steps) == 0 {
		return intents
	}
	rest := intents[:0:0]
	for _, in := range intents {
		s := byInc[in.Incident]
		switch {
		case s == nil || in.cancel:
			rest = append(rest, in)
		case in.Kind == KindPage:
			in.waited = true
			s.pages = append(s.pages, in)
		case in.Kind != KindPower:
			rest = append(rest, in)
		}
	}
	joined := true
	if e.cl.Joined != nil {
		select {
		case <-e.cl.Joined:
		default:
			joined = false
		}
	}
	now := e.cl.Peer.Position() == 0 && joined
	for _, s := range steps {
		if now {
			e.powerTurn(ctx, s.power, false)
			rest = append(rest, s.pages...)
			continue
		}
		e.spawn(func() {
			if !e.powerTurn(ctx, s.power, true) {
				return // stopping: the pages' claims stay for Recover
			}
			for _, in := range s.pages {
				e.spawn(func() { e.send(ctx, in) })
			}
		})
	}
	return rest
}

// powerTurn decides one automated power step: it is left to the peer whose
// entry for it is in the log, or handed to the power desk and logged.
// wait says to wait this node's turn first; false is returned when the
// engine stopped meanwhile.
func (e *Engine) powerTurn(ctx context.Context, in Intent, wait bool) bool {
	if !wait {
		in.waited = true // the first node: no wait, but a peer's entry still counts
	}
	by, elsewhere, stop := e.takeTurn(ctx, &in)
	if stop {
		return false
	}
	if elsewhere {
		e.log.Info("automated power step left to the peer that took it", "incident", in.Incident, "host", in.Host,
			"power", in.Power, "peer", by.Node, "at", by.At)
		if err := event(ctx, e.db, e.clock.Now(), "power.peer", in.Incident, "engine",
			fmt.Sprintf("automated step %s %s: taken by %s at %s", in.Power, in.Host, by.Node, by.At.UTC().Format("15:04:05 UTC"))); err != nil {
			e.log.Error("cannot record the peer's power step", "incident", in.Incident, "err", err)
		}
		return true
	}
	// The entry first: the peer waiting its turn must find it even while
	// the desk is still at the BMC.
	e.nfl.add(ctx, LogEntry{Key: in.logKey, Kind: "page", Alert: in.alert, Episode: in.episode, Pass: in.pass, Step: in.Step,
		Person: "policy", Channel: "power", By: in.Text})
	if err := e.notify.Notify(ctx, in); err != nil {
		e.log.Error("automated power step not handed over", "incident", in.Incident, "host", in.Host, "power", in.Power, "err", err)
	}
	return true
}
