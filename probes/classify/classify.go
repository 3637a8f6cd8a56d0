package classify

import (
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"foghorn/clock"
	"foghorn/configs"
	"foghorn/probes"
	"foghorn/store"
)

// Classifier decides what is really down and how bad it is, from probe
// results and a clock, and says so in Events:
//
//   - rise/fall make a target up or down; a target changing state too often
//     is flapping and held in one warning incident;
//   - a target behind a down parent is unreachable, not down: no incident
//     of its own, it is listed in the parent's; a parent may be a group
//     (a router pair), which is down for this only while fewer than its
//     min_up members are up: one router down leaves the hosts behind the
//     pair reachable, and their own failures page;
//   - before a target pages, its parents and foghorn's canaries must have
//     answered since it began failing (they are re-checked at once if not):
//     a child found dead before its router is held, not paged;
//   - members of a group are told in the group's one incident: a warning
//     while at least min_up are up, critical once fewer are;
//   - when the canaries fail too, foghorn is blind: nothing pages, and once
//     it sees again one notice reports the gap;
//   - targets failing within the storm window (same policy) join the
//     incident of the first, which names their common cause if the
//     dependency graph shows one;
//   - a target whose last fall results were warnings has a warning
//     incident; a reboot (SNMP) is a notice.
//
// At 3 a.m. that is one page that says the real thing: "routers DOWN: rt1,
// rt2 — no route into the site", not twenty about the hosts behind them.
//
// It is safe for concurrent use. Callbacks run outside its lock, in the
// order the events happened, one at a time; they must not block for long.
type Classifier struct {
	clock    clock.Clock
	log      *slog.Logger
	onEvent  func(Event)
	onChange func(Change)
	o        Options
	probes   Probes

	emit sync.Mutex // serialises callbacks, in queue order

	mu      sync.Mutex
	cfg     *Config
	g       *graph
	ts      map[string]*track
	self    selfCheck
	incs    map[string]*incident
	held    map[*track]bool
	watch   map[*track]bool      // flapping or recovering: judged again at every tick
	dirty   map[string]bool      // open incidents to re-render at the next Tick
	unsaved map[string]bool      // targets whose persisted state changed
	storms  map[string]*incident // per policy: the newest down incident later failures may join
	window  time.Duration

	queue   []output
	asks    []string
	askSelf bool

	keep keeper // the store's copy of the state (persist.go)
}

type output struct {
	ev *Event
	ch *Change
}

// Probes is what the classifier asks of the scheduler that feeds it:
// probes now (the proof a held target waits for), and the kinds' memory,
// which is saved and restored with the target's state.
type Probes interface {
	Recheck(targets ...string)
	RecheckCanaries()
	Memory(target string) (map[string]string, bool)
	Resume(mems map[string]map[string]string)
}

// Options configure a Classifier; nil callbacks are skipped.
type Options struct {
	Clock    clock.Clock // nil is the real clock
	Log      *slog.Logger
	OnEvent  func(Event)
	OnChange func(Change)
	// Probes is asked for re-checks and memory; see Attach.
	Probes Probes
	// Store, when set, is where target state (with the kinds' memory)
	// is restored from, at the first Configure, and saved to: in batches
	// by the loop Start runs (changes each second, memory at each
	// checkpoint), except that what an alert is about is written before
	// the alert leaves.
	Store *store.DB
	// Checkpoint is how often probe memory is saved when it changed
	// without a state change; default 1m.
	Checkpoint time.Duration
	// Open, with Store, lists the keys of the incidents the escalation
	// engine has open from probes. It is asked once, at the restore, and
	// the classifier reconciles its restored state with them (see
	// Reconcile): an incident opened after the state was last written
	// still resolves once its targets are up.
	Open func() ([]string, error)
	// Vantage, with a [cluster], is the peer's view of the targets
	// (vantage.go); Here names this node in the words. Stale is how old
	// the peer's view may be and still count; default 1m.
	Vantage Vantage
	Here    string
	Stale   time.Duration
}

// Config is the classifier's part of the config.
type Config struct {
	Targets   []configs.Target
	Groups    []configs.Group
	SelfCheck configs.SelfCheck
	// StormWindow: targets failing within it (same policy) join the
	// incident of the first.
	StormWindow time.Duration
	// Power is whether power actions are enabled: only then does a
	// down host's page offer one.
	Power bool
}

