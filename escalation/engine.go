package escalation

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"foghorn/clock"
	"foghorn/failpoint"
	"foghorn/store"
)

// Engine turns alerts into incidents and incidents into notification
// intents, step by step along their policies, until someone acks. Every
// pending step is a row with its due time (incidents.due); the engine
// wakes for the earliest one rather than polling, and claims each
// notification in the store before handing it to the Notifier.
type Engine struct {
	db     *store.DB
	clock  clock.Clock
	log    *slog.Logger
	notify Notifier
	cfg    atomic.Pointer[Config]

	mu   sync.Mutex // one writer: every state change holds it
	wake chan struct{}

	stmts sync.Map // query -> *sql.Stmt, for the statements of the hot path

	pmu     sync.Mutex // guards pending
	pending []outcome  // marks waiting for a group commit
	fmu     sync.Mutex // one group commit at a time
	sends   sync.WaitGroup
	limit   chan struct{} // sends in flight

	mem memory // paging on while the store fails (memory.go)

	gap     time.Duration // between the channels of one page
	done    chan struct{} // closed when Run ends: held pages stop waiting
	stop    sync.Once
	hmu     sync.Mutex
	backoff map[int64]time.Duration // held pages: the next wait

	// byHand are incidents escalated by a person whose step has not
	// paged yet: Escalate logged the move with who did it, so the pass
	// that pages the step does not log it again. Guarded by mu.
	byHand map[int64]bool

	unanswered func(person string) // Options.Unanswered
	covers     func(host string, ls map[string]string, now time.Time) (string, time.Time)

	// With a cluster (cluster.go): the shared notification log, and the
	// sends in flight (busy) and those waiting their turn, by notification.
	cl      *Cluster
	nfl     *Log
	stats   clusterStats
	busy    atomic.Int64
	turns   sync.Mutex
	waiting map[int64]time.Time
	share   shares          // silences and overrides as cluster States (share_silences.go)
	stormMu sync.Mutex      // one storm check at a time (storms.go)
	remotes remoteIncidents // the peers' incidents replies here found (replies.go)
}

// Options tune an Engine; zero values are sensible.
type Options struct {
	// Clock is the engine's time: due steps, the page log, test page
	// schedules. nil: the real clock. Tests drive hours with a clock.Fake.
	Clock clock.Clock
	Log   *slog.Logger
	// Sends bounds notifications handed to the Notifier at once.
	Sends int
	// Gap is the wait between the channels of one page (the call after
	// the SMS); default 5s, negative for none.
	Gap time.Duration
	// Unanswered, if set, hears of every test page nobody answered in
	// time (testpage.go): cmd counts them in /metrics.
	Unanswered func(person string)
	// Cluster, if set, makes this engine one of the foghorns of a
	// [cluster]: pages wait their turn and go only if no other node sent
	// them (cluster.go). nil: a single node, nothing waits.
	Cluster *Cluster
	// Covers, if set, names what else keeps an incident (its host, as
	// Alert.Host, and labels) from paging at now and until when, after
	// maintenance windows and silences: cmd's maintenance leases ("lease
	// #3 by alice"). The engine asks again at the time it returns.
	Covers func(host string, ls map[string]string, now time.Time) (string, time.Time)
}

// Errors callers map to replies ("#42 is already resolved").
var (
	ErrNotFound = errors.New("no such incident")
	ErrResolved = errors.New("incident already resolved")
)

// New makes an engine over db's tables that pages by cfg and hands its
// intents to n. Call Recover, then Run.
func New(db *store.DB, cfg Config, n Notifier, o Options) *Engine {
	o.Clock = clock.Or(o.Clock)
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Sends <= 0 {
		o.Sends = 32
	}
	if o.Gap == 0 {
		o.Gap = 5 * time.Second
	}
	e := &Engine{db: db, clock: o.Clock, log: o.Log, notify: n, wake: make(chan struct{}, 1), limit: make(chan struct{}, o.Sends),
		gap: max(o.Gap, 0), done: make(chan struct{}), backoff: map[int64]time.Duration{}, unanswered: o.Unanswered,
		covers: o.Covers}
	e.cfg.Store(&cfg)
	if o.Cluster != nil {
		cl := *o.Cluster
		e.cl, e.waiting = &cl, map[int64]time.Time{}
		e.nfl = newLog(db, cl.Node, o.Clock, o.Log, cl.Retention)
		e.nfl.merged = e.merged
	}
	return e
}

