package power

import (
	"context"
	"crypto/rand"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"time"

	"foghorn/configs"
)

// Maintenance leases: the operator's own tools ask "may pve2 go down
// now?" before they act. A lease is granted only while every group of
// the host keeps its min_up without it (counting members down or leased),
// no more than max_concurrent are held per group and site-wide, the
// group's lease_requires targets are OK, no critical incident is open in
// the group and no power action runs there. While held, the host going
// down is expected (cmd turns held leases into covers the engine
// consults); its coming back ends the lease; not back by the end, it
// overruns and pages once (cmd raises that page through the engine).
// Leases live in the leases table, so a restart keeps them; waiting
// requests (tickets) live in memory only: their scripts ask again.

// The states of a lease.
const (
	LeaseHeld     = "held"
	LeaseEnded    = "ended"
	LeaseReleased = "released"
	LeaseOverrun  = "overrun"
)

// Lease is permission to take Target down until EndsAt.
type Lease struct {
	ID        int64     `json:"id"`
	Target    string    `json:"target"`
	Holder    string    `json:"holder"`
	Reason    string    `json:"reason"`
	GrantedAt time.Time `json:"granted_at"`
	EndsAt    time.Time `json:"ends_at"`
	Extended  bool      `json:"extended"`
	State     string    `json:"state"`
	DownAt    time.Time `json:"down_at,omitzero"`
	EndedAt   time.Time `json:"ended_at,omitzero"`
	Detail    string    `json:"detail,omitempty"`
}

// Active says the lease still stands for its host: held, or overrun and
// the host not back yet (still expected down, and paged for already).
func (l Lease) Active() bool {
	return l.State == LeaseHeld || (l.State == LeaseOverrun && l.EndedAt.IsZero())
}

// By is how a cover or the timeline names it: "lease #3 by alice".
func (l Lease) By() string { return fmt.Sprintf("lease #%d by %s", l.ID, l.Holder) }

// LeaseRequest asks for a lease. Wait > 0 queues it (a Ticket) when it
// cannot be granted now.
type LeaseRequest struct {
	Target string
	Holder string // the token's or person's name, never what the request says
	Reason string
	For    time.Duration
	Wait   time.Duration
}

// Ticket is a request waiting for its lease, served first come first
// served per group. It lives while its client polls (TicketTTL).
type Ticket struct {
	ID      int64        `json:"ticket"`
	Request LeaseRequest `json:"-"`
	// State is "waiting", "granted" or "refused" (the wait ran out).
	State string `json:"state"`
	Why   string `json:"why,omitempty"`
	Rule  string `json:"rule,omitempty"`
	Lease *Lease `json:"lease,omitempty"`
	// Target, Holder and Until say who waits for what, until when.
	Target string    `json:"target"`
	Holder string    `json:"holder"`
	Until  time.Time `json:"until"`
	polled time.Time
}

// TicketTTL is how long a ticket lives without a poll: a script that
// died must not be granted a lease.
const TicketTTL = 30 * time.Second

// errNoLeases is the refusal when [leases] allow is empty.
var errNoLeases = &Refusal{Rule: "off", Msg: `refused: maintenance leases are off; add [leases] allow = ["TOKEN"] to the config (api_token names that may take leases) and reload`}

// Lease grants req now, or refuses it with a *Refusal, or, with
// req.Wait > 0 and a refusal that waiting may cure, queues it and
// returns a ticket (lease nil).
func (d *Desk) Lease(ctx context.Context, req LeaseRequest) (*Lease, *Ticket, error) {
	cfg := d.config()
	req.Target = canonical(cfg, req.Target)
	d.event(ctx, "lease.requested", req.Target, req.Holder, fmt.Sprintf("for %s: %s%s", req.For, req.Reason, waitWords(req.Wait)))
	d.mu.Lock()
	ref := d.grantable(cfg, req, 0)
	if ref == nil {
		l, err := d.grant(ctx, req)
		d.mu.Unlock()
		return l, nil, err
	}
	if req.Wait <= 0 || !curable(ref.Rule) {
		d.mu.Unlock()
		d.refused(ctx, req, ref.Msg)
		return nil, nil, ref
	}
	now := d.o.Clock.Now()
	t := &Ticket{ID: d.nextTicket(), Request: req, State: "waiting", Why: ref.Msg, Rule: ref.Rule,
		Target: req.Target, Holder: req.Holder, Until: now.Add(req.Wait), polled: now}
	d.tickets = append(d.tickets, t)
	c := *t
	d.mu.Unlock()
	d.count("queued")
	d.event(ctx, "lease.queued", req.Target, req.Holder, fmt.Sprintf("ticket %d, waiting up to %s: %s", t.ID, req.Wait, ref.Msg))
	return nil, &c, nil
}