// group is the named group, or nil.
func (c *Config) group(name string) *configs.Group {
	for i := range c.Groups {
		if c.Groups[i].Name == name {
			return &c.Groups[i]
		}
	}
	return nil
}

// New makes a classifier; call Configure before Observe.
func New(o Options) *Classifier {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Checkpoint <= 0 {
		o.Checkpoint = time.Minute
	}
	if o.Stale <= 0 {
		o.Stale = time.Minute
	}
	c := &Classifier{
		clock: clock.Or(o.Clock), log: o.Log, onEvent: o.OnEvent, onChange: o.OnChange, o: o, probes: o.Probes,
		cfg:  &Config{},
		g:    newGraph(&Config{}),
		ts:   map[string]*track{},
		self: selfCheck{cs: map[string]*track{}},
		incs: map[string]*incident{}, held: map[*track]bool{}, watch: map[*track]bool{}, dirty: map[string]bool{},
		unsaved: map[string]bool{}, storms: map[string]*incident{},
	}
	c.keep.init()
	if o.Store != nil && o.OnEvent != nil {
		c.onEvent = func(ev Event) {
			// Write through: the transition that opens, changes or
			// resolves an incident is in the store before its alert
			// leaves, so a kill right after the page cannot restore a
			// state that predates it. Transitions are rare; the batch
			// stays for memory.
			if !ev.Notice {
				c.saveWithin(false, writeThrough)
			}
			o.OnEvent(ev)
		}
	}
	return c
}

// Attach gives the classifier the scheduler that feeds it, when that is
// built after it (the scheduler takes the classifier as its observer);
// call it before the first Configure.
func (c *Classifier) Attach(p Probes) {
	c.mu.Lock()
	c.probes = p
	c.mu.Unlock()
}

func (c *Classifier) now() time.Time { return c.clock.Now() }

// Configure takes a (re)loaded config: new targets start pending, removed
// ones leave their incidents, and everything is judged again under the
// new dependencies and groups. The first Configure, with Options.Store,
// restores the saved state (and gives the scheduler its memory): call it
// before the scheduler's first Update.
func (c *Classifier) Configure(cfg Config) {
	c.configure(&cfg)
	if c.keep.first() && c.o.Store != nil {
		c.restore()
	}
}

func (c *Classifier) configure(cfg *Config) {
	c.mu.Lock()
	c.cfg, c.g = cfg, newGraph(cfg)
	c.window = cfg.StormWindow
	want := map[string]bool{}
	for i := range cfg.Targets {
		t := &cfg.Targets[i]
		want[t.Name] = true
		k := c.ts[t.Name]
		if k == nil {
			k = &track{name: t.Name, state: Pending}
			c.ts[t.Name] = k
		}
		k.t = t
	}
	for _, name := range sortedKeys(c.ts) {
		if k := c.ts[name]; !want[name] {
			if inc := c.incs[k.key]; inc != nil {
				inc.removed = len(inc.members) == 1
				c.leave(k)
			}
			delete(c.held, k)
			delete(c.watch, k)
			delete(c.ts, name)
			if c.o.Store != nil {
				c.keep.forget(name)
			}
		}
	}
	for key, inc := range c.incs {
		if inc.kind == incGroup && cfg.group(inc.lead) == nil {
			c.resolve(c.incs[key])
		}
	}
	c.self.configure(cfg.SelfCheck)
	if c.self.blind && c.self.usable() < c.self.min {
		c.endBlind(c.now()) // the canaries were taken out of the config
	}
	if !c.self.blind {
		c.settleAll()
	}
	c.mu.Unlock()
	c.flush()
}

// Observe takes one probe result of a target. It returns whether the
// target should be probed again soon rather than at its next interval.
func (c *Classifier) Observe(r probes.Result) (retry bool) {
	c.mu.Lock()
	retry = c.observe(r)
	busy := len(c.queue) > 0 || len(c.asks) > 0 || c.askSelf
	c.mu.Unlock()
	if busy {
		c.flush()
	}
	return retry
}

