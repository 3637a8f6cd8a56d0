package escalation

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"foghorn/configs"
)

// When the store fails (disk full, I/O errors), the engine cannot claim
// notifications, and a page that cannot be recorded would otherwise be
// dropped. A page is never lost for want of a row: it goes to the Notifier
// unrecorded (ID 0, so there is no delivery tracking), logged at ERROR and
// counted, and repeats from memory until the store takes writes again or
// the alert resolves. The store stays the truth: as soon as a write
// succeeds, what was kept in memory is recorded and the usual path takes
// over (which pages once more, recorded this time).
//
// Memory mode is deliberately simple: it repeats the first matching step's
// people at that step's interval (at least memoryEvery), without
// escalating to later steps, overrides, quiet hours or acks (an ack cannot
// be recorded either).

// memoryEvery is the shortest interval between pages from memory: nobody
// can ack them while the store fails, so they must not ring every minute.
const memoryEvery = 5 * time.Minute

// retryEvery is how often alerts kept in memory are offered to the store.
const retryEvery = 5 * time.Second

type memory struct {
	mu      sync.Mutex
	held    map[int64]time.Time  // store incidents paged unrecorded: not again before
	alerts  map[string]*memAlert // firing alerts the store could not record, by key
	lastTry time.Time
	lastNow time.Time // the clock at the last Step (clockjump.go)
	lastErr time.Time // when a failing step was last logged
	covered bool      // the failing step's pages went out from memory

	unrecorded atomic.Int64 // pages handed to the Notifier without a row, since start
}

type memAlert struct {
	a     Alert
	next  time.Time // next page
	every time.Duration
	paged []string
}

// Unrecorded reports how many pages went out without a row since start
// (the store was failing), and how many alerts and incidents are being
// paged from memory now; /metrics shows both.
func (e *Engine) Unrecorded() (total int64, pending int) {
	e.mem.mu.Lock()
	defer e.mem.mu.Unlock()
	return e.mem.unrecorded.Load(), len(e.mem.alerts) + len(e.mem.held)
}

// memoryStarts begins a Step: whether its store work is covered from
// memory is found out anew (claimFailed, beginFailed).
func (e *Engine) memoryStarts() {
	e.mem.mu.Lock()
	e.mem.covered = false
	e.mem.mu.Unlock()
}

// memoryEnds finishes a Step whose store work returned next and err, and
// whose memory work wants to run again at memNext. A store failure whose
// pages went out from memory is logged (at most once a minute) instead of
// returned, and the step asks to be called again within retryEvery.
func (e *Engine) memoryEnds(next, memNext time.Time, err error) (time.Time, error) {
	now := e.clock.Now()
	e.mem.mu.Lock()
	defer e.mem.mu.Unlock()
	if err != nil && e.mem.covered {
		if now.Sub(e.mem.lastErr) >= time.Minute || now.Before(e.mem.lastErr) {
			e.mem.lastErr = now
			e.log.Error("STORE FAILING: escalation steps cannot be recorded; their pages go out from memory, unrecorded", "err", err)
		}
		err, next = nil, now.Add(retryEvery)
	}
	// dueWork did every due incident that is not held, so a store due time
	// already past belongs to a held one: wake when the earliest hold ends
	// (at once if one just ended), not at once — that would spin.
	ended, earliest := false, time.Time{}
	for id, until := range e.mem.held {
		if !until.After(now) {
			delete(e.mem.held, id)
			ended = true
		} else if earliest.IsZero() || until.Before(earliest) {
			earliest = until
		}
	}
	if !ended && !earliest.IsZero() && !next.IsZero() && !next.After(now) {
		next = earliest
	}
	if !memNext.IsZero() && (next.IsZero() || memNext.Before(next)) {
		next = memNext
	}
	return next, err
}

// recorded ends paging from memory for an alert the store took.
func (e *Engine) recorded(key string) {
	e.mem.mu.Lock()
	delete(e.mem.alerts, key)
	e.mem.mu.Unlock()
}

// holding is how many store incidents are held; dueWork reads that many
// more rows so held ones cannot hide the others.
func (e *Engine) holding() int {
	e.mem.mu.Lock()
	defer e.mem.mu.Unlock()
	return len(e.mem.held)
}

// unheld drops the incidents held after an unrecorded page and keeps at
// most n.
func (e *Engine) unheld(incs []Incident, now time.Time, n int) []Incident {
	e.mem.mu.Lock()
	defer e.mem.mu.Unlock()
	if len(e.mem.held) > 0 {
		incs = slices.DeleteFunc(incs, func(inc Incident) bool {
			until, ok := e.mem.held[inc.ID]
			return ok && now.Before(until)
		})
	}
	return incs[:min(len(incs), n)]
}

