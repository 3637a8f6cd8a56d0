package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"foghorn/ipmi"
)

// rememberPower replays the last hour of allowed power actions from the
// audit trail into the guard, so its per-host and per-site limits survive
// a restart: restarting foghorn must not reset the seatbelt.
func (d *daemon) rememberPower(ctx context.Context) {
	since := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339Nano)
	rows, err := d.db.QueryContext(ctx, `SELECT at, subject FROM events WHERE kind = 'power.allowed' AND at > ?`, since)
	if err != nil {
		d.log.Error("cannot read recent power actions; rate limits start empty", "err", err)
		return
	}
	defer rows.Close()
	for rows.Next() {
		var at, host string
		if rows.Scan(&at, &host) == nil {
			if t, err := time.Parse(time.RFC3339Nano, at); err == nil {
				d.guard.Remember(host, t)
			}
		}
	}
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
	act, err := ipmi.ParseAction(req.Action)
	if err != nil {
		apiError(w, http.StatusBadRequest, err.Error())
		return
	}
	pr := ipmi.Request{Target: req.Target, Action: act, By: actor(r), Force: req.Force, Via: "api"}
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
		var out ipmi.Outcome
		if out, err = d.guard.Execute(ctx, pr); err == nil {
			writeJSON(w, out)
			return
		}
	}
	var refusal *ipmi.Refusal
	if errors.As(err, &refusal) {
		apiError(w, http.StatusForbidden, refusal.Msg)
		return
	}
	apiError(w, http.StatusBadGateway, err.Error())
}
