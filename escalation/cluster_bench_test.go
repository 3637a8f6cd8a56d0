package escalation

import (
	"context"
	"fmt"
	"testing"
	"time"

	"foghorn/cluster"
	"foghorn/configs"
	"foghorn/store"
)

// BenchmarkClusterJoin1000 measures gossip convergence (issue 15's
// benchmark): node A has 1,000 open incidents, each paged once (an episode
// and a page entry each in its notification log); node B, a fresh store,
// joins A over loopback with real cluster.Peer instances (memberlist, the
// encrypted gossip): how long from B's Start until B's log has every entry
// of A's (converge-ms: B can take its turns on it), and until B's store
// has them too (stored-ms: a restart keeps them). Each iteration is a new
// B. Run: go test -run '^$' -bench ClusterJoin1000 -benchtime 1x ./escalation
func BenchmarkClusterJoin1000(b *testing.B) {
	const n = 1000
	cfg, err := configs.Parse("b.toml", b.TempDir(), []byte(clusterPolicy), func(string) string { return "" })
	if err != nil {
		b.Fatal(err)
	}
	key := []byte("0123456789abcdef0123456789abcdef")
	const timeout = 2 * time.Second
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// node starts one engine on its own store, joined to peers.
	node := func(name string, peers []string) (*Engine, *cluster.Peer, *store.DB) {
		b.Helper()
		db, err := store.Open(ctx, b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { db.Close() })
		p, err := cluster.New(cluster.Config{Name: name, Bind: "127.0.0.1:0", Peers: peers, Key: key, PeerTimeout: timeout}, cluster.Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { p.Close() })
		e := New(db, configOf(cfg), NotifierFunc(func(context.Context, Intent) error { return nil }),
			Options{Cluster: &Cluster{Node: name, Peer: p, PeerTimeout: timeout, Retention: 90 * 24 * time.Hour}})
		ch := p.AddState("nflog", e.Log())
		e.Log().SetBroadcast(ch.Broadcast)
		if _, err := e.Recover(ctx); err != nil {
			b.Fatal(err)
		}
		done := make(chan struct{})
		go func() { e.Run(ctx); close(done) }()
		b.Cleanup(func() { e.Stop(); <-done; e.Wait() })
		return e, p, db
	}

	a, pa, _ := node("a", nil)
	pa.Start()
	for i := range n {
		if _, err := a.Handle(ctx, Alert{Key: fmt.Sprintf("target:t%04d", i), Firing: true, Severity: "critical", Summary: "down", Source: "probe"}); err != nil {
			b.Fatal(err)
		}
	}
	want := 0
	for deadline := time.Now().Add(60 * time.Second); ; {
		if want = len(a.Log().Entries()); want >= 2*n {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("A's log has %d entries, want %d (an episode and a page per incident)", want, 2*n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	addr := pa.Members()[0].Addr

	var converge, stored time.Duration
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		e, pb, db := node(fmt.Sprintf("b%d", i), []string{addr})
		b.StartTimer()
		began := time.Now()
		pb.Start()
		for len(e.Log().Entries()) < want {
			if time.Since(began) > time.Minute {
				b.Fatalf("B has %d of A's %d log entries after a minute", len(e.Log().Entries()), want)
			}
			time.Sleep(time.Millisecond)
		}
		converge += time.Since(began)
		for {
			var k int
			if err := db.QueryRowContext(ctx, `SELECT count(*) FROM nflog`).Scan(&k); err != nil {
				b.Fatal(err)
			}
			if k >= want {
				break
			}
			if time.Since(began) > time.Minute {
				b.Fatalf("B's store has %d of A's %d log entries after a minute", k, want)
			}
			time.Sleep(5 * time.Millisecond)
		}
		stored += time.Since(began)
		b.StopTimer()
		pb.Close()
		b.StartTimer()
	}
	b.StopTimer()
	b.ReportMetric(float64(want), "entries")
	b.ReportMetric(float64(converge.Microseconds())/1000/float64(b.N), "converge-ms")
	b.ReportMetric(float64(stored.Microseconds())/1000/float64(b.N), "stored-ms")
	b.ReportMetric(0, "ns/op")
}