// claimFailed is dueWork's way out when the store refuses its
// transaction: the pages advance computed for incs[:done] are sent anyway,
// without rows, and incs[done:] (whose claims failed) are paged from
// memory. All are held so that they are paged again at their step's pace,
// not every second. It returns cause.
func (e *Engine) claimFailed(ctx context.Context, out []Intent, incs []Incident, done int, now time.Time, cause error) error {
	e.hold(incs, now)
	e.mem.mu.Lock()
	e.mem.covered = true
	e.mem.mu.Unlock()
	for _, in := range out {
		if in.Kind == KindPower {
			continue // power actions need the audit trail: not without the store
		}
		in.ID = 0 // its claim was rolled back
		e.sendUnrecorded(ctx, in, cause)
	}
	e.pageIncidentsFromMemory(ctx, incs[done:], now, cause)
	return cause
}

// beginFailed is dueWork's way out when the store cannot even start a
// transaction: the due incidents are read without one (reads often still
// work) and paged from memory. It returns cause.
func (e *Engine) beginFailed(ctx context.Context, now time.Time, cause error) error {
	incs, err := queryIncidents(ctx, e.db, `WHERE due IS NOT NULL AND due <= ? ORDER BY due LIMIT ?`, ms(now), chunk+e.holding())
	if err != nil {
		e.log.Error("STORE FAILING: cannot read the due incidents either; nothing can be paged for them until it works again", "err", err)
		return cause
	}
	incs = e.unheld(incs, now, chunk)
	e.hold(incs, now)
	e.mem.mu.Lock()
	e.mem.covered = true
	e.mem.mu.Unlock()
	e.pageIncidentsFromMemory(ctx, incs, now, cause)
	return cause
}

// hold keeps incidents out of dueWork until their step's interval (at
// least memoryEvery) has passed.
func (e *Engine) hold(incs []Incident, now time.Time) {
	e.mem.mu.Lock()
	defer e.mem.mu.Unlock()
	if e.mem.held == nil {
		e.mem.held = map[int64]time.Time{}
	}
	for _, inc := range incs {
		every := memoryEvery
		if pol := e.policy(inc.Policy); pol != nil && len(pol.Steps) > 0 {
			every = max(pol.Steps[min(inc.Step, len(pol.Steps)-1)].Interval.Duration, memoryEvery)
		}
		e.mem.held[inc.ID] = now.Add(every)
	}
}

// pageIncidentsFromMemory pages the people of each incident's current
// step without the store: incidents that need paging (triggered, or an ack
// gone stale; not silenced, not resolved).
func (e *Engine) pageIncidentsFromMemory(ctx context.Context, incs []Incident, now time.Time, cause error) {
	cfg := e.cfg.Load()
	for _, inc := range incs {
		if inc.State == Resolved || inc.Silenced != "" || (inc.State == Acknowledged && !inc.Snoozed.IsZero() && now.Before(inc.Snoozed)) {
			continue
		}
		pol := e.policy(inc.Policy)
		if pol == nil || len(pol.Steps) == 0 {
			continue
		}
		st := &pol.Steps[min(inc.Step, len(pol.Steps)-1)]
		channel := channelsFor(st.Channels, inc.Severity, cfg.Escalation.VoiceMinSeverity)[0]
		for _, p := range e.memoryPeople(cfg, st, now) {
			e.sendUnrecorded(ctx, Intent{Incident: inc.ID, Short: inc.Short, Kind: KindPage, Channel: channel, Person: p.Name,
				Phone: p.Phone, Email: p.Email, Severity: inc.Severity, Summary: inc.Summary, Detail: inc.Detail, Since: inc.Opened, Host: inc.Host, Offer: inc.Offer,
				Step: min(inc.Step, len(pol.Steps)-1)}, cause)
		}
	}
}

// sendUnrecorded hands a page without a row to the Notifier.
func (e *Engine) sendUnrecorded(ctx context.Context, in Intent, cause error) {
	e.mem.unrecorded.Add(1)
	e.log.Error("STORE FAILING: sending a page that cannot be recorded (no delivery tracking; acks cannot be recorded either)",
		"incident", in.Incident, "summary", in.Summary, "person", in.Person, "channel", in.Channel, "err", cause)
	ctx = context.WithoutCancel(ctx)
	e.spawn(func() {
		if err := e.notify.Notify(ctx, in); err != nil {
			e.log.Error("unrecorded page failed", "incident", in.Incident, "person", in.Person, "channel", in.Channel, "err", err)
		}
	})
}

// pageFromMemory keeps a firing alert the store could not record, to page
// it when its first step is due.
func (e *Engine) pageFromMemory(ctx context.Context, a Alert, cause error) {
	// An incident the store already has for this key pages through the
	// store (or was acked there); reading may work when writing does not.
	var n int
	if err := e.db.QueryRowContext(ctx, `SELECT count(*) FROM incidents WHERE key = ? AND state != 'resolved'`, a.Key).Scan(&n); err == nil && n > 0 {
		return
	}
	now := e.clock.Now()
	e.mem.mu.Lock()
	if m := e.mem.alerts[a.Key]; m != nil {
		m.a = a // newer news; the pace stays
		e.mem.mu.Unlock()
		return
	}
	if e.mem.alerts == nil {
		e.mem.alerts = map[string]*memAlert{}
	}
	m := &memAlert{a: a, next: now, every: memoryEvery}
	if st := e.memoryStepOf(a); st != nil {
		m.next, m.every = now.Add(st.Delay.Duration), max(st.Interval.Duration, memoryEvery)
	}
	e.mem.alerts[a.Key] = m
	e.mem.mu.Unlock()
	e.log.Error("STORE FAILING: cannot record the incident; paging from memory until the store works again",
		"key", a.Key, "summary", a.Summary, "err", cause)
	e.poke()
}

