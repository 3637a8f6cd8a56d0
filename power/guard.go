// Package power is where people and automation ask for BMC power actions:
// the Guard (who may, quorum kept, one at a time, rate limits, every
// attempt in the audit trail), confirmation codes held per phone, finding
// the host and BMC a name stands for, where a host stands in its groups,
// and the automated policy step. It knows nothing of Twilio or SMS: its
// refusals are plain sentences, and the pager words the replies. It does
// not talk to BMCs itself either: a BMC (cmd adapts the ipmi pool) does.
package power

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"foghorn/clock"
	"foghorn/configs"
)

// Recorder appends to the audit trail; *store.DB is one.
type Recorder interface {
	Event(ctx context.Context, kind, subject, actor, detail string) error
}

// Chassis is the power state a BMC reported.
type Chassis struct {
	On bool
	// Faults the BMC reports now ("power fault", "cooling fault").
	Faults []string
}

// Outcome is what a power action did, as read back from the BMC.
type Outcome struct {
	Action configs.PowerAction
	Before Chassis
	After  Chassis
	// Confirmed says the chassis was seen in the state the action aims at
	// (for cycle: off, then on again).
	Confirmed bool
	Took      time.Duration
	// Text says it in a few words: "cycled: off, then on after 1.1s".
	Text string
}

// BMC does a power action through the BMC target bmc (an ipmi target of
// the config) and reads the result back; cmd adapts *ipmi.Pool to it.
type BMC interface {
	Power(ctx context.Context, bmc *configs.Target, a configs.PowerAction) (Outcome, error)
}

// Request is someone, or something, asking for a power action.
type Request struct {
	// Target is the host ("pve2") or its BMC's target ("pve2-bmc").
	Target string
	Action configs.PowerAction
	// By is the person's name, or for automation what asked ("policy:ops").
	By        string
	Automated bool
	// Force asks to go past the quorum guard; it works only when
	// [power] allow_force is true, and never for automation.
	Force bool
	// Via says where the request came from ("sms", "web", "api",
	// "policy"), for the audit trail.
	Via string
}

// Refusal is a request the Guard refused. Its Error is one sentence
// naming the rule and what to do; it names no SMS command (the pager
// adds those, e.g. for Forceable).
type Refusal struct {
	// Rule is the rule that refused: "action", "target", "disabled",
	// "automated", "allow", "bmc", "quorum", "busy", "per_host_per_hour",
	// "per_site_per_hour"; the automated step adds "host" and "audit".
	Rule string
	Msg  string
	// Forceable says that the same request with Force would pass.
	Forceable bool
}

func (r *Refusal) Error() string { return r.Msg }

// GuardOptions are what a Guard needs besides the config.
type GuardOptions struct {
	BMC      BMC
	Recorder Recorder
	// State tells what is known of a target now: "up", "down", or
	// anything else for not known yet (probes.State fits). For the quorum
	// guard, other members count only when "up", and the host acted on
	// counts as up unless "down": both ways err on the side of refusing.
	// Nil says "up" for every target.
	State func(target string) string
	// BMCState tells of a BMC target whether it answers: "down" when it
	// has not answered its probe (not when it answers and reports a
	// fault: that is the host's trouble, and power may be the cure); a
	// BMC that is down refuses power actions through it at once. Nil
	// knows nothing and refuses nothing.
	BMCState func(bmc string) string
	// Clock is the clock for rate limits; nil is the real one.
	Clock clock.Clock
}

// Guard is the seatbelt around power actions: enabled, allowed people
// only, automation only when configured, the BMC answering, quorum kept,
// one action at a time site-wide, and at most so many per host and per
// site in any hour. Every attempt is recorded in the audit trail.
type Guard struct {
	o GuardOptions

	mu      sync.Mutex
	cfg     *Config
	running *running
	idle    chan struct{} // closed when running ends
	done    []done        // actions started, oldest first, for rate limits
	sh      *Shared       // the claims shared with the cluster's other nodes; nil alone
}

