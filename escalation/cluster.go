package escalation

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync/atomic"
	"time"
)

// Peer is what the engine needs of the cluster (package cluster's Peer):
// this node's place among the live nodes sorted by name. 0 sends at once;
// the n-th waits n × peer_timeout for the others to send first.
type Peer interface {
	Position() int
	// Live reports whether the node named is among the live ones now.
	Live(node string) bool
}

// Cluster makes the engine one of two or three foghorns that page as one
// (Options.Cluster). cmd builds it from [cluster]; without it nothing here
// runs and a page goes out as soon as it is due.
type Cluster struct {
	Node        string        // this foghorn's name in the cluster
	Peer        Peer          // where this node stands among the live ones
	PeerTimeout time.Duration // [cluster] peer_timeout: each position waits this much longer
	// Retention is how long the log keeps an entry: the retention of
	// notifications ([server] retention).
	Retention time.Duration
	// Joined is closed once this node has tried to join its peers (and,
	// when it reached one, has its full state). A page due before then
	// (one Recover found overdue at a restart) waits for it: the node
	// must not decide on a log that has not heard what the peer sent
	// while it was down. nil: no wait.
	Joined <-chan struct{}
}

// Log is the notification log shared with the other nodes: register it
// as a cluster State and give it the channel (SetBroadcast). nil without
// a cluster.
func (e *Engine) Log() *Log { return e.nfl }

// takeTurn is who sends, before a page is handed to the pager: the node
// at position n waits n × peer_timeout on the engine's clock, then sends
// only if the log has no entry for the page by then (a node before it
// sent it) recent enough to be the same page (sameWindow). It returns
// that entry when the page went out elsewhere, and stop when the engine
// stopped during the wait (the claim stays for Recover). A page whose
// incident joined the peer's episode while it waited takes that name.
func (e *Engine) takeTurn(ctx context.Context, in *Intent) (by LogEntry, sentElsewhere, stop bool) {
	if e.cl.Joined != nil {
		select {
		case <-e.cl.Joined:
		case <-e.clock.After(sameWindow * e.cl.PeerTimeout): // fail-open: send on what this node knows
		case <-e.done:
			return LogEntry{}, false, true
		}
	}
	start := e.clock.Now()
	pos := e.cl.Peer.Position()
	if pos > 0 && !in.waited {
		if !e.pause(in.ID, time.Duration(pos)*e.cl.PeerTimeout) {
			return LogEntry{}, false, true
		}
	}
	e.rename(ctx, in)
	by, sentElsewhere = e.nfl.get(in.logKey)
	heard := sentElsewhere                  // the log had the page's word at this node's turn
	if sentElsewhere && by.Kind != "page" { // sending or unsent
		if by, sentElsewhere, stop = e.awaitSender(in, by); stop {
			return LogEntry{}, false, true
		}
	}
	if sentElsewhere && by.At.Before(start.Add(-e.cl.PeerTimeout*sameWindow)) {
		// Sent long before this node's page came due: not the same page
		// but an earlier one of a node further on in the outage (this one
		// joined late). A duplicate is better than a lost page.
		sentElsewhere = false
	}
	// Settle only when the log had nothing at the turn: a node that
	// waited on another's "sending" (awaitSender) has heard it out.
	if !sentElsewhere && !heard && pos > 0 && in.Kind == KindPage {
		e.logPage(ctx, *in, kindSending)
		in.said = true
		var stop bool
		if by, sentElsewhere, stop = e.yieldToEarlier(in, start); stop {
			return LogEntry{}, false, true
		}
	}
	switch {
	case in.Kind != KindPage && sentElsewhere: // a notice (replies.go)
		e.stats.noticesPeer.Add(1)
	case in.Kind != KindPage:
		e.stats.noticesTurns.Add(1)
	case sentElsewhere:
		e.stats.peer.Add(1)
	default:
		e.stats.turns.Add(1)
	}
	return by, sentElsewhere, false
}

// Kinds of page entries besides "page" (sent): a node that took its turn
// says so before it hands the page over ("sending"), so a node after it
// does not take a send queue (a storm behind Twilio's rate, a slow API) for
// a dead sender; a send that failed for good says so ("unsent"), so the
// next node tries at once instead of waiting.
const (
	kindSending = "sending"
	kindUnsent  = "unsent"
)

