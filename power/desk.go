package power

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"database/sql"
	"fmt"
	"log/slog"
	"math/big"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"foghorn/clock"
	"foghorn/store"
)

// Trail is the audit trail: power writes every attempt there and reads
// it back (actions allowed in the last hour at start, automated steps
// already done). *store.DB is one.
type Trail interface {
	Recorder
	PowerAllowed(ctx context.Context, since time.Time) ([]store.Allowed, error)
	PowerStepDone(ctx context.Context, subject string) (bool, error)
}

// Options are what a Desk needs besides the config.
type Options struct {
	BMC   BMC
	Trail Trail
	// State and BMCState are as in GuardOptions.
	State    func(target string) string
	BMCState func(bmc string) string
	// Clock is the clock for codes, limits and steps; nil is the real one.
	Clock clock.Clock
	// StepWait bounds an automated step's wait for a running action to
	// end; default StepWait.
	StepWait time.Duration
	Log      *slog.Logger

	// DB holds the leases table (*store.DB's); nil refuses leases.
	DB *sql.DB
	// Critical says whether a critical incident is open about any of
	// targets (a group's name and members), and names it: no lease then.
	Critical func(targets []string) (what string, open bool)
	// Overrun hears of a lease whose host was not back at its end
	// (firing, with the page's text) and of that host coming back or
	// the lease released (not firing): cmd raises and resolves the page.
	Overrun func(ctx context.Context, l Lease, text string, firing bool)
	// Counted hears of each lease request's result ("granted",
	// "refused", "queued"), for /metrics.
	Counted func(result string)
}

// Desk is where power actions are asked for: by a person with a
// confirmation code (the pager), at once (the API, the dashboard), or by
// an automated policy step (the engine, through cmd). Everything passes
// its Guard.
type Desk struct {
	o     Options
	guard *Guard

	mu    sync.Mutex
	cfg   *Config
	codes map[string]*held   // by phone number
	steps map[int64]*stepRun // by incident
	bg    sync.WaitGroup     // steps running
	stop  chan struct{}      // closed by Close
	done  bool
	sh    *Shared // the codes shared with the cluster's other nodes; nil alone

	leases    []Lease   // standing now (lease.go)
	tickets   []*Ticket // waiting requests, oldest first
	ticketSeq int64
	leasedNow atomic.Pointer[map[string]bool] // hosts leased, for the guard's state
	standing  atomic.Pointer[[]Lease]         // d.leases as last published, for Leases
}

// held is a confirmation code waiting, with what it confirms, or (void)
// one used, cancelled or guessed wrong: kept until it would have expired,
// so that the peer's older copy cannot bring it back.
type held struct {
	offer Offer
	void  bool
	at    time.Time // written then, by node: the newer entry for a phone wins
	node  string
}

