package pager

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"foghorn/configs"
	"foghorn/escalation"
	"foghorn/ipmi"
)

// Automated power steps. A policy step may say power = "cycle" (or
// "reset"): when that step pages, foghorn also does that to the
// incident's host, once per incident, behind the guard (automated
// requests need [power] automated = true, never FORCE, and obey the same
// limits), and tells the step's people the outcome by SMS.
//
// The escalation engine knows nothing of this: its page intents carry the
// incident and the step that paged, which is all it takes to find the
// step in the policy and the host in the incident's labels ("name").

// PowerSteps is the Notifier to give the escalation engine: it is Notify,
// plus the automated power steps. Pages still go out first and say what
// is being done; the action runs in the background.
//
//	pg, _ := pager.New(cfg, nil, opts)
//	eng := escalation.New(db, cfg, pg.PowerSteps(), eopts)
//	pg.SetPower(guard, pager.PowerOptions{Audit: db, State: board.state})
func (p *Pager) PowerSteps() escalation.Notifier {
	return escalation.NotifierFunc(p.notifyStep)
}

// stepRun is one incident's automated power step.
type stepRun struct {
	incident int64
	short    int
	host     string // the incident's "name" label: "" for a group, a storm, or not from our probes
	action   ipmi.Action
	by       string // "policy:ops"
	step     int    // 0-based
	started  time.Time
	done     bool
	quiet    bool   // done before a restart: nobody is told again
	result   string // the outcome, once done: "pve1 cycled: off, then on after 1.1s; power on"
	told     map[string]bool
	waiting  []contact // paged by the step, to be told when it is done
}

func (p *Pager) notifyStep(ctx context.Context, in escalation.Intent) error {
	if in.Kind == "page" {
		if line := p.powerStep(ctx, in); line != "" {
			in.Detail = line + "\n" + in.Detail
		}
	}
	return p.Notify(ctx, in)
}

// powerStep starts the automated action of the step that paged in (once
// per incident), remembers who to tell the outcome, and returns the line
// the page leads with ("" when the step has no power action).
func (p *Pager) powerStep(ctx context.Context, in escalation.Intent) string {
	cfg := p.state().cfg
	if !anyPowerStep(cfg, in.Step) {
		return ""
	}
	eng := p.engine()
	if eng == nil {
		return ""
	}
	inc, err := eng.Get(ctx, in.Incident)
	if err != nil || inc.State != escalation.Triggered {
		return ""
	}
	pol := cfg.Policy(inc.Policy)
	if pol == nil {
		pol = cfg.Policy(cfg.Escalation.DefaultPolicy)
	}
	if pol == nil || in.Step < 0 || in.Step >= len(pol.Steps) || pol.Steps[in.Step].Power == "" {
		return ""
	}
	act := ipmi.Action(pol.Steps[in.Step].Power)
	if g, _ := p.powerGuard(); g == nil {
		// Not wired (yet): a page resent at start, before SetPower, must
		// not use up the step; a later round does it.
		p.log.Warn("policy step has power = "+string(act)+" but power actions are not enabled on this foghorn (no guard): not done",
			"incident", inc.ID, "policy", pol.Name, "step", in.Step+1)
		return ""
	}
	to := contact{in.Person, in.Phone, in.Email}

	ps := &p.power
	ps.mu.Lock()
	known := ps.steps[inc.ID] != nil
	ps.mu.Unlock()
	// Once per incident, for good: the audit trail (the incident's
	// timeline) says whether it was done before a restart.
	before := !known && p.stepDoneBefore(ctx, inc.ID)

	ps.mu.Lock()
	if ps.steps == nil {
		ps.steps = map[int64]*stepRun{}
	}
	now := p.clock.Now()
	for id, r := range ps.steps {
		if r.done && now.Sub(r.started) > stepMemory {
			delete(ps.steps, id)
		}
	}
	run := ps.steps[inc.ID]
	start := false
	if run == nil {
		host := inc.Labels["name"]
		if inc.Source != "probe" {
			host = "" // an Alertmanager label "name" need not be a target of ours
		}
		run = &stepRun{incident: inc.ID, short: inc.Short, host: host, action: act,
			by: "policy:" + pol.Name, step: in.Step, started: now, told: map[string]bool{}}
		ps.steps[inc.ID] = run
		if before {
			run.done, run.quiet = true, true
			p.log.Info("automated power step already done for this incident (before a restart)", "incident", inc.ID, "host", run.host)
		} else {
			start = true
		}
	}
	var tellNow string
	switch {
	case run.told[to.name]:
	case run.done && !run.quiet:
		run.told[to.name] = true
		tellNow = run.toldText()
	case !run.done:
		if !slices.ContainsFunc(run.waiting, func(c contact) bool { return c.name == to.name }) {
			run.waiting = append(run.waiting, to)
		}
	}
	line := stepLine(run)
	ps.mu.Unlock()

	if start {
		p.background(func(ctx context.Context) { p.doStep(ctx, run) })
	}
	if tellNow != "" {
		p.background(func(ctx context.Context) { p.tell(ctx, to, tellNow) })
	}
	return line
}