func waitWords(w time.Duration) string {
	if w <= 0 {
		return ""
	}
	return fmt.Sprintf(" (waits up to %s)", w)
}

// curable says whether waiting may change a refusal's answer.
func curable(rule string) bool {
	switch rule {
	case "quorum", "max_concurrent", "lease_requires", "incident", "power", "queue":
		return true
	}
	return false
}

func (d *Desk) nextTicket() int64 {
	if d.ticketSeq == 0 {
		// A random start, so that a client of the previous run polling
		// its old number after a restart gets 404, not another's ticket.
		n, err := rand.Int(rand.Reader, big.NewInt(1<<30))
		if err == nil {
			d.ticketSeq = n.Int64()
		}
	}
	d.ticketSeq++
	return d.ticketSeq
}

// Poll is the ticket's state now, and keeps it alive; false when there
// is no such ticket (dropped, or lost in a restart).
func (d *Desk) Poll(id int64) (Ticket, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, t := range d.tickets {
		if t.ID == id {
			t.polled = d.o.Clock.Now()
			return *t, true
		}
	}
	return Ticket{}, false
}

// Tickets are the requests waiting now, oldest first.
func (d *Desk) Tickets() []Ticket {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []Ticket
	for _, t := range d.tickets {
		if t.State == "waiting" {
			out = append(out, *t)
		}
	}
	return out
}

// Leases are the leases standing now (held, or overrun and not back).
// It reads the snapshot, never d.mu: the engine asks (its covers) inside
// a write transaction, while the lease loop may hold d.mu and wait to
// write.
func (d *Desk) Leases() []Lease {
	if s := d.standing.Load(); s != nil {
		return slices.Clone(*s)
	}
	return nil
}

// leased is the active lease on target, if any. Called with d.mu held.
func (d *Desk) leased(target string) *Lease {
	for i := range d.leases {
		if d.leases[i].Target == target {
			return &d.leases[i]
		}
	}
	return nil
}

// state is what the guard sees: a leased host counts as down, so a power
// action or automated step never spends the quorum a lease holds.
// It reads a snapshot, not d.mu: the guard asks with its own lock held,
// and the lease rules ask the guard (Busy) with d.mu held.
func (d *Desk) state(target string) string {
	if m := d.leasedNow.Load(); m != nil && (*m)[target] {
		return "down"
	}
	return d.o.State(target)
}

// publish makes the snapshots that state and Leases read. Called with
// d.mu held, after each change of d.leases.
func (d *Desk) publish() {
	m := map[string]bool{}
	for _, l := range d.leases {
		m[l.Target] = true
	}
	d.leasedNow.Store(&m)
	ls := slices.Clone(d.leases)
	d.standing.Store(&ls)
}

