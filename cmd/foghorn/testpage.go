package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"foghorn/configs"
	"foghorn/escalation"
)

// testPageWait is how long a scheduled test page may go unanswered before
// foghorn says so loudly.
const testPageWait = 10 * time.Minute

// testPages sends a test page to everyone on call whenever [escalation]
// test_page fires, and reports who did not answer: a phone that silently
// stopped ringing is found in daylight.
func (d *daemon) testPages(ctx context.Context) {
	for {
		spec := d.cfg.Load().Escalation.TestPage
		wait := time.Hour // look again later; the config may gain a spec on reload
		if spec != "" {
			if sched, err := configs.ParseCron(spec); err == nil {
				wait = time.Until(sched.Next(time.Now()))
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		if spec == "" || spec != d.cfg.Load().Escalation.TestPage {
			continue
		}
		shifts, err := d.eng.OnCall(ctx, time.Now(), 0)
		if err != nil {
			d.log.Error("scheduled test page: cannot tell who is on call", "err", err)
			continue
		}
		seen := map[string]bool{}
		for _, ss := range shifts {
			if len(ss) == 0 || seen[ss[0].Person] {
				continue
			}
			seen[ss[0].Person] = true
			go d.testPage(ctx, ss[0].Person, "schedule", testPageWait)
		}
	}
}

// testPage pages person and waits for an answer; it returns the incident
// as it ended and whether it was answered.
func (d *daemon) testPage(ctx context.Context, person, by string, wait time.Duration) (*escalation.Incident, bool, error) {
	inc, err := d.eng.TestPage(ctx, person, by)
	if err != nil {
		return nil, false, err
	}
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return inc, false, ctx.Err()
		case <-time.After(time.Second):
		}
		if cur, err := d.eng.Get(ctx, inc.ID); err == nil {
			inc = cur
			if cur.State == escalation.Acknowledged {
				d.eng.Resolve(ctx, inc.ID, "test-page", "test")
				d.db.Event(ctx, "test-page.answered", strconv.FormatInt(inc.ID, 10), person, "answered after "+time.Since(cur.Opened).Round(time.Second).String())
				return cur, true, nil
			}
		}
	}
	d.eng.Resolve(ctx, inc.ID, "test-page", "test")
	d.log.Error("TEST PAGE NOT ANSWERED: this person may not be reachable when it matters", "person", person, "waited", wait)
	d.db.Event(ctx, "test-page.unanswered", strconv.FormatInt(inc.ID, 10), person, "not answered within "+wait.String())
	d.m.testPage(false)
	return inc, false, nil
}

// testPageAPI is POST /api/v1/test-page {"person": "alice", "wait": "3m"}:
// it answers when the person acks or the wait is over.
func (d *daemon) testPageAPI(w http.ResponseWriter, r *http.Request) {
	var req struct{ Person, Wait string }
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 16<<10)).Decode(&req); err != nil {
		apiError(w, http.StatusBadRequest, `body must be JSON: {"person": "alice", "wait": "3m"}`)
		return
	}
	wait, err := time.ParseDuration(req.Wait)
	if err != nil || wait <= 0 || wait > 15*time.Minute {
		wait = 3 * time.Minute
	}
	inc, answered, err := d.testPage(r.Context(), req.Person, actor(r), wait)
	switch {
	case errors.Is(err, escalation.ErrNotFound):
		apiError(w, http.StatusNotFound, err.Error())
		return
	case err != nil:
		apiError(w, http.StatusInternalServerError, err.Error())
		return
	}
	if answered {
		d.m.testPage(true)
	}
	tl, _ := d.eng.Timeline(r.Context(), inc.ID)
	writeJSON(w, map[string]any{"answered": answered, "incident": inc, "timeline": tl,
		"summary": fmt.Sprintf("test page to %s: answered=%v", req.Person, answered)})
}