// SetConfig switches to a reloaded config. Open incidents keep their
// place; a policy that disappeared is replaced by the default one.
func (e *Engine) SetConfig(cfg Config) {
	e.cfg.Store(&cfg)
	e.poke()
}

func (e *Engine) poke() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

func ms(t time.Time) int64 { return t.UnixMilli() }

func fromMS(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return time.UnixMilli(v.Int64)
}

// Handle takes one alert: a firing key opens an incident or updates the
// open one; a resolved key resolves it and tells whoever was paged. When
// the store cannot record a firing alert it is paged from memory (and the
// error is still returned, for the caller to log; memory.go).
func (e *Engine) Handle(ctx context.Context, a Alert) (*Incident, error) {
	if !a.Firing {
		e.resolveMemory(ctx, a)
	}
	inc, err := e.record(ctx, a)
	if a.Firing && err == nil && inc != nil && e.nfl != nil {
		e.shareTargets(ctx, inc, a.Children) // storms.go; out of record's lock: it may adopt
	}
	switch {
	case err != nil && a.Firing:
		e.pageFromMemory(ctx, a, err)
	case err == nil:
		e.recorded(a.Key)
	}
	return inc, err
}

// Step does everything due now and returns when the next thing is due
// (zero when nothing is pending). Sends go out in the background; Wait
// waits for them. Alerts kept in memory are offered to the store again
// and paged when due. A store failure whose pages went out from memory is
// not returned as an error: it is logged (at most once a minute) and
// Step asks to be called again within retryEvery.
func (e *Engine) Step(ctx context.Context) (time.Time, error) {
	e.checkClock(ctx)
	memNext := e.memoryStep(ctx)
	e.memoryStarts()
	next, err := e.step(ctx)
	return e.memoryEnds(next, memNext, err)
}

