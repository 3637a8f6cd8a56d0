package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"foghorn/configs"
	"foghorn/escalation"
	"foghorn/power"
)

// Maintenance leases (power/lease.go) as the API, the CLI and the engine
// see them. power decides; this file carries requests in, turns standing
// leases into covers the engine consults ("lease #3 by alice": recorded,
// not paged), and raises a lease's overrun as a page through the engine,
// so it escalates, acks and dedupes like any other.

// leaseTick is how often the lease loop looks at the leased hosts and the
// waiting tickets: well under any probe interval, so a waiter is served
// within one interval of its rule turning green.
const leaseTick = 500 * time.Millisecond

// coverRecheck is how soon the engine asks a lease's cover again: a lease
// released early or ended must not keep a down host quiet for long.
const coverRecheck = 5 * time.Second

// leaseOptions are the desk's lease hooks, wired to the engine and
// /metrics.
func (d *daemon) leaseOptions(o *power.Options) {
	o.DB = d.db.DB
	o.Critical = d.criticalIn
	o.Overrun = d.leaseOverrun
	o.Counted = func(result string) { d.m.leaseRequests.WithLabelValues(result).Inc() }
	d.m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "foghorn_leases_active", Help: "Maintenance leases standing now (held, or overrun and the host not back).",
	}, func() float64 {
		if d.guard == nil {
			return 0
		}
		return float64(len(d.guard.Leases()))
	}))
}

// criticalIn names an open critical incident about any of targets (a
// group and its members); one a lease keeps quiet does not count: that
// host is expected down.
func (d *daemon) criticalIn(targets []string) (string, bool) {
	if d.eng == nil {
		return "", false
	}
	incs, err := d.eng.Open(context.Background())
	if err != nil {
		return "the incidents cannot be read: " + err.Error(), true // refuse: nothing is known
	}
	for _, inc := range incs {
		if inc.Severity != "critical" || strings.HasPrefix(inc.Silenced, "lease #") {
			continue
		}
		for _, t := range targets {
			if inc.Labels["name"] == t || inc.Labels["group"] == t || inc.Key == "target:"+t || inc.Key == "group:"+t || inc.Host == t {
				return fmt.Sprintf("#%d %s", inc.Short, inc.Summary), true
			}
		}
	}
	return "", false
}

// leaseCovers is the engine's Covers: an incident of a leased host, or of
// a target that sits behind it (its host or parent), or of a group about
// that host alone (host, "pve: pve2 down, 2 of 3 up"), is recorded, not
// paged, while the lease stands (an overrun lease too: its one page is
// the overrun's own).
func (d *daemon) leaseCovers(host string, ls map[string]string, now time.Time) (string, time.Time) {
	if d.guard == nil || ls["kind"] == "lease" {
		return "", time.Time{}
	}
	leases := d.guard.Leases()
	if len(leases) == 0 {
		return "", time.Time{}
	}
	cfg := d.cfg.Load()
	name := ls["name"]
	for _, l := range leases {
		if (name != "" && behind(cfg, name, l.Target)) || (host != "" && behind(cfg, host, l.Target)) {
			return l.By(), now.Add(coverRecheck)
		}
	}
	return "", time.Time{}
}

// behind says whether target is host or reached through it: its host, or
// a parent up the chain.
func behind(cfg *configs.Config, target, host string) bool {
	for range 32 { // a chain longer than this is a loop validation refuses
		if target == host {
			return true
		}
		t := cfg.Target(target)
		if t == nil {
			return false
		}
		if t.Host == host {
			return true
		}
		if t.Parent == "" {
			return false
		}
		target = t.Parent
	}
	return false
}