func (c *Classifier) observe(r probes.Result) bool {
	k := c.ts[r.Target]
	if k == nil {
		return false // removed by a reload while its probe ran
	}
	said := k.last.Msg
	from, changed := k.observe(r, max(k.t.Rise, 1), max(k.t.Fall, 1))
	flapped := k.flap.add(!good(r.Status))
	if changed {
		c.unsaved[k.name] = true
		c.queue = append(c.queue, output{ch: &Change{Target: k.name, From: from, To: k.state, Result: r}})
	}
	if flapped {
		c.unsaved[k.name] = true
	}
	if c.self.blind {
		if changed {
			c.self.changed[k.name] = true
		}
		return k.bad > 0 && k.state != Down // no hurry to prove anything while blind
	}
	if r.Rebooted {
		c.queue = append(c.queue, output{ev: &Event{
			Key: "reboot:" + k.name, Notice: true, Severity: k.t.Severity.Or(configs.Critical).Milder(configs.Warning),
			Summary: clipText(k.name+" rebooted: "+r.Msg, 150), Detail: c.lastLine(k),
			Labels: k.t.LabelSet(), Policy: k.t.Policy, At: c.now(),
		}})
	}
	c.settle(k, changed)
	if changed {
		c.settleDependents(k)
	}
	if h := c.g.host[k.name]; h != "" && (changed || r.Msg != said) {
		// A BMC's word is in its host's page ("BMC up; power on; SEL:
		// ..."): a new word updates the host's incident at the next tick,
		// and a fault it reports (or no longer does) may change what the
		// host is told in.
		if hk := c.ts[h]; hk != nil {
			c.settle(hk, false)
		}
		c.touch(h)
	}
	// A held target waits for its parents to answer: this may be the answer.
	if len(c.held) > 0 && (len(c.g.children[k.name]) > 0 || len(c.g.bmcs[k.name]) > 0 || len(c.g.leads[k.name]) > 0) {
		c.settleHeld(false)
	}
	return k.retry()
}

// Tick does what is due by the clock: pages for held targets whose proof
// never came, and updates of open incidents (coalesced, at most one per
// incident per tick, so a storm of 500 children is not 500 updates).
func (c *Classifier) Tick() {
	c.mu.Lock()
	if !c.self.blind {
		c.settleHeld(true)
		ks := slices.Collect(maps.Keys(c.watch))
		slices.SortFunc(ks, func(a, b *track) int { return cmpString(a.name, b.name) })
		for _, k := range ks {
			c.settle(k, true)
		}
	}
	for _, key := range sortedKeys(c.dirty) {
		delete(c.dirty, key)
		if inc := c.incs[key]; inc != nil {
			c.send(inc)
		}
	}
	c.mu.Unlock()
	c.flush()
}

// flush runs the callbacks for what was queued, in order.
func (c *Classifier) flush() {
	c.emit.Lock()
	defer c.emit.Unlock()
	c.mu.Lock()
	q, asks, self, p := c.queue, c.asks, c.askSelf, c.probes
	c.queue, c.asks, c.askSelf = nil, nil, false
	c.mu.Unlock()
	for _, o := range q {
		switch {
		case o.ev != nil && c.onEvent != nil:
			c.onEvent(*o.ev)
		case o.ch != nil && c.onChange != nil:
			c.onChange(*o.ch)
		}
	}
	if p == nil {
		return
	}
	if len(asks) > 0 {
		p.Recheck(asks...)
	}
	if self {
		p.RecheckCanaries()
	}
}

// settleAll judges every target again and brings every incident up to
// date: after a config load, the end of a blind window, a restore.
func (c *Classifier) settleAll() {
	for _, name := range sortedKeys(c.ts) {
		c.settle(c.ts[name], true)
	}
	for _, gr := range c.g.all {
		c.syncGroup(gr)
	}
	for key := range c.incs {
		c.dirty[key] = true
	}
}

// settle judges k again and, if its class changed (or force, after a
// state change), brings its incidents and its groups' up to date.
func (c *Classifier) settle(k *track, force bool) {
	to := c.decide(k)
	if to == k.cls && !force {
		return
	}
	from := k.cls
	k.cls = to
	switch {
	case to == clsHeld && from != clsHeld:
		c.hold(k)
	case to != clsHeld && from == clsHeld:
		delete(c.held, k)
		k.holdUntil = time.Time{}
	}
	if to != from {
		c.unsaved[k.name] = true
	}
	c.represent(k)
	if to == clsFlapping || to == clsOneSide || (to == clsUp && k.key != "") {
		c.watch[k] = true
	} else {
		delete(c.watch, k)
	}
	for _, gr := range c.g.groups[k.name] {
		c.syncGroup(gr)
	}
	c.touchCause(k)
}

