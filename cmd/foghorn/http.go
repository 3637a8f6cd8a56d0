package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
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
	mux.HandleFunc("GET /status.txt", d.statusText)
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

// heartbeat takes a push from a watched host (curl from cron).
func (d *daemon) heartbeat(w http.ResponseWriter, r *http.Request) {
	err := d.beats.Push(r.PathValue("target"), r.PathValue("token"), time.Time{})
	switch {
	case errors.Is(err, probes.ErrUnknownHeartbeat):
		http.Error(w, "unknown heartbeat target", http.StatusNotFound)
	case errors.Is(err, probes.ErrNotRecorded):
		d.log.Error("heartbeat push not recorded; answered 503 so the sender retries", "target", r.PathValue("target"), "err", err)
		http.Error(w, "heartbeat not recorded; retry", http.StatusServiceUnavailable)
	case err != nil:
		d.log.Warn("heartbeat push refused", "target", r.PathValue("target"), "remote", r.RemoteAddr, "err", err)
		http.Error(w, "forbidden", http.StatusForbidden)
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}
