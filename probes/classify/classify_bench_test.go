package classify

import (
	"fmt"
	"testing"
	"time"

	"foghorn/probes"
)

// BenchmarkClassifyObserve is the classifier's share of one probe: 10,000
// targets at a 10s interval make 1,000 of these a second.
func BenchmarkClassifyObserve(b *testing.B) {
	var names []string
	for i := range 1000 {
		names = append(names, fmt.Sprintf("host-%d<rt%d", i, i%10))
	}
	for i := range 10 {
		names = append(names, fmt.Sprintf("rt%d", i))
	}
	cfg := simConfig(names...)
	c := New(Options{})
	c.Configure(configOf(cfg))
	start := time.Now()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		t := &cfg.Targets[i%len(cfg.Targets)]
		c.Observe(probes.Result{Target: t.Name, Start: start.Add(time.Duration(i) * time.Millisecond), Status: probes.OK, Msg: "connected"})
		i++
	}
}
