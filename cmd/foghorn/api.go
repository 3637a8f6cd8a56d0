package main

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"foghorn/configs"
	"foghorn/escalation"
)

// The JSON API. Every route takes the bearer token of [server]
// api_token_file when one is set; without a token the API is read-only,
// so a fresh install cannot be acked or silenced by anyone who reaches it.

func (d *daemon) apiRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/v1/status", d.auth(false, d.statusJSON))
	mux.HandleFunc("GET /api/v1/incidents", d.auth(false, d.incidentsJSON))
	mux.HandleFunc("GET /api/v1/oncall", d.auth(false, d.oncallJSON))
	mux.HandleFunc("GET /api/v1/silences", d.auth(false, d.silencesJSON))
	mux.HandleFunc("GET /api/v1/audit", d.auth(false, d.auditJSON))
	mux.HandleFunc("POST /api/v1/alertmanager", d.auth(true, d.eng.Alertmanager().ServeHTTP))
	mux.HandleFunc("POST /api/v1/incidents/{id}/{action}", d.auth(true, d.incidentAction))
	mux.HandleFunc("POST /api/v1/silences", d.auth(true, d.addSilence))
	mux.HandleFunc("POST /api/v1/overrides", d.auth(true, d.addOverride))
	mux.HandleFunc("DELETE /api/v1/silences/{id}", d.auth(true, d.endSilence))
	mux.HandleFunc("DELETE /api/v1/overrides/{uid}", d.auth(true, d.endOverride))
	mux.HandleFunc("POST /api/v1/power", d.auth(true, d.power))
	mux.HandleFunc("POST /api/v1/test-page", d.auth(true, d.testPageAPI))
	d.leaseRoutes(mux) // lease.go
}

func (d *daemon) auth(write bool, h http.HandlerFunc) http.HandlerFunc {
	return d.authz(write, false, h)
}

// leaseAuth is auth for the lease routes, which a token of role "lease"
// may use too.
func (d *daemon) leaseAuth(h http.HandlerFunc) http.HandlerFunc { return d.authz(true, true, h) }

func (d *daemon) authz(write, lease bool, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		cfg := d.cfg.Load()
		legacy := cfg.Server.APIToken.Reveal()
		if legacy == "" && len(cfg.APITokens) == 0 {
			if write {
				apiError(w, http.StatusForbidden, "the API is read-only: set [server] api_token_file (or FOGHORN_API_TOKEN), or add an [[api_token]] (foghorn token NAME), and send it as a bearer token")
				return
			}
			h(w, r)
			return
		}
		got, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		name, role, ok := tokenOwner(cfg, got)
		if !ok {
			d.log.Warn("api request refused: bad or missing token", "path", r.URL.Path, "remote", r.RemoteAddr)
			w.Header().Set("WWW-Authenticate", `Bearer realm="foghorn"`)
			apiError(w, http.StatusUnauthorized, "missing or wrong bearer token (Authorization: Bearer <api token>)")
			return
		}
		if write && role == "viewer" {
			apiError(w, http.StatusForbidden, fmt.Sprintf("token %q is read-only (role viewer)", name))
			return
		}
		// A CI job's token may lease, and nothing else: no ack, no
		// power, no silences.
		if write && role == "lease" && !lease {
			apiError(w, http.StatusForbidden, fmt.Sprintf("token %q has role lease: it may read and take, release and extend its own maintenance leases, nothing else; use a responder token for this", name))
			return
		}
		h(w, r.WithContext(d.withCaller(r, name)))
	}
}

// caller is who an API request acts as: the token that authenticated
// it, never what the request says. note is the caller's own words
// (-as on the CLI), recorded beside the act, never as its actor.
type caller struct{ name, note string }

type callerKey struct{}

// noteMax bounds a note: it is free text from the caller.
const noteMax = 80

