package store

import (
	"context"
	"fmt"
	"foghorn/clock"
	"testing"
	"time"
)

// TestPruneDropsOnlyFinishedHistoryOlderThanRetention: with a clock set
// far ahead, rows older than the retention are gone, in batches; open
// incidents keep every row, recent ones are untouched, and nothing still
// in flight (claimed, held) is pruned.
func TestPruneDropsOnlyFinishedHistoryOlderThanRetention(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := time.Date(2027, 3, 1, 12, 0, 0, 0, time.UTC)
	const retention = 90 * 24 * time.Hour
	old, recent := now.Add(-100*24*time.Hour), now.Add(-10*24*time.Hour)

	exec := func(q string, args ...any) int64 {
		t.Helper()
		res, err := db.ExecContext(ctx, q, args...)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		id, _ := res.LastInsertId()
		return id
	}
	incident := func(key, state string, opened, resolved time.Time) int64 {
		var res any
		if state == "resolved" {
			res = resolved.UnixMilli()
		}
		return exec(`INSERT INTO incidents (key, short, state, severity, summary, opened_at, updated_at, resolved_at)
			VALUES (?, 1, ?, 'critical', ?, ?, ?, ?)`, key, state, key, opened.UnixMilli(), opened.UnixMilli(), res)
	}
	notif := func(inc int64, state string, at time.Time) int64 {
		return exec(`INSERT INTO notifications (incident, kind, person, channel, text, state, created_at) VALUES (?, 'page', 'alice', 'sms', 'x', ?, ?)`,
			inc, state, at.UnixMilli())
	}
	event := func(subject, kind string, at time.Time) {
		exec(`INSERT INTO events (at, kind, subject, actor, detail) VALUES (?, ?, ?, 'test', '')`, at.UTC().Format(time.RFC3339Nano), kind, subject)
	}
	count := func(q string, args ...any) int {
		t.Helper()
		var n int
		if err := db.QueryRowContext(ctx, q, args...).Scan(&n); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return n
	}

	// Gone: an incident resolved 100 days ago, with its pages and events.
	gone := incident("gone", "resolved", old.Add(-time.Hour), old)
	for _, st := range []string{"delivered", "failed", "expired", "cancelled", "sent", "unanswered", "abandoned", "unsent"} {
		notif(gone, st, old.Add(-time.Hour))
	}
	for i := range 7 {
		event(fmt.Sprint(gone), fmt.Sprintf("incident.step%d", i), old.Add(-time.Hour))
	}
	// Kept: an incident open for 100 days (acked, never resolved).
	open := incident("open", "acknowledged", old, time.Time{})
	notif(open, "delivered", old)
	event(fmt.Sprint(open), "incident.open", old)
	event(fmt.Sprint(open), "incident.ack", old)
	// Kept: opened 100 days ago, resolved 10 days ago: its whole timeline.
	late := incident("late", "resolved", old, recent)
	notif(late, "delivered", old)
	event(fmt.Sprint(late), "incident.open", old)
	// Kept: resolved long ago, but a claimed and a held page are still
	// there (Recover acts on them): those rows and the incident stay.
	stuck := incident("stuck", "resolved", old, old)
	claimed := notif(stuck, "claimed", old)
	notif(stuck, "held", old)
	notif(stuck, "delivered", old)
	// Non-incident events: old ones go, recent ones stay.
	for i := range 5 {
		event("pve1", "power.allowed", old.Add(time.Duration(i)*time.Minute))
	}
	event("foghorn.toml", "config.reload", recent)
	event("99999", "incident.open", old) // an incident long gone
	// Inbound SMS (a day) and Twilio SIDs (a week) by their own windows.
	exec(`INSERT INTO inbound_sms (sid, at) VALUES ('SMold', ?), ('SMnew', ?)`, now.Add(-25*time.Hour).UnixMilli(), now.Add(-time.Hour).UnixMilli())
	exec(`INSERT INTO twilio_sids (sid, notification, at) VALUES ('SMa', 424242, ?), ('SMb', ?, ?), ('SMc', 424243, ?)`,
		old.UnixMilli(), claimed, old.UnixMilli(), now.Add(-time.Hour).UnixMilli())

	p, err := db.Prune(ctx, now, PruneOptions{Retention: retention, Batch: 3, Pause: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	want := Pruned{Events: 7 + 5 + 1, Notifications: 8 + 1, Incidents: 1, InboundSMS: 1, TwilioSIDs: 1}
	if p.Events != want.Events || p.Notifications != want.Notifications || p.Incidents != want.Incidents ||
		p.InboundSMS != want.InboundSMS || p.TwilioSIDs != want.TwilioSIDs {
		t.Fatalf("pruned %+v, want %+v", p, want)
	}
	// 13 events in batches of 3 are 5 batches, 9 notifications 3 (+1 empty
	// check that is not counted), and so on: never one big delete.
	if p.Batches < 5+3+1+1+1 {
		t.Errorf("%d batches: a batch of 3 must split 13 events and 9 notifications", p.Batches)
	}

	if n := count(`SELECT count(*) FROM incidents WHERE id = ?`, gone); n != 0 {
		t.Error("the incident resolved 100 days ago is still there")
	}
	for _, id := range []int64{open, late, stuck} {
		if count(`SELECT count(*) FROM incidents WHERE id = ?`, id) != 1 {
			t.Errorf("incident %d was pruned", id)
		}
	}
	if n := count(`SELECT count(*) FROM notifications WHERE incident IN (?, ?)`, open, late); n != 2 {
		t.Errorf("%d pages of the open and the recently resolved incident left, want 2", n)
	}
	if n := count(`SELECT count(*) FROM events WHERE subject IN (?, ?)`, fmt.Sprint(open), fmt.Sprint(late)); n != 3 {
		t.Errorf("%d events of the open and the recently resolved incident left, want 3", n)
	}
	if n := count(`SELECT count(*) FROM notifications WHERE incident = ? AND state IN ('claimed', 'held')`, stuck); n != 2 {
		t.Errorf("%d claimed/held pages left, want 2: a page in flight is never pruned", n)
	}
	if n := count(`SELECT count(*) FROM events WHERE kind = 'config.reload'`); n != 1 {
		t.Error("a recent event was pruned")
	}
	if n := count(`SELECT count(*) FROM inbound_sms WHERE sid = 'SMnew'`); n != 1 {
		t.Error("an inbound SMS of the last day was pruned: a replay of it would act twice")
	}
	if n := count(`SELECT count(*) FROM twilio_sids WHERE sid IN ('SMb', 'SMc')`); n != 2 {
		t.Error("the SID of a claimed page, or a recent SID, was pruned")
	}

	// A second run finds nothing more.
	if p, err := db.Prune(ctx, now, PruneOptions{Retention: retention}); err != nil || p.Total() != 0 {
		t.Errorf("second prune: %+v, %v; want nothing", p, err)
	}
	// The audit view still works on what is left.
	if _, err := db.Audit(ctx, AuditFilter{}); err != nil {
		t.Fatal(err)
	}
}

// TestPrunerRunsOnItsClock: the background pruner runs on its own, with
// the clock it is given, and reports what it deleted.
func TestPrunerRunsOnItsClock(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	db, err := Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Event(ctx, "config.reload", "x", "test", ""); err != nil {
		t.Fatal(err)
	}
	done := make(chan Pruned, 10)
	pr := &Pruner{DB: db, Retention: func() time.Duration { return 24 * time.Hour },
		Clock: clock.NewFake(time.Now().Add(48 * time.Hour)), First: time.Millisecond, Every: time.Millisecond,
		Done: func(p Pruned, err error) {
			if err != nil && ctx.Err() == nil {
				t.Error(err)
			}
			select {
			case done <- p:
			default:
			}
		}}
	stopped := make(chan struct{})
	go func() { defer close(stopped); pr.Run(ctx) }()
	defer func() { cancel(); <-stopped }() // before db.Close
	select {
	case p := <-done:
		if p.Events != 1 {
			t.Fatalf("first run pruned %+v, want the one event from two days before its clock", p)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the pruner never ran")
	}
}