// awaitSender waits, after this node's turn came, while another live node
// has said it is sending the page: until its entry says sent (then the
// page went out there) or unsent, the sender is no longer live, or
// sameWindow × peer_timeout passed (fail-open: a duplicate rather than a
// page lost to a sender stuck without dying). An entry of this node's own
// (a claim from before a restart) is not waited for.
func (e *Engine) awaitSender(in *Intent, by LogEntry) (LogEntry, bool, bool) {
	deadline := e.clock.Now().Add(sameWindow * e.cl.PeerTimeout)
	poll := max(e.cl.PeerTimeout/10, 10*time.Millisecond)
	for {
		switch {
		case by.Node == e.cl.Node || by.Kind == kindUnsent:
			return by, false, false
		case by.Kind != kindSending:
			return by, true, false
		case !e.cl.Peer.Live(by.Node):
			e.log.Info("page: the node sending it was lost; sending it here", "key", in.logKey, "sender", by.Node)
			return by, false, false
		}
		if first, ok := e.nfl.earliest(in.logKey); ok && first.Kind == "page" {
			return first, true, false // sent by a node before the one still saying "sending" (it yielded)
		}
		if !e.clock.Now().Before(deadline) {
			e.log.Warn("page: the node sending it has not said it went out; sending it here too (a duplicate is better than a lost page)",
				"key", in.logKey, "sender", by.Node, "since", by.At)
			return by, false, false
		}
		if !e.pause(in.ID, poll) {
			return LogEntry{}, false, true
		}
		var ok bool
		if by, ok = e.nfl.get(in.logKey); !ok {
			return by, false, false
		}
	}
}

// yieldToEarlier settles a page a node after the first is about to send:
// it has said "sending", waits peer_timeout/5 for the word of a node
// before it, and yields to one that said it is sending or sent the same
// page, waiting for that one as awaitSender does. Without it, two nodes
// whose turns came within one gossip delay of each other both sent: the
// first node opened the incident late (100 incidents at once, the same
// one opened up to 15 s apart on the two), each read the log before the
// other's "sending" arrived, and last-writer-wins kept only the later
// entry (Log.earlier keeps the earlier node's). The first node never
// settles, so a page is as quick as before while it lives.
func (e *Engine) yieldToEarlier(in *Intent, start time.Time) (LogEntry, bool, bool) {
	if !e.pause(in.ID, e.cl.PeerTimeout/5) {
		return LogEntry{}, false, true
	}
	deadline := e.clock.Now().Add(sameWindow * e.cl.PeerTimeout)
	poll := max(e.cl.PeerTimeout/10, 10*time.Millisecond)
	for {
		by, ok := e.nfl.earliest(in.logKey)
		switch {
		case !ok || by.Kind == kindUnsent || by.At.Before(start.Add(-e.cl.PeerTimeout*sameWindow)):
			return by, false, false
		case by.Kind != kindSending:
			return by, true, false
		case !e.cl.Peer.Live(by.Node):
			e.log.Info("page: the earlier node sending it was lost; sending it here", "key", in.logKey, "sender", by.Node)
			return by, false, false
		case !e.clock.Now().Before(deadline):
			e.log.Warn("page: the earlier node sending it has not said it went out; sending it here too (a duplicate is better than a lost page)",
				"key", in.logKey, "sender", by.Node, "since", by.At)
			return by, false, false
		}
		if !e.pause(in.ID, poll) {
			return LogEntry{}, false, true
		}
	}
}

// pause waits d on the engine's clock for the page id, as a wait the
// tests' settle counts (Engine.waiting); false when the engine stopped.
func (e *Engine) pause(id int64, d time.Duration) bool {
	e.turns.Lock()
	e.waiting[id] = e.clock.Now().Add(d)
	e.turns.Unlock()
	defer func() {
		e.turns.Lock()
		delete(e.waiting, id)
		e.turns.Unlock()
	}()
	select {
	case <-e.clock.After(d):
		return true
	case <-e.done:
		return false
	}
}

