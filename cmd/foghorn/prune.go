package main

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"foghorn/store"
)

// prune keeps the store to [server] retention: hourly, in the background,
// in small batches (store/prune.go), so a storm's history never grows the
// database without bound and pruning never holds up a page.
func (d *daemon) prune(ctx context.Context) {
	rows := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "foghorn_store_pruned_rows_total", Help: "Rows deleted by retention pruning, by table.",
	}, []string{"table"})
	runs := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "foghorn_store_prune_runs_total", Help: "Retention pruning runs by result (ok, failed).",
	}, []string{"result"})
	for _, t := range []string{"events", "notifications", "incidents", "inbound_sms", "twilio_sids", "used_links"} {
		rows.WithLabelValues(t) // present at 0 before the first run
	}
	d.m.reg.MustRegister(rows, runs)
	pr := &store.Pruner{
		DB:        d.db,
		Retention: func() time.Duration { return d.cfg.Load().Server.Retention.Duration },
		Log:       d.log,
		Done: func(p store.Pruned, err error) {
			if err != nil {
				runs.WithLabelValues("failed").Inc()
			} else {
				runs.WithLabelValues("ok").Inc()
			}
			rows.WithLabelValues("events").Add(float64(p.Events))
			rows.WithLabelValues("notifications").Add(float64(p.Notifications))
			rows.WithLabelValues("incidents").Add(float64(p.Incidents))
			rows.WithLabelValues("inbound_sms").Add(float64(p.InboundSMS))
			rows.WithLabelValues("twilio_sids").Add(float64(p.TwilioSIDs))
			rows.WithLabelValues("used_links").Add(float64(p.UsedLinks))
		},
	}
	pr.Run(ctx)
}
