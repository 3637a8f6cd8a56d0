package escalation

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"foghorn/clock"
	"foghorn/store"
)

// Log is the notification log the foghorns of a [cluster] share: what was
// sent to whom, when and on which channel, for which incident episode and
// pass, and the acks and resolves that stop the others' calls. Modelled on
// Alertmanager's nflog: every entry is keyed the same way on every node,
// merges are last writer wins (by timestamp, then node name, so two nodes
// always agree), entries expire after the retention, and the full state is
// what a node pulls from the other when it joins. It is a State for the
// cluster package: MarshalBinary is the live entries, Merge takes the
// peer's; SetBroadcast gives it the channel each new entry is gossiped on.
// Each node keeps its copy in its own SQLite (table nflog), so a restart
// keeps it.
type Log struct {
	node      string
	db        *store.DB
	clock     clock.Clock
	log       *slog.Logger
	retention time.Duration

	mu        sync.Mutex
	entries   map[string]LogEntry
	broadcast func([]byte)
	merged    func([]LogEntry) // the engine: acks, resolves and episodes from the peer
	mergedN   atomic.Uint64    // entries taken from peers
	lastGC    time.Time
	// earlier holds, by page key, the page entries ("sending", "page",
	// "unsent") of nodes before this one by name, even those the
	// last-writer-wins merge drops: two nodes that each said "sending"
	// before hearing of the other keep only the later entry, and the
	// later node must still learn that the earlier one is sending
	// (Engine.yieldToEarlier).
	earlier map[string]LogEntry
}

// earlierTTL is how long an entry stays in Log.earlier: far longer than
// any turn (sameWindow × peer_timeout), far shorter than the log's
// retention.
const earlierTTL = time.Hour

// LogEntry is one line of the notification log.
type LogEntry struct {
	Key     string `json:"key"`     // the same on every node (pageKey, episodeKey, ackKey, resolveKey, noticeKey; targetsKey names its node)
	Kind    string `json:"kind"`    // "page", "episode", "ack", "resolve", "notice", "targets"
	Alert   string `json:"alert"`   // the incident's key ("target:rt1")
	Episode string `json:"episode"` // which outage of that key
	Pass    int    `json:"pass,omitempty"`
	Step    int    `json:"step,omitempty"`
	Person  string `json:"person,omitempty"`
	Channel string `json:"channel,omitempty"`
	// Provider is the channel vendor's id for what was sent (a Twilio
	// SID), when the engine knows it.
	Provider string    `json:"provider,omitempty"`
	By       string    `json:"by,omitempty"` // who acked or resolved
	Node     string    `json:"node"`         // the foghorn that wrote it
	At       time.Time `json:"at"`
	Expires  time.Time `json:"expires"`

	// Short is the incident number a page or notice said ("#3 ...
	// reply 3"), the sending node's: a reply on any node means the
	// episode of the last text that carried it (replies.go).
	Short int `json:"short,omitempty"`
	// Targets are the targets an incident of Episode tells of, as the
	// node that wrote it sees them ("targets" entries, storms.go).
	Targets []string `json:"targets,omitempty"`
	// Summary is a page's one line, for a reply on a node that does not
	// have the incident (replies.go).
	Summary string `json:"summary,omitempty"`
}

// newer reports whether e wins over old: the later timestamp, then the
// greater node name, so both sides of a merge pick the same entry.
func (e LogEntry) newer(old LogEntry) bool {
	if !e.At.Equal(old.At) {
		return e.At.After(old.At)
	}
	if e.Node != old.Node {
		return e.Node > old.Node
	}
	return kindRank(e.Kind) > kindRank(old.Kind) // one node's "sending" then "page" in the same instant
}

// kindRank orders one page's entries of one node written at the same
// instant: said sending first, then the outcome.
func kindRank(kind string) int {
	switch kind {
	case kindSending:
		return 0
	case kindUnsent:
		return 1
	}
	return 2
}

// Entry keys. An episode is one outage of an alert key, named by the first
// node that opened an incident for it (episodeName); every node's incident
// for that outage takes the same name (adopt). A page is named by its
// episode, the pass of the escalation that paged (the n-th time the policy
// paged in this episode, counted alike on both nodes because they run the
// same policy), and the person and channel: neither node's own incident
// number nor its clock enters the name.
//
// The name has the node too: nodes that open the same outage in the same
// millisecond (three nodes often do) must not write one episode key with
// two values, or they decide on different ones before the log converges
// (found by TestHAThreeNodesAckOnAny...: two nodes named their episodes
// alike, the third adopted the later one, and its ack missed the caller).
func episodeName(alert string, opened time.Time, node string) string {
	return fmt.Sprintf("%s@%d@%s", alert, opened.UnixMilli(), node)
}

