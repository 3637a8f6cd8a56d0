package pager

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"foghorn/escalation"
	"foghorn/power"
)

// Automated power steps, as the pager words them. A policy step may say
// power = "cycle": the engine then emits a power intent, which cmd hands
// to the power desk, and the desk decides at once, before the step's
// pages go out. Each of those pages (their Intent.Power is set) leads
// with what was decided: running now, waiting for another action, or not
// done and why; the step's people are told the outcome by SMS, once each.

// PowerSteps is the Notifier to give the escalation engine (behind the
// router that hands "power" intents to the desk): it is Notify, with the
// automated step's line on the pages of a power step, and Cancel.
//
//	pg, _ := pager.New(pagerCfg, nil, opts)
//	eng := escalation.New(db, cfg, route(desk, pg.PowerSteps()), eopts)
//	pg.SetPower(desk)
func (p *Pager) PowerSteps() escalation.Notifier { return powerSteps{p} }

type powerSteps struct{ *Pager }

func (s powerSteps) Notify(ctx context.Context, in escalation.Intent) error {
	return s.notifyStep(ctx, in)
}

// stepTold is who the pager told, or will tell, of one incident's
// automated step.
type stepTold struct {
	told     map[string]bool
	waiting  []contact // paged by the step, to be told when it is done
	watching bool      // a goroutine waits for the step to end
	at       time.Time
}

func (p *Pager) notifyStep(ctx context.Context, in escalation.Intent) error {
	switch {
	case in.Kind == escalation.KindPower:
		// Not for the pager: cmd routes power intents to the power desk.
		p.log.Warn("automated power step reached the pager, not the power desk: not done", "incident", in.Incident, "host", in.Host)
		return nil
	case in.Kind == escalation.KindPage && in.Power != "":
		if line := p.powerStep(in); line != "" {
			in.Detail = line + "\n" + in.Detail
		}
	}
	return p.Notify(ctx, in)
}

// powerStep notes who the step paged, to tell them the outcome, and
// returns the line the page leads with ("" when there is nothing to say:
// power not wired, or the step done before a restart).
func (p *Pager) powerStep(in escalation.Intent) string {
	g := p.powerDesk()
	if g == nil {
		return ""
	}
	st, changed, ok := g.StepOf(in.Incident)
	if !ok {
		// The desk never saw the step (a page resent after a restart, or
		// power not wired when it paged): nothing was decided to tell.
		return ""
	}
	if st.Phase == power.Before || st.Phase == "" {
		return "" // done before a restart; or not decided (cannot be: decided before the pages)
	}
	to := contact{in.Person, in.Phone, in.Email}
	ps := &p.power
	ps.mu.Lock()
	if ps.steps == nil {
		ps.steps = map[int64]*stepTold{}
	}
	now := p.clock.Now()
	for id, t := range ps.steps {
		if now.Sub(t.at) > stepMemory {
			delete(ps.steps, id)
		}
	}
	t := ps.steps[in.Incident]
	if t == nil {
		t = &stepTold{told: map[string]bool{}, at: now}
		ps.steps[in.Incident] = t
	}
	watch := false
	if !t.told[to.name] && !slices.ContainsFunc(t.waiting, func(c contact) bool { return c.name == to.name }) {
		t.waiting = append(t.waiting, to)
		if !t.watching {
			t.watching, watch = true, true
		}
	}
	ps.mu.Unlock()
	if watch {
		p.background(func(ctx context.Context) { p.watchStep(ctx, g, in.Incident, st, changed) })
	}
	return stepLine(st)
}

// watchStep waits for the step to end and tells everyone it paged, once
// each; people paged after it ended are told by the next call.
func (p *Pager) watchStep(ctx context.Context, g Power, incident int64, st power.StepStatus, changed <-chan struct{}) {
	for st.Phase != power.Done {
		select {
		case <-changed:
		case <-ctx.Done():
			return
		}
		st, changed, _ = g.StepOf(incident)
	}
	text := fmt.Sprintf("#%d automated step: %s", st.Short, stepResultText(st))
	ps := &p.power
	ps.mu.Lock()
	t := ps.steps[incident]
	var waiting []contact
	if t != nil {
		waiting, t.waiting, t.watching = t.waiting, nil, false
		for _, c := range waiting {
			t.told[c.name] = true
		}
	}
	ps.mu.Unlock()
	for _, c := range waiting {
		p.tell(ctx, c, text)
	}
}

// stepLine is what a page of a power step leads with: short, so that it
// fits beside the summary and the reply hint; the whole story follows by
// SMS.
func stepLine(st power.StepStatus) string {
	verb := verbOf(st.Action)
	var ref *power.Refusal
	switch {
	case st.Phase == power.Running:
		return fmt.Sprintf("Automated step: %s %s now; the result follows by SMS", verb, st.Host)
	case st.Phase == power.Waiting:
		return fmt.Sprintf("Automated step: %s %s waits for %s %s; result by SMS", verb, st.Host, st.Busy.Action, st.Busy.Host)
	case errors.As(st.Err, &ref) && ref.Rule == "host":
		return fmt.Sprintf("Automated %s step: this incident is not about one host; nothing is done by itself", verb)
	case ref != nil:
		return fmt.Sprintf("Automated step: %s %s refused (%s); why by SMS", verb, st.Host, ref.Rule)
	case st.Err != nil:
		return fmt.Sprintf("Automated step: %s %s failed; why by SMS", verb, st.Host)
	}
	return "Automated step: " + stepResultText(st)
}

// stepResultText is a finished step as its people are told it: what
// came of it, and, when it was not done, that automation will not try
// again and what a person can do.
func stepResultText(st power.StepStatus) string {
	verb := verbOf(st.Action)
	var ref *power.Refusal
	if errors.As(st.Err, &ref) && ref.Rule == "host" {
		return verb + " not done: " + ref.Msg + "; act by hand if needed, e.g. " + verb + " <host>"
	}
	req := power.Request{Target: st.Host, Action: st.Action, By: st.By, Automated: true}
	text := outcomeText(req, verb+" "+st.Host, st.Host, st.Outcome, st.Err)
	if st.Err == nil {
		return text
	}
	text = strings.TrimRight(text, ". ")
	if st.Waited > 0 {
		text += fmt.Sprintf(". Automation waited %s for it", humanWait(st.Waited))
	}
	return text + fmt.Sprintf(". Automation will not try again for this incident; reply %s %s to ask for it yourself.", verb, st.Host)
}