// logPage records in the shared log a page this node is about to hand
// over (kindSending) or could not send (kindUnsent).
func (e *Engine) logPage(ctx context.Context, in Intent, kind string) {
	if e.nfl == nil || in.logKey == "" {
		return
	}
	e.nfl.add(ctx, LogEntry{Key: in.logKey, Kind: kind, Alert: in.alert, Episode: in.episode, Pass: in.pass, Step: in.Step,
		Person: in.Person, Channel: string(in.Channel)})
}

// rename gives a page the episode its incident has now: both nodes opened
// an incident for the outage before either heard of the other, and this
// one adopted the other's episode (adopt) after the page was claimed.
func (e *Engine) rename(ctx context.Context, in *Intent) {
	if in.episode == "" {
		return
	}
	var ep string
	if err := e.db.QueryRowContext(ctx, `SELECT episode FROM incidents WHERE id = ?`, in.Incident).Scan(&ep); err != nil || ep == in.episode || ep == "" {
		return
	}
	kind, _, _ := strings.Cut(in.logKey, "/") // "page", or "notice" (replies.go)
	if rest, ok := strings.CutPrefix(in.logKey, kind+"/"+in.episode+"/"); ok {
		in.logKey, in.episode = kind+"/"+ep+"/"+rest, ep
		if _, err := e.db.ExecContext(ctx, `UPDATE notifications SET logkey = ? WHERE id = ?`, in.logKey, in.ID); err != nil {
			e.log.Warn("notification log: renamed page not stored", "notification", in.ID, "err", err)
		}
	}
}

// ClusterStats counts what the cluster changed in paging, for /metrics.
type ClusterStats struct {
	Entries int    // live entries in the shared log
	Merged  uint64 // entries taken from the peers
	Peer    uint64 // pages not sent here: a peer had sent them
	Turns   uint64 // pages sent here after taking the turn (first, or nobody before had sent)
	// Notices as Peer and Turns count pages: "acked by" and "resolved"
	// (replies.go).
	NoticesPeer, NoticesTurns uint64
	// Storms counts incidents of this node that joined another node's
	// episode because their targets overlap (storms.go).
	Storms uint64
}

type clusterStats struct {
	peer, turns               atomic.Uint64
	noticesPeer, noticesTurns atomic.Uint64
	storms                    atomic.Uint64
}

// ClusterStats is the cluster's counts; zero without a cluster.
func (e *Engine) ClusterStats() ClusterStats {
	if e.nfl == nil {
		return ClusterStats{}
	}
	return ClusterStats{Entries: len(e.nfl.Entries()), Merged: e.nfl.mergedN.Load(), Peer: e.stats.peer.Load(), Turns: e.stats.turns.Load(),
		NoticesPeer: e.stats.noticesPeer.Load(), NoticesTurns: e.stats.noticesTurns.Load(), Storms: e.stats.storms.Load()}
}

// sameWindow, in peer timeouts, is how far apart the two nodes' copies of
// one page may come due: their incidents for an outage open as their
// probes see it, seconds apart, and a peer is deemed gone after four.
const sameWindow = 4

// logSent records a page handed to its channel in the shared log.
func (e *Engine) logSent(ctx context.Context, in Intent) {
	if e.nfl == nil || in.logKey == "" {
		return
	}
	alert, ep, pass := in.alert, in.episode, in.pass
	if ep == "" { // resent by Recover: the row has only the key
		if inc, err := getIncident(ctx, e.db, in.Incident); err == nil {
			alert, ep, pass = inc.Key, inc.Episode, inc.Pages
		}
	}
	var provider string
	if p, ok := e.notify.(ProviderIDs); ok {
		provider = p.ProviderID(ctx, in.ID)
	}
	en := LogEntry{Key: in.logKey, Kind: "page", Alert: alert, Episode: ep, Pass: pass, Step: in.Step,
		Person: in.Person, Channel: string(in.Channel), Provider: provider, Short: in.Short,
		Summary: clip(in.Summary, 100)}
	if in.Kind != KindPage {
		en.Kind = "notice" // "acked by", "resolved": sent once, as a page is (replies.go)
		e.nfl.add(ctx, en)
		return
	}
	e.nfl.add(ctx, en)
	// The incident may have joined the peer's episode while the page was
	// on its way (after rename, before this entry): adopt re-publishes
	// only the entries it found, so this one is said under the adopted
	// name here. Whichever of the two comes second sees the other.
	var now string
	if err := e.db.QueryRowContext(ctx, `SELECT episode FROM incidents WHERE id = ?`, in.Incident).Scan(&now); err == nil && now != "" && now != ep {
		en.Key, en.Episode = pageKey(now, en.Pass, en.Step, en.Person, en.Channel), now
		e.nfl.add(ctx, en)
	}
}