// anyPowerStep reports whether some policy has a power action at step:
// most pages need not look their incident up.
func anyPowerStep(cfg *configs.Config, step int) bool {
	for _, pol := range cfg.Policies {
		if step >= 0 && step < len(pol.Steps) && pol.Steps[step].Power != "" {
			return true
		}
	}
	return false
}

// stepLine is what a page of a power step leads with. Called with the
// lock held.
func stepLine(r *stepRun) string {
	what := strings.ToUpper(string(r.action))
	switch {
	case r.quiet:
		return ""
	case r.done:
		return "Automated step: " + r.result
	case r.host == "":
		return fmt.Sprintf("Automated %s step: this incident is not about one host; nothing is done by itself", what)
	}
	return fmt.Sprintf("Automated step: %s %s now; the result follows by SMS", what, r.host)
}

// doStep does the step's action and tells everyone it paged.
func (p *Pager) doStep(ctx context.Context, run *stepRun) {
	result := p.stepAction(ctx, run)
	ps := &p.power
	ps.mu.Lock()
	run.done, run.result = true, result
	text := run.toldText()
	waiting := run.waiting
	run.waiting = nil
	for _, c := range waiting {
		run.told[c.name] = true
	}
	ps.mu.Unlock()
	for _, c := range waiting {
		p.tell(ctx, c, text)
	}
}

// toldText is the outcome as the step's people are told it. Called with the
// lock held, once done.
func (r *stepRun) toldText() string {
	return fmt.Sprintf("#%d automated step: %s", r.short, r.result)
}

// stepDoneBefore reports whether the incident's timeline has its
// automated step already (done before a restart). Without an audit trail
// there is nothing to look at: the guard refuses to act without one.
func (p *Pager) stepDoneBefore(ctx context.Context, incident int64) bool {
	tl, ok := p.engine().(interface {
		Timeline(ctx context.Context, id int64) ([]escalation.Entry, error)
	})
	if _, o := p.powerGuard(); !ok || o.Audit == nil {
		return false
	}
	entries, err := tl.Timeline(ctx, incident)
	if err != nil {
		// Err on the side of not acting twice: a person can still act.
		p.log.Error("cannot read the incident's timeline; the automated power step is skipped", "incident", incident, "err", err)
		return true
	}
	return slices.ContainsFunc(entries, func(e escalation.Entry) bool { return e.Kind == "power.step" })
}

// stepAction runs the guard for an automated step and says what came of it.
func (p *Pager) stepAction(ctx context.Context, run *stepRun) string {
	g, _ := p.powerGuard()
	verb := strings.ToUpper(string(run.action))
	what := verb + " " + run.host
	subject := strconv.FormatInt(run.incident, 10)
	switch {
	case g == nil:
		return verb + " not done: power actions are not enabled on this foghorn"
	case run.host == "":
		return verb + " not done: the incident is not about one host of ours (a group, a storm, or an alert from elsewhere); act by hand if needed, e.g. " + verb + " <host>"
	}
	detail := fmt.Sprintf("%s by %s (step %d), automated", what, run.by, run.step+1)
	if err := p.audit(ctx, "power.step", subject, run.by, detail); err != nil {
		return what + " not done: cannot write the audit trail (" + err.Error() + "); power actions need it"
	}
	req := ipmi.Request{Target: run.host, Action: run.action, By: run.by, Automated: true, Via: "policy"}
	actx, cancel := context.WithTimeout(ctx, powerTimeout)
	out, err := g.Execute(actx, req)
	cancel()
	result := outcomeText(req, what, run.host, out, err)
	p.audit(ctx, "power.step_result", subject, run.by, result)
	p.log.Info("automated power step", "incident", run.incident, "host", run.host, "result", result)
	return result
}
