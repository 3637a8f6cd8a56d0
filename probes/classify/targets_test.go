package classify

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"foghorn/configs"
	"foghorn/probes"
	"foghorn/store"
)

// The scheduler's exported target state includes what it restored from
// the store, at once: after a restart a target that was down is down and
// one that was up is up before any probe has returned (the probes here
// never return until the scheduler stops), so a reader such as the power
// guard does not see every target "pending".
func TestSchedulerTargetsRestoredAtOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, err := store.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	since := time.Now().Add(-time.Hour).UTC().Truncate(time.Millisecond)
	at := since.Add(50 * time.Minute)
	if err := SaveStates(ctx, db, []Saved{
		{Target: "pve1", State: Up, Since: since, Last: probes.Result{Status: probes.OK, Msg: "connected", Start: at}},
		{Target: "pve3", State: Down, Since: since, Last: probes.Result{Status: probes.Critical, Msg: "connection refused", Start: at}},
	}); err != nil {
		t.Fatal(err)
	}

	// A kind whose probes hang until cancelled: nothing the scheduler
	// reports can come from a result of this run.
	hang := func(ctx context.Context, _ *configs.Target, _ *probes.Memory) probes.Result {
		<-ctx.Done()
		return probes.Result{Status: probes.Unknown, Msg: "cancelled"}
	}
	target := func(name string) configs.Target {
		t := tcpTarget(name, "", time.Second, 500*time.Millisecond)
		t.Kind = "hang"
		return t
	}
	cfg := &configs.Config{Targets: []configs.Target{target("pve1"), target("pve2"), target("pve3")}}
	var results atomic.Int64
	s := newWired(wiring{Options: probes.Options{Kinds: map[string]probes.Prober{"hang": hang}, OnResult: func(probes.Result) { results.Add(1) }}, Classifier: Options{Store: db}})
	defer s.Stop()
	if got := s.Targets(); len(got) != 0 {
		t.Fatalf("before the first Update: %+v, want none", got)
	}
	if got := s.State("pve3"); got != Pending {
		t.Fatalf("before the first Update pve3 is %q, want pending", got)
	}
	s.Update(cfg)

	for name, want := range map[string]State{"pve1": Up, "pve2": Pending, "pve3": Down, "gone": Pending} {
		if got := s.State(name); got != want {
			t.Errorf("State(%q) = %q right after the restart, want %q", name, got, want)
		}
	}
	got := s.Targets()
	if len(got) != 3 || got[0].Target != "pve1" || got[1].Target != "pve2" || got[2].Target != "pve3" {
		t.Fatalf("Targets() = %+v, want pve1, pve2, pve3 by name", got)
	}
	p3 := got[2]
	if p3.State != Down || !p3.Since.Equal(since) || p3.Kind != "hang" || p3.Last.Kind != "hang" ||
		p3.Last.Status != probes.Critical || p3.Last.Msg != "connection refused" || !p3.Last.Start.Equal(at) || !p3.Known() {
		t.Errorf("pve3 restored as %+v", p3)
	}
	if one, ok := s.Target("pve3"); !ok || one.State != Down || !one.Since.Equal(since) || one.Last.Msg != p3.Last.Msg {
		t.Errorf("Target(pve3) = %+v, %v; want %+v", one, ok, p3)
	}
	if _, ok := s.Target("gone"); ok {
		t.Errorf("Target(gone) found a target not in the config")
	}
	if got[1].Known() {
		t.Errorf("pve2 was never probed nor saved, yet is known: %+v", got[1])
	}
	if n := results.Load(); n != 0 {
		t.Fatalf("%d results arrived: the test proves nothing", n)
	}
}