// leaseOverrun raises (firing) or resolves the one page of a lease whose
// host was not back at its end, at the host's severity and policy.
func (d *daemon) leaseOverrun(ctx context.Context, l power.Lease, text string, firing bool) {
	if d.eng == nil {
		return
	}
	a := escalation.Alert{Key: "lease:" + strconv.FormatInt(l.ID, 10), Firing: firing, Severity: "critical", Summary: text,
		Detail: fmt.Sprintf("%s, granted %s UTC, ended %s UTC", l.By(), l.GrantedAt.UTC().Format("15:04"), l.EndsAt.UTC().Format("15:04")),
		Labels: map[string]string{"name": "lease-" + strconv.FormatInt(l.ID, 10), "kind": "lease", "host": l.Target},
		Source: "lease", At: time.Now(), Host: l.Target}
	if t := d.cfg.Load().Target(l.Target); t != nil {
		a.Severity, a.Policy = t.Severity, t.Policy
	}
	if !firing {
		a.Summary = l.Target + " back from maintenance"
	}
	if _, err := d.eng.Handle(context.WithoutCancel(ctx), a); err != nil {
		d.log.Error("cannot page a lease's overrun", "lease", l.ID, "err", err)
	}
}

// The API.

func (d *daemon) leaseRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/v1/leases", d.auth(false, d.leasesJSON))
	mux.HandleFunc("GET /api/v1/leases/tickets/{id}", d.leaseAuth(d.leaseTicket))
	mux.HandleFunc("POST /api/v1/leases", d.leaseAuth(d.takeLease))
	mux.HandleFunc("DELETE /api/v1/leases/{id}", d.leaseAuth(d.releaseLease))
	mux.HandleFunc("POST /api/v1/leases/{id}/extend", d.leaseAuth(d.extendLease))
}

// leaseRequest is the body of POST /api/v1/leases.
type leaseRequest struct {
	Target string `json:"target"`
	For    string `json:"for"`
	Reason string `json:"reason"`
	Wait   string `json:"wait,omitempty"`
}

func (d *daemon) takeLease(w http.ResponseWriter, r *http.Request) {
	var req leaseRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&req); err != nil {
		apiError(w, http.StatusBadRequest, `body must be JSON: {"target": "pve2", "for": "20m", "reason": "kernel 6.12", "wait": "30m"}`)
		return
	}
	dur, err := time.ParseDuration(req.For)
	if err != nil || dur <= 0 {
		apiError(w, http.StatusBadRequest, fmt.Sprintf(`"for" %q is not a duration like "20m"`, req.For))
		return
	}
	var wait time.Duration
	if req.Wait != "" {
		if wait, err = time.ParseDuration(req.Wait); err != nil || wait < 0 {
			apiError(w, http.StatusBadRequest, fmt.Sprintf(`"wait" %q is not a duration like "30m"`, req.Wait))
			return
		}
	}
	l, t, err := d.guard.Lease(r.Context(), power.LeaseRequest{Target: req.Target, Holder: actor(r), Reason: req.Reason, For: dur, Wait: wait})
	switch {
	case err != nil:
		leaseRefused(w, err)
	case t != nil:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		json.NewEncoder(w).Encode(t)
	default:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(l)
	}
}

// leaseRefused answers a refusal: 403 when leases are off or the token
// may not take them, 409 with the rule otherwise.
func leaseRefused(w http.ResponseWriter, err error) {
	var ref *power.Refusal
	if !errors.As(err, &ref) {
		apiError(w, http.StatusInternalServerError, err.Error())
		return
	}
	code := http.StatusConflict
	switch ref.Rule {
	case "off", "allow", "holder":
		apiError(w, http.StatusForbidden, strings.TrimPrefix(ref.Msg, "refused: "))
		return
	case "unknown":
		code = http.StatusNotFound
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"refused": ref.Msg, "rule": ref.Rule, "error": ref.Msg})
}

// ticketPoll bounds a long poll of a ticket: under the client's timeout,
// and well under power.TicketTTL.
const ticketPoll = 20 * time.Second