// settleDependents judges again what hangs on k: the targets behind it
// and its BMCs, after k went up or down.
func (c *Classifier) settleDependents(k *track) {
	// A member of a parent group may take the group below min_up, or
	// back to it: what is behind the group is judged again too.
	for _, from := range append([]string{k.name}, c.g.leads[k.name]...) {
		c.g.descendants(from, func(d string) {
			if dk := c.ts[d]; dk != nil && dk.state == Down {
				c.settle(dk, false)
			}
		})
	}
	for _, b := range c.g.bmcs[k.name] {
		if bk := c.ts[b]; bk != nil && bk.state == Down {
			c.settle(bk, false)
		}
	}
}

// settleHeld judges the held targets again; expired limits it to those
// whose time to wait for proof is up.
func (c *Classifier) settleHeld(expired bool) {
	now := c.now()
	ks := slices.Collect(maps.Keys(c.held))
	slices.SortFunc(ks, func(a, b *track) int { return cmpString(a.name, b.name) })
	for _, k := range ks {
		if !expired || (!k.holdUntil.IsZero() && !now.Before(k.holdUntil)) {
			c.settle(k, false)
		}
	}
}

// decide is the class k should have now.
func (c *Classifier) decide(k *track) class {
	if k.state == Down && c.downAncestor(k) != "" {
		return clsUnreachable
	}
	// A flapping parent explains a flapping child: one incident, the parent's.
	if k.flapping(c.now()) && !c.troubledAncestor(k) {
		return clsFlapping
	}
	if k.state != Down {
		k.reeval = time.Time{}
		if c.reporter(k) != nil {
			return clsReported
		}
		if k.state == Up && (k.warns >= k.t.Fall || (k.cls == clsWarn && k.clean < k.t.Rise)) {
			return clsWarn
		}
		return clsUp
	}
	if c.answering(k) || (c.g.host[k.name] != "" && c.folded(k) != nil) {
		// A BMC that answers is not down, whatever it reports: its host's
		// incident tells that (never "pve1-bmc DOWN", nor a storm of a
		// host and its own BMC). A silent one is told with its host
		// while the host is down: one incident per host.
		return clsFolded
	}
	if _, ok := c.oneSide(k); ok {
		// The peer sees it up: the path from here is broken, not the
		// target. No proof is needed: nothing pages but a warning. (A
		// BMC whose host is down from here only is told with it.)
		k.reeval = time.Time{}
		return clsOneSide
	}
	if k.key != "" || (k.cls == clsDown && len(c.g.groups[k.name]) > 0) {
		// Already told, and still down. A host told first by its BMC's
		// report needs no proof from its parents either: its own BMC says
		// the fault is the host's.
		return clsDown
	}
	if c.folded(k) != nil {
		return clsFolded
	}
	if k.cls == clsUnreachable || k.cls == clsFolded {
		k.reeval = c.now() // its cause went away: it must fail again on its own
	}
	if !k.reeval.IsZero() && (good(k.last.Status) || k.last.Start.Before(k.reeval)) {
		k.holdUntil = c.now().Add(c.holdFor(k))
		return clsHeld
	}
	if !c.proven(k) && (k.cls != clsHeld || c.now().Before(k.holdUntil)) {
		return clsHeld
	}
	k.reeval = time.Time{}
	return clsDown
}

// from is when the proof for k must be newer than: its failures began
// then, or its re-evaluation did.
func (k *track) from() time.Time {
	if k.reeval.After(k.badSince) {
		return k.reeval
	}
	return k.badSince
}

// proven reports whether k's parents and foghorn's canaries answered since
// k began failing: then k itself is the cause.
func (c *Classifier) proven(k *track) bool {
	from := k.from()
	for _, a := range c.g.ancestors(k.name) {
		if gr := c.g.group(a); gr != nil {
			// A group answers when min_up of its members did: the way
			// in through one router is enough.
			n := 0
			for _, mk := range c.memberTracks(gr) {
				if fresh(mk, from) {
					n++
				}
			}
			if n < c.need(gr) {
				return false
			}
			continue
		}
		if ak := c.ts[a]; ak != nil && !fresh(ak, from) {
			return false
		}
	}
	if c.awaitPeer(k) {
		return false // the peer saw it up before it failed here: wait for its word
	}
	return c.self.answered(from)
}