// withCaller puts the token's name on the request. X-Foghorn-User used to
// name the actor; a value other than the token's name is now only a note,
// and logged: refusing it would break an ack from an old CLI at 3 a.m.,
// and the audit trail is right either way.
func (d *daemon) withCaller(r *http.Request, token string) context.Context {
	c := caller{name: token, note: cleanNote(r.Header.Get("X-Foghorn-Note"))}
	if c.name == "" {
		c.name = "api" // the [server] token, shared and nameless
	}
	if u := cleanNote(r.Header.Get("X-Foghorn-User")); u != "" && u != c.name {
		d.log.Warn("X-Foghorn-User ignored: API acts are recorded under the token's name", "token", c.name, "header", u, "path", r.URL.Path, "remote", r.RemoteAddr)
		if c.note == "" {
			c.note = "says " + u
		}
	}
	return context.WithValue(r.Context(), callerKey{}, c)
}

// cleanNote keeps a note printable and short.
func cleanNote(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return -1
		}
		return r
	}, strings.TrimSpace(s))
	if len(s) > noteMax {
		s = strings.ToValidUTF8(s[:noteMax], "")
	}
	return s
}

func callerOf(r *http.Request) caller {
	if c, ok := r.Context().Value(callerKey{}).(caller); ok {
		return c
	}
	return caller{name: "api"} // the read-only API of a config without tokens
}

// actor is who acted, for the audit trail: the token's name.
func actor(r *http.Request) string { return callerOf(r).name }

// via is how an act came, with the caller's note, for the detail of acts
// that take one ("api; note: alice").
func via(r *http.Request) string {
	if n := callerOf(r).note; n != "" {
		return "api; note: " + n
	}
	return "api"
}

// note records the caller's note beside an act that has no room for
// one, under the same subject so the incident's timeline shows it.
func (d *daemon) note(r *http.Request, subject string) {
	c := callerOf(r)
	if c.note == "" {
		return
	}
	if err := d.db.Event(context.WithoutCancel(r.Context()), "note", subject, c.name, c.note); err != nil {
		d.log.Error("cannot record an API caller's note", "subject", subject, "err", err)
	}
}

// tokenOwner finds whose token got is: the [server] token (no name, may
// act), or an [[api_token]] by its SHA-256. Every comparison is constant
// time, and all are made, so timing tells nothing.
func tokenOwner(cfg *configs.Config, got string) (name, role string, ok bool) {
	sum := sha256.Sum256([]byte(got))
	if legacy := cfg.Server.APIToken.Reveal(); legacy != "" {
		want := sha256.Sum256([]byte(legacy))
		if subtle.ConstantTimeCompare(sum[:], want[:]) == 1 {
			name, role, ok = "", "responder", true
		}
	}
	hexSum := []byte(hex.EncodeToString(sum[:]))
	for _, t := range cfg.APITokens {
		if subtle.ConstantTimeCompare(hexSum, []byte(t.SHA256)) == 1 && !ok {
			name, role, ok = t.Name, t.Role, true
		}
	}
	return name, role, ok && got != ""
}

func apiError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

func (d *daemon) incidentAction(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		apiError(w, http.StatusBadRequest, fmt.Sprintf("incident id %q is not a number", r.PathValue("id")))
		return
	}
	by := actor(r)
	var inc *escalation.Incident
	switch r.PathValue("action") {
	case "ack":
		inc, err = d.eng.Ack(r.Context(), id, by, via(r))
	case "resolve":
		inc, err = d.eng.Resolve(r.Context(), id, by, via(r))
	case "escalate":
		from := -1
		if s := r.URL.Query().Get("from"); s != "" {
			if from, err = strconv.Atoi(s); err != nil {
				apiError(w, http.StatusBadRequest, "from must be the step number you saw (1 = first step)")
				return
			}
			from-- // people count steps from 1
		}
		inc, err = d.eng.Escalate(r.Context(), id, from, by)
	case "snooze":
		dur, perr := time.ParseDuration(r.URL.Query().Get("for"))
		if perr != nil || dur <= 0 {
			apiError(w, http.StatusBadRequest, `snooze needs ?for=30m (a duration like "30m" or "2h")`)
			return
		}
		inc, err = d.eng.Snooze(r.Context(), id, dur, by)
	default:
		apiError(w, http.StatusNotFound, fmt.Sprintf("unknown action %q: use ack, resolve, escalate or snooze", r.PathValue("action")))
		return
	}
	switch {
	case errors.Is(err, escalation.ErrNotFound):
		apiError(w, http.StatusNotFound, err.Error())
	case errors.Is(err, escalation.ErrResolved):
		apiError(w, http.StatusConflict, err.Error())
	case err != nil:
		d.log.Error("api action failed", "action", r.PathValue("action"), "incident", id, "err", err)
		apiError(w, http.StatusInternalServerError, "could not record it; try again")
	default:
		if a := r.PathValue("action"); a == "escalate" || a == "snooze" {
			d.note(r, strconv.FormatInt(id, 10)) // ack and resolve carry it in their "via"
		}
		writeJSON(w, inc)
	}
}