// leaseTicket answers a waiting request's poll: at once when it was
// granted or refused, else when its reason changes from ?why= (what the
// client last saw), or after ticketPoll.
func (d *daemon) leaseTicket(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		apiError(w, http.StatusBadRequest, "the ticket is a number")
		return
	}
	seen := r.URL.Query().Get("why")
	end := time.Now().Add(ticketPoll)
	for {
		t, ok := d.guard.Poll(id)
		if !ok {
			apiError(w, http.StatusNotFound, fmt.Sprintf("no ticket %d: dropped (not polled for %s) or lost in a restart; ask for the lease again", id, power.TicketTTL))
			return
		}
		if t.State != "waiting" || t.Why != seen || time.Now().After(end) {
			writeJSON(w, t)
			return
		}
		select {
		case <-r.Context().Done():
			return
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func (d *daemon) leasesJSON(w http.ResponseWriter, r *http.Request) {
	ls := d.guard.Leases()
	ts := d.guard.Tickets()
	if ls == nil {
		ls = []power.Lease{}
	}
	if ts == nil {
		ts = []power.Ticket{}
	}
	writeJSON(w, map[string]any{"leases": ls, "waiting": ts})
}

func (d *daemon) releaseLease(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		apiError(w, http.StatusBadRequest, "the lease id is a number")
		return
	}
	l, err := d.guard.Release(r.Context(), id, actor(r))
	if err != nil {
		leaseRefused(w, err)
		return
	}
	writeJSON(w, l)
}

func (d *daemon) extendLease(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		apiError(w, http.StatusBadRequest, "the lease id is a number")
		return
	}
	var req struct {
		For string `json:"for"`
	}
	json.NewDecoder(http.MaxBytesReader(w, r.Body, 4<<10)).Decode(&req)
	dur, err := time.ParseDuration(req.For)
	if err != nil || dur <= 0 {
		apiError(w, http.StatusBadRequest, fmt.Sprintf(`"for" %q is not a duration like "10m"`, req.For))
		return
	}
	l, err := d.guard.Extend(r.Context(), id, actor(r), dur)
	if err != nil {
		leaseRefused(w, err)
		return
	}
	writeJSON(w, l)
}

// The CLI: foghorn lease HOST --for 20m --reason R [--wait 30m], lease
// list, lease release ID, lease extend ID --for 10m. Exit 0 granted, 3
// refused (or the wait ran out), 1 anything else, 2 usage.

func cmdLease(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("lease", stdout, stderr)
	opts := clientFlags(fs)
	dur := fs.Duration("for", 0, "how long the host may be down (`DURATION`, e.g. 20m)")
	reason := fs.String("reason", "", "why, for the audit trail and the page if it does not come back (`TEXT`)")
	wait := fs.Duration("wait", 0, "queue up to `DURATION` until the lease can be granted")
	if code, ok := fs.parse(args); !ok {
		return code
	}
	rest := fs.Args()
	c, err := opts.client()
	if err != nil {
		fmt.Fprintf(stderr, "foghorn lease: %v\n", err)
		return 2
	}
	c.http.Timeout = ticketPoll + 10*time.Second
	fail := func(err error) int {
		fmt.Fprintf(stderr, "foghorn lease: %v\n", err)
		return 1
	}
	usage := func() int {
		fmt.Fprintf(stderr, "usage: %s\n(foghorn help lease tells more)\n", subcommands["lease"].line("lease"))
		return 2
	}
	switch rest[0] {
	case "list":
		var out struct {
			Leases  []power.Lease
			Waiting []power.Ticket
		}
		if _, err := c.call("GET", "/api/v1/leases", nil, &out); err != nil {
			return fail(err)
		}
		if len(out.Leases) == 0 {
			fmt.Fprintln(stdout, "no leases held")
		}
		for _, l := range out.Leases {
			reason := ""
			if l.Reason != "" {
				reason = ": " + l.Reason
			}
			fmt.Fprintf(stdout, "#%d %s %s by %s until %s%s\n", l.ID, l.Target, l.State, l.Holder, clockTime(l.EndsAt), reason)
		}
		for _, t := range out.Waiting {
			fmt.Fprintf(stdout, "waiting: ticket %d %s for %s (until %s): %s\n", t.ID, t.Target, t.Holder, clockTime(t.Until), t.Why)
		}
		return 0
	case "release", "extend":
		if len(rest) != 2 {
			return usage()
		}
		var l power.Lease
		var code int
		if rest[0] == "release" {
			code, err = c.call("DELETE", "/api/v1/leases/"+rest[1], nil, &l)
		} else {
			code, err = c.call("POST", "/api/v1/leases/"+rest[1]+"/extend", map[string]string{"for": dur.String()}, &l)
		}
		if err != nil {
			fmt.Fprintf(stderr, "foghorn lease: %v\n", err)
			return refusedCode(code)
		}
		fmt.Fprintf(stdout, "lease #%d %s: %s %s until %s\n", l.ID, rest[0]+"ed", l.Target, l.State, clockTime(l.EndsAt))
		return 0
	}
	if len(rest) != 1 {
		return usage()
	}
	if *dur <= 0 {
		fmt.Fprintln(stderr, "foghorn lease: say how long, e.g. --for 20m")
		return 2
	}
	return c.lease(rest[0], *dur, *reason, *wait, stdout, stderr)
}