// fresh reports whether k answered since from and is not failing now.
func fresh(k *track, from time.Time) bool {
	return k.bad == 0 && !k.lastGood.IsZero() && !k.lastGood.Before(from)
}

// via lists the targets that stand for parent a: a itself, or the
// members of group node a.
func (c *Classifier) via(a string) []*track {
	if gr := c.g.group(a); gr != nil {
		return c.memberTracks(gr)
	}
	if ak := c.ts[a]; ak != nil {
		return []*track{ak}
	}
	return nil
}

// memberTracks are the known members of gr.
func (c *Classifier) memberTracks(gr *configs.Group) []*track {
	var out []*track
	for _, m := range gr.Members() {
		if k := c.ts[m]; k != nil {
			out = append(out, k)
		}
	}
	return out
}

// need is how many members of parent group gr must be up for what is
// behind it to be reachable: min_up, at most as many as it has.
func (c *Classifier) need(gr *configs.Group) int {
	return min(gr.Need(), len(c.memberTracks(gr)))
}

// isDown reports whether parent a cuts off what is behind it: a target
// that is down, or a group with fewer than min_up members not down.
func (c *Classifier) isDown(a string) bool {
	if gr := c.g.group(a); gr != nil {
		n := 0
		for _, mk := range c.memberTracks(gr) {
			if mk.state != Down {
				n++
			}
		}
		return n < c.need(gr)
	}
	ak := c.ts[a]
	return ak != nil && ak.state == Down
}

// hold starts waiting for proof about k, and asks for it: the parents and
// canaries that have not answered since k began failing are probed now.
func (c *Classifier) hold(k *track) {
	c.held[k] = true
	if k.holdUntil.IsZero() || k.reeval.IsZero() {
		k.holdUntil = c.now().Add(c.holdFor(k))
	}
	from := k.from()
	for _, a := range c.g.ancestors(k.name) {
		for _, ak := range c.via(a) {
			if ak.bad > 0 || !ak.lastGood.Before(from) || !ak.asked.Before(from) {
				continue // failing ones are re-checked anyway; fresh ones need nothing
			}
			ak.asked = c.now()
			c.asks = append(c.asks, ak.name)
		}
	}
	if !k.reeval.IsZero() {
		c.asks = append(c.asks, k.name)
	}
	if !c.self.answered(from) && c.self.asked.Before(from) {
		c.self.asked = c.now()
		c.askSelf = true
	}
}

// holdFor is how long k may wait for proof: long enough for its slowest
// parent (or canary) to fail fall times with re-checks, then k pages
// anyway, saying the proof did not come.
func (c *Classifier) holdFor(k *track) time.Duration {
	d := time.Duration(0)
	for _, a := range c.g.ancestors(k.name) {
		for _, ak := range c.via(a) {
			to := probes.Timeout(ak.t)
			d = max(d, time.Duration(max(ak.t.Fall, 1))*(to+probes.RecheckDelay(probes.Interval(ak.t)))+to)
		}
	}
	if sc := c.cfg.SelfCheck; len(sc.Canaries) > 0 {
		ct := probes.CanaryTarget(sc, "")
		d = max(d, probes.CanaryFall*(probes.Timeout(ct)+probes.RecheckDelay(probes.Interval(ct)))+probes.Timeout(ct))
	}
	d = max(d, c.peerWait(k))
	return min(d+time.Second, 5*time.Minute)
}

// downAncestor is the nearest down parent of k (a target or a group
// below min_up), or "".
func (c *Classifier) downAncestor(k *track) string {
	for _, a := range c.g.ancestors(k.name) {
		if c.isDown(a) {
			return a
		}
	}
	return ""
}

// troubledAncestor reports whether a parent of k is down or flapping; a
// parent group is, when fewer than min_up members are up and steady.
func (c *Classifier) troubledAncestor(k *track) bool {
	for _, a := range c.g.ancestors(k.name) {
		if gr := c.g.group(a); gr != nil {
			n := 0
			for _, mk := range c.memberTracks(gr) {
				if mk.state != Down && mk.cls != clsFlapping {
					n++
				}
			}
			if n < c.need(gr) {
				return true
			}
			continue
		}
		if ak := c.ts[a]; ak != nil && (ak.state == Down || ak.cls == clsFlapping) {
			return true
		}
	}
	return false
}

