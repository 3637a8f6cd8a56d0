package main

import (
	"strings"
	"testing"
)

// The floor rows come from probes/bench's own lines, verbatim.
func TestParseFloor(t *testing.T) {
	f := parseFloor(`tcp floor: 66.3 µs per connect+close; foghorn 169.9 µs per probe; ratio 2.56 (<= 1.3)  NOT MET   [floor 71.1 µs before, 61.5 µs after; 20000 connects each]
  the floor paced at the probe rate (one every 1ms, 3000 connects): 131.5 µs per connect+close; foghorn ratio 1.29
  in the kernel (system time): foghorn 92.7 µs per probe, the floor 60.4 µs, paced 116.9 µs
RSS per target with history: 3.77 KiB (<= 5)  met   [RSS 49.0MB at 10000 targets - 12.2MB before any, after 3.4 rounds]
`)
	if !f.ok || f.floor != 66.3 || f.foghorn != 169.9 || f.ratio != 2.56 || f.pacedGap != "1ms" || f.paced != 131.5 ||
		f.pacedRatio != 1.29 || !f.rssOK || f.rssPerTarget != 3.77 || f.kernel != 92.7 || f.kernelFloor != 60.4 {
		t.Fatalf("parsed as %+v", f)
	}
	var b strings.Builder
	f.rows(func(what, figure, target, source string) { b.WriteString(what + "|" + figure + "|" + target + "\n") })
	for _, want := range []string{"2.56× (169.9 µs per probe; floor 66.3 µs", "1.29× (floor 131.5 µs, one every 1ms)", "3.77 KiB|<= 5 KB", "92.7 µs per probe (floor 60.4 µs)"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("rows lack %q:\n%s", want, b.String())
		}
	}
}
