package classify

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	"foghorn/configs"
	"foghorn/probes"
	"foghorn/store"
)

// counter is a kind that remembers how often it ran, to see Memory survive
// a restart.
func counter(_ context.Context, t *configs.Target, mem *probes.Memory) probes.Result {
	v, _ := mem.Get("counter.n")
	n, _ := strconv.Atoi(v)
	mem.Set("counter.n", strconv.Itoa(n+1))
	return probes.Result{Target: t.Name, Kind: t.Kind, Start: time.Now(), Status: probes.OK, Msg: "run " + strconv.Itoa(n+1)}
}

// A restart resumes from the store: a target already down stays down with
// no new event, one that recovered while foghorn was away resolves, and
// the kinds' memory carries on.
func TestSchedulerRestartResumes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, err := store.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	up, _ := acceptServer(t)
	down, back := closedPort(t), closedPort(t)
	cfg := &configs.Config{Targets: []configs.Target{
		tcpTarget("up", up, time.Second, 300*time.Millisecond),
		tcpTarget("down", down, time.Second, 300*time.Millisecond),
		tcpTarget("back", back, time.Second, 300*time.Millisecond),
		tcpTarget("mem", "", time.Second, 300*time.Millisecond),
	}}
	cfg.Targets[3].Kind = "counter"
	kinds := map[string]probes.Prober{"counter": counter}

	var rec1 recorder
	o := rec1.opts()
	o.Classifier.Store, o.Kinds = db, kinds
	s1 := newWired(o)
	s1.Update(cfg)
	waitFor(t, 10*time.Second, "down and back paged", func() bool {
		_, a := rec1.event("target:down", true)
		_, b := rec1.event("target:back", true)
		return a && b
	})
	s1.Stop()
	rows, err := LoadStates(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	saved := map[string]Saved{}
	for _, r := range rows {
		saved[r.Target] = r
	}
	if saved["down"].State != Down || saved["down"].key != "target:down" || saved["up"].State != Up {
		t.Fatalf("saved %+v", rows)
	}
	ran, _ := strconv.Atoi(saved["mem"].Memory["counter.n"])
	if ran < 2 {
		t.Fatalf("memory not saved: %v", saved["mem"].Memory)
	}

	// back recovers while foghorn is away.
	l, err := net.Listen("tcp", back)
	if err != nil {
		t.Skipf("cannot listen on %s again: %v", back, err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()

	var rec2 recorder
	o = rec2.opts()
	o.Classifier.Store, o.Kinds = db, kinds
	var first string
	o.OnResult = func(r probes.Result) {
		rec2.mu.Lock()
		defer rec2.mu.Unlock()
		if r.Target == "mem" && first == "" {
			first = r.Msg
		}
	}
	s2 := newWired(o)
	defer s2.Stop()
	s2.Update(cfg)
	waitFor(t, 10*time.Second, "back resolved", func() bool { _, ok := rec2.event("target:back", false); return ok })
	time.Sleep(2 * time.Second) // down keeps failing meanwhile
	rec2.mu.Lock()
	defer rec2.mu.Unlock()
	for _, e := range rec2.events {
		if e.Firing {
			t.Errorf("fired again after the restart: %+v", e)
		}
	}
	if want := "run " + strconv.Itoa(ran+1); first != want {
		t.Errorf("memory after restart: first run says %q, want %q", first, want)
	}
}

// SaveStates writes a batch in one transaction; LoadStates reads it back,
// the classifier's keys apart from the kind's memory.
func TestStateRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, err := store.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	at := time.Date(2024, 3, 1, 2, 10, 0, 0, time.UTC)
	var rows []Saved
	for i := range 1000 {
		rows = append(rows, Saved{Target: "t" + strconv.Itoa(i), State: Down, Since: at,
			Last:   probes.Result{Status: probes.Critical, Msg: "refused", Start: at.Add(time.Second)},
			Memory: map[string]string{"snmp.uptime": "42"}, class: "down", key: "target:t0", flap: flap{bits: 5, n: 3}.String()})
	}
	start := time.Now()
	if err := SaveStates(ctx, db, rows); err != nil {
		t.Fatal(err)
	}
	t.Logf("1000 rows in one batch: %s", time.Since(start))
	got, err := LoadStates(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1000 {
		t.Fatalf("%d rows", len(got))
	}
	g := got[0]
	if g.State != Down || !g.Since.Equal(at) || g.Last.Status != probes.Critical || g.Last.Msg != "refused" ||
		g.class != "down" || g.key != "target:t0" || parseFlap(g.flap) != (flap{bits: 5, n: 3}) ||
		len(g.Memory) != 1 || g.Memory["snmp.uptime"] != "42" {
		t.Fatalf("round trip: %+v", g)
	}
}