// cause is the farthest down parent of k (a target or a group): the one
// to blame, or "".
func (c *Classifier) cause(k *track) string {
	top := ""
	for _, a := range c.g.ancestors(k.name) {
		if c.isDown(a) {
			top = a
		}
	}
	return top
}

// folded is the down host of a down BMC target, which tells about it.
func (c *Classifier) folded(k *track) *track {
	host := c.g.host[k.name]
	if host == "" {
		return nil
	}
	if h := c.ts[host]; h != nil && h.state == Down && h.cls != clsUp {
		return h
	}
	return nil
}

// represent puts k in the incident its class calls for.
func (c *Classifier) represent(k *track) {
	own := "target:" + k.name
	switch k.cls {
	case clsFlapping, clsWarn:
		kind := incFlap
		if k.cls == clsWarn {
			kind = incWarn
		}
		if inc := c.incs[k.key]; inc != nil && len(inc.members) > 1 && k.key == own {
			return // it leads a storm: stay there, the storm tells about it
		}
		c.tell(k, own, kind)
	case clsReported:
		if inc := c.incs[k.key]; inc != nil && len(inc.members) > 1 && k.key == own {
			return // it leads a storm: stay there, the storm tells about it
		}
		c.tell(k, own, incBMC)
	case clsOneSide:
		if len(c.g.groups[k.name]) > 0 {
			c.tell(k, "", 0) // its groups tell about it, as a warning member
			return
		}
		c.tell(k, own, incSplit)
	case clsDown:
		switch {
		case len(c.g.groups[k.name]) > 0:
			c.tell(k, "", 0) // its groups tell about it
		case k.key == own:
			c.tell(k, own, incDown)
		case k.key != "":
			// already in a storm
		default:
			if inc := c.storm(k); inc != nil {
				c.join(k, inc)
			} else {
				c.tell(k, own, incDown)
			}
		}
	case clsUnreachable, clsFolded:
		// Told before its cause went down: it stays where it was told,
		// still down, and the cause's incident lists it too. A BMC leaves
		// an incident of its own: its host's tells what it says, or that
		// it is silent too.
		if k.cls == clsFolded && c.g.host[k.name] != "" && k.key != "" {
			c.tell(k, "", 0)
		}
	default:
		if k.state == Pending && k.key != "" {
			return // adopted from the engine at a restart (reconcile.go): it must rise or fall first
		}
		if inc := c.incs[k.key]; inc != nil && inc.kind == incDown && k.state == Up &&
			c.now().Before(k.since.Add(resolveHold(k.t.Interval.Duration))) {
			return // recovering: resolved at a tick, unless it goes down again first
		}
		c.tell(k, "", 0)
	}
}

// resolveHold is how long a told target must stay up before its incident
// resolves: a target going down again within it stays in the one incident
// (and is soon flapping) rather than paging anew on every change.
func resolveHold(iv time.Duration) time.Duration {
	return min(2*max(iv, time.Second), 2*time.Minute)
}

// tell moves k to the incident key (of kind), opening it if needed; ""
// takes k out of any incident.
func (c *Classifier) tell(k *track, key string, kind incKind) {
	if k.key == key {
		if inc := c.incs[key]; inc != nil && inc.kind != kind {
			inc.kind = kind
			c.send(inc)
		}
		return
	}
	if k.key != "" {
		c.leave(k)
	}
	if key == "" {
		return
	}
	if inc := c.incs[key]; inc != nil {
		// Only its own key can be open already: a storm it began, which
		// went on without it. Back in, it joins; a storm stays a storm.
		if len(inc.members) == 0 {
			inc.kind = kind
		}
		c.join(k, inc)
		return
	}
	inc := &incident{key: key, kind: kind, lead: k.name, members: []string{k.name}, opened: c.now()}
	c.incs[key] = inc
	k.key = key
	c.unsaved[k.name] = true
	if kind == incDown {
		c.storms[k.t.Policy] = inc
	}
	c.send(inc)
}

