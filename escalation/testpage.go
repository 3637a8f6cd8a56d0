package escalation

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"time"

	"foghorn/configs"
)

// Test pages prove the path to a person's phone while nothing is wrong: on
// demand (the API, the CLI) and on [escalation] test_page's schedule, to
// everyone on call, so a phone that silently stopped ringing is found in
// daylight and not at 3 a.m.

// testPageWait is how long a scheduled test page may go unanswered before
// foghorn says so loudly.
const testPageWait = 10 * time.Minute

// TestPage pages one person by SMS and by a call, outside any policy, so
// they can prove the path to their phone works: replying or pressing 1
// acks it like a real page. It never repeats or escalates (no due step);
// the caller resolves it when done.
func (e *Engine) TestPage(ctx context.Context, person, by string) (*Incident, error) {
	cfg := e.cfg.Load()
	p := cfg.person(person)
	if p == nil {
		return nil, fmt.Errorf("test page: no person %q in the config: %w", person, ErrNotFound)
	}
	var id int64
	err := e.write(ctx, func(tx *sql.Tx, now time.Time) ([]Intent, error) {
		short, err := allocShort(ctx, tx, now)
		if err != nil {
			return nil, err
		}
		summary := fmt.Sprintf("TEST PAGE for %s from %s: reply or press 1 to show it reached you", person, by)
		res, err := tx.ExecContext(ctx, `INSERT INTO incidents (key, short, state, severity, summary, source, opened_at, updated_at)
			VALUES (?, ?, 'triggered', 'critical', ?, 'test', ?, ?)`, fmt.Sprintf("test:%s:%d", person, ms(now)), short, summary, ms(now), ms(now))
		if err != nil {
			return nil, fmt.Errorf("escalation: test page: %w", err)
		}
		id, _ = res.LastInsertId()
		var intents []Intent
		for _, ch := range []configs.Channel{configs.SMS, configs.Voice} {
			in := Intent{Incident: id, Short: short, Kind: KindPage, Channel: ch, Person: p.Name, Phone: p.Phone, Email: p.Email,
				Severity: "critical", Summary: summary, Since: now}
			if err := e.claim(ctx, tx, &in, now); err != nil {
				return nil, err
			}
			intents = append(intents, in)
		}
		return intents, event(ctx, tx, now, "test-page", id, by, "sms and call to "+person)
	})
	if err != nil {
		return nil, err
	}
	return getIncident(ctx, e.db, id)
}

// TestPages sends a test page to everyone on call whenever [escalation]
// test_page fires, on the engine's clock, until ctx ends; each waits
// testPageWait for its answer (TestPageAndWait). A schedule added or
// changed by a reload is picked up within the hour.
func (e *Engine) TestPages(ctx context.Context) {
	for {
		spec := e.cfg.Load().Escalation.TestPage
		wait := time.Hour // look again later; the config may gain a spec on reload
		if spec != "" {
			if sched, err := configs.ParseCron(spec); err == nil {
				now := e.clock.Now()
				wait = sched.Next(now).Sub(now)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-e.clock.After(wait):
		}
		if spec == "" || spec != e.cfg.Load().Escalation.TestPage {
			continue
		}
		shifts, err := e.OnCall(ctx, e.clock.Now(), 0)
		if err != nil {
			e.log.Error("scheduled test page: cannot tell who is on call", "err", err)
			continue
		}
		seen := map[string]bool{}
		for _, ss := range shifts {
			if len(ss) == 0 || seen[ss[0].Person] {
				continue
			}
			seen[ss[0].Person] = true
			go e.TestPageAndWait(ctx, ss[0].Person, "schedule", testPageWait)
		}
	}
}

// TestPageAndWait sends person a test page (TestPage) and waits up to wait
// for the ack; either way the test incident is resolved. It returns the
// incident as it ended and whether it was answered; one not answered is
// logged loudly, recorded and handed to Options.Unanswered.
func (e *Engine) TestPageAndWait(ctx context.Context, person, by string, wait time.Duration) (*Incident, bool, error) {
	inc, err := e.TestPage(ctx, person, by)
	if err != nil {
		return nil, false, err
	}
	deadline := e.clock.Now().Add(wait)
	for e.clock.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return inc, false, ctx.Err()
		case <-e.clock.After(time.Second):
		}
		if cur, err := e.Get(ctx, inc.ID); err == nil {
			inc = cur
			if cur.State == Acknowledged {
				e.Resolve(ctx, inc.ID, "test-page", "test")
				e.db.Event(ctx, "test-page.answered", strconv.FormatInt(inc.ID, 10), person, "answered after "+e.clock.Now().Sub(cur.Opened).Round(time.Second).String())
				return cur, true, nil
			}
		}
	}
	e.Resolve(ctx, inc.ID, "test-page", "test")
	e.log.Error("TEST PAGE NOT ANSWERED: this person may not be reachable when it matters", "person", person, "waited", wait)
	e.db.Event(ctx, "test-page.unanswered", strconv.FormatInt(inc.ID, 10), person, "not answered within "+wait.String())
	if e.unanswered != nil {
		e.unanswered(person)
	}
	return inc, false, nil
}