func (d *daemon) oncallJSON(w http.ResponseWriter, r *http.Request) {
	next, _ := strconv.Atoi(r.URL.Query().Get("next"))
	if next <= 0 || next > 50 {
		next = 3
	}
	at := time.Now()
	if s := r.URL.Query().Get("at"); s != "" {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			apiError(w, http.StatusBadRequest, fmt.Sprintf("at %q: write it like 2026-12-24T09:00:00+01:00", s))
			return
		}
		at = t
	}
	shifts, err := d.eng.OnCall(r.Context(), at, next)
	if err != nil {
		apiError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, shifts)
}

func (d *daemon) silencesJSON(w http.ResponseWriter, r *http.Request) {
	s, err := d.eng.Silences(r.Context(), time.Now())
	if err != nil {
		apiError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, s)
}

// silenceRequest is the body of POST /api/v1/silences.
type silenceRequest struct {
	Matchers []string `json:"matchers"`
	For      string   `json:"for"`
	Comment  string   `json:"comment"`
}

func (d *daemon) addSilence(w http.ResponseWriter, r *http.Request) {
	var req silenceRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&req); err != nil {
		apiError(w, http.StatusBadRequest, `body must be JSON: {"matchers": ["name=\"pve1\""], "for": "2h", "comment": "..."}`)
		return
	}
	dur, err := time.ParseDuration(req.For)
	if err != nil || dur <= 0 {
		apiError(w, http.StatusBadRequest, fmt.Sprintf(`"for" %q is not a duration like "2h"`, req.For))
		return
	}
	now := time.Now()
	comment := req.Comment
	if n := callerOf(r).note; n != "" {
		comment = strings.TrimSpace(comment + " (note: " + n + ")")
	}
	id, err := d.eng.Silence(r.Context(), escalation.Silence{Matchers: req.Matchers, Start: now, End: now.Add(dur), By: actor(r), Comment: comment})
	if err != nil {
		apiError(w, http.StatusBadRequest, err.Error())
		return
	}
	writeJSON(w, map[string]any{"id": id, "until": now.Add(dur)})
}

// overrideRequest is the body of POST /api/v1/overrides.
type overrideRequest struct {
	Absent string    `json:"absent"`
	Cover  string    `json:"cover"`
	Start  time.Time `json:"start"`
	End    time.Time `json:"end"`
}

func (d *daemon) addOverride(w http.ResponseWriter, r *http.Request) {
	var req overrideRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&req); err != nil {
		apiError(w, http.StatusBadRequest, `body must be JSON: {"absent": "alice", "cover": "bob", "end": "2026-12-01T09:00:00+01:00"}`)
		return
	}
	if req.Start.IsZero() {
		req.Start = time.Now()
	}
	err := d.eng.AddOverride(r.Context(), escalation.Override{Absent: req.Absent, Cover: req.Cover, Start: req.Start, End: req.End, By: actor(r)})
	if err != nil {
		apiError(w, http.StatusBadRequest, err.Error())
		return
	}
	d.note(r, req.Absent)
	writeJSON(w, req)
}