// Run dispatches due steps until ctx ends, then waits for sends in flight.
func (e *Engine) Run(ctx context.Context) error {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	defer e.sends.Wait()
	defer e.Stop()
	for {
		next, err := e.Step(ctx)
		if err != nil {
			e.log.Error("escalation step failed; retrying in 1s", "err", err)
			next = e.clock.Now().Add(time.Second)
		}
		wait := time.Hour
		if !next.IsZero() {
			wait = max(next.Sub(e.clock.Now()), 0)
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return nil
		case <-e.wake:
		case <-timer.C:
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}

// step does everything due in the store now and returns when the next
// thing is due there (zero when nothing is pending); Step wraps it.
func (e *Engine) step(ctx context.Context) (time.Time, error) {
	for {
		intents, more, err := e.dueWork(ctx)
		if err != nil {
			return time.Time{}, err
		}
		e.dispatch(ctx, intents)
		if !more {
			return e.nextDue(ctx)
		}
	}
}

// chunk is how many due incidents one transaction advances: small enough
// that the first pages of a storm go out while the rest are still being
// claimed, large enough to share the cost of a commit.
const chunk = 64

// Stop ends the waits of held pages (Run does this when it returns): for
// an engine driven by Step alone, call it before the last Wait.
func (e *Engine) Stop() { e.stop.Do(func() { close(e.done) }) }

// Wait blocks until every send handed out so far has returned.
func (e *Engine) Wait() { e.sends.Wait() }

func (e *Engine) nextDue(ctx context.Context) (time.Time, error) {
	var due sql.NullInt64
	err := e.db.QueryRowContext(ctx, `SELECT MIN(due) FROM incidents WHERE due IS NOT NULL`).Scan(&due)
	if err != nil {
		return time.Time{}, fmt.Errorf("escalation: next due: %w", err)
	}
	return fromMS(due), nil
}

// dueWork advances up to chunk incidents whose step is due, claiming the
// notifications they need, in one transaction; more reports a full chunk.
func (e *Engine) dueWork(ctx context.Context) (out []Intent, more bool, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.clock.Now()
	tx, err := e.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, false, e.beginFailed(ctx, now, fmt.Errorf("escalation: begin: %w", err))
	}
	defer tx.Rollback()
	// Critical incidents first: when a limit frees, they take it before
	// warnings that were waiting longer.
	incs, err := queryIncidents(ctx, tx, `WHERE due IS NOT NULL AND due <= ? ORDER BY severity = 'critical' DESC, due LIMIT ?`, ms(now), chunk+e.holding())
	if err != nil {
		return nil, false, err
	}
	incs = e.unheld(incs, now, chunk)
	p := &pass{tx: tx, now: now, sent: map[string]int{}, covers: map[string]string{}}
	for i := range incs {
		ins, err := e.advance(ctx, p, &incs[i])
		if err != nil {
			return nil, false, e.claimFailed(ctx, out, incs, i, now, fmt.Errorf("escalation: incident %d: %w", incs[i].ID, err))
		}
		out = append(out, ins...)
	}
	if err := tx.Commit(); err != nil {
		return nil, false, e.claimFailed(ctx, out, incs, len(incs), now, fmt.Errorf("escalation: commit: %w", err))
	}
	for _, l := range p.lives {
		e.logIncident(l.level, l.what, &l.inc, l.args...)
	}
	failpoint.HitIf(len(out) > 0, "engine.after-claim")
	return out, len(incs) == chunk, nil
}

// dispatch hands claimed intents to the Notifier, each in its own
// goroutine (bounded), so one slow channel cannot delay other pages.
// Sends outlive the request that caused them: an "acked by" SMS or the
// hang-up of ringing calls must not die with the webhook that acked.
func (e *Engine) dispatch(ctx context.Context, intents []Intent) {
	ctx = context.WithoutCancel(ctx)
	intents = e.powerTurns(ctx, intents) // in a cluster (share_power.go)
	// Automated power steps first, one by one, before any page: the
	// Notifier decides them at once (the action itself runs on), so the
	// step's pages can say what was decided.
	for _, in := range intents {
		if in.Kind == KindPower {
			if err := e.notify.Notify(ctx, in); err != nil {
				e.log.Error("automated power step not handed over", "incident", in.Incident, "host", in.Host, "power", in.Power, "err", err)
			}
		}
	}
	for _, in := range intents {
		if in.Kind == KindPower {
			continue
		}
		e.spawn(func() {
			if in.cancel {
				e.cancel(ctx, in.Incident) // cancel.go
				return
			}
			e.send(ctx, in)
		})
	}
}

// handOver runs the Notifier with one of the bounded send slots. The slot
// is held only for the hand-over, not for recording its outcome: marks are
// group-committed, and a slot waiting on an fsync would starve the rest of
// a storm.
func (e *Engine) handOver(ctx context.Context, in Intent) error {
	e.limit <- struct{}{}
	defer func() { <-e.limit }()
	// Checked after the wait for a slot: a page queued behind a storm must
	// still see an ack that came meanwhile.
	if in.Kind == KindPage && !e.stillPaging(ctx, in.Incident) {
		return errCancelled
	}
	if e.expired(ctx, in) {
		return errExpired
	}
	return e.notify.Notify(ctx, in)
}

// errCancelled says a page was not sent because its incident was acked or
// resolved after the page was claimed.
var errCancelled = errors.New("incident acked or resolved meanwhile")

// send delivers one claimed intent, unless its incident was acked or
// resolved since it was claimed: an ack stops the noise at once.
func (e *Engine) send(ctx context.Context, in Intent) {
	if in.wait > 0 && !e.sleep(in.wait) {
		return // shutting down: the claim stays, and Recover sends it
	}
	if e.cl != nil && in.logKey != "" && !in.turnTaken { // a page, or an "acked by" notice (replies.go)
		in.turnTaken = true
		by, elsewhere, stop := e.takeTurn(ctx, &in)
		if stop {
			return // shutting down: the claim stays, and Recover sends it
		}
		if elsewhere {
			e.mark(ctx, in.ID, "peer", fmt.Sprintf("sent by %s at %s", by.Node, by.At.UTC().Format("15:04:05 UTC")))
			e.forget(in.ID)
			return
		}
		if !in.said {
			e.logPage(ctx, in, kindSending)
		}
	}
	err := e.handOver(ctx, in)
	failpoint.HitIf(err == nil && in.Kind == KindPage, "engine.before-mark")
	switch {
	case errors.Is(err, errCancelled):
		e.mark(ctx, in.ID, "cancelled", "")
		e.forget(in.ID)
		return
	case errors.Is(err, errExpired):
		e.forget(in.ID)
		return
	case err == nil:
		e.logSent(ctx, in)
		e.mark(ctx, in.ID, "sent", "")
		e.forget(in.ID)
		return
	}
	var later *Later
	if errors.As(err, &later) && in.Kind == KindPage {
		e.holdPage(ctx, in, later)
		return
	}
	e.forget(in.ID)
	if in.Kind != KindPage {
		// Notices ("acked by", "resolved") give way to pages: one that
		// cannot go is dropped, and said so.
		e.log.Warn("notice dropped", "incident", in.Incident, "person", in.Person, "channel", in.Channel, "kind", in.Kind, "err", err)
		e.mark(ctx, in.ID, "unsent", err.Error())
		if err := event(ctx, e.db, e.clock.Now(), "notice.dropped", in.Incident, "engine",
			fmt.Sprintf("%s %s to %s not sent: %v", in.Kind, in.Channel, in.Person, err)); err != nil {
			e.log.Error("cannot record the dropped notice", "incident", in.Incident, "err", err)
		}
		return
	}
	e.log.Warn("notification failed", "incident", in.Incident, "person", in.Person, "channel", in.Channel, "err", err)
	e.mark(ctx, in.ID, "unsent", err.Error())
	if in.turnTaken {
		e.logPage(ctx, in, kindUnsent)
	}
	if next, ok := e.fallback(ctx, in, err.Error()); ok {
		e.spawn(func() { e.send(ctx, next) })
	}
}

// maxHold caps the wait between tries of a held page: when the network
// comes back, the page goes out within this.
const maxHold = 30 * time.Second

// holdPage keeps a page that could not go now and sends it later: when the
// vendor answers again (backing off, at most maxHold apart) or when the
// rate limit frees. handOver expires it once it is older than the
// page validity (Config.PageValidity), so a backlog is not blasted after a long outage; a page
// held by a rate limit is not expired (a critical is never dropped).
func (e *Engine) holdPage(ctx context.Context, in Intent, l *Later) {
	now := e.clock.Now()
	e.hmu.Lock()
	wait, again := e.backoff[in.ID]
	if !again {
		wait = time.Second
	}
	e.backoff[in.ID] = min(wait*2, maxHold)
	e.hmu.Unlock()
	if !l.Until.IsZero() {
		wait = max(l.Until.Sub(now), 0) + 100*time.Millisecond
		in.limited = true
	}
	if !again {
		why := fmt.Sprintf("%s to %s held, next try at %s: %v", in.Channel, in.Person, now.Add(wait).UTC().Format("15:04:05 UTC"), l.Err)
		if in.Severity == "critical" {
			e.log.Error("critical page held", "incident", in.Incident, "person", in.Person, "channel", in.Channel, "retry_in", wait.Round(time.Millisecond), "err", l.Err)
		} else {
			e.log.Warn("page held", "incident", in.Incident, "person", in.Person, "channel", in.Channel, "retry_in", wait.Round(time.Millisecond), "err", l.Err)
		}
		e.mark(ctx, in.ID, "held", l.Err.Error())
		if err := event(ctx, e.db, now, "page.held", in.Incident, "engine", why); err != nil {
			e.log.Error("cannot record the held page", "incident", in.Incident, "err", err)
		}
		// Meanwhile the step's fallback channel (another vendor) may reach them.
		if next, ok := e.fallback(ctx, in, l.Err.Error()); ok {
			e.spawn(func() { e.send(ctx, next) })
		}
	}
	in.wait = wait
	e.spawn(func() { e.send(ctx, in) })
}

func (e *Engine) forget(id int64) {
	e.hmu.Lock()
	delete(e.backoff, id)
	e.hmu.Unlock()
}

// sleep waits d, or returns false when the engine stops first. The wait
// is real time, whatever the engine's clock: it paces hand-overs to a
// channel (the call seconds after the SMS, the next try of a held page),
// which a vendor sees in real time, not the incident's schedule.
func (e *Engine) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-e.done:
		return false
	}
}