// grantable applies the grant rules in order; the first that refuses
// explains. ticket is the id of the ticket asking (0: a direct request),
// for first come first served. Called with d.mu held.
func (d *Desk) grantable(cfg *Config, req LeaseRequest, ticket int64) *Refusal {
	lc := cfg.Leases
	if !lc.On() {
		return errNoLeases
	}
	if !slices.Contains(lc.Allow, req.Holder) {
		return &Refusal{Rule: "allow", Msg: fmt.Sprintf("refused: token %s may not take leases: add it to [leases] allow", quoteName(req.Holder))}
	}
	if cfg.host(req.Target) == nil {
		msg := fmt.Sprintf("refused: no host %q in the config", req.Target)
		if f := cfg.folded(req.Target); len(f) > 0 {
			msg += "; did you mean " + strings.Join(f, " or ") + "?"
		} else {
			msg += "; lease a [[target]] by its name"
		}
		return &Refusal{Rule: "target", Msg: msg}
	}
	if req.For <= 0 {
		return &Refusal{Rule: "for", Msg: "refused: a lease needs a duration (--for 20m)"}
	}
	if max := lc.MaxFor.Duration; req.For > max {
		return &Refusal{Rule: "max_for", Msg: fmt.Sprintf("refused: %s is longer than the longest lease ([leases] max_for = %s); ask for at most %s, or raise max_for", req.For, max, max)}
	}
	host := req.Target
	if l := d.leased(host); l != nil {
		return &Refusal{Rule: "held", Msg: fmt.Sprintf("refused: %s is already leased (%s until %s UTC, %s); extend or release that one", host, l.By(), hhmm(l.EndsAt), l.State)}
	}
	groups := groupsOf(cfg, host)
	if on, _, busy := d.guard.Busy(); busy && (on.Host == host || inAny(groups, on.Host)) {
		return &Refusal{Rule: "power", Msg: fmt.Sprintf("refused: %s %s by %s is running in %s's group; no lease while a power action runs there", on.Action, on.Host, on.By, host)}
	}
	if n := len(d.leases); n >= lc.MaxConcurrent {
		return &Refusal{Rule: "max_concurrent", Msg: fmt.Sprintf("refused: %d %s held site-wide ([leases] max_concurrent = %d): %s; wait for %s to end",
			n, plural(n, "lease"), lc.MaxConcurrent, d.holding(d.leases), itThem(n))}
	}
	for _, g := range groups {
		var in []Lease
		for _, l := range d.leases {
			if slices.Contains(g.Members(), l.Target) {
				in = append(in, l)
			}
		}
		if max := max(g.MaxConcurrent, 1); len(in) >= max {
			return &Refusal{Rule: "max_concurrent", Msg: fmt.Sprintf("refused: group %s has %d %s held (max_concurrent = %d): %s; wait for %s to end",
				g.Name, len(in), plural(len(in), "lease"), max, d.holding(in), itThem(len(in)))}
		}
		members := g.Members()
		need := g.Need()
		var away []string
		left := 0
		for _, m := range members {
			if m == host {
				continue
			}
			switch st := d.o.State(m); {
			case d.leased(m) != nil:
				away = append(away, m+" is leased")
			case st == "up":
				left++
			case st == "down":
				away = append(away, m+" is down")
			default:
				away = append(away, m+" is not known to be up yet")
			}
		}
		if left < need {
			kind := "group"
			if g.Quorum {
				kind = "quorum group"
			}
			why := "it is needed"
			if len(away) > 0 {
				why = andList(away)
			}
			return &Refusal{Rule: "quorum", Msg: fmt.Sprintf("refused: %s %s needs %d of %d up; %s, so %s may not go down too",
				kind, g.Name, need, len(members), why, host)}
		}
		for _, r := range g.LeaseRequires {
			switch st := d.o.State(r); st {
			case "up":
			case "down":
				return &Refusal{Rule: "lease_requires", Msg: fmt.Sprintf("refused: %s (lease_requires of group %s) is not OK; %s may go down only once it is", r, g.Name, host)}
			default:
				return &Refusal{Rule: "lease_requires", Msg: fmt.Sprintf("refused: %s (lease_requires of group %s) is not probed yet; wait for its first result", r, g.Name)}
			}
		}
		if d.o.Critical != nil {
			if what, open := d.o.Critical(append([]string{g.Name}, members...)); open {
				return &Refusal{Rule: "incident", Msg: fmt.Sprintf("refused: a critical incident is open in group %s (%s); resolve it first", g.Name, what)}
			}
		}
	}
	// First come, first served: an older ticket for the same group goes
	// before this request, even if this one could be granted.
	for _, t := range d.tickets {
		if t.State != "waiting" || t.ID == ticket {
			continue
		}
		if ticket != 0 && t.ID > ticket {
			break
		}
		if t.Target == host || inAny(groups, t.Target) {
			return &Refusal{Rule: "queue", Msg: fmt.Sprintf("refused: ticket %d (%s for %s) waits before this request; first come, first served", t.ID, t.Target, t.Holder)}
		}
	}
	return nil
}

