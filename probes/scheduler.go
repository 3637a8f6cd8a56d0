package probes

import (
	"container/heap"
	"context"
	"hash/fnv"
	"log/slog"
	"net"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"foghorn/configs"
)

// Scheduler runs every target (and foghorn's canaries) at its interval,
// each at a stable slot within it so probes do not bunch, at most Limit
// probes at once, each bounded by its timeout. A failing target is looked
// at again within a second or so, so fall failures confirm a death in
// seconds rather than fall intervals.
//
// One goroutine holds every target in a heap ordered by due time and
// starts probes as they come due; a probe runs on a goroutine of its own
// only while it runs. 10,000 targets cost a heap entry each, not a
// goroutine and a timer each.
//
// Each result goes to Options.Observer (the classifier, wired in cmd),
// which says whether to look again soon. The scheduler holds the kinds'
// memory; what a target's state is belongs to the observer.
type Scheduler struct {
	log *slog.Logger
	o   Options
	sem chan struct{}

	upd      sync.Mutex // one Update at a time
	mu       sync.Mutex
	runs     map[string]*run // targets by name
	canaries map[string]*run // canaries by address
	h        runHeap
	loaded   bool
	restored map[string]map[string]string // memory from the store, by target, until its run starts

	wake   chan struct{}
	quit   chan struct{}
	loops  sync.WaitGroup // the dispatcher
	probes sync.WaitGroup // probes in flight
	stop   sync.Once
	late   lateness
}

// Observer takes the results: Observe those of targets, ObserveCanary
// those of the canaries. Each returns whether to probe again soon rather
// than at the next interval (a failure not yet confirmed). Called on the
// probe's goroutine.
type Observer interface {
	Observe(r Result) (retry bool)
	ObserveCanary(addr string, r Result) (retry bool)
}

// Options configure a Scheduler; nil callbacks are skipped.
type Options struct {
	Log *slog.Logger
	// Limit is the number of probes in flight at once; default 4096. A
	// silent target holds a slot for its whole timeout: size it above the
	// sum over failing targets of timeout/interval, or they delay the rest.
	Limit    int
	OnResult func(Result) // every target result; called on the probe's goroutine
	// Observer receives every result after OnResult; nil drops them.
	Observer Observer
	// Heartbeats receives pushes for heartbeat targets.
	Heartbeats *Heartbeats
	// Kinds adds probers for kinds not in the built-in table, e.g.
	// "ipmi": IPMIProber(pool).
	Kinds map[string]Prober
	// Source, when set, is the address the probes that dial bind to
	// ([cluster] probe_source, source.go).
	Source net.IP
}

// Config is the scheduler's part of the config: what to probe.
type Config struct {
	Targets   []configs.Target
	SelfCheck configs.SelfCheck // its canaries, probed like targets
}

