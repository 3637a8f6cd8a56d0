// Command bench runs foghorn's benchmarks and prints one short table of the
// figures that matter for a pager (`make bench`):
//
//	go run ./bench                 # about two minutes, 10,000 targets
//	go run ./bench -targets 2000   # a quicker look
//	go run ./bench -v              # also print every benchmark's own output
//
// It measures nothing itself: it runs probes/bench (the scheduler at 10,000
// TCP targets, and at 10,000 and 50,000 ICMP targets against fping) and the `go test -bench` benchmarks of escalation, pager,
// ipmi and probes, and reads their own output lines and b.ReportMetric
// figures. Every run is bounded by -timeout.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

func main() {
	targets := flag.Int("targets", 10000, "probes/bench: TCP targets")
	measure := flag.Duration("measure", 15*time.Second, "probes/bench: steady-state window")
	victims := flag.Int("victims", 40, "probes/bench: targets killed to time detection")
	count := flag.Int("count", 3, "runs of each go test benchmark (the table shows the median)")
	timeout := flag.Duration("timeout", 5*time.Minute, "bound on each benchmark run")
	skipProbes := flag.Bool("skip-probes", false, "skip probes/bench (the 10,000-target run)")
	icmpTargets := flag.Int("icmp-targets", 10000, "probes/bench -kind icmp: targets × 3 pings every 10s (and 5× as many × 1 every 30s)")
	skipICMP := flag.Bool("skip-icmp", false, "skip the ICMP runs against fping")
	ackTrials := flag.Int("cluster-ack-trials", 20, "cmd/foghorn: acks on one foghorn timed until the other's ringing call ends (0: skip)")
	verbose := flag.Bool("v", false, "print each benchmark's own output too")
	flag.Parse()

	r := &runner{timeout: *timeout, verbose: *verbose}
	var res results
	if !*skipProbes {
		res.probes = r.probesBench(*targets, *measure, *victims)
	}
	if !*skipICMP {
		res.icmp = []icmpFigures{
			r.icmpBench(*icmpTargets, 3, "10s", measure.String()),
			r.icmpBench(5**icmpTargets, 1, "30s", measure.String()),
		}
	}
	c := strconv.Itoa(*count)
	res.escalation = r.goBench("./escalation", "Escalate1000", "-benchtime", "1x", "-count", c)
	for k, v := range r.goBench("./escalation", "DetectToIntent", "-benchtime", "200x", "-count", c) {
		res.escalation[k] = v
	}
	for k, v := range r.goBench("./escalation", "ClusterJoin1000", "-benchtime", "1x", "-count", c) {
		res.escalation[k] = v
	}
	if *ackTrials > 0 {
		res.clusterAck = r.clusterAck(*ackTrials)
	}
	res.pager = r.goBench("./pager", "IntentToSimulator|AckToCancel", "-benchtime", "300x", "-count", c)
	res.ipmi = r.goBench("./ipmi", "^BenchmarkProbe$", "-benchtime", "200x", "-count", c)
	res.classify = r.goBench("./probes", "ClassifyObserve|TCP", "-count", c)
	res.print(os.Stdout)
	if len(r.failed) > 0 {
		fmt.Fprintf(os.Stderr, "bench: %d run(s) failed: %s (rerun with -v to see why)\n", len(r.failed), strings.Join(r.failed, ", "))
		os.Exit(1)
	}
}

type runner struct {
	timeout time.Duration
	verbose bool
	failed  []string
}

// run runs one command from the module root, bounded by the timeout, and
// returns its combined output.
func (r *runner) run(name string, args ...string) string { return r.runEnv(nil, name, args...) }

