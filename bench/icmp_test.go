package main

import (
	"strings"
	"testing"
)

// Verbatim lines of probes/bench -kind icmp.
func TestParseICMP(t *testing.T) {
	f := parseICMP(`foghorn ICMP benchmark: 10000 icmp targets on loopback, 3 pings every 10s, GOMAXPROCS=1, pinned to CPU 1 of 2
first full round:        4.59s   (target: within one interval, 10s)  met
foghorn CPU per ping:    52.2µs  [45188 pings in 15.001s, 15.7% of a core, 1 sockets]
fping CPU per ping:      40.0µs  [fping -l -q -Q 3600 -p 3333 -i 0.300 -t 1000 -f FILE: 45000 pings in 15s, 12.0% of a core]
ratio foghorn/fping:     1.31×   (target <= 1.5×)  met
false CRITICAL:             0   (every target answers; target 0)  met
lateness of starts:    p50 <= 1ms, p99 <= 2ms, max 20.925ms  (target p99 <= 1s)  met
RSS:                     39.1MB  (peak 39.1MB; target <= 60MB)  met
replies read 45188, stray 0
`)
	if !f.ok || f.targets != 10000 || f.count != 3 || f.interval != "10s" || f.firstRound != 4.59 || f.perPing != 52.2 || f.share != 15.7 ||
		f.fpingPerPing != 40 || f.fpingShare != 12 || f.ratio != 1.31 || f.falseCritical != 0 || f.lateP99 != "2ms" || f.peak != 39.1 ||
		!strings.HasPrefix(f.fpingCmd, "fping -l -q") {
		t.Fatalf("parsed as %+v", f)
	}
	var b strings.Builder
	(&results{icmp: []icmpFigures{f}}).print(&b)
	for _, want := range []string{"icmp: 10000 × 3 every 10s", "52.2 µs/ping", "1.31×", "<= 1.5×", "39.1 MB"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
}
