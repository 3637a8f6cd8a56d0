package probes

import (
	"context"
	"hash/fnv"
	"log/slog"
	"reflect"
	"sync"
	"time"

	"foghorn/configs"
)

// State is what rise/fall make of a target's recent results.
type State string

// Target states.
const (
	Pending State = "pending" // not enough results yet
	Up      State = "up"
	Down    State = "down"
)

// Change is a target entering a new state, with the result that did it
// and a copy of the kind's memory to persist with it.
type Change struct {
	Target string
	From   State
	To     State
	Result Result
	Memory map[string]string
}

// Scheduler runs every target at its interval, at most limit probes at once,
// and reports each result and each state change. It owns one goroutine per
// target; Update starts, stops and restarts them as the config changes.
type Scheduler struct {
	log      *slog.Logger
	sem      chan struct{}
	onResult func(Result)
	onChange func(Change)
	beats    *Heartbeats

	mu   sync.Mutex
	runs map[string]*run
	wg   sync.WaitGroup
}

type run struct {
	t      configs.Target
	cancel context.CancelFunc
	done   chan struct{}
	mem    Memory
}

// Options configure a Scheduler; nil callbacks are skipped.
type Options struct {
	Log      *slog.Logger
	Limit    int // probes in flight at once; default 256
	OnResult func(Result)
	OnChange func(Change)
	// Heartbeats receives pushes for heartbeat targets.
	Heartbeats *Heartbeats
}

// NewScheduler makes a scheduler with no targets; call Update.
func NewScheduler(o Options) *Scheduler {
	if o.Limit <= 0 {
		o.Limit = 256
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return &Scheduler{
		log: o.Log, sem: make(chan struct{}, o.Limit),
		onResult: o.OnResult, onChange: o.OnChange, beats: o.Heartbeats,
		runs: map[string]*run{},
	}
}

// Update makes the running targets match cfg: new ones start, removed ones
// stop (their goroutines and sockets gone before Update returns), changed
// ones restart. Unchanged targets keep their schedule and state.
func (s *Scheduler) Update(cfg *configs.Config) {
	s.mu.Lock()
	defer s.mu.Unlock()
	want := map[string]configs.Target{}
	for _, t := range cfg.Targets {
		want[t.Name] = t
	}
	for name, r := range s.runs {
		if t, ok := want[name]; !ok || !reflect.DeepEqual(t, r.t) {
			r.cancel()
			<-r.done
			delete(s.runs, name)
		}
	}
	for name, t := range want {
		if _, ok := s.runs[name]; ok {
			continue
		}
		p, ok := s.prober(t.Kind)
		if !ok {
			s.log.Warn("no prober for this kind yet; target not probed", "target", name, "kind", t.Kind)
			continue
		}
		ctx, cancel := context.WithCancel(context.Background())
		r := &run{t: t, cancel: cancel, done: make(chan struct{})}
		s.runs[name] = r
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer close(r.done)
			s.loop(ctx, r, p)
		}()
	}
}

func (s *Scheduler) prober(kind string) (Prober, bool) {
	if kind == "heartbeat" && s.beats != nil {
		return s.beats.Prober(), true
	}
	return Lookup(kind)
}

// Stop stops every target and waits for their probes to return.
func (s *Scheduler) Stop() {
	s.mu.Lock()
	for name, r := range s.runs {
		r.cancel()
		delete(s.runs, name)
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// offset spreads targets over their interval by a hash of the name, so
// probes do not bunch and a restart keeps each target's slot.
func offset(name string, interval time.Duration) time.Duration {
	h := fnv.New64a()
	h.Write([]byte(name))
	return time.Duration(h.Sum64() % uint64(interval))
}

func (s *Scheduler) loop(ctx context.Context, r *run, p Prober) {
	t := &r.t
	interval := t.Interval.Duration
	// A failing target is re-checked sooner, so fall failures confirm a
	// death in a fraction of fall intervals.
	recheck := max(interval/3, time.Second)
	timer := time.NewTimer(offset(t.Name, interval))
	defer timer.Stop()
	state, ok, bad := Pending, 0, 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		select {
		case s.sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		pctx, cancel := context.WithTimeout(ctx, t.Timeout.Duration)
		res := p(pctx, t, &r.mem)
		cancel()
		<-s.sem
		if ctx.Err() != nil {
			return // stopped mid-probe: the result says nothing about the target
		}
		if s.onResult != nil {
			s.onResult(res)
		}
		if res.Status == OK || res.Status == Warning {
			ok, bad = ok+1, 0
		} else {
			ok, bad = 0, bad+1
		}
		next := state
		switch {
		case state != Up && ok >= t.Rise:
			next = Up
		case state != Down && bad >= t.Fall:
			next = Down
		}
		if next != state {
			if s.onChange != nil {
				s.onChange(Change{Target: t.Name, From: state, To: next, Result: res, Memory: r.mem.Snapshot()})
			}
			state = next
		}
		wait := interval
		if bad > 0 && state != Down {
			wait = recheck
		}
		timer.Reset(wait)
	}
}
