package escalation

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"foghorn/configs"
	"foghorn/store"
)

// BenchmarkEscalate1000 measures the engine with 1,000 open incidents whose
// next step falls due at the same instant, on the real clock and a real
// SQLite file: how late each step reaches the Notifier after its due time,
// and how long an ack takes to stop an incident's paging (after Ack
// returns, no further page for it is handed out). Run: go test -run '^$' -bench Escalate1000 ./escalation
func BenchmarkEscalate1000(b *testing.B) {
	const n = 1000
	cfg, err := configs.Parse("b.toml", b.TempDir(), []byte(people+`
[[policy]]
name = "ops"
  [[policy.step]]
  who = ["carol"]
  delay = "1h"
  until_ack = true
  interval = "1m"
`), func(string) string { return "" })
	if err != nil {
		b.Fatal(err)
	}
	cfg.Escalation.MaxPerHour = 10 * n // the per-person limit is not what is measured here
	for range b.N {
		db, err := store.Open(context.Background(), b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		var mu sync.Mutex
		var late []time.Duration
		var due time.Time
		got := make(chan struct{}, n)
		e := New(db, configOf(cfg), NotifierFunc(func(ctx context.Context, in Intent) error {
			if in.Kind != KindPage {
				return nil
			}
			d := time.Since(due)
			mu.Lock()
			late = append(late, d)
			mu.Unlock()
			got <- struct{}{}
			return nil
		}), Options{})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { e.Run(ctx); close(done) }()

		ids := make([]int64, n)
		for i := range n {
			inc, err := e.Handle(ctx, Alert{Key: fmt.Sprintf("target:t%d", i), Firing: true, Severity: "critical", Summary: "down"})
			if err != nil {
				b.Fatal(err)
			}
			ids[i] = inc.ID
		}
		// All 1,000 steps fall due at the same instant, half a second from now.
		due = time.Now().Add(500 * time.Millisecond)
		if _, err := db.Exec(`UPDATE incidents SET due = ?`, due.UnixMilli()); err != nil {
			b.Fatal(err)
		}
		e.poke()
		for range n {
			select {
			case <-got:
			case <-time.After(30 * time.Second):
				b.Fatal("not every incident was paged within 30s")
			}
		}
		acks := make([]time.Duration, n)
		for i, id := range ids {
			t0 := time.Now()
			if _, err := e.Ack(ctx, id, "carol", "bench"); err != nil {
				b.Fatal(err)
			}
			acks[i] = time.Since(t0)
		}
		cancel()
		<-done
		db.Close()

		b.ReportMetric(pct(late, 50).Seconds()*1000, "dispatch-p50-ms")
		b.ReportMetric(pct(late, 99).Seconds()*1000, "dispatch-p99-ms")
		b.ReportMetric(pct(acks, 99).Seconds()*1000, "ack-p99-ms")
	}
}

func pct(ds []time.Duration, p int) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[(len(s)-1)*p/100]
}
