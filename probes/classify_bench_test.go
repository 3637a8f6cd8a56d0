package probes

import (
	"fmt"
	"testing"
	"time"
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
	c := NewClassifier(ClassifierOptions{})
	c.Configure(cfg)
	start := time.Now()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		t := &cfg.Targets[i%len(cfg.Targets)]
		c.Observe(Result{Target: t.Name, Start: start.Add(time.Duration(i) * time.Millisecond), Status: OK, Msg: "connected"})
		i++
	}
}
