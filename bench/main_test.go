package main

import (
	"strings"
	"testing"
)

// The table is only as good as its parsing of the benchmarks' own lines:
// these are verbatim lines of probes/bench and go test -bench.
func TestParse(t *testing.T) {
	p := parseProbes(`foghorn scheduler benchmark: 10000 TCP targets on loopback, interval 10s, timeout 5s, 20% silently dropping, GOMAXPROCS=1, 2 CPUs
first full round:        9.51s   (target: within one interval, 10s)  met
CPU per probe:          0.097ms  (target <= 0.2ms)  met   [14879 probes in 15.001s]
CPU, share of a core:     9.6%   (target < 20%)  met
RSS:                     68.9MB  (peak 68.9MB, 68.6MB after the kills; target < 80MB)  met
lateness of starts:    p50 <= 500µs, p99 <= 5ms, max 19.845ms  (target p99 <= 1s)  met   [in flight at end 993]
detection, all:                   p50   7.1s, p95  11.7s, max  12.8s over 40  (target p95 <= 15s)  met
`)
	if !p.ok || p.targets != 10000 || p.interval != "10s" || p.firstRound != 9.51 || p.cpuPerProbe != 0.097 || p.probes != 14879 ||
		p.window != 15.001 || p.cpuShare != 9.6 || p.rss != 68.9 || p.lateP99 != "5ms" || p.detP95 != 11.7 || p.detN != 40 {
		t.Fatalf("probes/bench parsed as %+v", p)
	}
	m := parseGoBench(`BenchmarkEscalate1000-2   	       1	2149882934 ns/op	         2.585 ack-p99-ms	        40.73 dispatch-p50-ms	       108.2 dispatch-p99-ms
BenchmarkEscalate1000-2   	       1	2149882934 ns/op	         3.5 ack-p99-ms	        40.73 dispatch-p50-ms	       90.0 dispatch-p99-ms
BenchmarkEscalate1000-2   	       1	2149882934 ns/op	         1.5 ack-p99-ms	        40.73 dispatch-p50-ms	       70.0 dispatch-p99-ms
BenchmarkIntentToSimulator/sms-2         	     200	         2.131 max-ms	         0.2490 p50-ms	         1.292 p99-ms
PASS`)
	if v, _ := m.median("BenchmarkEscalate1000", "dispatch-p99-ms"); v != 90 {
		t.Errorf("median dispatch p99 = %v, want 90", v)
	}
	if v, _ := m.worst("BenchmarkEscalate1000", "ack-p99-ms"); v != 3.5 {
		t.Errorf("worst ack p99 = %v, want 3.5", v)
	}
	if v, ok := m.median("BenchmarkIntentToSimulator/sms", "p99-ms"); !ok || v != 1.292 {
		t.Errorf("sms p99 = %v %v", v, ok)
	}
	var b strings.Builder
	(&results{probes: p, escalation: m, pager: m}).print(&b)
	for _, want := range []string{"9919 of 10000 (steady state", "9.6% of a core", "68.9 MB", "p99", "90.0 ms (worst of 3: 108.2)"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
}
