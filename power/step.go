package power

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"foghorn/configs"
)

// Automated power steps. A policy step may say power = "cycle" (or
// "reset"): when that step pages, the engine emits a power intent and cmd
// hands it to Automate, which does that to the incident's host once per
// incident (remembered across restarts by the audit trail), behind the
// guard: automated requests need [power] automated = true, never force,
// and obey the same limits. The decision is made before the step's pages
// go out, so a page says what was decided, never what might be.

// Step is an automated power step to take: the engine's power intent.
type Step struct {
	Incident int64
	Short    int
	// Host is the incident's host (Incident.Host); "" when the incident
	// is not about one host of ours, and then nothing is done.
	Host   string
	Action configs.PowerAction
	By     string // "policy:ops"
	Step   int    // 0-based
}

// Phase is where an automated step is.
type Phase string

// Phases of an automated step.
const (
	// Waiting: another power action is running; the step starts when it
	// ends (StepStatus.Busy says which), within StepWait.
	Waiting Phase = "waiting"
	// Running: the guard allowed it and the BMC is at it.
	Running Phase = "running"
	// Done: over; Err (a *Refusal when refused) or Outcome says how.
	Done Phase = "done"
	// Before: done before a restart; nobody is told again.
	Before Phase = "before"
)

// StepWait is how long, by default, an automated step waits for another
// power action to end (one at a time, site-wide) before it gives up:
// longer than one action with its read-back takes, short enough to still
// matter to the page that announced it.
const StepWait = 3 * time.Minute

// stepMemory is how long a finished step is kept in memory; the audit
// trail remembers it for good.
const stepMemory = 24 * time.Hour

// StepStatus is what an incident's automated step has come to.
type StepStatus struct {
	Step
	Phase Phase
	// Busy is the action a Waiting step waits for.
	Busy Ongoing
	// Waited is how long a step that gave up waiting waited (its Err is
	// then a "busy" *Refusal).
	Waited  time.Duration
	Outcome Outcome
	Err     error
}

type stepRun struct {
	st      StepStatus
	started time.Time
	changed chan struct{} // closed and replaced at each change of phase
}

// StepOf says where the incident's automated step stands, and gives a
// channel closed at its next change; ok is false when the incident has
// none (yet).
func (d *Desk) StepOf(incident int64) (StepStatus, <-chan struct{}, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	r := d.steps[incident]
	if r == nil {
		return StepStatus{}, nil, false
	}
	return r.st, r.changed, true
}

// Automate takes an automated step, once per incident: it decides at
// once (the guard allows it and it starts, or it waits for a running
// action, or it is refused, or there is no host) and does the action in
// the background. A second call for the same incident (the step's next
// round) changes nothing. It returns the decision.
func (d *Desk) Automate(ctx context.Context, s Step) StepStatus {
	d.mu.Lock()
	if r := d.steps[s.Incident]; r != nil || d.done {
		d.mu.Unlock()
		if r == nil {
			return StepStatus{Step: s, Phase: Done, Err: fmt.Errorf("foghorn is shutting down")}
		}
		return r.st
	}
	now := d.o.Clock.Now()
	if d.steps == nil {
		d.steps = map[int64]*stepRun{}
	}
	for id, r := range d.steps {
		if (r.st.Phase == Done || r.st.Phase == Before) && now.Sub(r.started) > stepMemory {
			delete(d.steps, id)
		}
	}
	// Registered before deciding (outside the lock: the audit trail is
	// read and written): a second intent for the incident decides nothing.
	r := &stepRun{st: StepStatus{Step: s}, started: now, changed: make(chan struct{})}
	d.steps[s.Incident] = r
	// Counted before the lock is let go: Close, once it has the lock,
	// waits for this step too.
	d.bg.Add(1)
	d.mu.Unlock()

	st, then := d.decide(ctx, s)
	d.set(r, st)
	if then == nil {
		d.bg.Done()
		return st
	}
	go func() {
		defer d.bg.Done()
		then(context.WithoutCancel(ctx))
	}()
	return st
}

// set changes the step's status and wakes whoever waits on it.
func (d *Desk) set(r *stepRun, st StepStatus) {
	d.mu.Lock()
	r.st = st
	close(r.changed)
	r.changed = make(chan struct{})
	d.mu.Unlock()
	if st.Phase == Done {
		d.o.Log.Info("automated power step", "incident", st.Incident, "host", st.Host, "action", st.Action, "err", st.Err, "outcome", st.Outcome.Text)
	}
}

