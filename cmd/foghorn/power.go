package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"foghorn/configs"
	"foghorn/escalation"
	"foghorn/ipmi"
	"foghorn/power"
	"foghorn/probes/classify"
)

// bmcs is the ipmi pool as the power desk's BMC: power knows no ipmi.
type bmcs struct{ pool *ipmi.Pool }

func (b bmcs) Power(ctx context.Context, t *configs.Target, a configs.PowerAction) (power.Outcome, error) {
	bmc, err := b.pool.Get(t)
	if err != nil {
		return power.Outcome{Action: a}, err
	}
	out, err := bmc.Power(ctx, a)
	return power.Outcome{Action: out.Action, Before: power.Chassis(out.Before), After: power.Chassis(out.After),
		Confirmed: out.Confirmed, Took: out.Took, Text: out.Text}, err
}

// powerRoute hands the engine's power intents (a policy step with power
// = "cycle") to the desk, which decides at once, and everything else,
// and every cancel, to next (the pager).
func powerRoute(desk *power.Desk, next escalation.Notifier) escalation.Notifier {
	return powerRouter{desk, next}
}

type powerRouter struct {
	desk *power.Desk
	next escalation.Notifier
}

func (r powerRouter) Notify(ctx context.Context, in escalation.Intent) error {
	if in.Kind != escalation.KindPower {
		return r.next.Notify(ctx, in)
	}
	r.desk.Automate(ctx, power.Step{Incident: in.Incident, Short: in.Short, Host: in.Host, Action: in.Power, By: in.Text, Step: in.Step})
	return nil
}

func (r powerRouter) Cancel(ctx context.Context, incident int64) error {
	return r.next.Cancel(ctx, incident)
}

// ProviderID passes on (escalation.ProviderIDs): the pager knows the SIDs.
func (r powerRouter) ProviderID(ctx context.Context, notification int64) string {
	if p, ok := r.next.(escalation.ProviderIDs); ok {
		return p.ProviderID(ctx, notification)
	}
	return ""
}

// bmcState says of a BMC target whether it answers, for the guard: "down"
// only when this run's last probe of it got no answer. A BMC that
// answers and reports a fault is not down here (power may be the cure),
// and a state restored after a restart carries no BMC word: not known.
func (d *daemon) bmcState(name string) string {
	s := d.states.Load()
	if s == nil || s.State(name) != classify.Down {
		return ""
	}
	for _, t := range s.Targets() {
		if t.Target == name {
			if last := t.Last; last.Duration > 0 && (last.BMC == nil || !last.BMC.Answered) {
				return "down"
			}
			return ""
		}
	}
	return ""
}

// powerRequest is the body of POST /api/v1/power.
type powerRequest struct {
	Target string `json:"target"`
	Action string `json:"action"`
	Force  bool   `json:"force"`
	DryRun bool   `json:"dry_run"`
}

// power runs a BMC power action for the API caller, behind the guard:
// only people in [power] allow, within the rate limits, never below a
// quorum unless forced where forcing is allowed.
func (d *daemon) power(w http.ResponseWriter, r *http.Request) {
	var req powerRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 16<<10)).Decode(&req); err != nil {
		apiError(w, http.StatusBadRequest, `body must be JSON: {"target": "pve2", "action": "cycle", "force": false}`)
		return
	}
	act, err := configs.ParsePowerAction(req.Action)
	if err != nil {
		apiError(w, http.StatusBadRequest, err.Error())
		return
	}
	pr := power.Request{Target: req.Target, Action: act, By: actor(r), Force: req.Force, Via: "api"}
	ctx := context.WithoutCancel(r.Context()) // a power action is not abandoned half-way
	if req.DryRun {
		err = d.guard.Check(ctx, pr)
		if err == nil {
			writeJSON(w, map[string]string{"result": "allowed"})
			return
		}
	} else {
		ctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		var out power.Outcome
		if out, err = d.guard.Execute(ctx, pr); err == nil {
			writeJSON(w, out)
			return
		}
	}
	var refusal *power.Refusal
	if errors.As(err, &refusal) {
		apiError(w, http.StatusForbidden, refusal.Msg)
		return
	}
	apiError(w, http.StatusBadGateway, err.Error())
}
