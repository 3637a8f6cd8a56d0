package escalation

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"time"
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
	for _, en := range e.nfl.match(func(en LogEntry) bool { return en.Kind == "page" && en.Episode == inc.Episode }) {
		if en.Person != "" && !seen[en.Person] {
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
		if err != nil {
			return nil, fmt.Errorf("#%d (sent by %s) is not an incident this foghorn has: %w", short, last.Node, err)
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
		if inc, err := e.ofEpisode(ctx, en.Episode, true); err == nil {
			inc.Short = en.Short
			return inc, nil
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