// decide makes the step's first decision; then, if any, is what is left
// to do in the background.
func (d *Desk) decide(ctx context.Context, s Step) (StepStatus, func(context.Context)) {
	st := StepStatus{Step: s}
	subject := strconv.FormatInt(s.Incident, 10)
	if s.Host == "" {
		st.Phase, st.Err = Done, &Refusal{Rule: "host", Msg: "the incident is not about one host of ours (a group, a storm, or an alert from elsewhere)"}
		return st, nil
	}
	if before, err := d.stepDone(ctx, subject); err != nil || before {
		if err != nil {
			// Err on the side of not acting twice: a person can still act.
			d.o.Log.Error("cannot read the audit trail; the automated power step is skipped", "incident", s.Incident, "err", err)
		}
		st.Phase = Before
		return st, nil
	}
	detail := fmt.Sprintf("%s %s by %s (step %d), automated", s.Action, s.Host, s.By, s.Step+1)
	if d.o.Trail == nil {
		st.Phase, st.Err = Done, &Refusal{Rule: "audit", Msg: "not done: no audit trail configured; power actions need it"}
		return st, nil
	}
	if err := d.o.Trail.Event(context.WithoutCancel(ctx), "power.step", subject, s.By, detail); err != nil {
		st.Phase, st.Err = Done, &Refusal{Rule: "audit", Msg: "not done: cannot write the audit trail (" + err.Error() + "); power actions need it"}
		return st, nil
	}
	req := Request{Target: s.Host, Action: s.Action, By: s.By, Automated: true, Via: "policy"}
	started, err := d.guard.start(ctx, req, false)
	if err == nil {
		st.Phase = Running
		return st, func(ctx context.Context) { d.finishStep(ctx, s, started) }
	}
	if ref, ok := err.(*Refusal); ok && ref.Rule == "busy" {
		busy, idle, ok := d.guard.Busy()
		if ok {
			st.Phase, st.Busy = Waiting, busy
			return st, func(ctx context.Context) { d.waitStep(ctx, s, req, idle) }
		}
		// It ended meanwhile: try once more at once.
		if started, err = d.guard.start(ctx, req, true); err == nil {
			st.Phase = Running
			return st, func(ctx context.Context) { d.finishStep(ctx, s, started) }
		}
	}
	st.Phase, st.Err = Done, err
	d.event(ctx, "power.step_result", subject, s.By, stepResult(st))
	return st, nil
}

// waitStep waits for the running action to end, then asks the guard
// again; when another action got in first it waits again, up to the
// desk's StepWait in all. At the end of the wait it asks once more, and
// what the guard says then stands.
func (d *Desk) waitStep(ctx context.Context, s Step, req Request, idle <-chan struct{}) {
	subject := strconv.FormatInt(s.Incident, 10)
	t := time.NewTimer(d.stepWait())
	defer t.Stop()
	start := time.Now()
	last := false
	for {
		select {
		case <-idle:
		case <-t.C:
			last = true
		case <-d.stop:
			st := StepStatus{Step: s, Phase: Done, Err: fmt.Errorf("not done: foghorn stopped while the step waited")}
			d.event(ctx, "power.step_result", subject, s.By, stepResult(st))
			d.update(s.Incident, st)
			return
		}
		started, err := d.guard.start(ctx, req, last)
		if err == nil {
			d.update(s.Incident, StepStatus{Step: s, Phase: Running})
			d.finishStep(ctx, s, started)
			return
		}
		if ref, ok := err.(*Refusal); ok && ref.Rule == "busy" && !last {
			if busy, next, ok := d.guard.Busy(); ok {
				idle = next
				d.update(s.Incident, StepStatus{Step: s, Phase: Waiting, Busy: busy})
			}
			continue // or it ended meanwhile: ask again
		}
		// Refused (and recorded by the guard): that stands.
		st := StepStatus{Step: s, Phase: Done, Err: err, Waited: time.Since(start)}
		d.event(ctx, "power.step_result", subject, s.By, stepResult(st))
		d.update(s.Incident, st)
		return
	}
}

func (d *Desk) stepWait() time.Duration {
	if d.o.StepWait > 0 {
		return d.o.StepWait
	}
	return StepWait
}

// update sets the status of an incident's step by id.
func (d *Desk) update(incident int64, st StepStatus) {
	d.mu.Lock()
	r := d.steps[incident]
	d.mu.Unlock()
	if r != nil {
		d.set(r, st)
	}
}

// finishStep does a started step's action and records what came of it.
func (d *Desk) finishStep(ctx context.Context, s Step, started *started) {
	actx, cancel := context.WithTimeout(ctx, actionTimeout)
	out, err := started.run(actx)
	cancel()
	st := StepStatus{Step: s, Phase: Done, Outcome: out, Err: err}
	d.event(ctx, "power.step_result", strconv.FormatInt(s.Incident, 10), s.By, stepResult(st))
	d.update(s.Incident, st)
}

// actionTimeout bounds one automated action with its read-back.
const actionTimeout = 2 * time.Minute

// stepResult is a finished step for the audit trail: "pve1 cycled: off,
// then on after 1.1s", or the refusal.
func stepResult(st StepStatus) string {
	if st.Err != nil {
		return fmt.Sprintf("%s %s not done: %v", st.Action, st.Host, st.Err)
	}
	return st.Host + " " + st.Outcome.Text
}

// stepDone reports whether the audit trail has the incident's automated
// step already (done before a restart).
func (d *Desk) stepDone(ctx context.Context, subject string) (bool, error) {
	if d.o.Trail == nil {
		return false, nil
	}
	return d.o.Trail.PowerStepDone(ctx, subject)
}