type running struct {
	req   Request
	host  string
	start time.Time
	claim string // its claim in the shared state, if shared
}

// Ongoing is the power action going on now, as a refusal or a waiting
// step tells it.
type Ongoing struct {
	Action configs.PowerAction
	Host   string
	By     string
	Since  time.Time
	// Node is the cluster node doing it; "" for this one.
	Node string
}

type done struct {
	host string
	at   time.Time
}

// NewGuard makes a guard for cfg.
func NewGuard(cfg Config, o GuardOptions) *Guard {
	o.Clock = clock.Or(o.Clock)
	if o.State == nil {
		o.State = func(string) string { return "up" }
	}
	return &Guard{o: o, cfg: &cfg}
}

// Update follows a config reload; rate-limit history is kept.
func (g *Guard) Update(cfg Config) {
	g.mu.Lock()
	g.cfg = &cfg
	g.mu.Unlock()
}

// Remember counts an action done at a time, for rate limits: the history
// lives in memory, so the caller can replay the audit trail at start
// (Desk.Remember does).
func (g *Guard) Remember(host string, at time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.done = append(g.done, done{host, at})
	slices.SortFunc(g.done, func(a, b done) int { return a.at.Compare(b.at) })
}

// Busy says what power action is running now, if one is, and gives a
// channel closed when it ends.
func (g *Guard) Busy() (Ongoing, <-chan struct{}, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	r := g.running
	if r == nil {
		if g.sh == nil {
			return Ongoing{}, nil, false
		}
		// The peer's action: the channel closes at the next change of
		// its claims (a claim whose node went silent ends at its bound,
		// which a waiting step's last try sees).
		ch := g.sh.changes()
		if flying, _ := g.sh.others(g.o.Clock.Now(), time.Time{}); len(flying) > 0 {
			c := flying[0]
			return Ongoing{Action: c.Action, Host: c.Host, By: c.By, Since: c.At, Node: c.Node}, ch, true
		}
		return Ongoing{}, nil, false
	}
	return Ongoing{Action: r.req.Action, Host: r.host, By: actor(r.req), Since: r.start}, g.idle, true
}

// plan is a request resolved against the config.
type plan struct {
	host string          // the host target's name (for groups and limits)
	bmc  *configs.Target // the ipmi target that reaches it
	note string          // for the audit trail, e.g. forced past quorum
}

// Check says whether req would be allowed now, without doing it: the
// desk calls it before sending a confirmation code, and Execute checks
// again after. A refusal is recorded in the audit trail and returned as
// a *Refusal; an allowed check records nothing.
func (g *Guard) Check(ctx context.Context, req Request) error {
	g.mu.Lock()
	p, ref := g.check(req)
	g.mu.Unlock()
	if ref != nil {
		g.record(ctx, "power.refused", req, p.host, ref.Msg)
		return ref
	}
	return nil
}

// started is an allowed action, counted and recorded, not done yet.
type started struct {
	g    *Guard
	req  Request
	p    plan
	what string
}

// Execute checks req and, if allowed, does it and reads the result back.
// Refusals are *Refusal errors; an allowed action is recorded before the
// BMC is touched ("power.allowed") and after ("power.done" or
// "power.failed"). If the audit trail cannot be written, nothing is done.
func (g *Guard) Execute(ctx context.Context, req Request) (Outcome, error) {
	s, err := g.start(ctx, req, true)
	if err != nil {
		return Outcome{Action: req.Action}, err
	}
	return s.run(ctx)
}

