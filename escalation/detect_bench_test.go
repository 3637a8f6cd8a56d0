package escalation

import (
	"context"
	"fmt"
	"testing"
	"time"

	"foghorn/configs"
	"foghorn/store"
)

// BenchmarkDetectToIntent measures the engine's share of "target dies →
// someone's phone": from a classifier event handed to Handle (a new
// incident whose first step has no delay) to its page intent reaching the
// Notifier, with the engine running on the real clock and a real SQLite
// file. The probe side (target dies → event) is probes/bench's detection
// figure; make bench adds the two.
// Run: go test -run '^$' -bench DetectToIntent -benchtime 200x ./escalation
func BenchmarkDetectToIntent(b *testing.B) {
	cfg, err := configs.Parse("b.toml", b.TempDir(), []byte(people+`
[[policy]]
name = "ops"
  [[policy.step]]
  who = ["carol"]
  until_ack = true
  interval = "1h"
`), func(string) string { return "" })
	if err != nil {
		b.Fatal(err)
	}
	cfg.Escalation.MaxPerHour = 1 << 30 // the per-person limit is not what is measured here
	db, err := store.Open(context.Background(), b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	got := make(chan time.Time, 1)
	e := New(db, configOf(cfg), NotifierFunc(func(ctx context.Context, in Intent) error {
		if in.Kind == KindPage {
			got <- time.Now()
		}
		return nil
	}), Options{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	lat := make([]time.Duration, 0, b.N)
	i := 0
	for b.Loop() {
		start := time.Now()
		if _, err := e.Handle(ctx, Alert{Key: fmt.Sprintf("target:t%d", i), Firing: true, Severity: "critical", Summary: "down", Source: "probe"}); err != nil {
			b.Fatal(err)
		}
		select {
		case at := <-got:
			lat = append(lat, at.Sub(start))
		case <-time.After(10 * time.Second):
			b.Fatal("no page within 10s of the event")
		}
		i++
	}
	b.StopTimer()
	if len(lat) > 0 {
		b.ReportMetric(pct(lat, 50).Seconds()*1000, "p50-ms")
		b.ReportMetric(pct(lat, 99).Seconds()*1000, "p99-ms")
	}
}
