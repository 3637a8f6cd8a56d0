package probes

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"foghorn/clock"
	"foghorn/configs"
)

func beatTarget(name, token string, interval, grace time.Duration) configs.Target {
	return configs.Target{
		Name: name, Kind: "heartbeat",
		Interval:  configs.Duration{Duration: interval},
		Heartbeat: &configs.Heartbeat{Token: configs.NewSecret(token), Grace: configs.Duration{Duration: grace}},
	}
}

func TestHeartbeat(t *testing.T) {
	t.Parallel()
	clk := clock.NewFake(time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC))
	h := &Heartbeats{Clock: clk}
	backup := beatTarget("backup", "s3cret", 10*time.Minute, 0)
	h.Configure([]configs.Target{backup, {Name: "web", Kind: "http"}})
	probe := h.Prober()
	var mem Memory
	check := func(want Status, msg string) {
		t.Helper()
		r := probe(context.Background(), &backup, &mem)
		if r.Status != want || r.Msg != msg {
			t.Fatalf("at %s: got %v %q, want %v %q", clk.Now().Format(time.TimeOnly), r.Status, r.Msg, want, msg)
		}
		if r.Target != "backup" || r.Kind != "heartbeat" || !r.Start.Equal(clk.Now()) {
			t.Errorf("result not labelled: %+v", r)
		}
	}

	check(OK, "waiting for the first heartbeat, due by 10:15:00")
	clk.Add(15*time.Minute + time.Second)
	check(Critical, "no heartbeat since 10:00:00 (when watching began), grace 5m0s")

	if err := h.Push("backup", "s3cret", time.Time{}); err != nil {
		t.Fatal(err)
	}
	check(OK, "last heartbeat 0s ago at 10:15:01")
	clk.Add(15 * time.Minute)
	check(OK, "last heartbeat 15m0s ago at 10:15:01")
	clk.Add(time.Second)
	check(Critical, "no heartbeat since 10:15:01, grace 5m0s")

	// A late push with an older time must not move the clock backwards.
	if err := h.Push("backup", "s3cret", clk.Now().Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	check(OK, "last heartbeat 1m0s ago at 10:29:02")
	if err := h.Push("backup", "s3cret", clk.Now().Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	check(OK, "last heartbeat 1m0s ago at 10:29:02")
}

func TestHeartbeatPushErrors(t *testing.T) {
	t.Parallel()
	h := &Heartbeats{}
	h.Configure([]configs.Target{
		beatTarget("backup", "s3cret", time.Minute, 0),
		{Name: "cron", Kind: "heartbeat"}, // no token configured
		{Name: "web", Kind: "http"},
	})
	cases := []struct {
		target, token string
		is            error
		msg           string
	}{
		{"backup", "wrong", ErrBadToken, `wrong heartbeat token for "backup"`},
		{"backup", "", ErrBadToken, `wrong heartbeat token for "backup"`},
		{"backup", "s3cret-and-more", ErrBadToken, `wrong heartbeat token for "backup"`},
		{"nope", "s3cret", ErrUnknownHeartbeat, `unknown heartbeat target "nope"`},
		{"web", "s3cret", ErrUnknownHeartbeat, `unknown heartbeat target "web"`},
		{"cron", "", ErrBadToken, `"cron": it has no token configured`},
	}
	for _, c := range cases {
		err := h.Push(c.target, c.token, time.Now())
		if !errors.Is(err, c.is) || err == nil || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("Push(%q, %q) = %v, want %v containing %q", c.target, c.token, err, c.is, c.msg)
		}
	}
	if err := h.Push("backup", "s3cret", time.Now()); err != nil {
		t.Errorf("right token refused: %v", err)
	}
	if err := (&Heartbeats{}).Push("backup", "s3cret", time.Now()); !errors.Is(err, ErrUnknownHeartbeat) {
		t.Errorf("unconfigured registry: got %v", err)
	}
}

// TestHeartbeatSurvivesRestart: the last push lives in Memory, which the
// scheduler persists, so a restarted foghorn still knows it is overdue.
func TestHeartbeatSurvivesRestart(t *testing.T) {
	t.Parallel()
	clk := clock.NewFake(time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC))
	tg := beatTarget("backup", "s3cret", time.Minute, time.Minute)
	before := &Heartbeats{Clock: clk}
	before.Configure([]configs.Target{tg})
	var mem Memory
	if err := before.Push("backup", "s3cret", clk.Now()); err != nil {
		t.Fatal(err)
	}
	before.Prober()(context.Background(), &tg, &mem)

	saved := mem.Snapshot()
	clk.Add(5 * time.Minute)
	after := &Heartbeats{Clock: clk}
	after.Configure([]configs.Target{tg})
	var restored Memory
	for k, v := range saved {
		restored.Set(k, v)
	}
	r := after.Prober()(context.Background(), &tg, &restored)
	if r.Status != Critical || r.Msg != "no heartbeat since 10:00:00, grace 1m0s" {
		t.Fatalf("got %v %q", r.Status, r.Msg)
	}
}

// TestHeartbeatReconfigure keeps pushes across a reload for targets that
// stay and forgets removed ones.
func TestHeartbeatReconfigure(t *testing.T) {
	t.Parallel()
	clk := clock.NewFake(time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC))
	h := &Heartbeats{Clock: clk}
	a, b := beatTarget("a", "ta", time.Minute, 0), beatTarget("b", "tb", time.Minute, 0)
	h.Configure([]configs.Target{a, b})
	if err := h.Push("a", "ta", time.Time{}); err != nil {
		t.Fatal(err)
	}
	clk.Add(time.Minute)
	a.Heartbeat.Token = configs.NewSecret("rotated")
	h.Configure([]configs.Target{a})
	if err := h.Push("b", "tb", time.Time{}); !errors.Is(err, ErrUnknownHeartbeat) {
		t.Errorf("removed target accepted a push: %v", err)
	}
	if err := h.Push("a", "ta", time.Time{}); !errors.Is(err, ErrBadToken) {
		t.Errorf("old token accepted after rotation: %v", err)
	}
	r := h.Prober()(context.Background(), &a, nil)
	if r.Status != OK || r.Msg != "last heartbeat 1m0s ago at 10:00:00" {
		t.Fatalf("got %v %q", r.Status, r.Msg)
	}
}

// TestHeartbeatConcurrent is for the race detector: pushes, probes and
// reloads at once.
func TestHeartbeatConcurrent(t *testing.T) {
	t.Parallel()
	h := &Heartbeats{}
	var targets []configs.Target
	for i := range 10 {
		targets = append(targets, beatTarget(fmt.Sprintf("t%d", i), "tok", time.Minute, 0))
	}
	h.Configure(targets)
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Go(func() {
			tg := targets[i]
			var mem Memory
			for range 100 {
				if err := h.Push(tg.Name, "tok", time.Time{}); err != nil {
					t.Error(err)
					return
				}
				if r := h.Prober()(context.Background(), &tg, &mem); r.Status != OK {
					t.Errorf("got %v %q", r.Status, r.Msg)
					return
				}
			}
		})
	}
	wg.Go(func() {
		for range 50 {
			h.Configure(targets)
		}
	})
	wg.Wait()
}