const stateQuery = `SELECT state FROM incidents WHERE id = ?`

func (e *Engine) stillPaging(ctx context.Context, id int64) bool {
	var state string
	st, ok := e.stmts.Load(stateQuery)
	if !ok {
		p, err := e.db.PrepareContext(ctx, stateQuery)
		if err != nil {
			return false
		}
		st, _ = e.stmts.LoadOrStore(stateQuery, p)
	}
	err := st.(*sql.Stmt).QueryRowContext(ctx, id).Scan(&state)
	return err == nil && state == Triggered
}

type outcome struct {
	id         int64
	state, err string
	at         time.Time
}

// mark records what became of a notification. Marks are group-committed:
// whoever finds others queued writes them all in one transaction, so a
// storm of sends costs a few fsyncs instead of one each, and the claims of
// the next due steps are not starved of the write lock. mark returns once
// its row is committed.
func (e *Engine) mark(ctx context.Context, id int64, state, errText string) {
	e.pmu.Lock()
	e.pending = append(e.pending, outcome{id, state, errText, e.clock.Now()})
	e.pmu.Unlock()

	e.fmu.Lock()
	defer e.fmu.Unlock()
	e.pmu.Lock()
	batch := e.pending
	e.pending = nil
	e.pmu.Unlock()
	if len(batch) == 0 {
		return // a flush that started after ours queued wrote it
	}
	// A mark lost leaves the row "claimed" until a restart resends it:
	// worth a few tries when a storm keeps the write lock busy.
	err := e.writeMarks(context.WithoutCancel(ctx), batch)
	for try := 1; err != nil && try <= 3 && ctx.Err() == nil; try++ {
		e.log.Warn("recording notification outcomes failed; trying again", "count", len(batch), "try", try, "err", err)
		time.Sleep(time.Duration(try) * 200 * time.Millisecond)
		err = e.writeMarks(context.WithoutCancel(ctx), batch)
	}
	if err != nil {
		e.log.Error("cannot record notification outcomes; a restart may resend these once", "count", len(batch), "err", err)
	}
}

