package main

// The ICMP rows: probes/bench -kind icmp, foghorn's shared ICMP engine
// against fping over the same 127.x addresses on the same core in the same
// run (issue 17). Kept apart from main.go so it merges with other rows.

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
)

type icmpFigures struct {
	ok                        bool
	targets, count            int
	interval                  string
	firstRound                float64 // s
	perPing, share            float64 // µs, % of a core
	fpingPerPing, fpingShare  float64
	fpingCmd                  string
	ratio                     float64
	falseCritical             int
	lateP50, lateP99, lateMax string
	rss, peak                 float64 // MB
}

var (
	reICMPHead  = regexp.MustCompile(`ICMP benchmark: (\d+) icmp targets on loopback, (\d+) pings every (\S+),`)
	reICMPCPU   = regexp.MustCompile(`foghorn CPU per ping:\s+([\d.]+)µs\s+\[\d+ pings in \S+ ([\d.]+)% of a core`)
	reFpingCPU  = regexp.MustCompile(`fping CPU per ping:\s+([\d.]+)µs\s+\[(.*): [\d.]+ pings in \S+ ([\d.]+)% of a core\]`)
	reICMPRatio = regexp.MustCompile(`ratio foghorn/fping:\s+([\d.]+)×`)
	reICMPFalse = regexp.MustCompile(`false CRITICAL:\s+(\d+)`)
	reICMPRSS   = regexp.MustCompile(`RSS:\s+([\d.]+)MB\s+\(peak ([\d.]+)MB;`) // both cases' lines
)

// icmpBench builds probes/bench and runs its ICMP case: targets with
// count pings every interval.
func (r *runner) icmpBench(targets, count int, interval, measure string) icmpFigures {
	dir, err := os.MkdirTemp("", "foghorn-bench-")
	if err != nil {
		r.failed = append(r.failed, "probes/bench -kind icmp")
		return icmpFigures{}
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "probes-bench")
	r.run("go", "build", "-o", bin, "./probes/bench")
	return parseICMP(r.run(bin, "-kind", "icmp", "-targets", strconv.Itoa(targets), "-count", strconv.Itoa(count),
		"-interval", interval, "-measure", measure))
}

func parseICMP(out string) icmpFigures {
	var f icmpFigures
	num := func(s string) float64 { v, _ := strconv.ParseFloat(s, 64); return v }
	if m := reICMPHead.FindStringSubmatch(out); m != nil {
		f.targets, _ = strconv.Atoi(m[1])
		f.count, _ = strconv.Atoi(m[2])
		f.interval = m[3]
	}
	if m := reFirst.FindStringSubmatch(out); m != nil {
		f.firstRound = num(m[1])
	}
	if m := reICMPCPU.FindStringSubmatch(out); m != nil {
		f.perPing, f.share, f.ok = num(m[1]), num(m[2]), true
	}
	if m := reFpingCPU.FindStringSubmatch(out); m != nil {
		f.fpingPerPing, f.fpingCmd, f.fpingShare = num(m[1]), m[2], num(m[3])
	}
	if m := reICMPRatio.FindStringSubmatch(out); m != nil {
		f.ratio = num(m[1])
	}
	if m := reICMPFalse.FindStringSubmatch(out); m != nil {
		f.falseCritical, _ = strconv.Atoi(m[1])
	}
	if m := reLate.FindStringSubmatch(out); m != nil {
		f.lateP50, f.lateP99, f.lateMax = m[1], m[2], m[3]
	}
	if m := reICMPRSS.FindStringSubmatch(out); m != nil {
		f.rss, f.peak = num(m[1]), num(m[2])
	}
	return f
}

// printICMP adds the group of rows of one ICMP case. The ratio and RSS
// targets are those of the 10,000 × 3 case (issue 17); at 1 ping a probe
// the per-probe costs (scheduler, classifier) weigh per ping three times
// as much, and that case states its CPU share and false downs.
func printICMP(row func(what, figure, target, source string), f icmpFigures) {
	const src = "probes/bench -kind icmp"
	if !f.ok {
		row("icmp rows (foghorn against fping)", "n/a", "", src+" (skipped or failed)")
		return
	}
	ratioTarget, rssTarget := "<= 1.5×", "<= 60 MB"
	if f.count < 3 {
		ratioTarget, rssTarget = "", ""
	}
	row(fmt.Sprintf("icmp: %d × %d every %s", f.targets, f.count, f.interval),
		fmt.Sprintf("%.1f µs/ping, %.1f%% of a core (first full round %.2fs)", f.perPing, f.share, f.firstRound), "", src)
	if f.fpingPerPing > 0 {
		row("  fping, same addresses, rate and core", fmt.Sprintf("%.1f µs/ping, %.1f%% of a core (%s)", f.fpingPerPing, f.fpingShare, f.fpingCmd), "", src)
		row("  CPU per ping, foghorn / fping", fmt.Sprintf("%.2f×", f.ratio), ratioTarget, src)
	}
	row("  false CRITICAL (every address answers)", strconv.Itoa(f.falseCritical), "0", src)
	row("  probe lateness p99", fmt.Sprintf("%s (p50 %s, max %s)", f.lateP99, f.lateP50, f.lateMax), "<= 1s", src)
	row("  RSS", fmt.Sprintf("%.1f MB (peak %.1f MB)", f.rss, f.peak), rssTarget, src)
}