// join adds k to an open incident.
func (c *Classifier) join(k *track, inc *incident) {
	inc.members = append(inc.members, k.name)
	k.key = inc.key
	c.unsaved[k.name] = true
	c.update(inc)
}

// leave takes k out of its incident, resolving it when nobody is left.
func (c *Classifier) leave(k *track) {
	inc := c.incs[k.key]
	k.key = ""
	c.unsaved[k.name] = true
	if inc == nil {
		return
	}
	inc.members = slices.DeleteFunc(inc.members, func(m string) bool { return m == k.name })
	if len(inc.members) == 0 {
		c.resolve(inc)
		return
	}
	c.update(inc)
}

// syncGroup opens, updates or resolves a group's incident.
func (c *Classifier) syncGroup(gr *configs.Group) {
	key := "group:" + gr.Name
	inc := c.incs[key]
	if v := c.groupState(gr); len(v.down) == 0 && len(v.split) == 0 {
		if inc != nil && !(inc.adopted && c.unheard(inc)) {
			c.resolve(inc)
		}
		return
	}
	if inc == nil {
		inc = &incident{key: key, kind: incGroup, lead: gr.Name, opened: c.now()}
		c.incs[key] = inc
		c.send(inc)
		return
	}
	c.update(inc)
}

// touchCause marks the incidents that list k as affected for an update.
func (c *Classifier) touchCause(k *track) {
	for _, a := range c.g.ancestors(k.name) {
		c.touch(a)
	}
	if h := c.g.host[k.name]; h != "" {
		c.touch(h)
	}
}

func (c *Classifier) touch(name string) {
	if gr := c.g.group(name); gr != nil && c.incs["group:"+gr.Name] != nil {
		c.dirty["group:"+gr.Name] = true // it lists what is unreachable behind it
	}
	if ak := c.ts[name]; ak != nil && ak.key != "" {
		c.dirty[ak.key] = true
	}
	for _, gr := range c.g.groups[name] {
		if c.incs["group:"+gr.Name] != nil {
			c.dirty["group:"+gr.Name] = true
		}
	}
}

// update re-sends inc at the next tick, or now if its severity changed: a
// pair going from one router down to both must not wait.
func (c *Classifier) update(inc *incident) {
	if c.severity(inc) != inc.sent.Severity {
		c.send(inc)
		return
	}
	c.dirty[inc.key] = true
}

// send renders inc and queues it if it says something new (always, when
// it was never sent).
func (c *Classifier) send(inc *incident) {
	if inc.adopted {
		if c.unheard(inc) {
			return // the engine keeps what it was told until the targets are heard again
		}
		inc.adopted = false
	}
	if inc.kind == incFlap && inc.sent.Key != "" && inc.sentKind == incFlap {
		return // a flapping target changes all the time: say so once, not at every change
	}
	ev := c.render(inc)
	if inc.sent.Key != "" && ev.same(inc.sent) {
		return
	}
	inc.sent, inc.sentKind = ev, inc.kind
	delete(c.dirty, inc.key)
	c.queue = append(c.queue, output{ev: &ev})
}

// resolve closes inc.
func (c *Classifier) resolve(inc *incident) {
	delete(c.incs, inc.key)
	delete(c.dirty, inc.key)
	for p, s := range c.storms {
		if s == inc {
			delete(c.storms, p)
		}
	}
	ev := inc.sent
	ev.Firing, ev.At, ev.Children = false, c.now(), nil
	ev.Summary, ev.Detail = c.resolvedWords(inc), ""
	c.queue = append(c.queue, output{ev: &ev})
}

// saved returns the persisted state of the targets whose state changed
// since the last call, of names, or of all targets, for the store.
func (c *Classifier) saved(all bool, names ...string) []Saved {
	c.mu.Lock()
	defer c.mu.Unlock()
	want := c.unsaved
	c.unsaved = map[string]bool{}
	if all {
		want = map[string]bool{}
		for n := range c.ts {
			want[n] = true
		}
	}
	for _, n := range names {
		want[n] = true
	}
	out := make([]Saved, 0, len(want))
	for _, n := range sortedKeys(want) {
		if k := c.ts[n]; k != nil && k.state != Pending {
			out = append(out, k.saved())
		}
	}
	return out
}

func (k *track) saved() Saved {
	return Saved{Target: k.name, State: k.state, Since: k.since, Last: k.last,
		class: k.cls.String(), key: k.key, flap: k.flap.String()}
}