// start is the decision half of Execute: checked, counted, marked
// running and recorded as allowed, so that whoever asked can say what
// was decided before the BMC is touched. recordBusy false leaves a busy
// refusal out of the audit trail (the caller waits and tries again).
func (g *Guard) start(ctx context.Context, req Request, recordBusy bool) (*started, error) {
	g.mu.Lock()
	p, ref := g.check(req)
	if ref != nil {
		g.mu.Unlock()
		if ref.Rule != "busy" || recordBusy {
			g.record(ctx, "power.refused", req, p.host, ref.Msg)
		}
		return nil, ref
	}
	now := g.o.Clock.Now()
	sh := g.sh
	var run *running
	if req.Action != configs.PowerStatus {
		run = &running{req: req, host: p.host, start: now}
		g.running = run
		g.idle = make(chan struct{})
		g.done = append(g.done, done{p.host, now})
	}
	g.mu.Unlock()
	s := &started{g: g, req: req, p: p, what: string(req.Action) + " " + p.host}
	if p.note != "" {
		s.what += " (" + p.note + ")"
	}
	if req.Action == configs.PowerStatus {
		return s, nil
	}
	if sh != nil {
		c, first := sh.claim(ctx, req, p.host)
		g.mu.Lock()
		run.claim = c.ID
		g.mu.Unlock()
		if first != nil {
			g.unstart(now)
			ref := lostTo(req, *first)
			if ref.Rule != "busy" || recordBusy {
				g.record(ctx, "power.refused", req, p.host, ref.Msg)
			}
			return nil, ref
		}
	}
	var err error
	if g.o.Recorder == nil {
		err = fmt.Errorf("not done: no audit trail configured; power actions need it")
	} else if e := g.o.Recorder.Event(ctx, "power.allowed", p.host, actor(req), s.what+via(req)); e != nil {
		err = fmt.Errorf("not done: cannot write the audit trail (%v); power actions need it", e)
	}
	if err != nil {
		g.unstart(now)
		return nil, err
	}
	return s, nil
}

// finish ends the running action: the next may start.
func (g *Guard) finish() {
	g.mu.Lock()
	var claim string
	if g.running != nil {
		claim = g.running.claim
	}
	g.running = nil
	if g.idle != nil {
		close(g.idle)
		g.idle = nil
	}
	sh := g.sh
	g.mu.Unlock()
	if sh != nil && claim != "" {
		sh.end(claim)
	}
}

// unstart takes back an action started at that was not done after all
// (another node's claim came first, or the audit trail failed): it ends,
// counts nowhere, and its claim is withdrawn.
func (g *Guard) unstart(at time.Time) {
	g.mu.Lock()
	var claim string
	if g.running != nil {
		claim, g.running.claim = g.running.claim, ""
		host := g.running.host
		if i := slices.IndexFunc(g.done, func(d done) bool { return d.host == host && d.at.Equal(at) }); i >= 0 {
			g.done = slices.Delete(g.done, i, i+1)
		}
	}
	sh := g.sh
	g.mu.Unlock()
	if sh != nil && claim != "" {
		sh.withdraw(claim)
	}
	g.finish()
}

// run does a started action at the BMC and records how it went.
func (s *started) run(ctx context.Context) (Outcome, error) {
	g, req, p := s.g, s.req, s.p
	if req.Action != configs.PowerStatus {
		defer g.finish()
	}
	if g.o.BMC == nil {
		err := fmt.Errorf("not done: no BMC client")
		g.record(ctx, "power.failed", req, p.host, s.what+": "+err.Error())
		return Outcome{Action: req.Action}, err
	}
	out, err := g.o.BMC.Power(ctx, p.bmc, req.Action)
	if err != nil {
		g.record(ctx, "power.failed", req, p.host, s.what+": "+err.Error())
		return Outcome{Action: req.Action}, err
	}
	kind := "power.done"
	if req.Action == configs.PowerStatus {
		kind = "power.status"
	}
	g.record(ctx, kind, req, p.host, s.what+": "+out.Text)
	return out, nil
}

func (g *Guard) record(ctx context.Context, kind string, req Request, subject, detail string) {
	if g.o.Recorder == nil {
		return
	}
	// Best effort for refusals and results: the refusal or outcome must
	// still reach the person even if the disk is full.
	g.o.Recorder.Event(context.WithoutCancel(ctx), kind, subject, actor(req), detail+via(req))
}