func (e *Engine) writeMarks(ctx context.Context, batch []outcome) error {
	tx, err := e.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	// "sent" only replaces "claimed": a delivery report (delivered, failed,
	// unanswered) that raced ahead of it is the truer word and stays.
	st, err := tx.PrepareContext(ctx, `UPDATE notifications SET state = ?, sent_at = ?, error = ?
		WHERE id = ? AND (? NOT IN ('sent', 'held') OR state IN ('claimed', 'held'))`)
	if err != nil {
		return err
	}
	defer st.Close()
	for _, o := range batch {
		if _, err := st.ExecContext(ctx, o.state, ms(o.at), o.err, o.id, o.state); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// Recover runs once at start: notifications claimed but never marked were
// interrupted by a kill. What happens to each depends on how far it got:
//
//   - never handed to the pager (no handed_at, see Tracked): nobody has
//     it, so it is simply sent now, as the first send it still is;
//   - maybe handed over: looked up in the provider's own record (Finder);
//     found, it is marked sent with the provider's ID and not sent again;
//     not found, it is sent again;
//   - maybe handed over and the provider cannot tell (no Finder, or the
//     lookup failed): resent once (attempt 2); one already resent is
//     given up, so nobody gets a third.
//
// Pages of incidents no longer triggered are given up in every case.
func (e *Engine) Recover(ctx context.Context) (int, error) {
	if e.nfl != nil {
		if err := e.nfl.load(ctx); err != nil {
			return 0, err
		}
		e.applyLog(ctx)
	}
	e.mu.Lock()
	rows, err := e.db.QueryContext(ctx, `
		SELECT n.id, n.incident, n.kind, n.person, n.channel, n.text, n.attempt, n.step, i.short, i.severity, i.summary, i.detail, i.opened_at, i.state, n.handed_at, i.host, i.offer, n.logkey
		FROM notifications n JOIN incidents i ON i.id = n.incident WHERE n.state IN ('claimed', 'held') ORDER BY n.handed_at, n.id`)
	if err != nil {
		e.mu.Unlock()
		return 0, fmt.Errorf("escalation: recover: %w", err)
	}
	tr, _ := e.notify.(*tracked)
	var fresh, maybe []Intent
	var give []int64
	handed := map[int64]time.Time{}
	for rows.Next() {
		var in Intent
		var opened int64
		var state string
		var at sql.NullInt64
		if err := rows.Scan(&in.ID, &in.Incident, &in.Kind, &in.Person, &in.Channel, &in.Text, &in.Attempt, &in.Step,
			&in.Short, &in.Severity, &in.Summary, &in.Detail, &opened, &state, &at, &in.Host, &in.Offer, &in.logKey); err != nil {
			rows.Close()
			e.mu.Unlock()
			return 0, fmt.Errorf("escalation: recover: %w", err)
		}
		in.Since = time.UnixMilli(opened)
		switch {
		case in.Kind == KindPage && state != Triggered:
			give = append(give, in.ID)
		case tr != nil && !at.Valid:
			fresh = append(fresh, in)
		default:
			handed[in.ID] = fromMS(at)
			maybe = append(maybe, in)
		}
	}
	rows.Close()
	for _, id := range give {
		e.db.ExecContext(ctx, `UPDATE notifications SET state = 'abandoned' WHERE id = ?`, id)
	}
	cfg := e.cfg.Load()
	for _, l := range [][]Intent{fresh, maybe} {
		for i := range l {
			if p := cfg.person(l[i].Person); p != nil {
				l[i].Phone, l[i].Email = p.Phone, p.Email
			}
		}
	}
	e.mu.Unlock()

	// The provider's answers come over the network: outside the lock.
	var finder Finder
	if tr != nil {
		finder = tr.find
	}
	found, unknown := e.lookUp(ctx, finder, maybe, handed)

	e.mu.Lock()
	resend := fresh
	for _, in := range fresh {
		e.db.Event(ctx, "notification.resend", fmt.Sprint(in.Incident), "engine",
			fmt.Sprintf("%s to %s was claimed but never handed over before the restart; sending it now", in.Channel, in.Person))
	}
	for _, in := range maybe {
		why := "was interrupted by a restart and Twilio has no record of it; sending it now"
		if sid, ok := found[in.ID]; ok {
			e.db.ExecContext(ctx, `UPDATE notifications SET state = 'sent', sent_at = ?, sid = ? WHERE id = ? AND state IN ('claimed', 'held')`,
				ms(e.clock.Now()), sid, in.ID)
			e.db.Event(ctx, "notification.found", fmt.Sprint(in.Incident), "engine",
				fmt.Sprintf("%s to %s was interrupted by a restart, but Twilio has it (%s): not sent again", in.Channel, in.Person, sid))
			continue
		}
		if unknown[in.ID] {
			if in.Attempt >= 2 {
				e.db.ExecContext(ctx, `UPDATE notifications SET state = 'abandoned' WHERE id = ?`, in.ID)
				continue
			}
			why = "was interrupted by a restart; sending once more"
		}
		in.Attempt++
		e.db.ExecContext(ctx, `UPDATE notifications SET attempt = ? WHERE id = ?`, in.Attempt, in.ID)
		e.db.Event(ctx, "notification.resend", fmt.Sprint(in.Incident), "engine",
			fmt.Sprintf("%s to %s %s", in.Channel, in.Person, why))
		resend = append(resend, in)
	}
	e.mu.Unlock()
	e.dispatch(ctx, resend)
	return len(resend), nil
}

// prepared returns the hot-path statement q bound to tx. Parsing SQL was a
// third of the engine's CPU in a storm; database/sql keeps a prepared
// statement per connection once it is made.
func (e *Engine) prepared(ctx context.Context, tx *sql.Tx, q string) *sql.Stmt {
	if st, ok := e.stmts.Load(q); ok {
		return tx.StmtContext(ctx, st.(*sql.Stmt))
	}
	st, err := e.db.PrepareContext(ctx, q)
	if err != nil {
		return nil
	}
	if prev, loaded := e.stmts.LoadOrStore(q, st); loaded {
		st.Close()
		st = prev.(*sql.Stmt)
	}
	return tx.StmtContext(ctx, st)
}

// exec runs a hot-path statement in tx, prepared once.
func (e *Engine) exec(ctx context.Context, tx *sql.Tx, q string, args ...any) (sql.Result, error) {
	if st := e.prepared(ctx, tx, q); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return tx.ExecContext(ctx, q, args...)
}

// Lag is how far the engine is behind: how long the oldest due step has
// been waiting. A healthy engine stays near zero; the watchdog stops its
// heartbeat when this grows, so someone hears that foghorn is stuck.
func (e *Engine) Lag(ctx context.Context) (time.Duration, error) {
	var due sql.NullInt64
	if err := e.db.QueryRowContext(ctx, `SELECT MIN(due) FROM incidents WHERE due IS NOT NULL`).Scan(&due); err != nil {
		return 0, fmt.Errorf("escalation: lag: %w", err)
	}
	if !due.Valid {
		return 0, nil
	}
	return max(e.clock.Now().Sub(time.UnixMilli(due.Int64)), 0), nil
}
