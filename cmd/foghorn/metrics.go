package main

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"foghorn/probes"
)

// metrics are foghorn's counters on /metrics. A registry of our own keeps
// tests independent of the global one.
type metrics struct {
	reg        *prometheus.Registry
	results    *prometheus.CounterVec
	up         *prometheus.GaugeVec
	reloads    *prometheus.CounterVec
	lastReload prometheus.Gauge
	beats      *prometheus.CounterVec
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		results: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "foghorn_probe_results_total", Help: "Probe results by kind and status.",
		}, []string{"kind", "status"}),
		up: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "foghorn_target_up", Help: "1 if the target is up, 0 if down (after rise/fall).",
		}, []string{"target"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "foghorn_config_reloads_total", Help: "Config loads by result (ok, refused).",
		}, []string{"result"}),
		lastReload: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "foghorn_config_last_reload_success_timestamp_seconds", Help: "When a config was last loaded.",
		}),
		beats: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "foghorn_outbound_heartbeats_total", Help: "Outbound heartbeats by result (sent, failed, withheld while unhealthy).",
		}, []string{"result"}),
	}
	build := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "foghorn_build_info", Help: "Always 1; the version label says which foghorn.",
		ConstLabels: prometheus.Labels{"version": version},
	})
	build.Set(1)
	m.reg.MustRegister(m.results, m.up, m.reloads, m.lastReload, m.beats, build,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) result(r probes.Result) { m.results.WithLabelValues(r.Kind, r.Status.String()).Inc() }

func (m *metrics) state(c probes.Change) {
	v := 0.0
	if c.To == probes.Up {
		v = 1
	}
	m.up.WithLabelValues(c.Target).Set(v)
}

func (m *metrics) reload(ok bool) {
	if !ok {
		m.reloads.WithLabelValues("refused").Inc()
		return
	}
	m.reloads.WithLabelValues("ok").Inc()
	m.lastReload.SetToCurrentTime()
}

func (m *metrics) handler() http.Handler { return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}) }

func (m *metrics) heartbeat(result string) { m.beats.WithLabelValues(result).Inc() }
