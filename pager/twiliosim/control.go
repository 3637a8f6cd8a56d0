package twiliosim

import (
	"encoding/json"
	"fmt"
	"maps"
	"mime"
	"net/http"
	"strings"
)

// routeControl serves the simulator's own API, for tests in other processes
// and for the demo:
//
//	GET  /sim/log                 {"messages": [...], "calls": [...], "events": [...]}
//	GET  /sim/phones              {"+15551230001": Script, ...}
//	PUT  /sim/phones/{number}     Script: script a phone (POST works too)
//	DELETE /sim/phones/{number}   back to the default behaviour
//	POST /sim/sms                 {"from": "+1555...", "body": "ACK"}: the phone texts foghorn
//	POST /sim/press               {"to": "+1555...", "digits": "1"}: keys on the phone's live call
//	GET  /sim/fault, PUT /sim/fault  Fault: inject API failures ({} heals)
//
// The POSTs also take the HTML form of the /sim/ page, and then redirect back.
func (s *Sim) routeControl(mux *http.ServeMux) {
	mux.HandleFunc("GET /sim/log", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{
			"messages": s.Messages(), "calls": s.Calls(), "events": s.Events(),
		})
	})
	mux.HandleFunc("GET /sim/phones", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		phones := maps.Clone(s.phones)
		s.mu.Unlock()
		writeJSON(w, http.StatusOK, phones)
	})
	setPhone := func(w http.ResponseWriter, r *http.Request) {
		number := r.PathValue("number")
		var sc Script
		if isForm(r) {
			sc = Script{Call: r.PostFormValue("call"), Keys: splitList(r.PostFormValue("keys")),
				SMS: r.PostFormValue("sms"), Replies: splitList(r.PostFormValue("replies"))}
		} else if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&sc); err != nil {
			writeError(w, http.StatusBadRequest, fmt.Errorf("twiliosim: script for %s: %w", number, err))
			return
		}
		if err := s.SetPhone(number, sc); err != nil {
			writeError(w, http.StatusBadRequest, err)
			return
		}
		done(w, r, http.StatusOK, sc)
	}
	mux.HandleFunc("PUT /sim/phones/{number}", setPhone)
	mux.HandleFunc("POST /sim/phones/{number}", setPhone)
	mux.HandleFunc("DELETE /sim/phones/{number}", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		delete(s.phones, r.PathValue("number"))
		delete(s.replies, r.PathValue("number"))
		s.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /sim/sms", func(w http.ResponseWriter, r *http.Request) {
		var in struct{ From, Body string }
		if !decode(w, r, &in, func() { in.From, in.Body = r.PostFormValue("from"), r.PostFormValue("body") }) {
			return
		}
		m, err := s.ReplySMS(in.From, in.Body)
		if err != nil {
			writeError(w, http.StatusBadGateway, err)
			return
		}
		done(w, r, http.StatusOK, m)
	})
	mux.HandleFunc("POST /sim/press", func(w http.ResponseWriter, r *http.Request) {
		var in struct{ To, Digits string }
		if !decode(w, r, &in, func() { in.To, in.Digits = r.PostFormValue("to"), r.PostFormValue("digits") }) {
			return
		}
		if err := s.Press(in.To, in.Digits); err != nil {
			writeError(w, http.StatusConflict, err)
			return
		}
		done(w, r, http.StatusOK, map[string]string{"to": in.To, "digits": in.Digits})
	})
	mux.HandleFunc("GET /sim/fault", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.Fault())
	})
	mux.HandleFunc("PUT /sim/fault", func(w http.ResponseWriter, r *http.Request) {
		var f Fault
		if !decode(w, r, &f, nil) {
			return
		}
		s.SetFault(f)
		writeJSON(w, http.StatusOK, s.Fault())
	})
}

func isForm(r *http.Request) bool {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return mt == "application/x-www-form-urlencoded"
}

// decode reads a JSON body into v, or calls fromForm for an HTML form post.
// It answers 400 itself and returns false on a bad body.
func decode(w http.ResponseWriter, r *http.Request, v any, fromForm func()) bool {
	if fromForm != nil && isForm(r) {
		fromForm()
		return true
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("twiliosim: %s %s: bad JSON body: %w", r.Method, r.URL.Path, err))
		return false
	}
	return true
}

// done answers a control request: JSON for a program, back to the page for
// a form.
func done(w http.ResponseWriter, r *http.Request, status int, v any) {
	if isForm(r) {
		http.Redirect(w, r, "/sim/", http.StatusSeeOther)
		return
	}
	writeJSON(w, status, v)
}

// splitList reads a form's comma-separated list ("9, 1").
func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, err error) {
	writeJSON(w, status, map[string]string{"error": err.Error()})
}