// memoryStepOf is the policy step memory mode pages with: the first one
// the alert's severity reaches.
func (e *Engine) memoryStepOf(a Alert) *configs.Step {
	pol := e.policy(a.Policy)
	if pol == nil {
		return nil
	}
	sev := a.Severity.Or(configs.Critical)
	for i := range pol.Steps {
		if sev.AtLeast(pol.Steps[i].MinSeverity) {
			return &pol.Steps[i]
		}
	}
	return nil
}

// memoryPeople resolves a step's who without the store (no overrides).
func (e *Engine) memoryPeople(cfg *Config, st *configs.Step, now time.Time) []*configs.Person {
	names, _, _ := cfg.names(st.Who, now) // what can be resolved is paged
	var out []*configs.Person
	for _, name := range names {
		if p := cfg.person(name); p != nil && !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

// memoryStep offers the alerts kept in memory to the store (every
// retryEvery) and pages those due; it returns when the next is due.
func (e *Engine) memoryStep(ctx context.Context) time.Time {
	now := e.clock.Now()
	e.mem.mu.Lock()
	if len(e.mem.alerts) == 0 {
		e.mem.mu.Unlock()
		return time.Time{}
	}
	var retry []Alert
	if now.Sub(e.mem.lastTry) >= retryEvery || now.Before(e.mem.lastTry) {
		e.mem.lastTry = now
		for _, m := range e.mem.alerts {
			retry = append(retry, m.a)
		}
	}
	e.mem.mu.Unlock()
	for _, a := range retry {
		if _, err := e.record(ctx, a); err == nil {
			e.mem.mu.Lock()
			delete(e.mem.alerts, a.Key)
			e.mem.mu.Unlock()
			e.log.Warn("the store works again: the incident paged from memory is recorded now and pages as usual", "key", a.Key)
		}
	}

	cfg := e.cfg.Load()
	var out []Intent
	var next time.Time
	e.mem.mu.Lock()
	for _, m := range e.mem.alerts {
		if now.Before(m.next) {
			if next.IsZero() || m.next.Before(next) {
				next = m.next
			}
			continue
		}
		m.next = now.Add(m.every)
		if next.IsZero() || m.next.Before(next) {
			next = m.next
		}
		st := e.memoryStepOf(m.a)
		if st == nil {
			continue
		}
		sev := m.a.Severity.Or(configs.Critical)
		channel := channelsFor(st.Channels, sev, cfg.Escalation.VoiceMinSeverity)[0]
		detail := "foghorn cannot record this incident (its store is failing): it is paged from memory until the target recovers"
		if m.a.Detail != "" {
			detail += "\n" + m.a.Detail
		}
		for _, p := range e.memoryPeople(cfg, st, now) {
			out = append(out, Intent{Kind: KindPage, Channel: channel, Person: p.Name, Phone: p.Phone, Email: p.Email,
				Severity: sev, Summary: m.a.Summary, Detail: detail, Since: now})
			if !slices.Contains(m.paged, p.Name) {
				m.paged = append(m.paged, p.Name)
			}
		}
	}
	if len(e.mem.alerts) > 0 && (next.IsZero() || next.After(now.Add(retryEvery))) {
		next = now.Add(retryEvery) // offer them to the store again soon
	}
	e.mem.mu.Unlock()
	for _, in := range out {
		e.sendUnrecorded(ctx, in, fmt.Errorf("the store could not record the incident"))
	}
	return next
}

// resolveMemory ends paging from memory for a resolved alert, and tells
// whoever was paged.
func (e *Engine) resolveMemory(ctx context.Context, a Alert) {
	e.mem.mu.Lock()
	m := e.mem.alerts[a.Key]
	delete(e.mem.alerts, a.Key)
	e.mem.mu.Unlock()
	if m == nil {
		return
	}
	e.log.Warn("alert paged from memory resolved", "key", a.Key, "summary", m.a.Summary)
	cfg := e.cfg.Load()
	for _, name := range m.paged {
		p := cfg.person(name)
		if p == nil {
			continue
		}
		in := Intent{Kind: KindResolved, Channel: "sms", Person: p.Name, Phone: p.Phone, Email: p.Email,
			Severity: m.a.Severity.Or(configs.Critical), Summary: m.a.Summary, Text: "resolved: " + m.a.Summary}
		e.sendUnrecorded(ctx, in, fmt.Errorf("the store could not record the incident"))
	}
}