// episodeFor names the outage a new incident for alert belongs to: the
// one the log already has open (the other node opened it first), or a new
// one named after this open. fresh says it is new: logEpisode announces it
// once the incident is committed. The incident counts its passes from
// the start either way: both nodes started this outage's policy within
// seconds of each other, so their n-th passes are the same pages.
func (e *Engine) episodeFor(alert string, now time.Time) (ep string, fresh bool) {
	if ep = e.nfl.liveEpisode(alert); ep != "" {
		return ep, false
	}
	return episodeName(alert, now, e.cl.Node), true
}

func (e *Engine) logEpisode(ctx context.Context, alert, ep string) {
	e.nfl.add(ctx, LogEntry{Key: episodeKey(ep), Kind: "episode", Alert: alert, Episode: ep})
}

// shareEnd tells the others an incident was acked or resolved here.
func (e *Engine) shareEnd(ctx context.Context, inc *Incident, kind, by string) {
	if e.nfl == nil || inc == nil || inc.Episode == "" {
		return
	}
	key := ackKey(inc.Episode)
	if kind == "resolve" {
		key = resolveKey(inc.Episode)
	}
	e.nfl.add(ctx, LogEntry{Key: key, Kind: kind, Alert: inc.Key, Episode: inc.Episode, By: by})
}

// merged acts on what the peer's log brought (Log.Merge): an ack or a
// resolve there acks or resolves this node's incident of the same episode
// and hangs up its calls; an episode opened there first is adopted by this
// node's incident for the same outage. It stores them first (Log.Merge
// leaves that to it) and runs as a send does, so the cluster's receiving
// goroutine is not held by the store.
func (e *Engine) merged(es []LogEntry) {
	select {
	case <-e.done:
		// Stopped: stored now; Recover applies what the store kept (applyLog).
		e.nfl.persist(context.Background(), es)
		return
	default:
	}
	e.spawn(func() {
		ctx := context.Background()
		e.nfl.persist(ctx, es)
		storm := false
		for _, en := range es {
			switch en.Kind {
			case "ack", "resolve":
				e.applyEnd(ctx, en)
			case "episode":
				e.adopt(ctx, en, 0)
				storm = true
			case "targets":
				storm = true
			}
		}
		if storm {
			e.stormCheck(ctx) // storms.go
		}
	})
}

// applyLog, at start, catches up with the acks and resolves the log
// kept (or the peer sent while this engine stopped).
func (e *Engine) applyLog(ctx context.Context) {
	for _, en := range e.nfl.Entries() {
		if en.Kind == "ack" || en.Kind == "resolve" {
			e.applyEnd(ctx, en)
		}
	}
}

