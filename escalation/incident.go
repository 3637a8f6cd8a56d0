package escalation

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"time"

	"foghorn/configs"
)

// Incident is one problem from first failure to resolve.
type Incident struct {
	ID         int64               `json:"id"`
	Key        string              `json:"key"`
	Short      int                 `json:"short"`
	State      string              `json:"state"`
	Severity   configs.Severity    `json:"severity"`
	Summary    string              `json:"summary"`
	Detail     string              `json:"detail"`
	Labels     map[string]string   `json:"labels"`
	Policy     string              `json:"policy"`
	Source     string              `json:"source"`
	Opened     time.Time           `json:"opened"`
	Updated    time.Time           `json:"updated"`
	Acked      time.Time           `json:"acked,omitzero"`
	AckedBy    string              `json:"acked_by,omitempty"`
	Resolved   time.Time           `json:"resolved,omitzero"`
	ResolvedBy string              `json:"resolved_by,omitempty"`
	Snoozed    time.Time           `json:"snoozed_until,omitzero"`
	Silenced   string              `json:"silenced,omitempty"`
	Step       int                 `json:"step"`
	Round      int                 `json:"round"`
	Due        time.Time           `json:"due,omitzero"`
	Host       string              `json:"host,omitempty"`
	Offer      configs.PowerAction `json:"offer,omitempty"`
	// Episode names the outage across the foghorns of a cluster ("" for
	// a single node); Pages counts the passes of its policy that paged.
	Episode string `json:"episode,omitempty"`
	Pages   int    `json:"-"`
}

const incidentCols = `id, key, short, state, severity, summary, detail, labels, policy, source, opened_at, updated_at,
	acked_at, acked_by, resolved_at, resolved_by, snoozed_until, silenced, step, round, due, host, offer, episode, pages`

type querier interface {
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
	ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error)
}

func queryIncidents(ctx context.Context, q querier, where string, args ...any) ([]Incident, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+incidentCols+` FROM incidents `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("escalation: query incidents: %w", err)
	}
	defer rows.Close()
	var out []Incident
	for rows.Next() {
		var in Incident
		var labels string
		var opened, updated int64
		var acked, resolved, snoozed, due sql.NullInt64
		if err := rows.Scan(&in.ID, &in.Key, &in.Short, &in.State, &in.Severity, &in.Summary, &in.Detail, &labels,
			&in.Policy, &in.Source, &opened, &updated, &acked, &in.AckedBy, &resolved, &in.ResolvedBy, &snoozed,
			&in.Silenced, &in.Step, &in.Round, &due, &in.Host, &in.Offer, &in.Episode, &in.Pages); err != nil {
			return nil, fmt.Errorf("escalation: read incident: %w", err)
		}
		json.Unmarshal([]byte(labels), &in.Labels)
		in.Opened, in.Updated = time.UnixMilli(opened), time.UnixMilli(updated)
		in.Acked, in.Resolved, in.Snoozed, in.Due = fromMS(acked), fromMS(resolved), fromMS(snoozed), fromMS(due)
		out = append(out, in)
	}
	return out, rows.Err()
}

func getIncident(ctx context.Context, q querier, id int64) (*Incident, error) {
	incs, err := queryIncidents(ctx, q, `WHERE id = ?`, id)
	if err != nil {
		return nil, err
	}
	if len(incs) == 0 {
		return nil, fmt.Errorf("incident %d: %w", id, ErrNotFound)
	}
	return &incs[0], nil
}

// Get returns one incident.
func (e *Engine) Get(ctx context.Context, id int64) (*Incident, error) {
	if en, ok := e.remoteOf(id); ok {
		return e.remoteView(id, en), nil // replies.go
	}
	return getIncident(ctx, e.db, id)
}

// Open lists incidents not yet resolved, oldest first.
func (e *Engine) Open(ctx context.Context) ([]Incident, error) {
	return queryIncidents(ctx, e.db, `WHERE state != 'resolved' ORDER BY id`)
}