func actor(req Request) string {
	if req.By == "" {
		return "automation"
	}
	return req.By
}

func via(req Request) string {
	if req.Via == "" {
		return ""
	}
	return " via " + req.Via
}

// check applies the rules in order; the first that refuses explains.
// Called with g.mu held.
func (g *Guard) check(req Request) (plan, *Refusal) {
	cfg, pw := g.cfg, g.cfg.Power
	p, ref := resolve(cfg, req.Target)
	if ref != nil {
		return p, ref
	}
	switch req.Action {
	case configs.PowerStatus:
		// Reading power state changes nothing: no limits; the pager only
		// takes commands from known people anyway.
		return p, nil
	case configs.PowerOn, configs.PowerOff, configs.PowerSoft, configs.PowerReset, configs.PowerCycle:
	default:
		return p, &Refusal{Rule: "action", Msg: fmt.Sprintf("refused: unknown power action %q; use status, on, off, soft, reset or cycle", req.Action)}
	}
	verb := fmt.Sprintf("%s %s", req.Action, p.host)
	if !pw.Enabled {
		return p, &Refusal{Rule: "disabled", Msg: fmt.Sprintf("refused: power actions are off ([power] enabled = false); %s by hand, or enable them in the config", verb)}
	}
	if req.Automated && !pw.Automated {
		return p, &Refusal{Rule: "automated", Msg: fmt.Sprintf("refused: automated power actions are off ([power] automated = false); a person must ask to %s", verb)}
	}
	if !req.Automated && !slices.Contains(pw.Allow, req.By) {
		who := req.By
		if who == "" {
			who = "an unnamed requester"
		}
		return p, &Refusal{Rule: "allow", Msg: fmt.Sprintf("refused: %s may not ask for power actions; add them to [power] allow, or ask someone listed there", who)}
	}
	// A BMC its probe sees down would only time out: say so at once,
	// before anyone waits for a code or a result.
	if g.o.BMCState != nil && g.o.BMCState(p.bmc.Name) == "down" {
		return p, &Refusal{Rule: "bmc", Msg: fmt.Sprintf("refused: %s's BMC (%s) is not answering its probe; nothing can reach %s's power until it answers. Check the BMC's network and power, or act on site", p.host, p.bmc.Name, p.host)}
	}
	if req.Action.Disruptive() {
		if ref := g.quorum(cfg, req, &p); ref != nil {
			return p, ref
		}
	}
	now := g.o.Clock.Now()
	if r := g.running; r != nil {
		msg := fmt.Sprintf("refused: %s %s by %s is still running (started %s ago); one power action at a time",
			r.req.Action, r.host, actor(r.req), now.Sub(r.start).Round(time.Second))
		if !req.Automated {
			msg += ": try again when it ends"
		}
		return p, &Refusal{Rule: "busy", Msg: msg}
	}
	hour := now.Add(-time.Hour)
	g.done = slices.DeleteFunc(g.done, func(d done) bool { return !d.at.After(hour) })
	all := g.done
	if g.sh != nil {
		flying, went := g.sh.others(now, hour)
		if len(flying) > 0 {
			c := flying[0]
			msg := fmt.Sprintf("refused: %s %s by %s from %s is still running (started %s ago); one power action at a time across the cluster",
				c.Action, c.Host, c.By, fromPeer(c.Node), now.Sub(c.At).Round(time.Second))
			if !req.Automated {
				msg += ": try again when it ends"
			}
			return p, &Refusal{Rule: "busy", Msg: msg}
		}
		// The peers' actions count in the limits as this node's do.
		all = append(slices.Clone(g.done), went...)
		slices.SortFunc(all, func(a, b done) int { return a.at.Compare(b.at) })
	}
	var host []done
	for _, d := range all {
		if d.host == p.host {
			host = append(host, d)
		}
	}
	if pw.PerHostPerHour > 0 && len(host) >= pw.PerHostPerHour {
		next := host[len(host)-pw.PerHostPerHour].at.Add(time.Hour)
		return p, &Refusal{Rule: "per_host_per_hour", Msg: fmt.Sprintf("refused: %s had %d power actions in the last hour (per_host_per_hour = %d); next possible at %s UTC, or raise the limit",
			p.host, len(host), pw.PerHostPerHour, next.UTC().Format("15:04"))}
	}
	if pw.PerSitePerHour > 0 && len(all) >= pw.PerSitePerHour {
		next := all[len(all)-pw.PerSitePerHour].at.Add(time.Hour)
		return p, &Refusal{Rule: "per_site_per_hour", Msg: fmt.Sprintf("refused: %d power actions site-wide in the last hour (per_site_per_hour = %d); next possible at %s UTC, or raise the limit",
			len(all), pw.PerSitePerHour, next.UTC().Format("15:04"))}
	}
	return p, nil
}

