package main

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"foghorn/probes"
	"foghorn/probes/classify"
)

// metrics are foghorn's counters on /metrics. A registry of our own keeps
// tests independent of the global one.
type metrics struct {
	reg        *prometheus.Registry
	results    *prometheus.CounterVec
	reloads    *prometheus.CounterVec
	lastReload prometheus.Gauge
	beats      *prometheus.CounterVec
	tests      *prometheus.CounterVec
	latency    *prometheus.GaugeVec
	status     *prometheus.GaugeVec
	// leaseRequests counts lease requests by result (lease.go).
	leaseRequests *prometheus.CounterVec
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		results: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "foghorn_probe_results_total", Help: "Probe results by kind and status.",
		}, []string{"kind", "status"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "foghorn_config_reloads_total", Help: "Config loads by result (ok, refused).",
		}, []string{"result"}),
		lastReload: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "foghorn_config_last_reload_success_timestamp_seconds", Help: "When a config was last loaded.",
		}),
		latency: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "foghorn_probe_duration_seconds", Help: "How long the target's last probe took.",
		}, []string{"target"}),
		status: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "foghorn_probe_status", Help: "The target's last probe result: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.",
		}, []string{"target"}),
		tests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "foghorn_test_pages_total", Help: "Test pages by result (answered, unanswered).",
		}, []string{"result"}),
		leaseRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "foghorn_lease_requests_total", Help: "Maintenance lease requests by result (granted, refused, queued).",
		}, []string{"result"}),
		beats: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "foghorn_outbound_heartbeats_total", Help: "Outbound heartbeats by result (sent, failed, withheld while unhealthy).",
		}, []string{"result"}),
	}
	build := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "foghorn_build_info", Help: "Always 1; the version label says which foghorn.",
		ConstLabels: prometheus.Labels{"version": version},
	})
	build.Set(1)
	m.reg.MustRegister(m.leaseRequests, m.results, m.reloads, m.lastReload, m.beats, m.tests, m.latency, m.status, build,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.reg.MustRegister(icmpMetrics()...)
	return m
}

// icmpMetrics count what the shared ICMP engine does. A stray reply is an
// echo reply with our identifier that no probe waits for: late (after its
// probe gave up), a duplicate, or forged. Many of them while probes report
// loss mean replies come back slower than the probes' timeouts.
func icmpMetrics() []prometheus.Collector {
	counter := func(name, help string, v func(probes.PingStats) uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return float64(v(probes.Pings())) })
	}
	return []prometheus.Collector{
		counter("foghorn_icmp_echoes_sent_total", "ICMP echo requests sent by icmp probes and canaries.", func(p probes.PingStats) uint64 { return p.Sent }),
		counter("foghorn_icmp_stray_replies_total", "ICMP echo replies with our identifier that no probe waited for (late, duplicate or forged).", func(p probes.PingStats) uint64 { return p.Stray }),
		counter("foghorn_icmp_sockets_opened_total", "ICMP sockets opened: one per address family and mode, plus one after each failure.", func(p probes.PingStats) uint64 { return p.Sockets }),
	}
}

func (m *metrics) result(r probes.Result) {
	m.results.WithLabelValues(r.Kind, r.Status.String()).Inc()
	m.latency.WithLabelValues(r.Target).Set(r.Duration.Seconds())
	m.status.WithLabelValues(r.Target).Set(float64(r.Status))
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

func (m *metrics) testPage(answered bool) {
	if answered {
		m.tests.WithLabelValues("answered").Inc()
		return
	}
	m.tests.WithLabelValues("unanswered").Inc()
}

// live reads, at scrape time, what the daemon's parts know: open incidents
// by severity and state, how far the engine lags, whether foghorn is blind,
// and each target's state, from the classifier that owns it (restored
// states included: a target down before a restart is 0 at once after it).
type live struct{ d *daemon }

var (
	openDesc  = prometheus.NewDesc("foghorn_incidents_open", "Open incidents by severity and state.", []string{"severity", "state"}, nil)
	lagDesc   = prometheus.NewDesc("foghorn_engine_lag_seconds", "How long the oldest due escalation step has waited.", nil, nil)
	blindDesc = prometheus.NewDesc("foghorn_blind", "1 while foghorn's canaries fail: it cannot see the site and pages nobody about it.", nil, nil)
	upDesc    = prometheus.NewDesc("foghorn_target_up", "1 if the target is up, 0 if down (after rise/fall).", []string{"target"}, nil)
	lateDesc  = prometheus.NewDesc("foghorn_probe_lateness_p99_seconds", "p99 of probe start lateness against schedule (bucket upper bound).", nil, nil)
)

func (l live) Describe(ch chan<- *prometheus.Desc) {
	ch <- openDesc
	ch <- lagDesc
	ch <- blindDesc
	ch <- lateDesc
	ch <- upDesc
}

func (l live) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if incs, err := l.d.eng.Open(ctx); err == nil {
		n := map[[2]string]int{}
		for _, sev := range []string{"info", "warning", "critical"} {
			for _, st := range []string{"triggered", "acknowledged"} {
				n[[2]string{sev, st}] = 0
			}
		}
		for _, inc := range incs {
			n[[2]string{string(inc.Severity), inc.State}]++
		}
		for k, v := range n {
			ch <- prometheus.MustNewConstMetric(openDesc, prometheus.GaugeValue, float64(v), k[0], k[1])
		}
	}
	if lag, err := l.d.eng.Lag(ctx); err == nil {
		ch <- prometheus.MustNewConstMetric(lagDesc, prometheus.GaugeValue, lag.Seconds())
	}
	st := l.d.sched.Stats()
	blind := 0.0
	if b, _ := l.d.cls.Blind(); b {
		blind = 1
	}
	ch <- prometheus.MustNewConstMetric(blindDesc, prometheus.GaugeValue, blind)
	ch <- prometheus.MustNewConstMetric(lateDesc, prometheus.GaugeValue, st.LateP99.Seconds())
	for _, t := range l.d.cls.Targets() {
		v := 0.0
		switch t.State {
		case classify.Up:
			v = 1
		case classify.Down:
		default:
			continue // not judged yet: no sample, as before a first rise or fall
		}
		ch <- prometheus.MustNewConstMetric(upDesc, prometheus.GaugeValue, v, t.Target)
	}
}