// knows reports whether name is a configured target.
func (c *Classifier) knows(name string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ts[name] != nil
}

// unsave marks a target's state as not yet saved, after a failed write.
func (c *Classifier) unsave(name string) {
	c.mu.Lock()
	c.unsaved[name] = true
	c.mu.Unlock()
}

// Restore resumes from persisted state, before the first result: a target
// that was down stays down without a new event, one that recovers while
// we were away resolves, and one that went down without being told (it
// was held, or foghorn was blind) must fail again to page. Call it after
// Configure.
func (c *Classifier) Restore(rows []Saved) {
	c.mu.Lock()
	gone := map[string]bool{}
	now := c.now()
	for _, r := range rows {
		k := c.ts[r.Target]
		if k == nil {
			if r.key != "" && !gone[r.key] {
				// Told before, and no longer in the config: resolve it,
				// or its incident would stay open forever.
				gone[r.key] = true
				c.queue = append(c.queue, output{ev: &Event{Key: r.key, Severity: "info", At: now,
					Summary: r.Target + " is no longer watched (removed from the config)"}})
			}
			continue
		}
		k.state, k.since, k.last, k.flap = r.State, r.Since, r.Last, parseFlap(r.flap)
		k.cls, k.key = parseClass(r.class), r.key
		k.restored = true
		switch k.state {
		case Down:
			k.bad, k.badSince = k.t.Fall, r.Since
		case Up:
			k.ok, k.goodSince = k.t.Rise, r.Since
			if good(r.Last.Status) {
				k.lastGood = r.Last.Start
			}
		}
		told := k.key != "" || k.cls == clsDown || k.cls == clsUnreachable || k.cls == clsFolded
		if k.state == Down && !told {
			k.cls, k.reeval = clsHeld, now
			k.holdUntil = now.Add(c.holdFor(k))
			c.held[k] = true
		}
		if k.state != Down && (k.cls == clsDown || k.cls == clsUnreachable || k.cls == clsFolded || k.cls == clsHeld) {
			k.cls = clsUp
		}
		if k.cls == clsFlapping || k.cls == clsOneSide || (k.cls == clsUp && k.key != "") {
			c.watch[k] = true // recovering or flapping when stopped: Tick judges it again, as settle would have
		}
	}
	// What was open before the restart is open still: rebuild it without
	// sending it again.
	for _, name := range sortedKeys(c.ts) {
		k := c.ts[name]
		if k.key == "" {
			continue
		}
		inc := c.incs[k.key]
		if inc == nil {
			kind := incDown
			switch k.cls {
			case clsFlapping:
				kind = incFlap
			case clsWarn:
				kind = incWarn
			case clsReported:
				kind = incBMC
			case clsOneSide:
				kind = incSplit
			}
			inc = &incident{key: k.key, kind: kind, lead: k.name, opened: k.since}
			c.incs[k.key] = inc
		}
		if "target:"+name == k.key {
			inc.lead = name
			inc.members = append([]string{name}, inc.members...)
		} else {
			inc.members = append(inc.members, name)
		}
	}
	for _, gr := range c.g.all {
		if v := c.groupState(gr); len(v.down) > 0 || len(v.split) > 0 {
			c.incs["group:"+gr.Name] = &incident{key: "group:" + gr.Name, kind: incGroup, lead: gr.Name, opened: now}
		}
	}
	for _, inc := range c.incs {
		inc.sent, inc.sentKind = c.render(inc), inc.kind
	}
	c.mu.Unlock()
	c.flush()
}

// groupView is a group's members by what is known of them.
type groupView struct {
	up, down, unknown []string
	split             []string // down from this node only: warning members, up for the need
}

func (c *Classifier) groupState(gr *configs.Group) groupView {
	var v groupView
	for _, m := range gr.Members() {
		k := c.ts[m]
		switch {
		case k == nil:
		case k.state == Up && k.cls != clsFlapping:
			v.up = append(v.up, m)
		case k.cls == clsDown:
			v.down = append(v.down, m)
		case k.cls == clsOneSide:
			v.split = append(v.split, m)
		default: // pending, held, unreachable, flapping: not known to be down
			v.unknown = append(v.unknown, m)
		}
	}
	return v
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
