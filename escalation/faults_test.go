package escalation

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	"foghorn/clock"
	"foghorn/configs"
	"foghorn/store"
)

const everyFive = people + `
[[policy]]
name = "ops"
  [[policy.step]]
  who = ["carol"]
  channels = ["sms"]
  until_ack = true
  interval = "5m"
`

func faultEngine(t *testing.T, cfgText string, clk clock.Clock) (*Engine, *store.DB, *pager) {
	t.Helper()
	cfg, err := configs.Parse("t.toml", t.TempDir(), []byte(cfgText), func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	p := &pager{clk: clock.NewFake(time.Time{}), fail: map[string]bool{}}
	return New(db, configOf(cfg), p, Options{Clock: clk}), db, p
}

func pages(p *pager) int { return len(p.list("page")) }

// The wall clock jumping forward fires each overdue step once, not once per
// interval missed; jumping back does not put the next step off by the size
// of the jump.
func TestClockJumps(t *testing.T) {
	clk := clock.NewFake(monday)
	e, _, p := faultEngine(t, everyFive, clk)
	ctx := context.Background()
	step := func() time.Time {
		t.Helper()
		next, err := e.Step(ctx)
		if err != nil {
			t.Fatal(err)
		}
		e.Wait()
		return next
	}
	step() // the engine's first look at the clock
	inc, err := e.Handle(ctx, Alert{Key: "target:rt1", Firing: true, Severity: "critical", Summary: "rt1 DOWN"})
	if err != nil {
		t.Fatal(err)
	}
	if next := step(); pages(p) != 1 || !next.Equal(monday.Add(5*time.Minute)) {
		t.Fatalf("first page: %d pages, next %s", pages(p), next)
	}

	// Forward three hours (a VPS resumed from suspend, NTP catching up):
	// one page now, the next five minutes later — not 36 at once.
	clk.Jump(monday.Add(3 * time.Hour))
	next := step()
	if pages(p) != 2 || !next.Equal(monday.Add(3*time.Hour+5*time.Minute)) {
		t.Fatalf("after a 3h jump forward: %d pages (want 2), next %s", pages(p), next)
	}
	for range 5 { // nothing more until it is due
		step()
	}
	if pages(p) != 2 {
		t.Fatalf("a burst after the jump forward: %d pages", pages(p))
	}

	// The clock steps back two hours: the step due in five minutes is
	// still due in five minutes, not in two hours and five. (A fake clock
	// has no monotonic reading, so all of its move back counts as the
	// jump; with the real one, time that really passed is told apart.)
	clk.Jump(monday.Add(3*time.Hour - 2*time.Hour))
	next = step()
	if pages(p) != 2 {
		t.Fatalf("the jump back paged: %d", pages(p))
	}
	if want := clk.Now().Add(5 * time.Minute); !next.Equal(want) {
		t.Fatalf("after a 2h jump back the next step is due at %s, want %s (5 minutes on)", next, want)
	}
	got, _ := e.Get(ctx, inc.ID)
	if !got.Due.Equal(next) {
		t.Fatalf("stored due %s, want %s", got.Due, next)
	}
	clk.Jump(next)
	if step(); pages(p) != 3 {
		t.Fatalf("the step after the jump back did not page: %d", pages(p))
	}

	// Back and forth within a second is no jump: nothing moves.
	before, _ := e.Get(ctx, inc.ID)
	clk.Jump(next.Add(-500 * time.Millisecond))
	step()
	after, _ := e.Get(ctx, inc.ID)
	if !after.Due.Equal(before.Due) {
		t.Fatalf("a half-second step back moved due from %s to %s", before.Due, after.Due)
	}
}

// readOnly opens the engine's database file a second time with query_only
// set: SQLite itself refuses every write, as it does on a failing disk.
func readOnly(t *testing.T, db *store.DB) *store.DB {
	t.Helper()
	ro, err := sql.Open("sqlite", "file:"+db.Path+"?_pragma=busy_timeout(5000)&_pragma=query_only(1)&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ro.Close() })
	return &store.DB{DB: ro, Path: db.Path}
}

// When the store refuses writes, pages still go out — unrecorded, at the
// step's pace (at least memoryEvery) rather than every second — and when
// it works again, what was kept in memory is recorded.
func TestStoreFailingPagesFromMemory(t *testing.T) {
	clk := clock.NewFake(monday)
	e, db, p := faultEngine(t, everyFive, clk)
	ctx := context.Background()
	steps := 0
	// drive runs the engine to d past monday as Run would: retrying a
	// failed step after a second, otherwise sleeping until the next due.
	drive := func(d time.Duration) {
		t.Helper()
		end := monday.Add(d)
		for {
			steps++
			next, err := e.Step(ctx)
			e.Wait()
			if err != nil {
				next = clk.Now().Add(time.Second)
			}
			if next.IsZero() || next.After(end) {
				clk.Jump(end)
				break
			}
			if !next.After(clk.Now()) {
				t.Fatalf("Step wants to run again at once (%s, now %s): it would spin", next, clk.Now())
			}
			clk.Jump(next)
		}
		e.Step(ctx)
		e.Wait()
	}
	a, err := e.Handle(ctx, Alert{Key: "target:a", Firing: true, Severity: "critical", Summary: "a DOWN"})
	if err != nil {
		t.Fatal(err)
	}
	drive(time.Minute)
	if n := pages(p); n != 1 {
		t.Fatalf("before the failure: %d pages", n)
	}

	good := e.db
	e.db = readOnly(t, db)
	if _, err := e.Handle(ctx, Alert{Key: "target:b", Firing: true, Severity: "critical", Summary: "b DOWN"}); err == nil {
		t.Fatal("a read-only store recorded the incident")
	}
	steps = 0
	drive(16 * time.Minute)
	// b at 1m, 6m, 11m, 16m; a (due at 5m) at 5m, 10m, 15m: all unrecorded.
	got := p.list("page")
	unrec := 0
	p.mu.Lock()
	for _, s := range p.got {
		if s.Kind == KindPage && s.ID == 0 {
			unrec++
			if s.Summary == "b DOWN" && !strings.Contains(s.Detail, "store is failing") {
				t.Errorf("a page from memory does not say why: %q", s.Detail)
			}
		}
	}
	p.mu.Unlock()
	if unrec != 7 {
		t.Fatalf("unrecorded pages = %d, want 7 (a: 5m 10m 15m, b: 1m 6m 11m 16m); all pages:\n%s", unrec, strings.Join(got, "\n"))
	}
	if total, pending := e.Unrecorded(); total != 7 || pending != 2 {
		t.Fatalf("Unrecorded() = %d, %d; want 7, 2", total, pending)
	}
	if max := int(16*time.Minute/retryEvery) + 20; steps > max {
		t.Fatalf("%d steps for 15 minutes of failure (want at most one per %s, %d): the engine polls too hard", steps, retryEvery, max)
	}

	// b recovers while the store still fails: paging from memory stops and
	// carol hears it.
	e.Handle(ctx, Alert{Key: "target:b", Firing: false}) // the store still fails: an error, but the memory is right
	e.Wait()
	if r := p.list("resolved"); len(r) != 1 {
		t.Fatalf("resolved notices from memory: %v", r)
	}
	// c fails while the store fails, then the store works again: c is
	// recorded and pages from the store; so does a, once its hold ends.
	if _, err := e.Handle(ctx, Alert{Key: "target:c", Firing: true, Severity: "critical", Summary: "c DOWN"}); err == nil {
		t.Fatal("a read-only store recorded c")
	}
	e.db = good
	before := pages(p)
	drive(22 * time.Minute)
	open, err := e.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, inc := range open {
		keys = append(keys, inc.Key)
	}
	if strings.Join(keys, ",") != "target:a,target:c" {
		t.Fatalf("open incidents after the store healed: %v", keys)
	}
	var recorded int
	db.QueryRow(`SELECT count(*) FROM notifications WHERE kind = 'page' AND created_at > ?`, monday.Add(16*time.Minute).UnixMilli()).Scan(&recorded)
	if recorded < 2 || pages(p)-before < 2 {
		t.Fatalf("after the store healed: %d recorded pages, %d sent (want a and c paged from the store)", recorded, pages(p)-before)
	}
	if _, pending := e.Unrecorded(); pending != 0 {
		t.Fatalf("still %d in memory after the store healed", pending)
	}
	if _, err := e.Ack(ctx, a.ID, "carol", "sms"); err != nil {
		t.Fatalf("ack after the store healed: %v", err)
	}
}