// grant records a lease for req. Called with d.mu held.
func (d *Desk) grant(ctx context.Context, req LeaseRequest) (*Lease, error) {
	now := d.now()
	l := Lease{Target: req.Target, Holder: req.Holder, Reason: req.Reason, GrantedAt: now, EndsAt: now.Add(req.For), State: LeaseHeld}
	if d.o.DB == nil {
		return nil, fmt.Errorf("power: no store for leases: not granted (a lease must survive a restart)")
	}
	res, err := d.o.DB.ExecContext(context.WithoutCancel(ctx), `INSERT INTO leases (target, holder, reason, granted_at, ends_at, state) VALUES (?, ?, ?, ?, ?, ?)`,
		l.Target, l.Holder, l.Reason, l.GrantedAt.UnixMilli(), l.EndsAt.UnixMilli(), l.State)
	if err != nil {
		return nil, fmt.Errorf("power: recording a lease for %s: %w; not granted, try again", l.Target, err)
	}
	l.ID, _ = res.LastInsertId()
	d.leases = append(d.leases, l)
	d.publish()
	d.count("granted")
	d.event(ctx, "lease.granted", l.Target, l.Holder, fmt.Sprintf("%s until %s UTC: %s", l.By(), hhmm(l.EndsAt), l.Reason))
	return &l, nil
}

func (d *Desk) refused(ctx context.Context, req LeaseRequest, msg string) {
	d.count("refused")
	d.event(ctx, "lease.refused", req.Target, req.Holder, msg)
}

func (d *Desk) count(result string) {
	if d.o.Counted != nil {
		d.o.Counted(result)
	}
}

// Release gives lease id back early. Only its holder may.
func (d *Desk) Release(ctx context.Context, id int64, by string) (Lease, error) {
	d.mu.Lock()
	l, err := d.own(id, by)
	if err != nil {
		d.mu.Unlock()
		return Lease{}, err
	}
	out := *l
	was := out.State
	if was == LeaseHeld {
		out.State = LeaseReleased
	}
	out.EndedAt = d.now()
	out.Detail = strings.TrimPrefix(out.Detail+"; released by "+by, "; ")
	if err := d.save(ctx, out); err != nil {
		d.mu.Unlock()
		return Lease{}, err // still held: memory and store agree
	}
	d.drop(id)
	d.mu.Unlock()
	// The page of an overrun is resolved outside d.mu: the engine may ask
	// for covers meanwhile.
	d.event(ctx, "lease.released", out.Target, by, out.By()+" released early")
	if was == LeaseOverrun && d.o.Overrun != nil {
		d.o.Overrun(ctx, out, "", false)
	}
	return out, nil
}

// Extend adds dur to lease id, once. Only its holder may.
func (d *Desk) Extend(ctx context.Context, id int64, by string, dur time.Duration) (Lease, error) {
	cfg := d.config()
	d.mu.Lock()
	defer d.mu.Unlock()
	l, err := d.own(id, by)
	if err != nil {
		return Lease{}, err
	}
	switch {
	case l.State != LeaseHeld:
		return Lease{}, &Refusal{Rule: "extend", Msg: fmt.Sprintf("refused: %s has overrun already; release it when %s is back", l.By(), l.Target)}
	case l.Extended:
		return Lease{}, &Refusal{Rule: "extend", Msg: fmt.Sprintf("refused: %s was already extended once; release it and ask for a new lease", l.By())}
	case dur <= 0:
		return Lease{}, &Refusal{Rule: "for", Msg: "refused: an extension needs a duration (--for 10m)"}
	case dur > cfg.Leases.MaxFor.Duration:
		return Lease{}, &Refusal{Rule: "max_for", Msg: fmt.Sprintf("refused: %s is longer than the longest lease ([leases] max_for = %s)", dur, cfg.Leases.MaxFor.Duration)}
	}
	n := *l
	n.EndsAt, n.Extended = n.EndsAt.Add(dur), true
	if err := d.save(ctx, n); err != nil {
		return Lease{}, err // not extended: memory and store agree
	}
	*l = n
	d.publish()
	d.event(ctx, "lease.extended", l.Target, by, fmt.Sprintf("%s extended by %s, until %s UTC", l.By(), dur, hhmm(l.EndsAt)))
	return *l, nil
}

// own is the active lease id held by by. Called with d.mu held.
func (d *Desk) own(id int64, by string) (*Lease, error) {
	for i := range d.leases {
		l := &d.leases[i]
		if l.ID != id {
			continue
		}
		if l.Holder != by {
			return nil, &Refusal{Rule: "holder", Msg: fmt.Sprintf("refused: %s is %s's; only its holder may change it", l.By(), l.Holder)}
		}
		return l, nil
	}
	return nil, &Refusal{Rule: "unknown", Msg: fmt.Sprintf("refused: no lease #%d is held now (foghorn lease list shows those that are)", id)}
}