func (e *Engine) applyEnd(ctx context.Context, en LogEntry) {
	var id int64
	var state string
	var acked sql.NullInt64
	// By the episode alone: a storm's incident here may have another key
	// than the peer's of the same outage (storms.go).
	err := e.db.QueryRowContext(ctx, `SELECT id, state, acked_at FROM incidents WHERE episode = ? AND state != 'resolved' ORDER BY id DESC LIMIT 1`,
		en.Episode).Scan(&id, &state, &acked)
	if err != nil || en.Node == e.cl.Node {
		return // no incident here for that episode, already resolved, or our own (applied when made)
	}
	via := "peer " + en.Node
	switch en.Kind {
	case "ack":
		// Not an ack this node already applied: one that went stale and
		// paged again is not acked again by its own old entry.
		if state != Triggered || (acked.Valid && acked.Int64 >= ms(en.At)) {
			return
		}
		if _, err := e.ack(ctx, id, en.By, via, false); err != nil {
			e.log.Warn("the peer's ack not applied here", "incident", id, "episode", en.Episode, "by", en.By, "err", err)
		}
	case "resolve":
		if into, merged := strings.CutPrefix(en.By, mergedInto); merged {
			// Not an end: the node that wrote it gave this episode up for
			// an earlier one (adopt), and so does this node, which holds it
			// too (with three nodes, one may have adopted it in between).
			if ep, ok := e.nfl.get(episodeKey(into)); ok {
				e.adopt(ctx, ep, id)
			}
			return
		}
		if _, err := e.resolveBy(ctx, id, en.By, via, false); err != nil {
			e.log.Warn("the peer's resolve not applied here", "incident", id, "episode", en.Episode, "by", en.By, "err", err)
		}
	}
}

// adopt moves this node's open incident for en's alert to en's episode
// when en was opened first: both nodes opened an incident for the same
// outage before either heard of the other's, and both must name its pages
// alike. The episode given up is ended in the log, so a later outage of
// the key does not take it for an open one. id, when not 0, is the
// incident to move (a storm of another key, storms.go).
func (e *Engine) adopt(ctx context.Context, en LogEntry, id int64) (moved bool) {
	if _, over := e.nfl.get(resolveKey(en.Episode)); over {
		return false
	}
	var mine string
	err := e.write(ctx, func(tx *sql.Tx, now time.Time) ([]Intent, error) {
		var err error
		if id != 0 {
			err = tx.QueryRowContext(ctx, `SELECT episode FROM incidents WHERE id = ? AND state != 'resolved'`, id).Scan(&mine)
		} else {
			err = tx.QueryRowContext(ctx, `SELECT id, episode FROM incidents WHERE key = ? AND state != 'resolved' ORDER BY id DESC LIMIT 1`, en.Alert).Scan(&id, &mine)
		}
		if err != nil || mine == en.Episode || mine == "" {
			return nil, nil
		}
		own, ok := e.nfl.get(episodeKey(mine))
		if ok && !earlier(en, own) {
			return nil, nil // ours was first: the peer adopts ours
		}
		if _, err := tx.ExecContext(ctx, `UPDATE incidents SET episode = ? WHERE id = ?`, en.Episode, id); err != nil {
			return nil, fmt.Errorf("escalation: adopt episode %s: %w", en.Episode, err)
		}
		moved = true
		return nil, event(ctx, tx, now, "incident.episode", id, "engine", fmt.Sprintf("same outage as %s's (opened first): %s", en.Node, en.Episode))
	})
	if err != nil {
		e.log.Warn("the peer's episode not adopted", "episode", en.Episode, "err", err)
		return false
	}
	if moved {
		e.log.Info("incident joined the peer's episode", "incident", id, "alert", en.Alert, "episode", en.Episode, "was", mine, "peer", en.Node)
		e.nfl.add(ctx, LogEntry{Key: resolveKey(mine), Kind: "resolve", Alert: en.Alert, Episode: mine, By: mergedInto + en.Episode})
		// What this node sent under the episode given up was sent for
		// the peer's too: say so under its name, or the peer, waiting
		// its turn for that page, finds no entry and sends it again.
		for _, old := range e.nfl.Entries() {
			if (old.Kind != "page" && old.Kind != "notice" && old.Kind != kindSending) || old.Episode != mine {
				continue
			}
			cp := old
			cp.Key, cp.Episode = strings.Replace(old.Key, "/"+mine+"/", "/"+en.Episode+"/", 1), en.Episode
			e.nfl.add(ctx, cp)
		}
	}
	return moved
}

// mergedInto begins the By of an episode's end written by adopt: the
// episode was merged into the one named after it, not resolved.
const mergedInto = "merged into "

// spawn runs fn as one of the engine's sends: Wait waits for it.
func (e *Engine) spawn(fn func()) {
	e.sends.Add(1)
	e.busy.Add(1)
	go func() {
		defer e.sends.Done()
		defer e.busy.Add(-1)
		fn()
	}()
}
