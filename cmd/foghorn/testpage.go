package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"foghorn/escalation"
)

// testPageAPI is POST /api/v1/test-page {"person": "alice", "wait": "3m"}:
// it answers when the person acks or the wait is over. Scheduled test
// pages are the engine's (escalation/testpage.go); run.go starts them.
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
	inc, answered, err := d.eng.TestPageAndWait(r.Context(), req.Person, actor(r), wait)
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
