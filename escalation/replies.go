package escalation

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"
	"unicode/utf8"
)

// Replies and notices across the foghorns of a cluster.
//
// Each node numbers its own incidents (allocShort): the page ams sent
// says "#3 ... reply 3" with ams's number, and the reply reaches whichever
// node the Twilio number's webhook points at, where #3 may be another
// incident or none. So a reply means what the text said: the page's (or
// notice's) log entry carries the number it showed and the node that sent
// it, and a number from a person resolves to the last text they got with
// that number, from either node, then to this node's incident of that
// episode. Only when this node's own texts are later than anything in the
// log does its own numbering decide (incidents outside the log: notices of
// its own, test pages). A bare "ACK" is the last page they got, from
// either node. Voice key presses go to the URL the calling node gave the
// call, and the web acks what the dashboard shows: both are this node's
// own incidents already.
//
// "acked by" and "resolved" notices go to everyone paged in the episode,
// by any node, and take the log's turn as a page does (noticeKey): the
// first live node sends each once; when the peer is gone, this one sends.

// noticeKey names an "acked by" or "resolved" notice alike on every node.
func noticeKey(ep string, kind Kind, person, channel string) string {
	return fmt.Sprintf("notice/%s/%s/%s/%s", ep, kind, person, channel)
}

// match is the live entries f accepts, in no order.
func (l *Log) match(f func(LogEntry) bool) []LogEntry {
	now := l.clock.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []LogEntry
	for _, e := range l.entries {
		if e.Expires.After(now) && f(e) {
			out = append(out, e)
		}
	}
	return out
}

// toldInEpisode is people (those this node paged for inc) and everyone
// the other nodes paged for inc's episode, by name: all of them hear who
// took it, whichever node paged them.
func (e *Engine) toldInEpisode(inc *Incident, people []string) []string {
	if e.nfl == nil || inc.Episode == "" {
		return people
	}
	seen := map[string]bool{}
	for _, p := range people {
		seen[p] = true
	}
	cfg := e.cfg.Load()
	for _, en := range e.nfl.match(func(en LogEntry) bool { return en.Kind == "page" && en.Episode == inc.Episode }) {
		if en.Person != "" && !seen[en.Person] && cfg.person(en.Person) != nil { // one this node's config knows
			seen[en.Person] = true
			people = append(people, en.Person)
		}
	}
	sort.Strings(people)
	return people
}

// noticeTurn names a notice in the log, so that it waits its turn and
// goes from one node only.
func (e *Engine) noticeTurn(in *Intent, inc *Incident) {
	if e.nfl == nil || inc.Episode == "" {
		return
	}
	in.logKey = noticeKey(inc.Episode, in.Kind, in.Person, string(in.Channel))
	in.alert, in.episode = inc.Key, inc.Episode
}

// seenStates are the states of a notification that reached the person
// (or may have): a page left to the peer ("peer"), one still waiting its
// turn ("claimed") or never sent did not, and its number means nothing to
// them.
const seenStates = `('sent', 'delivered', 'unanswered')`

// byShortShared is ByShort in a cluster: the last text the person got
// with that number, from this node or another, names the incident.
func (e *Engine) byShortShared(ctx context.Context, person string, short int) (*Incident, error) {
	var id, at int64
	err := e.db.QueryRowContext(ctx, `SELECT i.id, n.created_at FROM incidents i JOIN notifications n ON n.incident = i.id
		WHERE i.short = ? AND n.person = ? AND n.state IN `+seenStates+` ORDER BY n.id DESC LIMIT 1`, short, person).Scan(&id, &at)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("escalation: find #%d: %w", short, err)
	}
	here := err == nil
	told := e.nfl.match(func(en LogEntry) bool {
		return (en.Kind == "page" || en.Kind == "notice") && en.Person == person && en.Short == short
	})
	if last, ok := latest(told); ok && (!here || !last.At.Before(time.UnixMilli(at))) {
		inc, err := e.ofEpisode(ctx, last.Episode, false)
		if errors.Is(err, ErrNotFound) {
			return e.remote(last, short), nil // the peer's alone: answered through the log
		}
		if err != nil {
			return nil, err
		}
		inc.Short = short // the number the person knows it by: the reply says it back
		return inc, nil
	}
	if !here {
		return nil, fmt.Errorf("#%d is not an incident you were paged for: %w", short, ErrNotFound)
	}
	return getIncident(ctx, e.db, id)
}

// lastPagedShared is LastPaged in a cluster: the open incident of the
// last page the person got, from this node or another.
func (e *Engine) lastPagedShared(ctx context.Context, person string) (*Incident, error) {
	var id, at int64
	err := e.db.QueryRowContext(ctx, `SELECT i.id, n.created_at FROM incidents i JOIN notifications n ON n.incident = i.id
		WHERE n.person = ? AND n.kind = 'page' AND i.state != 'resolved' AND n.state IN `+seenStates+` ORDER BY n.id DESC LIMIT 1`, person).Scan(&id, &at)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("escalation: last page of %s: %w", person, err)
	}
	here := err == nil
	paged := e.nfl.match(func(en LogEntry) bool { return en.Kind == "page" && en.Person == person })
	sort.Slice(paged, func(i, j int) bool { return paged[j].At.Before(paged[i].At) })
	for _, en := range paged {
		if here && en.At.Before(time.UnixMilli(at)) {
			break // this node's own page is the later one
		}
		if _, over := e.nfl.get(resolveKey(en.Episode)); over {
			continue
		}
		inc, err := e.ofEpisode(ctx, en.Episode, false)
		switch {
		case errors.Is(err, ErrNotFound):
			return e.remote(en, en.Short), nil // the peer's alone: answered through the log
		case err == nil && inc.State != Resolved:
			inc.Short = en.Short
			return inc, nil
		case err == nil:
			// Over here, still paging there (no resolve in the log): the
			// ack goes through the log.
			return e.remote(en, en.Short), nil
		}
	}
	if !here {
		return nil, fmt.Errorf("no open incident was paged to you: %w", ErrNotFound)
	}
	return getIncident(ctx, e.db, id)
}

