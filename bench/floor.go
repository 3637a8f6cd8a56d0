package main

import (
	"fmt"
	"regexp"
	"strconv"
)

// tcpFloor is probes/bench's TCP figures against the kernel's floor: CPU
// per probe over a bare connect+close loop (tight, and paced at the probe
// rate), and RSS per target with its history.
type tcpFloor struct {
	ok                    bool
	floor, foghorn, ratio float64 // µs, µs, ×
	pacedGap              string
	paced, pacedRatio     float64 // µs, ×
	rssPerTarget          float64 // KiB
	rssOK                 bool
	kernel, kernelFloor   float64 // µs of system time per probe, per bare check
}

var (
	reFloor  = regexp.MustCompile(`tcp floor: ([\d.]+) µs per connect\+close; foghorn ([\d.]+) µs per probe; ratio ([\d.]+)`)
	rePaced  = regexp.MustCompile(`floor paced at the probe rate \(one every (\S+), \d+ connects\): ([\d.]+) µs per connect\+close; foghorn ratio ([\d.]+)`)
	reRSSPer = regexp.MustCompile(`RSS per target with history: ([\d.]+) KiB`)
	reKernel = regexp.MustCompile(`in the kernel \(system time\): foghorn ([\d.]+) µs per probe, the floor ([\d.]+) µs`)
)

func parseFloor(out string) tcpFloor {
	var f tcpFloor
	num := func(s string) float64 { v, _ := strconv.ParseFloat(s, 64); return v }
	if m := reFloor.FindStringSubmatch(out); m != nil {
		f.ok, f.floor, f.foghorn, f.ratio = true, num(m[1]), num(m[2]), num(m[3])
	}
	if m := rePaced.FindStringSubmatch(out); m != nil {
		f.pacedGap, f.paced, f.pacedRatio = m[1], num(m[2]), num(m[3])
	}
	if m := reKernel.FindStringSubmatch(out); m != nil {
		f.kernel, f.kernelFloor = num(m[1]), num(m[2])
	}
	if m := reRSSPer.FindStringSubmatch(out); m != nil {
		f.rssOK, f.rssPerTarget = true, num(m[1])
	}
	return f
}

// rows adds the floor's rows to the table.
func (f tcpFloor) rows(row func(what, figure, target, source string)) {
	if f.ok {
		fig := fmt.Sprintf("%.2f× (%.1f µs per probe; floor %.1f µs per connect+close)", f.ratio, f.foghorn, f.floor)
		row("TCP CPU per probe / kernel floor", fig, "<= 1.3×", "probes/bench")
		if f.pacedGap != "" {
			row("  / the floor paced at the probe rate", fmt.Sprintf("%.2f× (floor %.1f µs, one every %s)", f.pacedRatio, f.paced, f.pacedGap), "", "probes/bench")
		}
		if f.kernel > 0 {
			row("  of which in the kernel", fmt.Sprintf("%.1f µs per probe (floor %.1f µs)", f.kernel, f.kernelFloor), "", "probes/bench")
		}
	}
	if f.rssOK {
		row("RSS per target with history", fmt.Sprintf("%.2f KiB", f.rssPerTarget), "<= 5 KB", "probes/bench")
	}
}