// quorum refuses an action that would take a quorum group below MinUp,
// counting members already down. Acting on a host that is itself down
// takes nothing away, so it passes (that is how a hung node gets cycled).
func (g *Guard) quorum(cfg *Config, req Request, p *plan) *Refusal {
	if g.o.State(p.host) == "down" {
		return nil
	}
	// A host under another node's action in flight is as good as down.
	acting := map[string]string{}
	if g.sh != nil {
		flying, _ := g.sh.others(g.o.Clock.Now(), time.Time{})
		for _, c := range flying {
			if c.Action.Disruptive() {
				acting[c.Host] = fromPeer(c.Node)
			}
		}
	}
	pw := cfg.Power
	for _, grp := range cfg.Groups {
		members := grp.Members()
		if !grp.Quorum || !slices.Contains(members, p.host) {
			continue
		}
		need := grp.Need()
		var down, unknown, peers []string
		for _, m := range members {
			switch st := g.o.State(m); {
			case m != p.host && acting[m] != "":
				peers = append(peers, m+" ("+acting[m]+")")
			case m == p.host || st == "up":
			case st == "down":
				down = append(down, m)
			default:
				unknown = append(unknown, m)
			}
		}
		left := len(members) - len(down) - len(unknown) - len(peers) - 1
		if left >= need {
			continue
		}
		if req.Force && pw.AllowForce && !req.Automated {
			note := fmt.Sprintf("forced past quorum group %s: %d of %d needed, %d left", grp.Name, need, len(members), left)
			p.note = strings.TrimPrefix(p.note+"; "+note, "; ")
			continue
		}
		msg := fmt.Sprintf("refused: %s is in quorum group %s (%d of %d needed)", p.host, grp.Name, need, len(members))
		if len(peers) > 0 {
			msg += ", " + andList(peers) + " " + isAre(len(peers)) + " under another foghorn's power action now"
		}
		if len(down) > 0 {
			msg += ", " + andList(down) + " " + isAre(len(down)) + " already down"
		}
		if len(unknown) > 0 {
			msg += ", " + andList(unknown) + " " + isAre(len(unknown)) + " not known to be up yet"
		}
		msg += fmt.Sprintf("; %s %s would leave %d.", req.Action.Gerund(), p.host, left)
		ref := &Refusal{Rule: "quorum"}
		switch {
		case req.Automated:
			msg += " Automation cannot force; a person must decide"
		case pw.AllowForce:
			msg += " It may be forced (allowed by config)"
			ref.Forceable = true
		default:
			msg += " Forcing is off ([power] allow_force = false)"
			if away := append(down, unknown...); len(away) > 0 {
				msg += "; bring " + andList(away) + " back first"
			}
		}
		ref.Msg = msg
		return ref
	}
	return nil
}

func andList(xs []string) string {
	if len(xs) < 2 {
		return strings.Join(xs, "")
	}
	return strings.Join(xs[:len(xs)-1], ", ") + " and " + xs[len(xs)-1]
}

func isAre(n int) string {
	if n == 1 {
		return "is"
	}
	return "are"
}