// New makes a desk for cfg.
func New(cfg Config, o Options) *Desk {
	o.Clock = clock.Or(o.Clock)
	if o.State == nil {
		o.State = func(string) string { return "up" }
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	var rec Recorder
	if o.Trail != nil {
		rec = o.Trail
	}
	d := &Desk{o: o, cfg: &cfg, stop: make(chan struct{})}
	// The guard sees a leased host as down (Desk.state): a power action
	// must not spend the quorum a lease holds.
	d.guard = NewGuard(cfg, GuardOptions{BMC: o.BMC, Recorder: rec, State: d.state, BMCState: o.BMCState, Clock: o.Clock})
	return d
}

// Update follows a config reload; codes waiting, steps and rate-limit
// history are kept.
func (d *Desk) Update(cfg Config) {
	d.guard.Update(cfg)
	d.mu.Lock()
	d.cfg = &cfg
	d.mu.Unlock()
}

func (d *Desk) config() *Config {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cfg
}

// Close stops waiting steps and waits for the steps' actions in flight.
func (d *Desk) Close() {
	d.mu.Lock()
	if !d.done {
		d.done = true
		close(d.stop)
	}
	d.mu.Unlock()
	d.bg.Wait()
}

// Guard is the desk's guard.
func (d *Desk) Guard() *Guard { return d.guard }

// Check says whether req would be allowed now (a dry run); a refusal is
// a *Refusal, and recorded.
func (d *Desk) Check(ctx context.Context, req Request) error {
	req.Target = canonical(d.config(), req.Target)
	return d.guard.Check(ctx, req)
}

// Execute does req at once, behind the guard: for the API and the
// dashboard (Via "web"), where the caller is already authenticated and
// has confirmed; and for the pager once a code is confirmed.
func (d *Desk) Execute(ctx context.Context, req Request) (Outcome, error) {
	req.Target = canonical(d.config(), req.Target)
	return d.guard.Execute(ctx, req)
}

// Resolve says what a name as typed stands for.
func (d *Desk) Resolve(name string) Target { return lookup(d.config(), name) }

// Standing says where host stands now.
func (d *Desk) Standing(host string) Standing { return standing(d.config(), host, d.o.State) }

// Remember replays the last hour of allowed power actions from the audit
// trail into the guard, so its per-host and per-site limits survive a
// restart: restarting foghorn must not reset the seatbelt.
func (d *Desk) Remember(ctx context.Context) error {
	if d.o.Trail == nil {
		return nil
	}
	done, err := d.o.Trail.PowerAllowed(ctx, d.o.Clock.Now().Add(-time.Hour))
	for _, a := range done {
		d.guard.Remember(a.Host, a.At)
	}
	if err != nil {
		return fmt.Errorf("power: reading recent power actions: %w", err)
	}
	return nil
}

// Offer is a power action waiting for its confirmation code.
type Offer struct {
	Request  Request // as it will run: the target's configured name
	Host     string
	BMC      string // "" when there is none
	Code     string
	Valid    time.Duration
	Expires  time.Time
	Standing Standing
}

// CodeDigits is the length of a confirmation code: never with a leading
// zero (a phone may drop it), from crypto/rand.
const CodeDigits = 4

// defaultConfirm is how long a code is good when [power] confirm_timeout
// is not set.
const defaultConfirm = 5 * time.Minute

// Offer checks req as the guard would and, if it would pass, holds a
// one-time code for it, for the phone it goes to; a second offer to the
// same phone replaces the first. A refusal is a *Refusal. Codes live in
// memory only: a restart forgets them, and a forgotten code can only fail
// to confirm (the safe direction); the person asks again.
func (d *Desk) Offer(ctx context.Context, req Request, phone string) (Offer, error) {
	cfg := d.config()
	t := lookup(cfg, req.Target)
	req.Target = t.Name
	if err := d.guard.Check(ctx, req); err != nil {
		return Offer{}, err
	}
	code, err := newCode()
	if err != nil {
		return Offer{}, fmt.Errorf("power: cannot make a confirmation code: %w", err)
	}
	valid := cfg.Power.ConfirmTimeout.Duration
	if valid <= 0 {
		valid = defaultConfirm
	}
	now := d.o.Clock.Now()
	o := Offer{Request: req, Host: t.Host, BMC: t.BMC, Code: code, Valid: valid, Expires: now.Add(valid),
		Standing: standing(cfg, t.Host, d.o.State)}
	d.put(phone, &held{offer: o, at: now})
	d.event(ctx, "power.requested", t.Host, req.By, fmt.Sprintf("%s via %s: confirmation code sent to %s, valid %s", what(req, t.Host), req.Via, phone, valid))
	return o, nil
}

// CodeError is a confirmation that did not confirm: the request it was
// for (if any) is void now.
type CodeError struct {
	// Why is "none" (no code waiting for this phone), "expired" or "wrong".
	Why   string
	Offer Offer // the voided offer; zero for "none"
}

func (e *CodeError) Error() string {
	switch e.Why {
	case "none":
		return "no power action is waiting for a code from this phone"
	case "expired":
		return what(e.Offer.Request, e.Offer.Host) + ": the code has expired"
	}
	return what(e.Offer.Request, e.Offer.Host) + ": wrong code"
}

// Confirm takes the code sent from phone by the person named by: right,
// in time, and from the phone it was sent to, it returns the offer to
// run (Execute it). Any failure voids the offer, as a *CodeError: one
// guess per code.
func (d *Desk) Confirm(ctx context.Context, phone, by, code, via string) (Offer, error) {
	now := d.o.Clock.Now()
	h := d.take(phone, now)
	refused := func(subject string, e *CodeError) (Offer, error) {
		d.event(ctx, "power.confirm_refused", subject, by, e.Error()+" (from "+phone+" via "+via+")")
		d.o.Log.Warn("power confirmation refused", "person", by, "why", e.Why)
		return Offer{}, e
	}
	switch {
	case h == nil || h.offer.Request.By != by:
		return refused("power", &CodeError{Why: "none"})
	case now.After(h.offer.Expires):
		return refused(h.offer.Host, &CodeError{Why: "expired", Offer: h.offer})
	case subtle.ConstantTimeCompare([]byte(code), []byte(h.offer.Code)) != 1:
		return refused(h.offer.Host, &CodeError{Why: "wrong", Offer: h.offer})
	}
	d.event(ctx, "power.confirmed", h.offer.Host, by, what(h.offer.Request, h.offer.Host)+" via "+via+": code confirmed")
	return h.offer, nil
}

// Held is the offer waiting for phone's code, if one is and is still
// good: a code sent alone can then be told apart from an incident number.
func (d *Desk) Held(phone string) (Offer, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	h := d.codes[phone]
	if h == nil || h.void || d.o.Clock.Now().After(h.offer.Expires) {
		return Offer{}, false
	}
	return h.offer, true
}

// Cancel voids the code waiting for phone: a code waits for its
// confirmation and nothing else. It returns the offer if one was still
// good (and records that it was cancelled).
func (d *Desk) Cancel(ctx context.Context, phone, by string) (Offer, bool) {
	now := d.o.Clock.Now()
	h := d.take(phone, now)
	if h == nil || now.After(h.offer.Expires) {
		return Offer{}, false
	}
	d.event(ctx, "power.cancelled", h.offer.Host, by, what(h.offer.Request, h.offer.Host)+": another message came before the confirmation")
	return h.offer, true
}

// event records to the audit trail, best effort: the answer must still
// reach the person.
func (d *Desk) event(ctx context.Context, kind, subject, actor, detail string) error {
	if d.o.Trail == nil {
		return nil
	}
	err := d.o.Trail.Event(context.WithoutCancel(ctx), kind, subject, actor, detail)
	if err != nil {
		d.o.Log.Error("cannot write the audit trail", "kind", kind, "subject", subject, "err", err)
	}
	return err
}

// what is a request as the audit trail says it: "cycle pve1", "cycle
// pve1 (forced)".
func what(req Request, host string) string {
	s := string(req.Action) + " " + host
	if req.Force {
		s += " (forced)"
	}
	return s
}

func newCode() (string, error) {
	lo := int64(1)
	for range CodeDigits - 1 {
		lo *= 10
	}
	n, err := rand.Int(rand.Reader, big.NewInt(9*lo))
	if err != nil {
		return "", err
	}
	return strconv.FormatInt(lo+n.Int64(), 10), nil
}