// runEnv is run with env added to the command's environment.
func (r *runner) runEnv(env []string, name string, args ...string) string {
	fmt.Fprintf(os.Stderr, "bench: %s %s %s\n", strings.Join(env, " "), name, strings.Join(args, " "))
	ctx, cancel := context.WithTimeout(context.Background(), r.timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.WaitDelay = 10 * time.Second
	var out bytes.Buffer
	w := io.Writer(&out)
	if r.verbose {
		w = io.MultiWriter(&out, os.Stderr)
	}
	cmd.Stdout, cmd.Stderr = w, w
	start := time.Now()
	if err := cmd.Run(); err != nil {
		r.failed = append(r.failed, filepath.Base(name)+" "+strings.Join(args, " "))
		fmt.Fprintf(os.Stderr, "bench: %v after %s\n", err, time.Since(start).Round(time.Second))
		if !r.verbose {
			fmt.Fprint(os.Stderr, tail(out.String(), 20))
		}
	}
	return out.String()
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n") + "\n"
}

// probesBench builds probes/bench (so its own child process is the same
// binary) and runs it.
func (r *runner) probesBench(targets int, measure time.Duration, victims int) probesFigures {
	dir, err := os.MkdirTemp("", "foghorn-bench-")
	if err != nil {
		r.failed = append(r.failed, "probes/bench")
		return probesFigures{}
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "probes-bench")
	r.run("go", "build", "-o", bin, "./probes/bench")
	out := r.run(bin, "-targets", strconv.Itoa(targets), "-measure", measure.String(), "-victims", strconv.Itoa(victims))
	return parseProbes(out)
}

// goBench runs `go test -bench` in one package and returns its metrics:
// benchmark name (without the -N suffix) → unit → values, one per run.
func (r *runner) goBench(pkg, pattern string, extra ...string) metrics {
	args := append([]string{"test", "-run", "^$", "-bench", pattern}, extra...)
	return parseGoBench(r.run("go", append(args, pkg)...))
}

// clusterAck runs cmd/foghorn's test 4 (two real foghorns on loopback, one
// Twilio simulator) for trials acks and reads its own summary line: ack
// through one node's API → the other node's ringing call ended, at the
// simulator.
func (r *runner) clusterAck(trials int) clusterAckFigures {
	out := r.runEnv([]string{"FOGHORN_HA_ACK_TRIALS=" + strconv.Itoa(trials)},
		"go", "test", "-race", "-count=1", "-v", "-run", "^TestHAAckOnOneNodeHangsUpTheOthersRingingCall$", "./cmd/foghorn")
	return parseClusterAck(out)
}

// clusterAckFigures are test 4's figures.
type clusterAckFigures struct {
	ok                bool
	nodes, trials     int
	p50, p99, maximum time.Duration
}

var reClusterAck = regexp.MustCompile(`(\d+) nodes, (\d+) trials: ack on another node -> the first one's ringing call hung up: p50 (\S+), p99 (\S+), max (\S+)`)

func parseClusterAck(out string) clusterAckFigures {
	m := reClusterAck.FindStringSubmatch(out)
	if m == nil {
		return clusterAckFigures{}
	}
	var f clusterAckFigures
	f.nodes, _ = strconv.Atoi(m[1])
	f.trials, _ = strconv.Atoi(m[2])
	var e1, e2, e3 error
	f.p50, e1 = time.ParseDuration(m[3])
	f.p99, e2 = time.ParseDuration(m[4])
	f.maximum, e3 = time.ParseDuration(m[5])
	f.ok = e1 == nil && e2 == nil && e3 == nil
	return f
}

type metrics map[string]map[string][]float64

// median of one metric, and whether there was any.
func (m metrics) median(bench, unit string) (float64, bool) {
	vs := m[bench][unit]
	if len(vs) == 0 {
		return 0, false
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	return s[len(s)/2], true
}

// worst is the largest value of one metric over the runs.
func (m metrics) worst(bench, unit string) (float64, bool) {
	vs := m[bench][unit]
	if len(vs) == 0 {
		return 0, false
	}
	return slices.Max(vs), true
}

var benchLine = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+\d+\s+(.*)$`)

// parseGoBench reads the standard benchmark lines:
//
//	BenchmarkEscalate1000-2   1   2149882934 ns/op   2.585 ack-p99-ms   40.73 dispatch-p50-ms ...
func parseGoBench(out string) metrics {
	m := metrics{}
	for _, line := range strings.Split(out, "\n") {
		sm := benchLine.FindStringSubmatch(strings.TrimSpace(line))
		if sm == nil {
			continue
		}
		f := strings.Fields(sm[2])
		for i := 0; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			if m[sm[1]] == nil {
				m[sm[1]] = map[string][]float64{}
			}
			m[sm[1]][f[i+1]] = append(m[sm[1]][f[i+1]], v)
		}
	}
	return m
}

// probesFigures are probes/bench's printed figures.
type probesFigures struct {
	ok                     bool
	targets                int
	interval, timeout      string
	drop                   string
	firstRound             float64 // s
	cpuPerProbe            float64 // ms
	probes                 int
	window                 float64 // s
	cpuShare               float64 // %
	rss, peak              float64 // MB
	lateP50, lateP99, late string
	detP50, detP95, detMax float64 // s, all victims
	detN                   int
	missed                 string
	floor                  tcpFloor // bench/floor.go
}

var (
	reHead   = regexp.MustCompile(`benchmark: (\d+) TCP targets on loopback, interval (\S+), timeout (\S+), (\S+) silently dropping`)
	reFirst  = regexp.MustCompile(`first full round:\s+([\d.]+)s`)
	reCPU    = regexp.MustCompile(`CPU per probe:\s+([\d.]+)ms.*\[(\d+) probes in ([\d.]+)(m?s)\]`)
	reShare  = regexp.MustCompile(`CPU, share of a core:\s+([\d.]+)%`)
	reRSS    = regexp.MustCompile(`RSS:\s+([\d.]+)MB\s+\(peak ([\d.]+)MB, ([\d.]+)MB after`)
	reLate   = regexp.MustCompile(`lateness of starts:\s+p50 <= (\S+), p99 <= (\S+), max (\S+)`)
	reDetAll = regexp.MustCompile(`detection, all:\s+p50\s+([\d.]+)s, p95\s+([\d.]+)s, max\s+([\d.]+)s over (\d+)`)
	reMissed = regexp.MustCompile(`detection: (\d+) killed targets never paged`)
)

func parseProbes(out string) probesFigures {
	var p probesFigures
	num := func(s string) float64 { v, _ := strconv.ParseFloat(s, 64); return v }
	if m := reHead.FindStringSubmatch(out); m != nil {
		p.targets, _ = strconv.Atoi(m[1])
		p.interval, p.timeout, p.drop = m[2], m[3], m[4]
	}
	if m := reFirst.FindStringSubmatch(out); m != nil {
		p.firstRound = num(m[1])
	}
	if m := reCPU.FindStringSubmatch(out); m != nil {
		p.cpuPerProbe, p.window = num(m[1]), num(m[3])
		p.probes, _ = strconv.Atoi(m[2])
		if m[4] == "ms" {
			p.window /= 1000
		}
		p.ok = true
	}
	if m := reShare.FindStringSubmatch(out); m != nil {
		p.cpuShare = num(m[1])
	}
	if m := reRSS.FindStringSubmatch(out); m != nil {
		p.rss, p.peak = num(m[1]), max(num(m[2]), num(m[3]))
	}
	if m := reLate.FindStringSubmatch(out); m != nil {
		p.lateP50, p.lateP99, p.late = m[1], m[2], m[3]
	}
	if m := reDetAll.FindStringSubmatch(out); m != nil {
		p.detP50, p.detP95, p.detMax = num(m[1]), num(m[2]), num(m[3])
		p.detN, _ = strconv.Atoi(m[4])
	}
	if m := reMissed.FindStringSubmatch(out); m != nil {
		p.missed = m[1]
	}
	p.floor = parseFloor(out)
	return p
}

type results struct {
	probes                            probesFigures
	clusterAck                        clusterAckFigures
	escalation, pager, ipmi, classify metrics
	icmp                              []icmpFigures
}

func (r *results) print(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(what, figure, target, source string) {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", what, figure, target, source)
	}
	na := "n/a"
	ms := func(m metrics, bench, unit string) (string, float64, bool) {
		v, ok := m.median(bench, unit)
		if !ok {
			return na, 0, false
		}
		s := fmt.Sprintf("%.1f ms", v)
		if n := len(m[bench][unit]); n > 1 {
			wv, _ := m.worst(bench, unit)
			s += fmt.Sprintf(" (worst of %d: %.1f)", n, wv)
		}
		return s, v, true
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "foghorn benchmarks (figures are each benchmark's own; medians of the go test runs)")
	fmt.Fprintln(w)
	row("MEASURE", "FIGURE", "TARGET", "SOURCE")
	p := r.probes
	if p.ok {
		perIv := "?"
		if iv, err := time.ParseDuration(p.interval); err == nil && p.window > 0 {
			perIv = fmt.Sprintf("%.0f", float64(p.probes)/p.window*iv.Seconds())
		}
		row(fmt.Sprintf("targets probed per %s interval", p.interval), fmt.Sprintf("%s of %d (steady state; first full round %.2fs; %s silent)", perIv, p.targets, p.firstRound, p.drop),
			"all, first round <= interval", "probes/bench")
		row(fmt.Sprintf("CPU at %d targets (1 core)", p.targets), fmt.Sprintf("%.1f%% of a core, %.3f ms/probe", p.cpuShare, p.cpuPerProbe), "< 20%, <= 0.2 ms", "probes/bench")
		row("RSS", fmt.Sprintf("%.1f MB (peak %.1f MB)", p.rss, p.peak), "< 80 MB", "probes/bench")
		p.floor.rows(row)
		row("probe lateness p99", fmt.Sprintf("%s (p50 %s, max %s)", p.lateP99, p.lateP50, p.late), "<= 1s", "probes/bench")
		det := fmt.Sprintf("p95 %.1fs (p50 %.1fs, max %.1fs, %d victims)", p.detP95, p.detP50, p.detMax, p.detN)
		if p.missed != "" {
			det += ", " + p.missed + " MISSED"
		}
		row("detection: target dies → incident event", det, "p95 <= 15s", "probes/bench")
	} else {
		row("scheduler figures (targets/interval, CPU, RSS, lateness, detection)", na, "", "probes/bench (skipped or failed)")
	}
	s, v, ok := ms(r.escalation, "BenchmarkDetectToIntent", "p99-ms")
	row("detection → intent: event → page at the Notifier, p99", s, "", "escalation BenchmarkDetectToIntent")
	if p.ok && ok {
		row("  target dies → intent, p95 + p99", fmt.Sprintf("%.1f s", p.detP95+v/1000), "", "sum of the two above")
	}
	s, _, _ = ms(r.pager, "BenchmarkIntentToSimulator/sms", "p99-ms")
	row("intent → Twilio API (sms), p99", s, "< 50 ms", "pager BenchmarkIntentToSimulator")
	s, _, _ = ms(r.pager, "BenchmarkIntentToSimulator/voice", "p99-ms")
	row("intent → Twilio API (voice), p99", s, "< 50 ms", "pager BenchmarkIntentToSimulator")
	s, _, _ = ms(r.pager, "BenchmarkAckToCancel", "p99-ms")
	row("ack → silence: SMS ack → last ringing call cancelled, p99", s, "< 100 ms", "pager BenchmarkAckToCancel")
	s, _, _ = ms(r.escalation, "BenchmarkEscalate1000", "ack-p99-ms")
	row("  ack → no further page (1,000 open), p99", s, "< 100 ms", "escalation BenchmarkEscalate1000")
	s, _, _ = ms(r.escalation, "BenchmarkEscalate1000", "dispatch-p99-ms")
	row("engine lag, 1,000 incidents due at once, p99", s, "< 100 ms", "escalation BenchmarkEscalate1000")
	if v, ok := r.escalation.median("BenchmarkClusterJoin1000", "converge-ms"); ok {
		st, _ := r.escalation.median("BenchmarkClusterJoin1000", "stored-ms")
		en, _ := r.escalation.median("BenchmarkClusterJoin1000", "entries")
		row("cluster: node joins, has the peer's log (1,000 open incidents)", fmt.Sprintf("%.0f ms (%.0f entries; in its store %.0f ms)", v, en, st), "", "escalation BenchmarkClusterJoin1000")
	} else {
		row("cluster: node joins, has the peer's log (1,000 open incidents)", na, "", "escalation BenchmarkClusterJoin1000")
	}
	if a := r.clusterAck; a.ok {
		row("cluster: ack on one node → other's ringing call ended, p99", fmt.Sprintf("%s (p50 %s, max %s; %d trials, -race binaries)", a.p99, a.p50, a.maximum, a.trials),
			"< 1 s", "cmd/foghorn TestHAAckOnOneNode...")
	} else {
		row("cluster: ack on one node → other's ringing call ended, p99", na, "< 1 s", "cmd/foghorn TestHAAckOnOneNode... (skipped or failed)")
	}
	s, _, _ = ms(r.ipmi, "BenchmarkProbe", "p99-ms")
	row("IPMI probe (status+sensors+SEL), p99", s, "", "ipmi BenchmarkProbe (ipmi_sim)")
	if v, ok := r.classify.median("BenchmarkClassifyObserve", "ns/op"); ok {
		row("classifier, per result", fmt.Sprintf("%.0f ns", v), "", "probes BenchmarkClassifyObserve")
	} else {
		row("classifier, per result", na, "", "probes BenchmarkClassifyObserve")
	}
	if v, ok := r.classify.median("BenchmarkTCP/connect", "ns/op"); ok {
		row("TCP connect probe, loopback", fmt.Sprintf("%.0f µs", v/1000), "", "probes BenchmarkTCP")
	}
	for _, f := range r.icmp {
		printICMP(row, f)
	}
	tw.Flush()
}
