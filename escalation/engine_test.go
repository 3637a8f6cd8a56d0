package escalation

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"foghorn/clock"
	"foghorn/configs"
	"foghorn/store"
)

// sent is one notification as the fake pager saw it, at engine time.
type sent struct {
	At time.Duration // since the test's start
	Intent
}

func (s sent) String() string {
	return fmt.Sprintf("%s %s %s %s", s.At, s.Kind, s.Channel, s.Person)
}

type pager struct {
	mu    sync.Mutex
	clk   *clock.Fake
	t0    time.Time
	got   []sent
	fail  map[string]bool // channel -> fail
	block chan struct{}   // when set, Notify waits on it (a crash mid-send)
	hold  chan struct{}   // when set, Notify waits on it, then sends (a slow send queue)
}

func (p *pager) Notify(ctx context.Context, in Intent) error {
	if p.block != nil {
		select {
		case <-p.block:
		case <-ctx.Done():
		}
		return errors.New("interrupted")
	}
	p.mu.Lock()
	hold := p.hold
	p.mu.Unlock()
	if hold != nil && in.Kind == KindPage {
		select {
		case <-hold:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.got = append(p.got, sent{At: p.clk.Now().Sub(p.t0), Intent: in})
	if p.fail[string(in.Channel)] {
		return fmt.Errorf("%s channel down", in.Channel)
	}
	return nil
}

// Cancel is recorded as a "cancel" among the sends.
func (p *pager) Cancel(ctx context.Context, incident int64) error {
	return p.Notify(ctx, Intent{Incident: incident, Kind: "cancel"})
}

// list lists what was sent of the given kinds, as "10m0s page sms alice",
// in time order; sends at the same instant run concurrently, so they are
// sorted by text.
func (p *pager) list(kinds ...string) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	got := append([]sent(nil), p.got...)
	sort.SliceStable(got, func(i, j int) bool {
		if got[i].At != got[j].At {
			return got[i].At < got[j].At
		}
		return got[i].String() < got[j].String()
	})
	var out []string
	for _, s := range got {
		for _, k := range kinds {
			if string(s.Kind) == k {
				out = append(out, s.String())
			}
		}
	}
	return out
}

const people = `
[twilio]
simulator = true
from = "+15005550006"
[self_check]
canaries = ["127.0.0.1"]
[escalation]
default_policy = "ops"
ack_timeout = "2h"
[[person]]
name = "alice"
phone = "+4915112345671"
timezone = "Europe/Berlin"
quiet_hours = "23:00-07:00"
[[person]]
name = "bob"
phone = "+4915112345672"
timezone = "Europe/Berlin"
[[person]]
name = "carol"
phone = "+4915112345673"
[[rotation]]
name = "ops"
members = ["alice", "bob"]
handoff = "0 9 * * MON"
timezone = "Europe/Berlin"
start = 2026-01-05T09:00:00
`

const twoStep = people + `
[[policy]]
name = "ops"
  [[policy.step]]
  who = ["alice"]
  channels = ["sms"]
  repeat = 2
  interval = "5m"
  [[policy.step]]
  who = ["bob"]
  channels = ["voice"]
  fallback = ["sms"]
  delay = "15m"
  until_ack = true
  interval = "10m"
`

type harness struct {
	t   testing.TB
	e   *Engine
	db  *store.DB
	clk *clock.Fake
	p   *pager
	t0  time.Time
	dir string
}

func newHarness(t testing.TB, cfgText string, start time.Time) *harness {
	t.Helper()
	cfg, err := configs.Parse("t.toml", t.TempDir(), []byte(cfgText), func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	db, err := store.Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	clk := clock.NewFake(start)
	p := &pager{clk: clk, t0: start, fail: map[string]bool{}}
	return &harness{t: t, e: New(db, configOf(cfg), p, Options{Clock: clk}), db: db, clk: clk, p: p, t0: start, dir: dir}
}

// drive runs the engine in fake time up to t0+d, stopping at every due
// time on the way, so hours of escalation take milliseconds.
func (h *harness) drive(d time.Duration) {
	h.t.Helper()
	end := h.t0.Add(d)
	for i := 0; i < 100000; i++ {
		next, err := h.e.Step(context.Background())
		if err != nil {
			h.t.Fatal(err)
		}
		h.e.Wait()
		if next.IsZero() || next.After(end) {
			h.clk.Set(end)
			break
		}
		h.clk.Set(next)
	}
	if _, err := h.e.Step(context.Background()); err != nil {
		h.t.Fatal(err)
	}
	h.e.Wait()
}

func (h *harness) fire(key string, sev configs.Severity) *Incident {
	h.t.Helper()
	inc, err := h.e.Handle(context.Background(), Alert{Key: key, Firing: true, Severity: sev, Summary: key + " DOWN",
		Labels: map[string]string{"name": strings.TrimPrefix(key, "target:")}, Source: "probe"})
	if err != nil {
		h.t.Fatal(err)
	}
	return inc
}

func same(t *testing.T, what string, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s:\n got: %s\nwant: %s", what, strings.Join(got, "\n      "), strings.Join(want, "\n      "))
	}
}

// Monday 2026-03-02 10:00 Berlin: alice's quiet hours are far away.
var monday = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

func TestTwoStepPolicyWithRepeatsAndAck(t *testing.T) {
	h := newHarness(t, twoStep, monday)
	inc := h.fire("target:rt1", "critical")
	h.drive(50 * time.Minute)
	same(t, "pages", h.p.list("page"), []string{
		"0s page sms alice", "5m0s page sms alice", "10m0s page sms alice",
		"25m0s page voice bob", "35m0s page voice bob", "45m0s page voice bob",
	})
	h.clk.Set(monday.Add(50 * time.Minute))
	acked, err := h.e.Ack(context.Background(), inc.ID, "bob", "sms")
	if err != nil || acked.State != Acknowledged || acked.AckedBy != "bob" {
		t.Fatalf("ack: %+v %v", acked, err)
	}
	h.e.Wait()
	h.drive(2*time.Hour + 49*time.Minute)
	same(t, "after ack", h.p.list("page"), []string{
		"0s page sms alice", "5m0s page sms alice", "10m0s page sms alice",
		"25m0s page voice bob", "35m0s page voice bob", "45m0s page voice bob",
	})
	same(t, "others told", h.p.list("acked", "cancel"), []string{"50m0s acked sms alice", "50m0s cancel  "})

	// The ack goes stale after ack_timeout (2h) without a resolve: paging resumes.
	h.drive(2*time.Hour + 51*time.Minute)
	got := h.p.list("page")
	if len(got) != 7 || got[6] != "2h50m0s page voice bob" {
		t.Fatalf("stale ack did not page again at 2h50m: %v", got)
	}
	// A second ack from someone else is a no-op, and resolve tells both.
	if _, err := h.e.Ack(context.Background(), inc.ID, "bob", "web"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.e.Ack(context.Background(), inc.ID, "alice", "web"); err != nil {
		t.Fatal(err)
	}
	h.e.Wait()
	if n := len(h.p.list("acked")); n != 2 {
		t.Fatalf("acked notices = %d, want 2 (one per real ack)", n)
	}
	if _, err := h.e.Handle(context.Background(), Alert{Key: "target:rt1", Firing: false, Source: "probe"}); err != nil {
		t.Fatal(err)
	}
	h.e.Wait()
	same(t, "resolved", h.p.list("resolved"), []string{"2h51m0s resolved sms alice", "2h51m0s resolved sms bob"})
	if _, err := h.e.Ack(context.Background(), inc.ID, "bob", "sms"); !errors.Is(err, ErrResolved) {
		t.Fatalf("ack after resolve: %v", err)
	}
	tl, _ := h.e.Timeline(context.Background(), inc.ID)
	var kinds []string
	for _, en := range tl {
		kinds = append(kinds, en.Kind)
	}
	if s := strings.Join(kinds, ","); !strings.Contains(s, "incident.open,page,") || !strings.Contains(s, "incident.ack,acked,ack.stale,page") || !strings.Contains(s, "incident.resolve,acked,resolved,resolved") {
		t.Errorf("timeline: %s", s)
	}
}

func TestDedupAndShortNumbers(t *testing.T) {
	h := newHarness(t, twoStep, monday)
	a := h.fire("target:rt1", "warning")
	b := h.fire("target:rt1", "critical")
	if a.ID != b.ID || b.Severity != "critical" {
		t.Fatalf("re-firing opened a second incident or kept the old severity: %+v %+v", a, b)
	}
	c := h.fire("target:rt2", "critical")
	if a.Short != 1 || c.Short != 2 {
		t.Fatalf("short numbers %d, %d; want 1, 2", a.Short, c.Short)
	}
	h.drive(time.Minute)
	if got, err := h.e.ByShort(context.Background(), "alice", 2); err != nil || got.ID != c.ID {
		t.Fatalf("ByShort(alice, 2) = %v, %v", got, err)
	}
	if _, err := h.e.ByShort(context.Background(), "carol", 2); !errors.Is(err, ErrNotFound) {
		t.Fatalf("carol was never paged for #2, got %v", err)
	}
	if got, err := h.e.LastPaged(context.Background(), "alice"); err != nil || got.ID != c.ID {
		t.Fatalf("LastPaged = %v, %v", got, err)
	}
}

func TestEscalateIsIdempotent(t *testing.T) {
	h := newHarness(t, twoStep, monday)
	inc := h.fire("target:rt1", "critical")
	h.drive(time.Minute)
	for _, who := range []string{"alice", "alice", "carol"} {
		if _, err := h.e.Escalate(context.Background(), inc.ID, 0, who); err != nil {
			t.Fatal(err)
		}
	}
	h.drive(2 * time.Minute)
	got, _ := h.e.Get(context.Background(), inc.ID)
	if got.Step != 1 {
		t.Fatalf("three escalations from step 1 moved to step %d, want 2 (index 1)", got.Step+1)
	}
	same(t, "pages", h.p.list("page"), []string{"0s page sms alice", "1m0s page voice bob"})
}

func TestSnooze(t *testing.T) {
	h := newHarness(t, twoStep, monday)
	inc := h.fire("target:rt1", "critical")
	h.drive(time.Minute)
	if _, err := h.e.Snooze(context.Background(), inc.ID, 30*time.Minute, "alice"); err != nil {
		t.Fatal(err)
	}
	h.drive(40 * time.Minute)
	same(t, "pages", h.p.list("page"), []string{"0s page sms alice", "31m0s page sms alice", "36m0s page sms alice"})
}

func TestRotationHandoffMidIncidentAndOverride(t *testing.T) {
	cfg := people + `
[[policy]]
name = "ops"
  [[policy.step]]
  who = ["rotation:ops"]
  until_ack = true
  interval = "30m"
`
	// Monday 2026-03-09 08:00 Berlin (07:00 UTC): alice's week (the ninth since
	// 2026-01-05) ends at 09:00 Berlin = 08:00 UTC, and bob's begins.
	start := time.Date(2026, 3, 9, 7, 0, 0, 0, time.UTC)
	h := newHarness(t, cfg, start)
	h.fire("target:rt1", "critical")
	h.drive(90 * time.Minute)
	same(t, "handoff", h.p.list("page"), []string{"0s page sms alice", "30m0s page sms alice", "1h0m0s page sms bob", "1h30m0s page sms bob"})

	// carol covers for alice for the last hour of her week.
	h2 := newHarness(t, cfg, start)
	if err := h2.e.AddOverride(context.Background(), Override{Absent: "alice", Cover: "carol", Start: start, End: start.Add(time.Hour), By: "alice"}); err != nil {
		t.Fatal(err)
	}
	h2.fire("target:rt1", "critical")
	h2.drive(70 * time.Minute)
	same(t, "override", h2.p.list("page"), []string{"0s page sms carol", "30m0s page sms carol", "1h0m0s page sms bob"})
}

func TestRotationFollowsDST(t *testing.T) {
	c, _ := configs.Parse("t.toml", t.TempDir(), []byte(people+`
[[policy]]
name = "ops"
  [[policy.step]]
  who = ["alice"]
[[rotation]]
name = "daily"
members = ["alice", "bob", "carol"]
handoff = "0 9 * * *"
timezone = "Europe/Berlin"
start = 2026-03-27T09:00:00
`), func(string) string { return "" })
	shifts, err := Shifts(c.Rotation("daily"), time.Date(2026, 3, 27, 12, 0, 0, 0, time.UTC), 4)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range shifts {
		got = append(got, s.Person+" "+s.Start.UTC().Format("01-02 15:04Z"))
	}
	// Clocks go forward on 2026-03-29: the handoff stays at 09:00 Berlin,
	// which is 08:00 UTC before and 07:00 UTC after.
	same(t, "shifts", got, []string{"alice 03-27 08:00Z", "bob 03-28 08:00Z", "carol 03-29 07:00Z", "alice 03-30 07:00Z"})
}

func TestQuietHoursHoldWarningsNotCriticals(t *testing.T) {
	cfg := people + `
[[policy]]
name = "ops"
  [[policy.step]]
  who = ["alice"]
  channels = ["voice"]
  fallback = ["sms"]
  until_ack = true
  interval = "1h"
`
	// 23:30 Berlin (22:30 UTC) on a Monday: alice is in quiet hours until 07:00.
	night := time.Date(2026, 3, 2, 22, 30, 0, 0, time.UTC)
	h := newHarness(t, cfg, night)
	h.fire("target:disk", "warning")
	h.fire("target:rt1", "critical")
	h.drive(9 * time.Hour)
	var warn, crit []string
	for _, s := range h.p.got {
		if s.Short == 1 {
			warn = append(warn, s.String())
		} else {
			crit = append(crit, s.String())
		}
	}
	// The warning waits for 07:00 Berlin (06:00 UTC, 7h30m later) and goes by SMS only.
	same(t, "warning", warn, []string{"7h30m0s page sms alice", "8h30m0s page sms alice"})
	if len(crit) < 9 || crit[0] != "0s page voice alice" {
		t.Errorf("critical must call at once and hourly: %v", crit)
	}
}

func TestMaintenanceAndSilences(t *testing.T) {
	cfg := twoStep + `
[[maintenance]]
name = "monday-updates"
schedule = "0 10 * * MON"
duration = "1h"
timezone = "Europe/Berlin"
matchers = ['name="pve1"']
`
	h := newHarness(t, cfg, monday) // 10:00 Berlin: the window is open until 11:00
	inc := h.fire("target:pve1", "critical")
	h.drive(30 * time.Minute)
	if got := h.p.list("page"); len(got) != 0 {
		t.Fatalf("paged during maintenance: %v", got)
	}
	got, _ := h.e.Get(context.Background(), inc.ID)
	if got.Silenced != "maintenance monday-updates" {
		t.Fatalf("silenced = %q", got.Silenced)
	}
	h.drive(61 * time.Minute)
	same(t, "after the window", h.p.list("page"), []string{"1h0m0s page sms alice"})

	// An ad hoc silence stops the repeats; the resolve still reaches the one paged.
	if _, err := h.e.Silence(context.Background(), Silence{Matchers: []string{`name="pve1"`}, Start: h.clk.Now(), End: h.clk.Now().Add(time.Hour), By: "alice"}); err != nil {
		t.Fatal(err)
	}
	h.drive(2 * time.Hour)
	same(t, "silenced", h.p.list("page"), []string{"1h0m0s page sms alice"})
	h.e.Handle(context.Background(), Alert{Key: "target:pve1", Source: "probe"})
	h.e.Wait()
	same(t, "resolve", h.p.list("resolved"), []string{"2h0m0s resolved sms alice"})

	if _, err := h.e.Silence(context.Background(), Silence{Start: h.clk.Now(), End: h.clk.Now().Add(time.Hour)}); err == nil {
		t.Error("a silence without matchers was accepted")
	}
}

func TestRateLimitPerPerson(t *testing.T) {
	cfg := strings.Replace(people, `ack_timeout = "2h"`, "ack_timeout = \"2h\"\nmax_per_hour = 4", 1) + `
[[policy]]
name = "ops"
  [[policy.step]]
  who = ["alice"]
  until_ack = true
  interval = "30s"
`
	h := newHarness(t, cfg, monday)
	h.fire("target:rt1", "critical")
	h.drive(59 * time.Minute)
	if n := len(h.p.list("page")); n != 4 {
		t.Fatalf("a 30s loop paged alice %d times in an hour; max_per_hour is 4", n)
	}
}

func TestFallbackToNextChannel(t *testing.T) {
	h := newHarness(t, twoStep, monday)
	h.p.fail["voice"] = true
	inc := h.fire("target:rt1", "critical")
	h.drive(26 * time.Minute)
	same(t, "fallback", h.p.list("page"), []string{
		"0s page sms alice", "5m0s page sms alice", "10m0s page sms alice", "25m0s page sms bob", "25m0s page voice bob",
	})
	// A permanent failure reported later (e.g. Twilio 21614 landline) falls back too.
	h.p.fail["voice"] = false
	var first int64
	h.db.QueryRow(`SELECT id FROM notifications WHERE incident = ? AND person = 'alice' ORDER BY id LIMIT 1`, inc.ID).Scan(&first)
	if err := h.e.Report(context.Background(), first, Failed, "21614 not a mobile number"); err != nil {
		t.Fatal(err)
	}
	h.e.Wait()
	if got := h.p.list("page"); len(got) != 5 {
		t.Fatalf("step 1 has sms only: no further channel, no extra send: %v", got)
	}
}

func TestCrashResendsAtMostOnce(t *testing.T) {
	h := newHarness(t, twoStep, monday)
	h.p.block = make(chan struct{})
	h.fire("target:rt1", "critical")
	ctx, cancel := context.WithCancel(context.Background())
	if _, err := h.e.Step(ctx); err != nil {
		t.Fatal(err)
	}
	// "kill -9" while the send is in flight: below, the row is put back to
	// claimed, as a process killed mid-send leaves it.
	close(h.p.block)
	cancel()
	h.e.Wait()
	// Make it look exactly like a crash: claimed, never marked.
	h.db.Exec(`UPDATE notifications SET state = 'claimed', sent_at = NULL, error = ''`)
	h.db.Close()

	reopen := func() *harness {
		db, err := store.Open(context.Background(), h.dir)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		h2 := *h
		h2.db = db
		h2.p = &pager{clk: h.clk, t0: h.t0, fail: map[string]bool{}}
		h2.e = New(db, *h.e.cfg.Load(), h2.p, Options{Clock: h.clk})
		return &h2
	}
	h2 := reopen()
	n, err := h2.e.Recover(context.Background())
	if err != nil || n != 1 {
		t.Fatalf("recover resent %d, %v; want 1", n, err)
	}
	h2.e.Wait()
	if got := h2.p.got; len(got) != 1 || got[0].Attempt != 2 || got[0].Person != "alice" {
		t.Fatalf("resend: %+v", got)
	}
	// Crash again right after the resend, before it was marked: no third send.
	h2.db.Exec(`UPDATE notifications SET state = 'claimed'`)
	h2.db.Close()
	h3 := reopen()
	if n, _ := h3.e.Recover(context.Background()); n != 0 {
		t.Fatalf("a notification already resent once was sent a third time")
	}
	// The escalation itself goes on: the step's repeats are still due.
	h3.drive(6 * time.Minute)
	same(t, "after restart", h3.p.list("page"), []string{"5m0s page sms alice"})
}

func TestWorseNewsPagesAgainAndNotices(t *testing.T) {
	h := newHarness(t, twoStep, monday)
	inc := h.fire("group:routers", "warning")
	h.drive(time.Minute)
	if _, err := h.e.Ack(context.Background(), inc.ID, "alice", "sms"); err != nil {
		t.Fatal(err)
	}
	h.clk.Set(monday.Add(10 * time.Minute))
	again := h.fire("group:routers", "critical") // the second router died too
	if again.ID != inc.ID || again.State != Triggered {
		t.Fatalf("critical update of an acked warning: %+v", again)
	}
	h.drive(11 * time.Minute)
	same(t, "pages", h.p.list("page"), []string{"0s page sms alice", "10m0s page sms alice"})

	n, err := h.e.Notice(context.Background(), "self", "foghorn was offline 02:10-02:25; checks of 3 targets did not run")
	if err != nil || n.State != Resolved {
		t.Fatalf("notice: %+v %v", n, err)
	}
	h.e.Wait()
	same(t, "notice", h.p.list("notice"), []string{"11m0s notice sms alice"})
	if open, _ := h.e.Open(context.Background()); len(open) != 1 {
		t.Fatalf("a notice left an open incident: %+v", open)
	}
}

func TestTestPage(t *testing.T) {
	h := newHarness(t, twoStep, monday)
	inc, err := h.e.TestPage(context.Background(), "bob", "alice")
	if err != nil {
		t.Fatal(err)
	}
	h.drive(time.Hour)
	same(t, "test page", h.p.list("page"), []string{"0s page sms bob", "0s page voice bob"})
	if got, _ := h.e.ByShort(context.Background(), "bob", inc.Short); got == nil || got.ID != inc.ID {
		t.Fatalf("bob cannot answer the test page by its number")
	}
	if _, err := h.e.TestPage(context.Background(), "mallory", "alice"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("test page to a stranger: %v", err)
	}
}

// A cover (cmd's maintenance leases) keeps an incident quiet, by its host
// or its labels, for as long as it says it holds; once it no longer
// does, the incident pages.
func TestCoversKeepIncidentsQuietWhileTheyHold(t *testing.T) {
	h := newHarness(t, twoStep, monday)
	var mu sync.Mutex
	leased := map[string]bool{"pve2": true}
	cfg, _ := configs.Parse("t.toml", t.TempDir(), []byte(twoStep), func(string) string { return "" })
	h.e = New(h.db, configOf(cfg), h.p, Options{Clock: h.clk, Covers: func(host string, ls map[string]string, now time.Time) (string, time.Time) {
		mu.Lock()
		defer mu.Unlock()
		if leased[host] || leased[ls["name"]] {
			return "lease #1 by ci", now.Add(5 * time.Second)
		}
		return "", time.Time{}
	}})
	inc, err := h.e.Handle(context.Background(), Alert{Key: "group:pve", Firing: true, Severity: "warning", Summary: "pve: pve2 down",
		Labels: map[string]string{"group": "pve"}, Host: "pve2", Source: "probe"})
	if err != nil {
		t.Fatal(err)
	}
	h.drive(10 * time.Minute)
	if got := h.p.list("page"); len(got) != 0 {
		t.Fatalf("paged while covered: %v", got)
	}
	if got, _ := h.e.Get(context.Background(), inc.ID); got.Silenced != "lease #1 by ci" {
		t.Fatalf("silenced = %q", got.Silenced)
	}
	mu.Lock()
	delete(leased, "pve2")
	mu.Unlock()
	h.drive(11 * time.Minute)
	if got := h.p.list("page"); len(got) != 1 || !strings.Contains(got[0], "page sms alice") {
		t.Fatalf("pages once the cover ended: %v", got)
	}
}
