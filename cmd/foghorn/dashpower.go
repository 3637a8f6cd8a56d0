package main

import (
	"context"
	"time"

	"foghorn/configs"
	"foghorn/power"
)

// dashPower is the dashboard's way to the power guard: the same guard as
// SMS and the API, recorded with Via "web". The guard is looked up per
// call: it is made after the dashboard.
type dashPower struct{ d *daemon }

// Power asks the guard for action on host for the logged-in person; a
// dry run only checks (its refusals are recorded too, as "web, dry run").
func (p dashPower) Power(ctx context.Context, host string, action configs.PowerAction, by string, force, dryRun bool) (string, error) {
	req := power.Request{Target: host, Action: action, By: by, Force: force, Via: "web"}
	if dryRun {
		req.Via = "web, dry run"
		return "allowed", p.d.guard.Check(ctx, req)
	}
	// Not abandoned half-way when the browser goes away.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	out, err := p.d.guard.Execute(ctx, req)
	return out.Text, err
}
