package store

import (
	"context"
	"fmt"
	"foghorn/clock"
	"log/slog"
	"time"
)

// Pruning keeps the database from growing without bound (a storm writes
// tens of megabytes an hour). It lives here because it crosses the tables
// of every owner; each rule below says what the owner still needs.
//
// What is pruned, once older than the retention:
//   - notifications in a finished state (finishedStates) of incidents
//     resolved before the cutoff; never a claimed or held one (Recover
//     still acts on those), never one of an open incident;
//   - resolved incidents resolved before the cutoff with no notification
//     left (an incident with a claimed or held row stays, with its events);
//   - events before the cutoff, except those of an incident still kept:
//     an incident's timeline and audit lines go with the incident, so an
//     open one is never left with half a history. Incident ids are
//     AUTOINCREMENT, never reused, so an old event cannot name a new one.
//
// And by their owners' own windows: inbound_sms after replayWindow (pager
// trims it too, on each inbound SMS), twilio_sids after twilioSIDWindow
// unless their notification is still claimed or held.
//
// Deletes go in batches, each its own short transaction with a pause
// between, so the engine's writes never queue behind a long prune.

// finishedStates are the notification states nothing acts on again:
// reached someone (here, or by a peer foghorn: 'peer'), failed, or given
// up. Any other state (claimed, held, or one added later) is kept.
const finishedStates = `'sent', 'delivered', 'unanswered', 'failed', 'unsent', 'cancelled', 'expired', 'abandoned', 'peer'`

const (
	// inboundSMSWindow matches pager's replayWindow: a MessageSid is
	// remembered a day, so a replayed webhook cannot act twice.
	inboundSMSWindow = 24 * time.Hour
	// twilioSIDWindow: a SID tells a lookup after a kill which message is
	// whose, for notifications handed over seconds before it; a week
	// outlives any held page.
	twilioSIDWindow = 7 * 24 * time.Hour
)

// PruneOptions says how much to keep and how gently to delete.
type PruneOptions struct {
	Retention time.Duration
	Batch     int           // rows per transaction; 0 is 500
	Pause     time.Duration // between batches; 0 is 50 ms
}

// Pruned counts the rows one Prune deleted, by table.
type Pruned struct {
	Events, Notifications, Incidents, InboundSMS, TwilioSIDs int64
	Batches                                                  int
	UsedLinks                                                int64 // used one-use links past their expiry
}

// Total is every row deleted.
func (p Pruned) Total() int64 {
	return p.Events + p.Notifications + p.Incidents + p.InboundSMS + p.TwilioSIDs + p.UsedLinks
}

// Prune deletes what is older than o.Retention at now (see above).
func (db *DB) Prune(ctx context.Context, now time.Time, o PruneOptions) (Pruned, error) {
	if o.Retention <= 0 {
		return Pruned{}, fmt.Errorf("store: prune: retention %s is not positive", o.Retention)
	}
	if o.Batch <= 0 {
		o.Batch = 500
	}
	if o.Pause <= 0 {
		o.Pause = 50 * time.Millisecond
	}
	cutoff := now.Add(-o.Retention)
	cutMS := cutoff.UnixMilli()
	// events.at is RFC 3339 with trimmed fractions, which do not sort as
	// strings within one second: the cutoff's second, compared as text,
	// deletes only what is wholly before it.
	cutText := cutoff.UTC().Format("2006-01-02T15:04:05")
	var p Pruned
	steps := []struct {
		table, where string
		args         []any
		n            *int64
	}{
		{"notifications", `state IN (` + finishedStates + `) AND incident IN
			(SELECT id FROM incidents WHERE state = 'resolved' AND resolved_at < ?)`, []any{cutMS}, &p.Notifications},
		{"incidents", `state = 'resolved' AND resolved_at < ?
			AND NOT EXISTS (SELECT 1 FROM notifications n WHERE n.incident = incidents.id)`, []any{cutMS}, &p.Incidents},
		{"events", `at < ? AND NOT (subject GLOB '[0-9]*' AND subject NOT GLOB '*[^0-9]*'
			AND EXISTS (SELECT 1 FROM incidents i WHERE i.id = CAST(events.subject AS INTEGER)))`, []any{cutText}, &p.Events},
		{"inbound_sms", `at < ?`, []any{now.Add(-inboundSMSWindow).UnixMilli()}, &p.InboundSMS},
		{"twilio_sids", `at < ? AND notification NOT IN (SELECT id FROM notifications WHERE state IN ('claimed', 'held'))`,
			[]any{now.Add(-twilioSIDWindow).UnixMilli()}, &p.TwilioSIDs},
		// A used link's id is needed only until the link expires: after
		// that its MAC check refuses it anyway (pager/links.go).
		{"used_links", `expires < ?`, []any{now.UnixMilli()}, &p.UsedLinks},
	}
	for _, s := range steps {
		q := `DELETE FROM ` + s.table + ` WHERE rowid IN (SELECT rowid FROM ` + s.table + ` WHERE ` + s.where + ` LIMIT ?)`
		for {
			res, err := db.ExecContext(ctx, q, append(s.args, o.Batch)...)
			if err != nil {
				return p, fmt.Errorf("store: prune %s: %w", s.table, err)
			}
			n, _ := res.RowsAffected()
			*s.n += n
			if n == 0 {
				break
			}
			p.Batches++
			if n < int64(o.Batch) {
				break
			}
			select {
			case <-ctx.Done():
				return p, ctx.Err()
			case <-time.After(o.Pause):
			}
		}
	}
	return p, nil
}

// Pruner runs Prune in the background: once soon after start, then every
// Every. Start it with go p.Run(ctx).
type Pruner struct {
	DB        *DB
	Retention func() time.Duration // read at each run: a reload applies
	Every     time.Duration        // 0 is an hour
	First     time.Duration        // delay before the first run; 0 is 10 s, past the start's busy moment
	Clock     clock.Clock          // for the cut-off; nil is the real one
	Batch     int
	Pause     time.Duration
	Log       *slog.Logger
	// Done is called after each run with what it deleted (metrics).
	Done func(Pruned, error)
}

// Run prunes until ctx ends.
func (pr *Pruner) Run(ctx context.Context) {
	clk, every, first := clock.Or(pr.Clock), pr.Every, pr.First
	if every <= 0 {
		every = time.Hour
	}
	if first <= 0 {
		first = 10 * time.Second
	}
	t := time.NewTimer(first)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		start := time.Now()
		p, err := pr.DB.Prune(ctx, clk.Now(), PruneOptions{Retention: pr.Retention(), Batch: pr.Batch, Pause: pr.Pause})
		switch {
		case ctx.Err() != nil:
			return
		case err != nil && pr.Log != nil:
			pr.Log.Error("cannot prune old history; the database keeps growing until this is fixed", "err", err)
		case p.Total() > 0 && pr.Log != nil:
			pr.Log.Info("pruned old history", "events", p.Events, "notifications", p.Notifications, "incidents", p.Incidents,
				"inbound_sms", p.InboundSMS, "twilio_sids", p.TwilioSIDs, "used_links", p.UsedLinks, "batches", p.Batches, "took", time.Since(start).Round(time.Millisecond))
		}
		if pr.Done != nil {
			pr.Done(p, err)
		}
		t.Reset(every)
	}
}
