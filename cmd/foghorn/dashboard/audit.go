package dashboard

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"time"

	"foghorn/store"
)

// Audit reads the audit trail; *store.DB is one.
type Audit interface {
	Audit(ctx context.Context, f store.AuditFilter) ([]store.AuditEntry, error)
}

var _ Audit = (*store.DB)(nil)

// auditSince are the spans the audit page offers.
var auditSince = []struct{ Label, Value string }{
	{"last hour", "1h"}, {"last 24 hours", "24h"}, {"last 7 days", "168h"}, {"last 30 days", "720h"},
}

type auditView struct {
	pageView
	Since           string
	Target, By      string // the filters; By, as Who is the reader
	SinceChoices    []struct{ Label, Value string }
	Targets, People []string
	Rows            []auditRow
	Problem         string
	Full            bool // the limit was reached: older rows exist
}

type auditRow struct {
	At       string
	What     string
	Target   string
	Incident int64
	Short    int
	Who      string
	Detail   string
	Bad      bool
}

const auditRows = 500

// auditPage lists who did what: every power attempt, acks and the rest,
// silences, overrides and config reloads, newest first.
func (d *Dashboard) auditPage(w http.ResponseWriter, r *http.Request, u *user) {
	cfg := d.o.Config()
	q := r.URL.Query()
	v := &auditView{pageView: d.base(u, "Audit trail"), Since: q.Get("since"), Target: q.Get("target"), By: q.Get("who"),
		SinceChoices: auditSince, Targets: targetNames(cfg)}
	if !slices.ContainsFunc(auditSince, func(c struct{ Label, Value string }) bool { return c.Value == v.Since }) {
		v.Since = "24h"
	}
	for _, p := range cfg.People {
		v.People = append(v.People, p.Name)
	}
	v.People = append(v.People, cfg.Tokens...)
	v.People = append(v.People, "api", "automation", "sighup")
	if d.o.Audit == nil {
		v.Problem = "This foghorn has no audit trail wired to the dashboard."
		d.render(w, http.StatusOK, "audit", v)
		return
	}
	span, _ := time.ParseDuration(v.Since)
	c := d.clock(u)
	es, err := d.o.Audit.Audit(r.Context(), store.AuditFilter{Since: c.now.Add(-span), Target: v.Target, Who: v.By, Limit: auditRows})
	if err != nil {
		d.log.Error("cannot read the audit trail", "err", err)
		v.Problem = "The audit trail could not be read: " + err.Error()
	}
	v.Full = len(es) == auditRows
	for _, e := range es {
		label := what[e.Kind]
		if label == "" {
			label = e.Kind
		}
		v.Rows = append(v.Rows, auditRow{At: c.at(e.At), What: label, Target: e.Target, Incident: e.Incident, Short: e.Short,
			Who: e.Actor, Detail: e.Detail,
			Bad: strings.HasSuffix(e.Kind, "refused") || strings.HasSuffix(e.Kind, "failed")})
	}
	d.render(w, http.StatusOK, "audit", v)
}
