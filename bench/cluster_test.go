package main

import (
	"strings"
	"testing"
	"time"
)

// The cluster figures are read from cmd/foghorn's test 4 log line and the
// escalation benchmark's line, verbatim.
func TestParseCluster(t *testing.T) {
	a := parseClusterAck(`=== RUN   TestHAAckOnOneNodeHangsUpTheOthersRingingCall
    cluster_ha_e2e_test.go:629: 2 nodes, 20 trials: ack on another node -> the first one's ringing call hung up: p50 41ms, p99 1.002s, max 1.002s
--- PASS: TestHAAckOnOneNodeHangsUpTheOthersRingingCall (120.04s)`)
	if !a.ok || a.nodes != 2 || a.trials != 20 || a.p50 != 41*time.Millisecond || a.p99 != 1002*time.Millisecond {
		t.Fatalf("test 4 parsed as %+v", a)
	}
	m := parseGoBench(`BenchmarkClusterJoin1000-2   	       1	        51.98 converge-ms	      2000 entries	       111.1 stored-ms`)
	var b strings.Builder
	(&results{escalation: m, clusterAck: a}).print(&b)
	for _, want := range []string{"52 ms (2000 entries; in its store 111 ms)", "1.002s (p50 41ms, max 1.002s; 20 trials"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
}