// NewScheduler makes a scheduler with no targets; call Update.
func NewScheduler(o Options) *Scheduler {
	if o.Limit <= 0 {
		o.Limit = 4096
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	s := &Scheduler{
		log: o.Log, o: o, sem: make(chan struct{}, o.Limit),
		runs: map[string]*run{}, canaries: map[string]*run{},
		wake: make(chan struct{}, 1), quit: make(chan struct{}),
	}
	s.loops.Add(1)
	go s.dispatch()
	return s
}

// run is one scheduled target or canary.
type run struct {
	// t points into the config in force; a reload re-points unchanged
	// runs to the new config, so an old one is not kept alive.
	t      *configs.Target
	p      Prober
	mem    *Memory
	canary bool
	wg     sync.WaitGroup // its probe in flight
	// stop cancels the probe in flight. Not a context per run: a parent
	// context keeps a map of its children, and 10,000 of them are
	// megabytes of memory for nothing.
	stop context.CancelFunc
	gone atomic.Bool // removed by Update or Stop

	slot  time.Duration // stable offset within the interval
	due   time.Time
	idx   int  // position in the heap; -1 when out of it
	busy  bool // a probe is in flight
	again bool // probe again as soon as the one in flight is done
}

func (r *run) interval() time.Duration { return Interval(r.t) }

// Interval is how often t is probed: its own, or the default.
func Interval(t *configs.Target) time.Duration {
	if d := t.Interval.Duration; d > 0 {
		return d
	}
	return configs.DefaultInterval
}

// Timeout bounds one probe of t: its own, or what the loader would
// default it to.
func Timeout(t *configs.Target) time.Duration {
	if d := t.Timeout.Duration; d > 0 {
		return d
	}
	return min(configs.DefaultTimeout, Interval(t)/2)
}

// Update makes the running targets match cfg: new ones start, removed
// ones stop (their probes cancelled and returned before Update returns),
// changed ones restart with their memory. Unchanged targets keep their
// schedule and memory. After Stop, Update does nothing.
func (s *Scheduler) Update(cfg Config) {
	s.upd.Lock()
	defer s.upd.Unlock()
	select {
	case <-s.quit:
		return
	default:
	}
	s.mu.Lock()
	s.loaded = true
	s.mu.Unlock()

	want := map[string]*configs.Target{}
	for i := range cfg.Targets {
		want[cfg.Targets[i].Name] = &cfg.Targets[i]
	}
	cans := map[string]*configs.Target{}
	for _, a := range cfg.SelfCheck.Canaries {
		cans[a] = CanaryTarget(cfg.SelfCheck, a)
	}

	// Stop what went or changed, and wait for its probes, before starting
	// the new: a changed target must not run twice at once on one memory.
	s.mu.Lock()
	var stopped []*run
	mems := map[string]*Memory{}
	for name, r := range s.runs {
		t, ok := want[name]
		if ok && reflect.DeepEqual(*t, *r.t) {
			r.t = t
			continue
		}
		if ok && t.Kind == r.t.Kind {
			mems[name] = r.mem
		}
		s.drop(r)
		stopped = append(stopped, r)
		delete(s.runs, name)
	}
	for a, r := range s.canaries {
		if t, ok := cans[a]; !ok || !reflect.DeepEqual(*t, *r.t) {
			s.drop(r)
			stopped = append(stopped, r)
			delete(s.canaries, a)
		}
	}
	s.mu.Unlock()
	for _, r := range stopped {
		r.wg.Wait()
	}

	s.mu.Lock()
	now := time.Now()
	for i := range cfg.Targets {
		t := &cfg.Targets[i]
		if s.runs[t.Name] != nil {
			continue
		}
		p, ok := s.prober(t.Kind)
		if !ok {
			s.log.Warn("no prober for this kind; target not probed", "target", t.Name, "kind", t.Kind)
			continue
		}
		mem := mems[t.Name]
		if mem == nil {
			mem = &Memory{m: s.restored[t.Name]}
		}
		delete(s.restored, t.Name)
		r := newRun(t, p, mem, false, now)
		s.start(r)
		s.runs[t.Name] = r
	}
	for a, t := range cans {
		if s.canaries[a] != nil {
			continue
		}
		p, ok := Lookup(t.Kind)
		if !ok {
			s.log.Warn("self_check kind cannot probe canaries; use icmp or tcp", "kind", t.Kind)
			break
		}
		r := newRun(t, p, &Memory{}, true, now)
		s.start(r)
		s.canaries[a] = r
	}
	s.mu.Unlock()
	s.poke()
}

// CanaryFall is how many failures in a row make a canary count as down:
// one lost packet must not blind foghorn, and blindness holds every page.
const CanaryFall = 2

// CanaryTarget is how a canary is probed: one echo or one connect, with
// quick re-checks doing what more pings per probe would.
func CanaryTarget(sc configs.SelfCheck, addr string) *configs.Target {
	t := &configs.Target{
		Name: "canary " + addr, Kind: sc.Kind, Address: addr,
		Interval: sc.Interval, Timeout: sc.Timeout, Rise: 1, Fall: CanaryFall, Severity: "info",
	}
	if t.Kind == "" {
		t.Kind = "icmp"
	}
	if t.Kind == "icmp" {
		t.ICMP = &configs.ICMP{Count: 1, MaxLoss: 50}
	}
	return t
}

func (s *Scheduler) prober(kind string) (Prober, bool) {
	if p, ok := s.o.Kinds[kind]; ok {
		return p, true
	}
	if kind == "heartbeat" && s.o.Heartbeats != nil {
		return s.o.Heartbeats.Prober(), true
	}
	return Lookup(kind)
}

func newRun(t *configs.Target, p Prober, mem *Memory, canary bool, now time.Time) *run {
	r := &run{t: t, p: p, mem: mem, canary: canary, idx: -1}
	r.slot = offset(t.Name, r.interval())
	r.due = firstDue(now, r.interval(), Timeout(t), r.slot)
	return r
}

// start puts r on the heap; s.mu is held.
func (s *Scheduler) start(r *run) { heap.Push(&s.h, r) }

// drop takes r off the schedule and cancels its probe; s.mu is held.
func (s *Scheduler) drop(r *run) {
	r.gone.Store(true)
	if r.stop != nil {
		r.stop()
	}
	if r.idx >= 0 {
		heap.Remove(&s.h, r.idx)
	}
}

// Stop stops every probe and waits for them to return. The runs' memory
// stays readable (Memory), for a last save.
func (s *Scheduler) Stop() {
	s.stop.Do(func() {
		close(s.quit)
		s.loops.Wait()
		s.mu.Lock()
		for _, r := range s.runs {
			s.drop(r)
		}
		for _, r := range s.canaries {
			s.drop(r)
		}
		s.mu.Unlock()
		s.probes.Wait()
	})
}

// Recheck probes the named targets now (or as soon as their probe in
// flight returns), e.g. for a "check now" button, or the proof a held
// target waits for.
func (s *Scheduler) Recheck(targets ...string) { s.recheck(targets, false) }

// RecheckCanaries probes the canaries now: is it foghorn that is blind?
func (s *Scheduler) RecheckCanaries() { s.recheck(nil, true) }

// Memory is a copy of the kind's memory of a target; false if it is not
// scheduled.
func (s *Scheduler) Memory(target string) (map[string]string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.runs[target]; r != nil {
		return r.mem.Snapshot(), true
	}
	return nil, false
}

// Resume gives the memory restored from the store, by target, to the
// runs the first Update starts; after it, Resume does nothing.
func (s *Scheduler) Resume(mems map[string]map[string]string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.loaded {
		s.restored = mems
	}
}

func (s *Scheduler) recheck(targets []string, canaries bool) {
	s.mu.Lock()
	now := time.Now()
	for _, n := range targets {
		if r := s.runs[n]; r != nil {
			s.soon(r, now)
		}
	}
	if canaries {
		for _, r := range s.canaries {
			s.soon(r, now)
		}
	}
	s.mu.Unlock()
	s.poke()
}

// soon moves r's next probe to now; s.mu is held.
func (s *Scheduler) soon(r *run, now time.Time) {
	switch {
	case r.busy:
		r.again = true
	case r.idx >= 0 && r.due.After(now):
		r.due = now
		s.h[r.idx].due = now.UnixNano()
		heap.Fix(&s.h, r.idx)
	}
}

func (s *Scheduler) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// dispatch starts probes as they come due. When all Limit slots are
// taken it waits for one: a late probe is better than an unbounded pile.
func (s *Scheduler) dispatch() {
	defer s.loops.Done()
	tm := time.NewTimer(time.Hour)
	defer tm.Stop()
	for {
		s.mu.Lock()
		var r *run
		var t *configs.Target
		var due time.Time
		wait := time.Hour
		if len(s.h) > 0 {
			if d := time.Until(s.h[0].r.due); d <= 0 {
				r = heap.Pop(&s.h).(*run)
				r.busy, due, t = true, r.due, r.t
				r.wg.Add(1)
			} else {
				wait = d
			}
		}
		s.mu.Unlock()
		if r != nil {
			select {
			case s.sem <- struct{}{}:
			case <-s.quit:
				r.wg.Done()
				return
			}
			s.probes.Add(1)
			go s.probe(r, t, due)
			continue
		}
		tm.Reset(wait)
		select {
		case <-tm.C:
		case <-s.wake:
		case <-s.quit:
			return
		}
	}
}

// probe runs one probe of r and schedules the next.
func (s *Scheduler) probe(r *run, t *configs.Target, due time.Time) {
	defer s.probes.Done()
	defer r.wg.Done()
	start := time.Now()
	s.late.add(start.Sub(due))
	to := Timeout(t)
	ctx := newProbeCtx(WithSource(probeRoot, s.o.Source), to)
	cancel := ctx.cancel
	s.mu.Lock()
	r.stop = cancel
	s.mu.Unlock()
	var res Result
	if !r.gone.Load() {
		res = r.p(ctx, t, r.mem)
	}
	cancel()
	<-s.sem
	if r.gone.Load() {
		return // removed mid-probe: the result says nothing about the target
	}
	if took := time.Since(start); took > to+time.Second {
		s.log.Warn("probe overran its timeout: a prober ignores its context", "target", t.Name, "kind", t.Kind, "took", took, "timeout", to)
	}
	if res.Target == "" {
		res.Target, res.Kind = t.Name, t.Kind
	}
	if res.Start.IsZero() {
		res.Start = start
	}
	var retry bool
	switch {
	case r.canary:
		if s.o.Observer != nil {
			retry = s.o.Observer.ObserveCanary(t.Address, res)
		}
	default:
		if s.o.OnResult != nil {
			s.o.OnResult(res)
		}
		if s.o.Observer != nil {
			retry = s.o.Observer.Observe(res)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r.busy, r.stop = false, nil
	if r.gone.Load() {
		return
	}
	now := time.Now()
	r.due = r.next(due, start, now, retry)
	if r.again {
		r.due, r.again = now, false
	}
	heap.Push(&s.h, r)
	if r.idx == 0 {
		s.poke()
	}
}

// next is when r runs again: soon after a failure not yet confirmed, else
// at its next slot (at least half an interval on, so a re-check or a late
// start does not make two probes in a row).
func (r *run) next(due, start, now time.Time, retry bool) time.Time {
	iv := r.interval()
	if retry {
		return later(now, start.Add(RecheckDelay(iv)))
	}
	return slotAfter(later(due.Add(iv/2), now), iv, r.slot)
}

// RecheckDelay is how soon a failing target is looked at again: a tenth
// of its interval, 1s to 10s. With a 10s interval and fall 3, a dead
// target is confirmed about 2s after its first failure.
func RecheckDelay(iv time.Duration) time.Duration {
	return min(max(iv/10, time.Second), 10*time.Second, max(iv, time.Second))
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// FirstDue is when the scheduler first probes a target called name with
// this interval and timeout, started at now. The classifier's simulation
// places its probes by it, not by a copy that could drift from this one.
func FirstDue(name string, now time.Time, interval, timeout time.Duration) time.Time {
	return firstDue(now, interval, timeout, offset(name, interval))
}

// offset spreads targets over their interval by a hash of the name, so
// probes do not bunch and a restart keeps each target's slot.
func offset(name string, interval time.Duration) time.Duration {
	h := fnv.New64a()
	h.Write([]byte(name))
	// FNV's low bits barely change with the last byte ("web1", "web2"),
	// and the modulo keeps only low bits: mix them first (murmur3's
	// finalizer), or similar names land microseconds apart.
	x := h.Sum64()
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return time.Duration(x % uint64(interval))
}

// slotAfter is the first time at or after t that is the slot: off past a
// multiple of iv since the Unix epoch. Slots are wall-clock anchored, so
// they survive restarts.
func slotAfter(t time.Time, iv, off time.Duration) time.Time {
	n := t.UnixNano() - int64(off)
	k := n / int64(iv)
	if n%int64(iv) > 0 {
		k++
	}
	return time.Unix(0, k*int64(iv)+int64(off))
}

// firstDue squeezes the way to the first slot into 90% of interval -
// timeout, so
// that a fresh start (or reload) has a result of every target within one
// interval, even of those that time out.
func firstDue(now time.Time, iv, to, off time.Duration) time.Time {
	span := (iv - to) * 9 / 10 // a tenth to spare for late starts
	if span <= 0 {
		span = iv / 2
	}
	wait := slotAfter(now, iv, off).Sub(now)
	return now.Add(time.Duration(float64(wait) * float64(span) / float64(iv)))
}

// Stats reports the scheduler's figures.
func (s *Scheduler) Stats() Stats {
	s.mu.Lock()
	st := Stats{Targets: len(s.runs), Canaries: len(s.canaries), InFlight: len(s.sem)}
	s.mu.Unlock()
	st.Probes = s.late.probes.Load()
	st.LateP50, st.LateP99 = s.late.quantile(0.5), s.late.quantile(0.99)
	st.LateMax = time.Duration(s.late.max.Load())
	return st
}

// runHeap orders runs by due time. Each entry carries its run's due time
// in Unix nanoseconds: the comparisons of a sift then read the heap's own
// array, not 10,000 runs spread over the heap memory (a cache miss each,
// which the 10,000-target profile showed as a tenth of the scheduler's CPU).
type runHeap []heapEntry

type heapEntry struct {
	due int64 // r.due.UnixNano(), kept in step with it
	r   *run
}

func (h runHeap) Len() int           { return len(h) }
func (h runHeap) Less(i, j int) bool { return h[i].due < h[j].due }
func (h runHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].r.idx, h[j].r.idx = i, j
}

func (h *runHeap) Push(x any) {
	r := x.(*run)
	r.idx = len(*h)
	*h = append(*h, heapEntry{due: r.due.UnixNano(), r: r})
}

func (h *runHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = heapEntry{}
	*h = old[:len(old)-1]
	e.r.idx = -1
	return e.r
}