// latest is the entry written last.
func latest(es []LogEntry) (LogEntry, bool) {
	var best LogEntry
	for _, en := range es {
		if best.Key == "" || en.newer(best) {
			best = en
		}
	}
	return best, best.Key != ""
}

// ofEpisode is this node's latest incident of episode ep (open only, if
// asked).
func (e *Engine) ofEpisode(ctx context.Context, ep string, open bool) (*Incident, error) {
	where := `WHERE episode = ?`
	if open {
		where += ` AND state != 'resolved'`
	}
	incs, err := queryIncidents(ctx, e.db, where+` ORDER BY id DESC LIMIT 1`, ep)
	if err != nil {
		return nil, err
	}
	if len(incs) == 0 {
		return nil, fmt.Errorf("episode %s: %w", ep, ErrNotFound)
	}
	return &incs[0], nil
}

// ErrElsewhere says an incident is kept by another foghorn of the
// cluster only: a reply here can ack or resolve it (through the log), but
// snooze or escalate it only there.
var ErrElsewhere = errors.New("incident kept by another foghorn")

// remoteIncidents are the incidents only another node has, as replies
// here found them in the log: a warning seen from its vantage point
// alone, or one this node saw end while the peer still pages. Each has a
// negative ID for as long as this process runs, which Ack, Resolve and
// Get take; an ack or resolve of one is an entry in the log, which the
// node that has it applies as any ack from a peer.
type remoteIncidents struct {
	mu  sync.Mutex
	ids map[string]int64 // episode -> ID
	ens map[int64]LogEntry
}

// remote is the stand-in for the peer's incident of the page or notice
// en, said as short.
func (e *Engine) remote(en LogEntry, short int) *Incident {
	r := &e.remotes
	r.mu.Lock()
	if r.ids == nil {
		r.ids, r.ens = map[string]int64{}, map[int64]LogEntry{}
	}
	id, ok := r.ids[en.Episode]
	if !ok {
		id = -int64(len(r.ids) + 1)
		r.ids[en.Episode] = id
	}
	en.Short = short
	r.ens[id] = en
	r.mu.Unlock()
	return e.remoteView(id, en)
}

// remoteView is what the log says of the peer's incident id.
func (e *Engine) remoteView(id int64, en LogEntry) *Incident {
	inc := &Incident{ID: id, Key: en.Alert, Short: en.Short, State: Triggered, Summary: en.Summary, Episode: en.Episode,
		Source: "peer " + en.Node, Opened: en.At, Updated: en.At}
	if ack, ok := e.nfl.get(ackKey(en.Episode)); ok && !ack.At.Before(en.At) {
		inc.State, inc.Acked, inc.AckedBy = Acknowledged, ack.At, ack.By
	}
	if res, ok := e.nfl.get(resolveKey(en.Episode)); ok {
		inc.State, inc.Resolved, inc.ResolvedBy = Resolved, res.At, res.By
	}
	return inc
}

func (e *Engine) remoteOf(id int64) (LogEntry, bool) {
	e.remotes.mu.Lock()
	defer e.remotes.mu.Unlock()
	en, ok := e.remotes.ens[id]
	return en, ok
}

// endRemote acks or resolves the peer's incident id through the log.
func (e *Engine) endRemote(ctx context.Context, id int64, kind, by, via string) (*Incident, error) {
	en, ok := e.remoteOf(id)
	if !ok || e.nfl == nil {
		return nil, fmt.Errorf("incident %d: %w", id, ErrNotFound)
	}
	inc := e.remoteView(id, en)
	switch {
	case inc.State == Resolved:
		return inc, fmt.Errorf("#%d: %w", inc.Short, ErrResolved)
	case kind == "ack" && inc.State == Acknowledged:
		return inc, nil // already acked: the caller says by whom
	}
	key := ackKey(en.Episode)
	if kind == "resolve" {
		key = resolveKey(en.Episode)
	}
	e.nfl.add(ctx, LogEntry{Key: key, Kind: kind, Alert: en.Alert, Episode: en.Episode, By: by})
	e.log.Info("incident of the peer "+kind+"ed through the log", "peer", en.Node, "alert", en.Alert, "episode", en.Episode, "short", en.Short, "by", by, "via", via)
	return e.remoteView(id, en), nil
}

// remoteOnly answers what only the node that has the incident can do.
func (e *Engine) remoteOnly(id int64) (*Incident, error) {
	en, ok := e.remoteOf(id)
	if !ok {
		return nil, fmt.Errorf("incident %d: %w", id, ErrNotFound)
	}
	return e.remoteView(id, en), fmt.Errorf("#%d is %s's: %w", en.Short, en.Node, ErrElsewhere)
}

// clip cuts s to at most n bytes, on a rune boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
