package probes

import (
	"sync/atomic"
	"time"
)

// Stats are the scheduler's own figures: for /metrics, and for the
// benchmark that holds it to its targets (probes on time, no bunching).
type Stats struct {
	Targets  int    // targets scheduled
	Canaries int    // canaries scheduled
	InFlight int    // probes running now
	Probes   uint64 // probes started since the scheduler was made
	// Lateness of probe starts against their schedule: quantiles are the
	// upper bound of the histogram bucket they fall in; Max is exact.
	LateP50, LateP99, LateMax time.Duration
}

// lateBounds are the histogram's bucket upper bounds, 1-2-5 steps.
var lateBounds = [...]time.Duration{
	100 * time.Microsecond, 200 * time.Microsecond, 500 * time.Microsecond,
	time.Millisecond, 2 * time.Millisecond, 5 * time.Millisecond,
	10 * time.Millisecond, 20 * time.Millisecond, 50 * time.Millisecond,
	100 * time.Millisecond, 200 * time.Millisecond, 500 * time.Millisecond,
	time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, time.Minute,
}

// lateness is a lock-free histogram: probes record into it from many
// goroutines, a thousand times a second.
type lateness struct {
	n      [len(lateBounds) + 1]atomic.Uint64
	max    atomic.Int64
	probes atomic.Uint64
}

func (l *lateness) add(d time.Duration) {
	l.probes.Add(1)
	d = max(d, 0)
	i := 0
	for i < len(lateBounds) && d > lateBounds[i] {
		i++
	}
	l.n[i].Add(1)
	for {
		m := l.max.Load()
		if int64(d) <= m || l.max.CompareAndSwap(m, int64(d)) {
			return
		}
	}
}

// quantile is the bucket bound below which a share q of starts fell.
func (l *lateness) quantile(q float64) time.Duration {
	var total uint64
	var counts [len(lateBounds) + 1]uint64
	for i := range l.n {
		counts[i] = l.n[i].Load()
		total += counts[i]
	}
	if total == 0 {
		return 0
	}
	want := uint64(q*float64(total) + 0.5)
	var seen uint64
	for i, c := range counts {
		seen += c
		if seen >= want && c > 0 || seen >= total {
			if i < len(lateBounds) {
				return lateBounds[i]
			}
			return time.Duration(l.max.Load())
		}
	}
	return time.Duration(l.max.Load())
}