func (d *Desk) drop(id int64) {
	d.leases = slices.DeleteFunc(d.leases, func(l Lease) bool { return l.ID == id })
	d.publish()
}

func (d *Desk) save(ctx context.Context, l Lease) error {
	if d.o.DB == nil {
		return fmt.Errorf("power: no store for leases")
	}
	ext := 0
	if l.Extended {
		ext = 1
	}
	_, err := d.o.DB.ExecContext(context.WithoutCancel(ctx), `UPDATE leases SET ends_at = ?, extended = ?, state = ?, down_at = ?, ended_at = ?, detail = ? WHERE id = ?`,
		l.EndsAt.UnixMilli(), ext, l.State, ms(l.DownAt), ms(l.EndedAt), l.Detail, l.ID)
	if err != nil {
		return fmt.Errorf("power: recording lease #%d: %w", l.ID, err)
	}
	return nil
}

// now is the time as the leases table keeps it, to the millisecond: a
// lease reads the same before and after a restart.
func (d *Desk) now() time.Time { return d.o.Clock.Now().UTC().Truncate(time.Millisecond) }

func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func unms(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}

// Resume loads the leases standing from the store: after a restart the
// lease loop goes on where it was.
func (d *Desk) Resume(ctx context.Context) error {
	if d.o.DB == nil {
		return nil
	}
	rows, err := d.o.DB.QueryContext(ctx, `SELECT id, target, holder, reason, granted_at, ends_at, extended, state, down_at, ended_at, detail
		FROM leases WHERE state = 'held' OR (state = 'overrun' AND ended_at = 0) ORDER BY id`)
	if err != nil {
		return fmt.Errorf("power: reading leases: %w", err)
	}
	defer rows.Close()
	var ls []Lease
	for rows.Next() {
		var l Lease
		var granted, ends, down, ended int64
		var ext int
		if err := rows.Scan(&l.ID, &l.Target, &l.Holder, &l.Reason, &granted, &ends, &ext, &l.State, &down, &ended, &l.Detail); err != nil {
			return fmt.Errorf("power: reading leases: %w", err)
		}
		l.GrantedAt, l.EndsAt, l.DownAt, l.EndedAt, l.Extended = unms(granted), unms(ends), unms(down), unms(ended), ext == 1
		ls = append(ls, l)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("power: reading leases: %w", err)
	}
	d.mu.Lock()
	d.leases = ls
	d.publish()
	d.mu.Unlock()
	return nil
}

// RunLeases drives the leases and tickets every tick until ctx ends.
func (d *Desk) RunLeases(ctx context.Context, every time.Duration) {
	for {
		d.Tick(ctx)
		select {
		case <-ctx.Done():
			return
		case <-d.stop:
			return
		case <-d.o.Clock.After(every):
		}
	}
}