func episodeKey(ep string) string { return "episode/" + ep }
func ackKey(ep string) string     { return "ack/" + ep }
func resolveKey(ep string) string { return "resolve/" + ep }

func pageKey(ep string, pass, step int, person, channel string) string {
	return fmt.Sprintf("page/%s/%d/%d/%s/%s", ep, pass, step, person, channel)
}

func newLog(db *store.DB, node string, clk clock.Clock, lg *slog.Logger, retention time.Duration) *Log {
	if retention <= 0 {
		retention = 90 * 24 * time.Hour
	}
	return &Log{node: node, db: db, clock: clk, log: lg, retention: retention, entries: map[string]LogEntry{}, earlier: map[string]LogEntry{}}
}

// SetBroadcast sets what gossips a new entry to the other nodes (the
// cluster's Channel.Broadcast); nil: nothing is gossiped.
func (l *Log) SetBroadcast(f func([]byte)) {
	l.mu.Lock()
	l.broadcast = f
	l.mu.Unlock()
}

// load reads the persisted log (Engine.Recover, at start).
func (l *Log) load(ctx context.Context) error {
	now := l.clock.Now()
	l.dropExpired(ctx, now)
	rows, err := l.db.QueryContext(ctx, `SELECT entry FROM nflog`)
	if err != nil {
		return fmt.Errorf("escalation: notification log: load: %w", err)
	}
	defer rows.Close()
	l.mu.Lock()
	defer l.mu.Unlock()
	for rows.Next() {
		var raw string
		if err := rows.Scan(&raw); err != nil {
			return fmt.Errorf("escalation: notification log: load: %w", err)
		}
		var e LogEntry
		if err := json.Unmarshal([]byte(raw), &e); err != nil {
			l.log.Warn("notification log: unreadable entry skipped", "err", err)
			continue
		}
		if old, ok := l.entries[e.Key]; !ok || e.newer(old) {
			l.entries[e.Key] = e
		}
	}
	return rows.Err()
}

// add records a new entry of this node, keeps it and gossips it. It
// returns false when the log already has that entry from a later write
// (the peer's, or a clock behind): then nothing changes.
func (l *Log) add(ctx context.Context, e LogEntry) bool {
	e.Node = l.node
	e.At = l.clock.Now()
	e.Expires = e.At.Add(l.retention)
	l.mu.Lock()
	if old, ok := l.entries[e.Key]; ok && !e.newer(old) {
		l.mu.Unlock()
		return false
	}
	l.entries[e.Key] = e
	send := l.broadcast
	gc := l.gcLocked(e.At)
	l.mu.Unlock()
	if gc {
		l.dropExpired(ctx, e.At)
	}
	l.persist(ctx, []LogEntry{e})
	if send != nil {
		b, _ := json.Marshal([]LogEntry{e})
		send(b)
	}
	return true
}

// get is the live entry named key.
func (l *Log) get(key string) (LogEntry, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.entries[key]
	if !ok || !e.Expires.After(l.clock.Now()) {
		return LogEntry{}, false
	}
	return e, true
}

