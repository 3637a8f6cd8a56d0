package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"foghorn/configs"
	"foghorn/store"
)

// The audit trail, readable without sqlite3: `foghorn audit` and
// GET /api/v1/audit list who did what, when, how and why it was allowed
// or refused — power attempts, acks and the rest, silences, overrides,
// config reloads (store/audit.go says which kinds).

// parseSince reads a --since: a duration back from now ("2h", "7d"),
// a date ("2026-12-01", local time) or an RFC 3339 time. "" is no limit.
func parseSince(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	if n, ok := strings.CutSuffix(s, "d"); ok {
		if days, err := strconv.Atoi(n); err == nil && days > 0 {
			return now.AddDate(0, 0, -days), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return now.Add(-d), nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.ParseInLocation("2006-01-02", s, time.Local); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("since %q: write a time back from now (30m, 2h, 7d), a date (2026-12-01) or an RFC 3339 time", s)
}

// auditFilter reads the filters of GET /api/v1/audit.
func auditFilter(q url.Values, now time.Time) (store.AuditFilter, error) {
	since, err := parseSince(q.Get("since"), now)
	if err != nil {
		return store.AuditFilter{}, err
	}
	f := store.AuditFilter{Since: since, Target: q.Get("target"), Who: q.Get("who")}
	if s := q.Get("limit"); s != "" {
		if f.Limit, err = strconv.Atoi(s); err != nil || f.Limit < 1 {
			return f, fmt.Errorf("limit %q: use a number of rows, e.g. 100", s)
		}
	}
	return f, nil
}

func (d *daemon) auditJSON(w http.ResponseWriter, r *http.Request) {
	f, err := auditFilter(r.URL.Query(), time.Now())
	if err != nil {
		apiError(w, http.StatusBadRequest, err.Error())
		return
	}
	es, err := d.db.Audit(r.Context(), f)
	if err != nil {
		d.log.Error("cannot read the audit trail", "err", err)
		apiError(w, http.StatusInternalServerError, "cannot read the audit trail; see foghorn's log")
		return
	}
	writeJSON(w, es)
}

// cmdAudit prints the audit trail. With -config (or -data-dir) it reads
// the store itself, read-only and without the data dir's lock, so it
// works on the VPS whether foghorn runs or not; with -url it asks a
// running foghorn's API, from anywhere.
func cmdAudit(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("audit", stdout, stderr)
	cfgPath := fs.String("config", "", "read the store in this config `FILE`'s data_dir (works while foghorn is down)")
	dataDir := fs.String("data-dir", "", "read the store in this data `DIR`")
	base := fs.String("url", "", "ask a running foghorn at this `URL` instead (default FOGHORN_URL when no -config or -data-dir)")
	since := fs.String("since", "24h", "from `WHEN`: 30m, 2h, 7d, 2026-12-01 or an RFC 3339 time; \"\" for all")
	target := fs.String("target", "", "only acts on this target `NAME` (power, its incidents, silences naming it)")
	who := fs.String("who", "", "only acts by this person or API token `NAME`")
	limit := fs.Int("limit", 200, "at most `N` rows, newest first")
	asJSON := fs.Bool("json", false, "print JSON")
	if code, ok := fs.parse(args); !ok {
		return code
	}
	if *base == "" && *cfgPath == "" && *dataDir == "" {
		*base = os.Getenv("FOGHORN_URL")
	}
	now := time.Now()
	q := url.Values{"since": {*since}, "target": {*target}, "who": {*who}, "limit": {strconv.Itoa(*limit)}}
	f, err := auditFilter(q, now)
	if err != nil {
		fmt.Fprintln(stderr, "foghorn audit:", err)
		return 2
	}
	var es []store.AuditEntry
	switch {
	case *base != "":
		c := &client{base: *base, token: os.Getenv("FOGHORN_API_TOKEN"), http: &http.Client{Timeout: 15 * time.Second}}
		if *cfgPath != "" && c.token == "" {
			if cfg, err := configs.Load(*cfgPath); err == nil {
				c.token = cfg.Server.APIToken.Reveal()
			}
		}
		if err := c.do("GET", "/api/v1/audit?"+q.Encode(), nil, &es); err != nil {
			fmt.Fprintln(stderr, "foghorn audit:", err)
			return 1
		}
	case *cfgPath != "" || *dataDir != "":
		dir := *dataDir
		if dir == "" {
			cfg, err := configs.Load(*cfgPath)
			if err != nil {
				fmt.Fprintln(stderr, err)
				fmt.Fprintln(stderr, "foghorn audit: cannot read the config; give the data dir with -data-dir instead")
				return 1
			}
			dir = cfg.Server.DataDir
		}
		if es, err = store.ReadAudit(context.Background(), dir, f); err != nil {
			fmt.Fprintln(stderr, "foghorn audit:", err)
			return 1
		}
	default:
		fmt.Fprintln(stderr, "foghorn audit: say where to read: -config FILE or -data-dir DIR (the store itself), or -url U (a running foghorn)")
		return 2
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(es)
		return 0
	}
	printAudit(stdout, es)
	return 0
}

// printAudit writes one act a line, oldest first as a log reads.
func printAudit(w io.Writer, es []store.AuditEntry) {
	if len(es) == 0 {
		fmt.Fprintln(w, "nothing recorded in that time")
		return
	}
	for i := len(es) - 1; i >= 0; i-- {
		e := es[i]
		what := e.Target
		if e.Short > 0 {
			what = strings.TrimSpace(fmt.Sprintf("#%d %s", e.Short, e.Target))
		} else if what == "" {
			what = e.Subject
		}
		fmt.Fprintf(w, "%s  %-24s %-14s %-14s %s\n", e.At.Local().Format("2006-01-02 15:04:05"), e.Kind, what, e.Actor, e.Detail)
	}
}