// refusedCode is the exit code for an API answer: 3 for a refusal (409),
// else 1.
func refusedCode(status int) int {
	if status == http.StatusConflict {
		return 3
	}
	return 1
}

// lease asks for a lease, waiting up to wait for it: the request queues
// as a ticket, kept alive by polling; after a restart of foghorn the
// ticket is gone and the request is made again with the wait left.
func (c *client) lease(host string, dur time.Duration, reason string, wait time.Duration, stdout, stderr io.Writer) int {
	deadline := time.Now().Add(wait)
	said := ""
	say := func(why string) {
		if why != "" && why != said {
			fmt.Fprintf(stdout, "waiting: %s\n", why)
			said = why
		}
	}
	for {
		left := time.Until(deadline).Round(time.Second)
		req := leaseRequest{Target: host, For: dur.String(), Reason: reason}
		if wait > 0 {
			if left <= 0 {
				left = 0
			}
			req.Wait = left.String()
		}
		var out struct {
			power.Lease
			Ticket  int64  `json:"ticket"`
			Why     string `json:"why"`
			Refused string `json:"refused"`
		}
		code, err := c.call("POST", "/api/v1/leases", req, &out)
		switch {
		case err != nil && code == 0 && wait > 0 && time.Now().Before(deadline):
			// foghorn restarting: try again while the wait lasts.
			fmt.Fprintf(stderr, "foghorn lease: %v; trying again\n", err)
			time.Sleep(time.Second)
			continue
		case code == http.StatusConflict:
			fmt.Fprintln(stdout, out.Refused)
			return 3
		case err != nil:
			fmt.Fprintf(stderr, "foghorn lease: %v\n", err)
			return 1
		case code == http.StatusCreated:
			granted(stdout, out.Lease)
			return 0
		}
		say(out.Why)
		id := out.Ticket
		for {
			var t power.Ticket
			code, err := c.call("GET", fmt.Sprintf("/api/v1/leases/tickets/%d?why=%s", id, url.QueryEscape(said)), nil, &t)
			switch {
			case code == http.StatusNotFound:
				fmt.Fprintf(stdout, "foghorn lost ticket %d (restarted?); asking again with %s of the wait left\n", id, time.Until(deadline).Round(time.Second))
			case err != nil && time.Now().Before(deadline):
				time.Sleep(time.Second)
				continue
			case err != nil:
				fmt.Fprintf(stderr, "foghorn lease: %v\n", err)
				return 1
			case t.State == "granted" && t.Lease != nil:
				granted(stdout, *t.Lease)
				return 0
			case t.State == "refused":
				fmt.Fprintln(stdout, t.Why)
				return 3
			default:
				say(t.Why)
				continue
			}
			break
		}
	}
}

func granted(w io.Writer, l power.Lease) {
	fmt.Fprintf(w, "lease #%d granted: %s until %s\n", l.ID, l.Target, clockTime(l.EndsAt))
}

// clockTime is a time of day as the CLI prints it, with its zone: the
// server's refusals say UTC, and a script's log must not leave the reader
// guessing which clock "until 03:20" is on.
func clockTime(t time.Time) string { return t.Local().Format("15:04:05 MST") }