// record is Handle in the store: a firing key opens an incident or updates
// the open one; a resolved key resolves it and tells whoever was paged.
func (e *Engine) record(ctx context.Context, a Alert) (*Incident, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.clock.Now()
	tx, err := e.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("escalation: begin: %w", err)
	}
	defer tx.Rollback()
	open, err := queryIncidents(ctx, tx, `WHERE key = ? AND state != 'resolved'`, a.Key)
	if err != nil {
		return nil, err
	}
	var id int64
	var intents []Intent
	var life func(inc *Incident) // the life line, once committed
	var announce string          // a new episode, for the shared log, once committed
	resolved := false
	switch {
	case a.Firing && len(open) > 0:
		id = open[0].ID
		if was := open[0].Severity; was != a.Severity.Or(configs.Critical) {
			life = func(inc *Incident) {
				e.logIncident(slog.LevelWarn, "severity changed", inc, "from", was, "to", inc.Severity, "summary", inc.Summary)
			}
		}
		labels, _ := json.Marshal(a.Labels)
		_, err = tx.ExecContext(ctx, `UPDATE incidents SET severity = ?, summary = ?, detail = ?, labels = ?, host = ?, offer = ?, updated_at = ? WHERE id = ?`,
			a.Severity.Or(configs.Critical), a.Summary, a.Detail, string(labels), a.Host, string(a.Offer), ms(now), id)
		if err == nil && open[0].Severity != a.Severity {
			err = event(ctx, tx, now, "incident.severity", id, a.Source, string(open[0].Severity)+" -> "+string(a.Severity))
		}
		// Worse news pages again, even if the lesser news was acked: "one
		// router down" acked at 02:00 must not hide "both routers down".
		if err == nil && a.Severity.Rank() > open[0].Severity.Rank() && a.Severity == "critical" {
			_, err = tx.ExecContext(ctx, `UPDATE incidents SET state = 'triggered', snoozed_until = NULL, round = 0, due = ? WHERE id = ?`, ms(now), id)
		}
	case a.Firing:
		id, err = e.open(ctx, tx, a, now, &announce)
		life = func(inc *Incident) {
			e.logIncident(slog.LevelWarn, "opened", inc, "severity", inc.Severity, "summary", inc.Summary, "source", inc.Source)
		}
	case len(open) > 0:
		id = open[0].ID
		intents, err = e.resolve(ctx, tx, &open[0], "recovered", a.Source, now)
		resolved = true
		life = func(inc *Incident) {
			e.logIncident(slog.LevelInfo, "resolved", inc, "by", "recovered", "via", a.Source)
		}
	default:
		return nil, nil // resolved and nothing open: already handled
	}
	if err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("escalation: commit: %w", err)
	}
	e.dispatch(ctx, intents)
	e.poke()
	inc, err := getIncident(ctx, e.db, id)
	if err == nil && life != nil {
		life(inc)
	}
	if announce != "" {
		e.logEpisode(ctx, a.Key, announce)
	}
	if resolved && err == nil {
		e.shareEnd(ctx, inc, "resolve", "recovered")
	}
	return inc, err
}

