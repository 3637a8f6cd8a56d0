package escalation

import (
	"context"
	"database/sql"
	"encoding/json"
	"time"
)

// pass is one round over due incidents: its transaction, its instant, and
// what it looks up once rather than once per incident — in a storm of a
// thousand incidents, per-incident queries were most of the cost.
type pass struct {
	tx       *sql.Tx
	now      time.Time
	sent     map[string]int       // pages per person in the last hour
	oldest   map[string]time.Time // the oldest of them
	covers   map[string]string    // person -> who takes their pages now
	silences []Silence
	loaded   bool
	lives    []lifeLine // written once the pass commits (lifelog.go)
}

// pages counts a person's pages in the last hour (the max_per_hour limit)
// and says when the oldest was. A page is one round of a step to the
// person, however many channels it used; only what was handed to a
// channel (or may have been) counts: pages refused before sending, held,
// cancelled or expired disturbed nobody.
func (p *pass) pages(ctx context.Context, person string) (int, time.Time) {
	if n, ok := p.sent[person]; ok {
		return n, p.oldest[person]
	}
	var n int
	var oldest sql.NullInt64
	p.tx.QueryRowContext(ctx, `SELECT count(DISTINCT incident || ':' || created_at), MIN(created_at) FROM notifications
		WHERE person = ? AND kind = 'page' AND created_at > ? AND state NOT IN (`+unsentStates+`)`,
		person, ms(p.now.Add(-time.Hour))).Scan(&n, &oldest)
	p.sent[person] = n
	if p.oldest == nil {
		p.oldest = map[string]time.Time{}
	}
	p.oldest[person] = fromMS(oldest)
	return n, p.oldest[person]
}

// unsentStates are the notification states that reached nobody.
const unsentStates = `'unsent', 'held', 'cancelled', 'expired', 'abandoned'`

func (p *pass) cover(ctx context.Context, person string) string {
	if c, ok := p.covers[person]; ok {
		return c
	}
	c := coverFor(ctx, p.tx, person, p.now)
	p.covers[person] = c
	return c
}

func (p *pass) activeSilences(ctx context.Context) []Silence {
	if p.loaded {
		return p.silences
	}
	p.loaded = true
	rows, err := p.tx.QueryContext(ctx, `SELECT id, matchers, end_at FROM silences WHERE start_at <= ? AND end_at > ? ORDER BY id`, ms(p.now), ms(p.now))
	if err != nil {
		return nil
	}
	defer rows.Close()
	for rows.Next() {
		var s Silence
		var raw string
		var end int64
		rows.Scan(&s.ID, &raw, &end)
		json.Unmarshal([]byte(raw), &s.Matchers)
		s.End = time.UnixMilli(end)
		p.silences = append(p.silences, s)
	}
	return p.silences
}