// Entries is the live log, ordered by key: what a node would hand a
// joining peer.
func (l *Log) Entries() []LogEntry {
	now := l.clock.Now()
	l.mu.Lock()
	out := make([]LogEntry, 0, len(l.entries))
	for _, e := range l.entries {
		if e.Expires.After(now) {
			out = append(out, e)
		}
	}
	l.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// MarshalBinary is the live log, for the cluster's full-state push/pull.
func (l *Log) MarshalBinary() ([]byte, error) {
	b, err := json.Marshal(l.Entries())
	if err != nil {
		return nil, fmt.Errorf("escalation: notification log: encode: %w", err)
	}
	return b, nil
}

// Merge takes entries from a peer (a gossiped entry or its full state):
// each one newer than ours replaces it, is kept in the store, gossiped on
// (a third node may not have it yet) and handed to the engine, which acts
// on acks, resolves and episodes.
func (l *Log) Merge(b []byte) error {
	var in []LogEntry
	if err := json.Unmarshal(b, &in); err != nil {
		return fmt.Errorf("escalation: notification log: decode a peer's entries: %w", err)
	}
	now := l.clock.Now()
	var fresh []LogEntry
	l.mu.Lock()
	for _, e := range in {
		if e.Key == "" || !e.Expires.After(now) {
			continue
		}
		l.noteEarlierLocked(e)
		if old, ok := l.entries[e.Key]; ok && !e.newer(old) {
			continue
		}
		l.entries[e.Key] = e
		fresh = append(fresh, e)
	}
	send, merged := l.broadcast, l.merged
	gc := l.gcLocked(now)
	l.mu.Unlock()
	if gc {
		l.dropExpired(context.Background(), now)
	}
	if len(fresh) == 0 {
		return nil
	}
	l.mergedN.Add(uint64(len(fresh)))
	if send != nil {
		b, _ := json.Marshal(fresh)
		send(b)
	}
	if merged != nil {
		// The engine stores them, out of the cluster's receiving
		// goroutine: a store busy with a storm's incidents must not hold
		// the packets behind (memberlist reads them one by one), or the
		// peer's entries come after this node's turn.
		merged(fresh)
		return nil
	}
	l.persist(context.Background(), fresh)
	return nil
}

// gcLocked drops expired entries from memory, at most once a minute, and
// says whether it did (the caller then deletes them from the store, out of
// the lock); l.mu is held.
func (l *Log) gcLocked(now time.Time) bool {
	if now.Sub(l.lastGC) < time.Minute {
		return false
	}
	l.lastGC = now
	for k, e := range l.entries {
		if !e.Expires.After(now) {
			delete(l.entries, k)
		}
	}
	for k, e := range l.earlier {
		if now.Sub(e.At) > earlierTTL {
			delete(l.earlier, k)
		}
	}
	return true
}

// noteEarlierLocked keeps e in l.earlier when it is a page entry of a node
// before this one: the first such node's, and of that node the newest
// (its "page" after its "sending"). l.mu is held.
func (l *Log) noteEarlierLocked(e LogEntry) {
	if e.Node >= l.node || (e.Kind != kindSending && e.Kind != kindUnsent && e.Kind != "page") {
		return
	}
	old, ok := l.earlier[e.Key]
	switch {
	case !ok, e.Node < old.Node, e.Node == old.Node && e.newer(old):
		l.earlier[e.Key] = e
	}
}

// earliest is the page entry of key from the first node before this one
// that wrote one, if any.
func (l *Log) earliest(key string) (LogEntry, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.earlier[key]
	return e, ok
}

func (l *Log) dropExpired(ctx context.Context, now time.Time) {
	if _, err := l.db.ExecContext(ctx, `DELETE FROM nflog WHERE expires <= ?`, ms(now)); err != nil {
		l.log.Warn("notification log: expired entries not deleted from the store", "err", err)
	}
}

// persist writes entries to this node's store: a restart keeps the log.
// Writes may come out of order (merges are stored in the background): the
// store keeps the newer of two, as the memory does. A failure is logged:
// the entry is still in memory and in the peer's log.
func (l *Log) persist(ctx context.Context, es []LogEntry) {
	err := func() error {
		tx, err := l.db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		for _, e := range es {
			raw, _ := json.Marshal(e)
			if _, err := tx.ExecContext(ctx, `INSERT INTO nflog (key, node, at, expires, entry) VALUES (?, ?, ?, ?, ?)
				ON CONFLICT (key) DO UPDATE SET node = excluded.node, at = excluded.at, expires = excluded.expires, entry = excluded.entry
				WHERE excluded.at > nflog.at OR (excluded.at = nflog.at AND excluded.node >= nflog.node)`,
				e.Key, e.Node, ms(e.At), ms(e.Expires), string(raw)); err != nil {
				return err
			}
		}
		return tx.Commit()
	}()
	if err != nil {
		l.log.Error("notification log: entries not stored; a restart may forget them", "count", len(es), "err", err)
	}
}

// liveEpisode is the episode of alert still open in the log: the earliest
// one (by its first open, then node) with no resolve; "" when there is none.
func (l *Log) liveEpisode(alert string) string {
	now := l.clock.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	var best LogEntry
	for _, e := range l.entries {
		if e.Kind != "episode" || e.Alert != alert || !e.Expires.After(now) {
			continue
		}
		if _, over := l.entries[resolveKey(e.Episode)]; over {
			continue
		}
		if best.Episode == "" || earlier(e, best) {
			best = e
		}
	}
	return best.Episode
}

// earlier orders two episode entries of one alert: the first open wins,
// then the lesser node name; both nodes settle on the same one.
func earlier(a, b LogEntry) bool {
	if !a.At.Equal(b.At) {
		return a.At.Before(b.At)
	}
	return a.Node < b.Node
}