// open inserts a new incident for a. In a cluster it joins the episode
// the log has open for a's key, or starts one, which it names in announce
// for record to log once the incident is committed.
func (e *Engine) open(ctx context.Context, tx *sql.Tx, a Alert, now time.Time, announce *string) (int64, error) {
	short, err := allocShort(ctx, tx, now)
	if err != nil {
		return 0, err
	}
	labels, _ := json.Marshal(a.Labels)
	pol := e.policy(a.Policy)
	due := now
	if pol != nil && len(pol.Steps) > 0 {
		due = now.Add(pol.Steps[0].Delay.Duration)
	}
	var episode string
	if e.nfl != nil {
		var fresh bool
		if episode, fresh = e.episodeFor(a.Key, now); fresh {
			*announce = episode
		}
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO incidents (key, short, state, severity, summary, detail, labels, policy, source, opened_at, updated_at, due, host, offer, episode)
		VALUES (?, ?, 'triggered', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		a.Key, short, a.Severity.Or(configs.Critical), a.Summary, a.Detail, string(labels), a.Policy, a.Source, ms(now), ms(now), ms(due), a.Host, string(a.Offer), episode)
	if err != nil {
		return 0, fmt.Errorf("escalation: open incident %s: %w", a.Key, err)
	}
	id, _ := res.LastInsertId()
	return id, event(ctx, tx, now, "incident.open", id, a.Source, fmt.Sprintf("#%d %s: %s", short, a.Severity, a.Summary))
}

// allocShort picks the smallest number not used by an incident that is
// open or opened in the last day, so replies stay short ("42") and an old
// number is not handed out again while someone may still answer it.
func allocShort(ctx context.Context, tx *sql.Tx, now time.Time) (int, error) {
	rows, err := tx.QueryContext(ctx, `SELECT short FROM incidents WHERE state != 'resolved' OR opened_at > ? ORDER BY short`,
		ms(now.Add(-24*time.Hour)))
	if err != nil {
		return 0, fmt.Errorf("escalation: short number: %w", err)
	}
	defer rows.Close()
	n := 1
	for rows.Next() {
		var s int
		rows.Scan(&s)
		if s == n {
			n++
		} else if s > n {
			break
		}
	}
	return n, rows.Err()
}

func event(ctx context.Context, q querier, now time.Time, kind string, id int64, actor, detail string) error {
	_, err := q.ExecContext(ctx, `INSERT INTO events (at, kind, subject, actor, detail) VALUES (?, ?, ?, ?, ?)`,
		now.UTC().Format(time.RFC3339Nano), kind, fmt.Sprint(id), actor, detail)
	if err != nil {
		return fmt.Errorf("escalation: record %s: %w", kind, err)
	}
	return nil
}

// write runs fn in a transaction under the engine lock, then sends what
// fn claimed: the shape of every change to incidents.
func (e *Engine) write(ctx context.Context, fn func(tx *sql.Tx, now time.Time) ([]Intent, error)) error {
	e.mu.Lock()
	now := e.clock.Now()
	tx, err := e.db.BeginTx(ctx, nil)
	if err != nil {
		e.mu.Unlock()
		return fmt.Errorf("escalation: begin: %w", err)
	}
	defer tx.Rollback()
	intents, err := fn(tx, now)
	if err == nil {
		err = tx.Commit()
	}
	e.mu.Unlock()
	if err != nil {
		return err
	}
	e.dispatch(ctx, intents)
	e.poke()
	return nil
}

// change runs fn on incident id (see write).
func (e *Engine) change(ctx context.Context, id int64, fn func(tx *sql.Tx, inc *Incident, now time.Time) ([]Intent, error)) (*Incident, error) {
	var inc *Incident
	err := e.write(ctx, func(tx *sql.Tx, now time.Time) ([]Intent, error) {
		var err error
		if inc, err = getIncident(ctx, tx, id); err != nil {
			return nil, err
		}
		return fn(tx, inc, now)
	})
	if err != nil {
		return inc, err
	}
	return getIncident(ctx, e.db, id)
}

// Ack acknowledges: paging stops for everyone at once, and the others who
// were paged hear who took it. An ack never followed by a resolve pages
// again after [escalation] ack_timeout.
func (e *Engine) Ack(ctx context.Context, id int64, by, via string) (*Incident, error) {
	return e.ack(ctx, id, by, via, true)
}

// ack is Ack; share tells the other nodes of a cluster (not for an ack
// that came from them).
func (e *Engine) ack(ctx context.Context, id int64, by, via string, share bool) (*Incident, error) {
	if id < 0 {
		return e.endRemote(ctx, id, "ack", by, via) // replies.go: the peer's alone
	}
	changed := false
	inc, err := e.change(ctx, id, func(tx *sql.Tx, inc *Incident, now time.Time) ([]Intent, error) {
		switch inc.State {
		case Resolved:
			return nil, fmt.Errorf("#%d: %w", inc.Short, ErrResolved)
		case Acknowledged:
			if inc.Snoozed.IsZero() {
				return nil, nil // already acked: nothing changes, nobody is told twice
			}
		}
		changed = true
		due := now.Add(e.cfg.Load().Escalation.AckTimeout.Duration)
		if _, err := tx.ExecContext(ctx, `UPDATE incidents SET state = 'acknowledged', acked_at = ?, acked_by = ?, snoozed_until = NULL, due = ?, updated_at = ? WHERE id = ?`,
			ms(now), by, ms(due), ms(now), inc.ID); err != nil {
			return nil, fmt.Errorf("escalation: ack #%d: %w", inc.Short, err)
		}
		if err := event(ctx, tx, now, "incident.ack", inc.ID, by, "via "+via); err != nil {
			return nil, err
		}
		return e.tellPaged(ctx, tx, inc, KindAcked, by, fmt.Sprintf("#%d acked by %s: %s", inc.Short, by, inc.Summary), now)
	})
	if err == nil && changed {
		e.logIncident(slog.LevelInfo, "acknowledged", inc, "by", by, "via", via)
		if share {
			e.shareEnd(ctx, inc, "ack", by)
		}
	}
	return inc, err
}

// Resolve closes an incident by hand.
func (e *Engine) Resolve(ctx context.Context, id int64, by, via string) (*Incident, error) {
	return e.resolveBy(ctx, id, by, via, true)
}

// resolveBy is Resolve; share tells the other nodes of a cluster.
func (e *Engine) resolveBy(ctx context.Context, id int64, by, via string, share bool) (*Incident, error) {
	if id < 0 {
		return e.endRemote(ctx, id, "resolve", by, via) // replies.go: the peer's alone
	}
	inc, err := e.change(ctx, id, func(tx *sql.Tx, inc *Incident, now time.Time) ([]Intent, error) {
		if inc.State == Resolved {
			return nil, fmt.Errorf("#%d: %w", inc.Short, ErrResolved)
		}
		return e.resolve(ctx, tx, inc, by, via, now)
	})
	if err == nil {
		e.logIncident(slog.LevelInfo, "resolved", inc, "by", by, "via", via)
		if share {
			e.shareEnd(ctx, inc, "resolve", by)
		}
	}
	return inc, err
}

func (e *Engine) resolve(ctx context.Context, tx *sql.Tx, inc *Incident, by, via string, now time.Time) ([]Intent, error) {
	delete(e.byHand, inc.ID) // e.mu is held: no step of it pages any more
	if _, err := tx.ExecContext(ctx, `UPDATE incidents SET state = 'resolved', resolved_at = ?, resolved_by = ?, due = NULL, updated_at = ? WHERE id = ?`,
		ms(now), by, ms(now), inc.ID); err != nil {
		return nil, fmt.Errorf("escalation: resolve #%d: %w", inc.Short, err)
	}
	if err := event(ctx, tx, now, "incident.resolve", inc.ID, by, "via "+via); err != nil {
		return nil, err
	}
	text := fmt.Sprintf("#%d resolved: %s", inc.Short, inc.Summary)
	if by != "recovered" {
		text = fmt.Sprintf("#%d resolved by %s: %s", inc.Short, by, inc.Summary)
	}
	return e.tellPaged(ctx, tx, inc, KindResolved, by, text, now)
}

// Snooze acks for d, then pages again from the current step.
func (e *Engine) Snooze(ctx context.Context, id int64, d time.Duration, by string) (*Incident, error) {
	if id < 0 {
		return e.remoteOnly(id) // replies.go
	}
	inc, err := e.change(ctx, id, func(tx *sql.Tx, inc *Incident, now time.Time) ([]Intent, error) {
		if inc.State == Resolved {
			return nil, fmt.Errorf("#%d: %w", inc.Short, ErrResolved)
		}
		until := now.Add(d)
		if _, err := tx.ExecContext(ctx, `UPDATE incidents SET state = 'acknowledged', acked_at = ?, acked_by = ?, snoozed_until = ?, due = ?, updated_at = ? WHERE id = ?`,
			ms(now), by, ms(until), ms(until), ms(now), inc.ID); err != nil {
			return nil, fmt.Errorf("escalation: snooze #%d: %w", inc.Short, err)
		}
		if err := event(ctx, tx, now, "incident.snooze", inc.ID, by, "for "+d.String()); err != nil {
			return nil, err
		}
		return e.tellPaged(ctx, tx, inc, KindAcked, by, fmt.Sprintf("#%d snoozed %s by %s: %s", inc.Short, d, by, inc.Summary), now)
	})
	if err == nil {
		e.logIncident(slog.LevelInfo, "snoozed", inc, "by", by, "for", d.String())
	}
	return inc, err
}

// Escalate moves the incident to the step after from, now, and triggers
// it again if it was acked. It is idempotent: several people pressing
// "escalate" on the same page move it one step, because each names the
// step they were paged at and only the first still matches. from < 0
// means the step at which by was last paged (or the current one).
func (e *Engine) Escalate(ctx context.Context, id int64, from int, by string) (*Incident, error) {
	if id < 0 {
		return e.remoteOnly(id) // replies.go
	}
	moved := -1 // the step it moved from, once it moved
	inc, err := e.change(ctx, id, func(tx *sql.Tx, inc *Incident, now time.Time) ([]Intent, error) {
		if inc.State == Resolved {
			return nil, fmt.Errorf("#%d: %w", inc.Short, ErrResolved)
		}
		if from < 0 {
			from = inc.Step
			var last sql.NullInt64
			tx.QueryRowContext(ctx, `SELECT MAX(step) FROM notifications WHERE incident = ? AND person = ? AND kind = 'page'`, inc.ID, by).Scan(&last)
			if last.Valid {
				from = int(last.Int64)
			}
		}
		if from != inc.Step {
			return nil, event(ctx, tx, now, "incident.escalate.ignored", inc.ID, by,
				fmt.Sprintf("already past step %d (now at step %d)", from+1, inc.Step+1))
		}
		pol := e.policy(inc.Policy)
		next := inc.Step + 1
		if pol == nil || next >= len(pol.Steps) {
			next = loopStep(pol)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE incidents SET state = 'triggered', step = ?, round = 0, snoozed_until = NULL, due = ?, updated_at = ? WHERE id = ?`,
			next, ms(now), ms(now), inc.ID); err != nil {
			return nil, fmt.Errorf("escalation: escalate #%d: %w", inc.Short, err)
		}
		moved = inc.Step
		if e.byHand == nil {
			e.byHand = map[int64]bool{}
		}
		e.byHand[inc.ID] = true
		return nil, event(ctx, tx, now, "incident.escalate", inc.ID, by, fmt.Sprintf("step %d -> %d", inc.Step+1, next+1))
	})
	if err == nil && moved >= 0 {
		e.logIncident(slog.LevelWarn, "escalated", inc, "by", by, "from_step", moved+1, "step", inc.Step+1)
	}
	return inc, err
}

// tellPaged claims one SMS for every person paged for inc, except actor,
// and asks for the Notifier's Cancel of inc (hang up calls still ringing)
// once the change is committed.
func (e *Engine) tellPaged(ctx context.Context, tx *sql.Tx, inc *Incident, kind Kind, actor, text string, now time.Time) ([]Intent, error) {
	rows, err := tx.QueryContext(ctx, `SELECT DISTINCT person FROM notifications WHERE incident = ? AND kind = 'page' AND state IN ('claimed', 'sent', 'delivered') ORDER BY person`, inc.ID)
	if err != nil {
		return nil, fmt.Errorf("escalation: who was paged for #%d: %w", inc.Short, err)
	}
	var people []string
	for rows.Next() {
		var p string
		rows.Scan(&p)
		people = append(people, p)
	}
	rows.Close()
	people = e.toldInEpisode(inc, people) // replies.go: and who the other nodes paged
	out := []Intent{cancelOf(inc)}
	cfg := e.cfg.Load()
	for _, name := range people {
		if name == actor {
			continue
		}
		in := Intent{Incident: inc.ID, Short: inc.Short, Kind: kind, Channel: "sms", Person: name, Severity: inc.Severity,
			Summary: inc.Summary, Since: inc.Opened, Text: text}
		e.noticeTurn(&in, inc) // replies.go: one node sends it
		if p := cfg.person(name); p != nil {
			in.Phone, in.Email = p.Phone, p.Email
		}
		if err := e.claim(ctx, tx, &in, now); err != nil {
			return nil, err
		}
		out = append(out, in)
	}
	return out, nil
}

// claim writes the notification row; only then may it be sent.
func (e *Engine) claim(ctx context.Context, tx *sql.Tx, in *Intent, now time.Time) error {
	text := in.Text
	if text == "" {
		text = in.Summary
	}
	res, err := e.exec(ctx, tx, `INSERT INTO notifications (incident, kind, person, channel, text, state, attempt, step, created_at, logkey)
		VALUES (?, ?, ?, ?, ?, 'claimed', 1, ?, ?, ?)`, in.Incident, in.Kind, in.Person, in.Channel, text, in.Step, ms(now), in.logKey)
	if err != nil {
		return fmt.Errorf("escalation: claim %s to %s: %w", in.Channel, in.Person, err)
	}
	in.ID, _ = res.LastInsertId()
	in.Attempt = 1
	return nil
}

// ByShort finds the incident a person means by its short number: the
// latest one with that number that they were paged or told about. A number
// reused for an incident they never heard of is not found, so an old reply
// cannot ack the wrong incident.
func (e *Engine) ByShort(ctx context.Context, person string, short int) (*Incident, error) {
	if e.nfl != nil {
		return e.byShortShared(ctx, person, short) // replies.go
	}
	var id int64
	err := e.db.QueryRowContext(ctx, `SELECT i.id FROM incidents i JOIN notifications n ON n.incident = i.id
		WHERE i.short = ? AND n.person = ? ORDER BY n.id DESC LIMIT 1`, short, person).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("#%d is not an incident you were paged for: %w", short, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("escalation: find #%d: %w", short, err)
	}
	return getIncident(ctx, e.db, id)
}

// LastPaged is the incident a bare "ACK" from person means: the open one
// they were most recently paged for.
func (e *Engine) LastPaged(ctx context.Context, person string) (*Incident, error) {
	if e.nfl != nil {
		return e.lastPagedShared(ctx, person) // replies.go
	}
	var id int64
	err := e.db.QueryRowContext(ctx, `SELECT i.id FROM incidents i JOIN notifications n ON n.incident = i.id
		WHERE n.person = ? AND n.kind = 'page' AND i.state != 'resolved' ORDER BY n.id DESC LIMIT 1`, person).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("no open incident was paged to you: %w", ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("escalation: last page of %s: %w", person, err)
	}
	return getIncident(ctx, e.db, id)
}

// Entry is one line of an incident's timeline.
type Entry struct {
	At     time.Time `json:"at"`
	Kind   string    `json:"kind"`
	Actor  string    `json:"actor"`
	Detail string    `json:"detail"`
}

// Timeline is the audit trail of one incident, oldest first: its events
// and every notification with what became of it.
func (e *Engine) Timeline(ctx context.Context, id int64) ([]Entry, error) {
	rows, err := e.db.QueryContext(ctx, `SELECT at, kind, actor, detail FROM events WHERE subject = ? ORDER BY id`, fmt.Sprint(id))
	if err != nil {
		return nil, fmt.Errorf("escalation: timeline of %d: %w", id, err)
	}
	var out []Entry
	for rows.Next() {
		var en Entry
		var at string
		rows.Scan(&at, &en.Kind, &en.Actor, &en.Detail)
		en.At, _ = time.Parse(time.RFC3339Nano, at)
		out = append(out, en)
	}
	rows.Close()
	rows, err = e.db.QueryContext(ctx, `SELECT created_at, kind, person, channel, step, state, attempt, error FROM notifications WHERE incident = ? AND kind != 'cancel' ORDER BY id`, id)
	if err != nil {
		return nil, fmt.Errorf("escalation: timeline of %d: %w", id, err)
	}
	defer rows.Close()
	for rows.Next() {
		var at int64
		var kind, person, channel, state, errText string
		var step, attempt int
		rows.Scan(&at, &kind, &person, &channel, &step, &state, &attempt, &errText)
		d := fmt.Sprintf("%s to %s: %s", channel, person, state)
		if kind == "page" {
			d = fmt.Sprintf("step %d: %s", step+1, d)
		}
		if attempt > 1 {
			d += fmt.Sprintf(" (attempt %d)", attempt)
		}
		if errText != "" {
			d += " — " + errText
		}
		out = append(out, Entry{At: time.UnixMilli(at), Kind: kind, Actor: "engine", Detail: d})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
	return out, rows.Err()
}

// Notice tells whoever the default policy pages first something that needs
// no ack — "foghorn was offline 02:10–02:25", "sw1 rebooted" — by SMS,
// once. It is kept as an incident that is resolved from the start, so it
// has a number, a timeline and an audit trail like any page.
func (e *Engine) Notice(ctx context.Context, key, text string) (*Incident, error) {
	var id int64
	err := e.write(ctx, func(tx *sql.Tx, now time.Time) ([]Intent, error) {
		short, err := allocShort(ctx, tx, now)
		if err != nil {
			return nil, err
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO incidents (key, short, state, severity, summary, source, opened_at, updated_at, resolved_at, resolved_by)
			VALUES (?, ?, 'resolved', 'info', ?, 'self', ?, ?, ?, 'notice')`, key, short, text, ms(now), ms(now), ms(now))
		if err != nil {
			return nil, fmt.Errorf("escalation: notice: %w", err)
		}
		id, _ = res.LastInsertId()
		var intents []Intent
		cfg := e.cfg.Load()
		if pol := cfg.policy(""); pol != nil && len(pol.Steps) > 0 {
			ps := &pass{tx: tx, now: now, sent: map[string]int{}, covers: map[string]string{}}
			people, err := e.who(ctx, ps, cfg, pol.Steps[0].Who)
			if err != nil {
				return nil, err
			}
			for _, p := range people {
				in := Intent{Incident: id, Short: short, Kind: KindNotice, Channel: "sms", Person: p.Name, Phone: p.Phone, Email: p.Email,
					Severity: "info", Summary: text, Since: now, Text: text}
				if err := e.claim(ctx, tx, &in, now); err != nil {
					return nil, err
				}
				intents = append(intents, in)
			}
		}
		return intents, event(ctx, tx, now, "notice", id, "engine", text)
	})
	if err != nil {
		return nil, err
	}
	return getIncident(ctx, e.db, id)
}