// Tick moves every lease and ticket on by what is known now: a leased
// host seen down is recorded, one back ends its lease, one not back by
// the end overruns (paged once); tickets not polled are dropped, those
// out of time refused, and the others served in order.
func (d *Desk) Tick(ctx context.Context) {
	cfg := d.config()
	now := d.now()
	type told struct {
		kind, subject, actor, detail string
		page                         *Lease
		text                         string
		firing                       bool
	}
	var out []told
	d.mu.Lock()
	for i := range d.leases {
		l := &d.leases[i]
		st := d.o.State(l.Target)
		changed := false
		switch {
		case l.State == LeaseOverrun:
			if st == "up" {
				l.EndedAt = now
				l.Detail += fmt.Sprintf("; back at %s UTC", hhmm(now))
				changed = true
				c := *l
				out = append(out, told{kind: "lease.back", subject: l.Target, actor: "power", detail: fmt.Sprintf("%s back after its lease overran (%s)", l.Target, l.By()), page: &c})
			}
		case st == "down" && l.DownAt.IsZero():
			l.DownAt = now
			changed = true
			out = append(out, told{kind: "lease.down", subject: l.Target, actor: "power", detail: fmt.Sprintf("%s down as expected (%s)", l.Target, l.By())})
		case st == "up" && !l.DownAt.IsZero():
			l.State, l.EndedAt = LeaseEnded, now
			l.Detail = fmt.Sprintf("%s back after %s", l.Target, now.Sub(l.DownAt).Round(time.Second))
			changed = true
			out = append(out, told{kind: "lease.ended", subject: l.Target, actor: "power", detail: l.Detail + " (" + l.By() + ")"})
		case !now.Before(l.EndsAt) && st == "up":
			l.State, l.EndedAt = LeaseEnded, now
			l.Detail = fmt.Sprintf("lease ended; %s stayed up", l.Target)
			changed = true
			out = append(out, told{kind: "lease.ended", subject: l.Target, actor: "power", detail: l.Detail + " (" + l.By() + ")"})
		case !now.Before(l.EndsAt):
			l.State = LeaseOverrun
			why := "lease by " + l.Holder
			if l.Reason != "" {
				why += ", " + l.Reason
			}
			l.Detail = fmt.Sprintf("%s did not come back from maintenance (%s, ended %s)", l.Target, why, hhmm(l.EndsAt))
			changed = true
			c := *l
			out = append(out, told{kind: "lease.overrun", subject: l.Target, actor: "power", detail: l.Detail, page: &c, text: l.Detail, firing: true})
		}
		if changed {
			if err := d.save(ctx, *l); err != nil {
				d.o.Log.Error("cannot record a lease's change", "lease", l.ID, "err", err)
			}
		}
	}
	d.leases = slices.DeleteFunc(d.leases, func(l Lease) bool { return !l.Active() })
	d.publish()

	// Tickets: dropped when not polled, refused when out of time, else
	// served oldest first.
	var keep []*Ticket
	for _, t := range d.tickets {
		switch {
		case t.State != "waiting":
			if now.Sub(t.polled) < TicketTTL {
				keep = append(keep, t) // its client has yet to read the answer
			}
			continue
		case now.Sub(t.polled) >= TicketTTL:
			out = append(out, told{kind: "lease.dropped", subject: t.Target, actor: t.Holder, detail: fmt.Sprintf("ticket %d dropped: not polled for %s (the script waiting for it is gone)", t.ID, TicketTTL)})
			continue
		case !now.Before(t.Until):
			t.State, t.Why = "refused", fmt.Sprintf("the wait of %s ran out: %s", t.Request.Wait, t.Why)
			d.count("refused")
			out = append(out, told{kind: "lease.refused", subject: t.Target, actor: t.Holder, detail: "ticket " + fmt.Sprint(t.ID) + ": " + t.Why})
		}
		keep = append(keep, t)
	}
	d.tickets = keep
	for _, t := range d.tickets {
		if t.State != "waiting" {
			continue
		}
		ref := d.grantable(cfg, t.Request, t.ID)
		if ref != nil {
			t.Why, t.Rule = ref.Msg, ref.Rule
			continue
		}
		l, err := d.grant(ctx, t.Request)
		if err != nil {
			t.Why, t.Rule = err.Error(), "store"
			continue
		}
		t.State, t.Lease, t.Why, t.Rule = "granted", l, "", ""
	}
	d.mu.Unlock()
	for _, o := range out {
		d.event(ctx, o.kind, o.subject, o.actor, o.detail)
		if o.page != nil && d.o.Overrun != nil {
			d.o.Overrun(ctx, *o.page, o.text, o.firing)
		}
		if o.kind == "lease.ended" || o.kind == "lease.overrun" {
			d.o.Log.Info("lease "+strings.TrimPrefix(o.kind, "lease."), "target", o.subject, "detail", o.detail)
		}
	}
}

// holding says who holds ls: "pve1 (lease #3 by alice until 03:20 UTC)".
func (d *Desk) holding(ls []Lease) string {
	var s []string
	for _, l := range ls {
		s = append(s, fmt.Sprintf("%s (%s until %s UTC)", l.Target, l.By(), hhmm(l.EndsAt)))
	}
	return andList(s)
}

func groupsOf(cfg *Config, host string) []*configs.Group {
	var out []*configs.Group
	for i := range cfg.Groups {
		if slices.Contains(cfg.Groups[i].Members(), host) {
			out = append(out, &cfg.Groups[i])
		}
	}
	return out
}

func inAny(gs []*configs.Group, host string) bool {
	for _, g := range gs {
		if slices.Contains(g.Members(), host) {
			return true
		}
	}
	return false
}

func hhmm(t time.Time) string { return t.UTC().Format("15:04") }

func plural(n int, s string) string {
	if n == 1 {
		return s
	}
	return s + "s"
}

func itThem(n int) string {
	if n == 1 {
		return "it"
	}
	return "one"
}

func quoteName(s string) string {
	if s == "" {
		return "(unnamed)"
	}
	return s
}
