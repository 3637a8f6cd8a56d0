package main

import "github.com/prometheus/client_golang/prometheus"

// storeFallback shows on /metrics that the escalation engine is paging
// without its store (disk full, I/O errors): pages still go out, but
// unrecorded — no delivery tracking, and acks cannot be recorded.
type storeFallback struct{ d *daemon }

var (
	unrecordedDesc = prometheus.NewDesc("foghorn_escalation_unrecorded_pages_total",
		"Pages sent without being recorded because the store failed (see the ERROR log).", nil, nil)
	fromMemoryDesc = prometheus.NewDesc("foghorn_escalation_paging_from_memory",
		"Alerts and incidents being paged from memory now because the store cannot record them.", nil, nil)
)

func (s storeFallback) Describe(ch chan<- *prometheus.Desc) {
	ch <- unrecordedDesc
	ch <- fromMemoryDesc
}

func (s storeFallback) Collect(ch chan<- prometheus.Metric) {
	total, pending := s.d.eng.Unrecorded()
	ch <- prometheus.MustNewConstMetric(unrecordedDesc, prometheus.CounterValue, float64(total))
	ch <- prometheus.MustNewConstMetric(fromMemoryDesc, prometheus.GaugeValue, float64(pending))
}
