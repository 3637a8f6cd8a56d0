package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"foghorn/escalation"
	"foghorn/probes"
)

// mux is the one HTTP listener's routes. Later issues add the Twilio
// webhooks, Alertmanager intake, dashboard and the authenticated API.
func (d *daemon) mux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", d.m.handler())
	mux.HandleFunc("GET /healthz", d.healthz)
	d.apiRoutes(mux)
	d.pg.Routes(mux)
	mux.HandleFunc("GET /status.txt", d.readAuth(d.statusText))
	d.dash.Routes(mux)
	mux.HandleFunc("POST /heartbeat/{target}/{token}", d.heartbeat)
	mux.HandleFunc("GET /heartbeat/{target}/{token}", d.heartbeat)
	return mux
}

func (d *daemon) statusJSON(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"version": version,
		"config":  d.source,
		"targets": d.targetList(),
	})
}

// incidentsJSON lists open incidents with their timelines.
func (d *daemon) incidentsJSON(w http.ResponseWriter, r *http.Request) {
	incs, err := d.eng.Open(r.Context())
	if err != nil {
		http.Error(w, "cannot read incidents", http.StatusInternalServerError)
		return
	}
	type withTimeline struct {
		escalation.Incident
		Timeline []escalation.Entry `json:"timeline"`
	}
	out := make([]withTimeline, 0, len(incs))
	for _, inc := range incs {
		tl, _ := d.eng.Timeline(r.Context(), inc.ID)
		out = append(out, withTimeline{inc, tl})
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(out)
}

// readAuth guards a page that shows what the API's reads show (open
// incidents, every target's state and error, which name addresses and
// ports): the same bearer token as GET /api/v1, or a dashboard session,
// so a person logged in to the dashboard can open it in the browser.
func (d *daemon) readAuth(h http.HandlerFunc) http.HandlerFunc {
	api := d.auth(false, h)
	return func(w http.ResponseWriter, r *http.Request) {
		if _, ok := d.dash.Person(r); ok {
			h(w, r)
			return
		}
		api(w, r)
	}
}

// statusText is /status.txt, the API's status and open incidents for a
// terminal (curl -H "Authorization: Bearer $TOKEN").
func (d *daemon) statusText(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintf(w, "foghorn %s — %s\n\n", version, d.source)
	if incs, err := d.eng.Open(r.Context()); err == nil && len(incs) > 0 {
		fmt.Fprintln(w, "open incidents:")
		for _, inc := range incs {
			fmt.Fprintf(w, "  #%-3d %-12s %-8s %s (since %s)\n", inc.Short, inc.State, inc.Severity, inc.Summary, inc.Opened.Format(time.TimeOnly))
		}
		fmt.Fprintln(w)
	}
	for _, e := range d.targetList() {
		at := ""
		if !e.At.IsZero() {
			at = e.At.Format(time.TimeOnly)
		}
		fmt.Fprintf(w, "%-8s %-14s %-9s %-8s %s\n", strings.ToUpper(e.State), e.Target, e.Status, at, e.Msg)
	}
}

// pushRefused is the one answer to a push with an unknown target or a
// wrong token: telling them apart would tell a prober which target names
// exist.
const pushRefused = "heartbeat push refused: unknown target or wrong token\n"

// heartbeat takes a push from a watched host (curl from cron). Refusals
// are limited per source address (pushlimit.go); while a source is
// limited every push from it is answered 429 whatever its token, so
// guessing learns nothing. A right push in that time still counts,
// recorded off the request (the answer's timing tells nothing): a flood
// through a shared address, a reverse proxy, must not make foghorn page
// about hosts that did report in.
func (d *daemon) heartbeat(w http.ResponseWriter, r *http.Request) {
	target, token := r.PathValue("target"), r.PathValue("token")
	src, now := sourceKey(r.RemoteAddr), time.Now()
	if wait, limited := d.pushes.limited(src, now); limited {
		if d.beats.Valid(target, token) {
			go func() {
				if err := d.beats.Push(target, token, now); err != nil {
					d.log.Error("heartbeat push from a limited address not recorded", "target", target, "err", err)
				}
			}()
		}
		w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
		http.Error(w, "too many refused heartbeat pushes from this address; retry later", http.StatusTooManyRequests)
		return
	}
	err := d.beats.Push(target, token, time.Time{})
	switch {
	case errors.Is(err, probes.ErrNotRecorded):
		d.log.Error("heartbeat push not recorded; answered 503 so the sender retries", "target", target, "err", err)
		http.Error(w, "heartbeat not recorded; retry", http.StatusServiceUnavailable)
	case err != nil:
		d.log.Warn("heartbeat push refused", "target", target, "remote", r.RemoteAddr, "err", err)
		if d.pushes.fail(src, now) {
			d.log.Warn("heartbeat pushes from this address refused for a while: too many wrong ones",
				"remote", src, "burst", pushFailBurst, "then_one_every", pushFailEvery.String())
		}
		http.Error(w, pushRefused, http.StatusForbidden)
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}
