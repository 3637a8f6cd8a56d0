// Command bench holds foghorn's ipmi probe to its performance target:
// 200 BMCs (OpenIPMI ipmi_sim processes on loopback) probed every 30s by
// the real scheduler on one core (GOMAXPROCS=1), every probe on time, and
// a probe (connect or reuse the session + chassis status + sensors + SEL
// check) p99 under 50ms. It prints probe durations (first probe of each
// BMC, which connects and reads the SDRs, and the steady state on reused
// sessions), start lateness, CPU per probe, RSS and failures.
//
//	go run ./ipmi/bench                  # the full figures, about 1m40s
//	go run ./ipmi/bench -bmcs 20 -interval 5s   # a quick look
//
// It needs ipmi_sim and sdrcomp (Debian package openipmi). The sims are
// this process's children: CPU and memory figures are foghorn's alone
// (the sims' own CPU is shown beside them), but they share the machine's
// cores with it unless -pin. Every sim is killed at exit, on Ctrl-C, when
// the run overruns -deadline, and (parent-death signal) if this process
// is killed outright.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/bougou/go-ipmi/pkg/client"
	"github.com/bougou/go-ipmi/pkg/types"

	"foghorn/bench/procstat"
	"foghorn/configs"
	"foghorn/ipmi"
	"foghorn/ipmi/simtest"
	"foghorn/probes"
)

func main() {
	n := flag.Int("bmcs", 200, "BMCs: one ipmi_sim process each, on its own loopback port")
	iv := flag.Duration("interval", 30*time.Second, "probe interval")
	to := flag.Duration("timeout", 5*time.Second, "probe timeout")
	suite := flag.Int("cipher-suite", 3, "RMCP+ cipher suite (ipmi_sim works with 3 only)")
	warm := flag.Duration("warmup", 0, "warm-up before measuring: the first round (connects); default one interval")
	measure := flag.Duration("measure", 0, "measured window; default two intervals")
	sel := flag.Int("sel", 1, "SEL records logged on each sim before the run, so the SEL check reads one as on a real BMC")
	procs := flag.Int("procs", 1, "GOMAXPROCS of the prober")
	pin := flag.Bool("pin", false, "pin the prober to CPU 0 and the sims to the other CPUs (taskset)")
	deadline := flag.Duration("deadline", 0, "give up (and kill the sims) after this long; default warm-up + window + 3m")
	flag.Parse()
	if *warm <= 0 {
		*warm = *iv
	}
	if *measure <= 0 {
		*measure = 2 * *iv
	}
	if *deadline <= 0 {
		*deadline = *warm + *measure + 3*time.Minute
	}
	runtime.GOMAXPROCS(*procs)

	b := &bench{n: *n, iv: *iv, to: *to, suite: *suite, warm: *warm, measure: *measure, sel: *sel, pin: *pin}
	// Every way out goes through cleanup: the sims must not outlive us.
	onSignal(func(sig os.Signal) {
		fmt.Fprintf(os.Stderr, "bench: %v: stopping the sims\n", sig)
		b.cleanup()
		os.Exit(130)
	})
	time.AfterFunc(*deadline, func() {
		fmt.Fprintf(os.Stderr, "bench: no result within -deadline %s: stopping the sims\n", *deadline)
		b.cleanup()
		os.Exit(1)
	})
	err := b.run()
	b.cleanup()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type bench struct {
	n                     int
	iv, to, warm, measure time.Duration
	suite, sel            int
	pin                   bool

	mu      sync.Mutex
	dir     string
	stopAll func()
	sched   *probes.Scheduler
	pool    *ipmi.Pool
	once    sync.Once
}

// cleanup stops the scheduler, the pool and every sim, and removes their
// directories. Safe from any goroutine, more than once.
func (b *bench) cleanup() {
	b.once.Do(func() {
		b.mu.Lock()
		s, p, stop, dir := b.sched, b.pool, b.stopAll, b.dir
		b.mu.Unlock()
		if s != nil {
			s.Stop()
		}
		if p != nil {
			p.Close()
		}
		if stop != nil {
			stop()
		}
		if dir != "" {
			os.RemoveAll(dir)
		}
	})
}

// sample is one probe result.
type sample struct {
	target string
	start  time.Time
	took   time.Duration
	status probes.Status
	msg    string
}

func (b *bench) run() error {
	dir, err := os.MkdirTemp("", "foghorn-ipmi-bench-")
	if err != nil {
		return err
	}
	b.mu.Lock()
	b.dir = dir
	b.mu.Unlock()

	t0 := time.Now()
	sims, stop, err := simtest.StartN(dir, b.n)
	if err != nil {
		return fmt.Errorf("starting %d ipmi_sim: %w", b.n, err)
	}
	b.mu.Lock()
	b.stopAll = stop
	b.mu.Unlock()
	simPIDs := childPIDs("ipmi_sim")
	fmt.Printf("started %d ipmi_sim in %s (%d processes found)\n", len(sims), time.Since(t0).Round(time.Millisecond), len(simPIDs))
	if b.pin {
		if err := pinCPUs(simPIDs); err != nil {
			return err
		}
	}
	if b.sel > 0 {
		if err := logSEL(sims, b.sel); err != nil {
			return err
		}
	}

	cfg := &configs.Config{}
	for i, s := range sims {
		cfg.Targets = append(cfg.Targets, configs.Target{
			Name: fmt.Sprintf("bmc%03d", i), Kind: "ipmi", Address: fmt.Sprintf("%s:%d", s.Host, s.Port),
			Rise: 2, Fall: 3, Severity: "critical",
			Interval: configs.Duration{Duration: b.iv}, Timeout: configs.Duration{Duration: b.to},
			IPMI: &configs.IPMI{Username: simtest.User, Password: configs.NewSecret(simtest.Password),
				Interface: "lanplus", CipherSuite: b.suite, Port: s.Port},
		})
	}

	var (
		mu      sync.Mutex
		results []sample
	)
	pool := ipmi.NewPool()
	sched := probes.NewScheduler(probes.Options{
		Kinds: map[string]probes.Prober{"ipmi": probes.IPMIProber(pool)},
		OnResult: func(r probes.Result) {
			mu.Lock()
			results = append(results, sample{r.Target, r.Start, r.Duration, r.Status, r.Msg})
			mu.Unlock()
		},
	})
	b.mu.Lock()
	b.pool, b.sched = pool, sched
	b.mu.Unlock()

	fmt.Printf("foghorn ipmi benchmark: %d BMCs (ipmi_sim) on loopback, interval %s, timeout %s, cipher suite %d, GOMAXPROCS=%d, %d CPUs%s\n",
		b.n, b.iv, b.to, b.suite, runtime.GOMAXPROCS(0), runtime.NumCPU(), map[bool]string{true: ", prober pinned to CPU 0, sims to the rest"}[b.pin])
	fmt.Printf("warm-up %s (the first round connects), then measuring %s\n", b.warm, b.measure)
	sched.Update(probes.Config{Targets: cfg.Targets})
	time.Sleep(b.warm)

	c0, p0, w0 := procstat.CPU(), sched.Stats().Probes, time.Now()
	s0, m0 := simCPU(simPIDs), machineCPU()
	time.Sleep(b.measure)
	c1, st, w1 := procstat.CPU(), sched.Stats(), time.Now()
	s1, m1 := simCPU(simPIDs), machineCPU()
	rss, peak := procstat.Memory()
	// Probes started in the window may still be running: wait for them,
	// or their time is not counted (a slow one is what we are after).
	time.Sleep(min(b.to+time.Second, b.iv/2))

	mu.Lock()
	all := slices.Clone(results)
	mu.Unlock()
	var first, steady []time.Duration
	var failed []sample
	failedIn := 0
	seen := map[string]bool{}
	starts := map[string][]time.Time{}
	probed := map[string]int{}
	for _, r := range all {
		isFirst := !seen[r.target]
		seen[r.target] = true
		if isFirst {
			first = append(first, r.took)
		}
		inWindow := !r.start.Before(w0) && r.start.Before(w1)
		if r.status != probes.OK {
			failed = append(failed, r)
			if inWindow {
				failedIn++
			}
		}
		starts[r.target] = append(starts[r.target], r.start)
		if !inWindow {
			continue
		}
		probed[r.target]++
		if !isFirst {
			steady = append(steady, r.took)
		}
	}

	// On time: in the window each BMC runs once per interval, its starts
	// one interval apart.
	want := int(b.measure / b.iv)
	var offCount []string
	var worstGap time.Duration
	for i := range sims {
		name := fmt.Sprintf("bmc%03d", i)
		if c := probed[name]; c < want || c > want+1 {
			offCount = append(offCount, fmt.Sprintf("%s:%d", name, c))
		}
		ss := starts[name]
		// Both starts in the window: the first round is squeezed into
		// one interval, so its gap is off by design.
		for j := 1; j < len(ss); j++ {
			if ss[j-1].Before(w0) || !ss[j].Before(w1) {
				continue
			}
			worstGap = max(worstGap, absDur(ss[j].Sub(ss[j-1])-b.iv))
		}
	}

	probesRun := st.Probes - p0
	perProbe := time.Duration(int64(c1-c0) / int64(max(probesRun, 1)))
	share := float64(c1-c0) / float64(w1.Sub(w0))
	ok := func(good bool) string {
		if good {
			return "met"
		}
		return "NOT MET"
	}
	fmt.Printf("first probe per BMC (connect + SDRs + status + sensors + SEL): %s\n", quantiles(first))
	fmt.Printf("steady-state probe (reused session: status + sensors + SEL):   %s\n", quantiles(steady))
	p99 := quantile(steady, 0.99)
	fmt.Printf("  probe p99 %.1fms  (target < 50ms)  %s   [%d probes over 50ms]\n",
		ms(p99), ok(len(steady) > 0 && p99 < 50*time.Millisecond), countOver(steady, 50*time.Millisecond))
	fast, slow := countOver(steady, 0)-countOver(steady, 50*time.Millisecond), countOver(steady, 50*time.Millisecond)-countOver(steady, time.Second)
	fmt.Printf("  by duration: %d under 50ms, %d 50ms-1s, %d 1s or more (a reused session gone stale: the request times out, then a reconnect)\n",
		fast, slow, countOver(steady, time.Second))
	fmt.Printf("  first-probe p99 %.1fms  (with the connect; target < 50ms)  %s\n",
		ms(quantile(first, 0.99)), ok(len(first) > 0 && quantile(first, 0.99) < 50*time.Millisecond))
	fmt.Printf("lateness of starts:    p50 <= %s, p99 <= %s, max %s  (since the start, first round included; target p99 <= 1s)  %s\n",
		st.LateP50, st.LateP99, st.LateMax.Round(time.Microsecond), ok(st.LateP99 <= time.Second))
	fmt.Printf("on time in the window: %d probes started (expected %d = %d BMCs x %d), %d BMCs off that count %v; worst gap between starts off the interval by %s  %s\n",
		len(steady), b.n*want, b.n, want, len(offCount), head(offCount, 5), worstGap.Round(time.Microsecond),
		ok(len(offCount) == 0 && worstGap <= time.Second))
	fmt.Printf("CPU per probe:         %6.3fms  [%d probes in %s; prober %.1f%% of a core]\n",
		float64(perProbe)/1e6, probesRun, w1.Sub(w0).Round(time.Millisecond), share*100)
	if s0 >= 0 && s1 >= 0 {
		fmt.Printf("  the sims' CPU in the window: %.1f%% of a core (their chassis script forks included); whole machine busy %.1f%% of %d CPUs\n",
			float64(s1-s0)/float64(w1.Sub(w0))*100, (m1.busyShare(m0))*100, runtime.NumCPU())
	}
	fmt.Printf("RSS:                   %6.1fMB  (peak %.1fMB)\n", rss, peak)
	var msx runtime.MemStats
	runtime.ReadMemStats(&msx)
	fmt.Printf("  go memory: heap in use %.1fMB, stacks %.1fMB, runtime total %.1fMB; %d goroutines; %d GCs\n",
		float64(msx.HeapInuse)/1e6, float64(msx.StackInuse)/1e6, float64(msx.Sys)/1e6, runtime.NumGoroutine(), msx.NumGC)
	fmt.Printf("failed probes:         %d in the window, %d of %d in the whole run (warm-up included)  %s\n",
		failedIn, len(failed), len(all), ok(len(failed) == 0))
	for _, f := range head(failed, 10) {
		fmt.Printf("  %s at %s after %s: %s: %s\n", f.target, f.start.Format("15:04:05.000"), f.took.Round(time.Millisecond), f.status, f.msg)
	}
	for i, s := range sims {
		if gone, how := s.Exited(); gone {
			fmt.Printf("  sim %d (port %d) exited during the run: %s\n", i, s.Port, how)
		}
	}
	return nil
}

// logSEL adds k standard SEL records (correctable ECC on DIMM A1) to each
// sim over IPMI, a few sims at a time. The probes' first look records
// where the SEL ends, so later looks check the last record each time.
func logSEL(sims []*simtest.Sim, k int) error {
	errs := make([]error, len(sims))
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for i, s := range sims {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			errs[i] = addSEL(s, k)
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

func addSEL(s *simtest.Sim, k int) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.NewClient(s.Host, s.Port, simtest.User, simtest.Password)
	if err != nil {
		return err
	}
	c.WithTimeout(time.Second).WithRetry(2).WithCipherSuiteID(types.CipherSuiteID3)
	if err := c.Connect(ctx); err != nil {
		return fmt.Errorf("sim on port %d: connect: %w", s.Port, err)
	}
	defer func() {
		cctx, ccancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer ccancel()
		c.Close(cctx)
	}()
	for range k {
		_, err := c.AddSELEntry(ctx, &types.SEL{RecordType: 2, Standard: &types.SELStandard{
			Timestamp: time.Now(), GeneratorID: 0x20, EvMRev: 4,
			SensorType: types.SensorTypeMemory, SensorNumber: 2,
			EventReadingType: types.EventReadingTypeSensorSpecific,
			EventData:        types.EventData{EventData1: 0x00, EventData2: 0xff, EventData3: 0xff},
		}})
		if err != nil {
			return fmt.Errorf("sim on port %d: add SEL entry: %w", s.Port, err)
		}
	}
	return nil
}

func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(float64(len(s))*q+0.999999) - 1 // nearest rank
	return s[min(max(i, 0), len(s)-1)]
}

func quantiles(ds []time.Duration) string {
	if len(ds) == 0 {
		return "no probes"
	}
	return fmt.Sprintf("p50 %.1fms, p90 %.1fms, p99 %.1fms, max %.1fms over %d",
		ms(quantile(ds, 0.5)), ms(quantile(ds, 0.9)), ms(quantile(ds, 0.99)), ms(slices.Max(ds)), len(ds))
}

func countOver(ds []time.Duration, d time.Duration) int {
	n := 0
	for _, x := range ds {
		if x >= d {
			n++
		}
	}
	return n
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

func head[T any](s []T, n int) []T { return s[:min(n, len(s))] }

// childPIDs lists this process's children whose command is comm.
func childPIDs(comm string) []int {
	ents, _ := os.ReadDir("/proc")
	me := os.Getpid()
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		f := procStat(pid)
		if len(f) > 2 && f[0] == comm && f[2] == strconv.Itoa(me) {
			out = append(out, pid)
		}
	}
	return out
}

// procStat is /proc/pid/stat from the command on: the command (without
// parentheses), state, ppid, ... (field 2 of the file is f[0]).
func procStat(pid int) []string {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return nil
	}
	s := string(b)
	i, j := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if i < 0 || j < i {
		return nil
	}
	return append([]string{s[i+1 : j]}, strings.Fields(s[j+1:])...)
}

// simCPU is the CPU the sims used, with their reaped children (the
// chassis script); -1 when it cannot be read. USER_HZ is 100 on Linux.
func simCPU(pids []int) time.Duration {
	var ticks int64
	for _, pid := range pids {
		f := procStat(pid)
		if len(f) < 16 {
			return -1
		}
		for _, k := range []int{12, 13, 14, 15} { // utime stime cutime cstime
			v, _ := strconv.ParseInt(f[k], 10, 64)
			ticks += v
		}
	}
	return time.Duration(ticks) * 10 * time.Millisecond
}

// cpuStat is the machine's CPU time from /proc/stat, in ticks.
type cpuStat struct{ busy, total int64 }

func machineCPU() cpuStat {
	b, _ := os.ReadFile("/proc/stat")
	line, _, _ := strings.Cut(string(b), "\n")
	var c cpuStat
	for i, f := range strings.Fields(line)[1:] {
		v, _ := strconv.ParseInt(f, 10, 64)
		c.total += v
		if i != 3 && i != 4 { // idle, iowait
			c.busy += v
		}
	}
	return c
}

func (c cpuStat) busyShare(before cpuStat) float64 {
	if c.total == before.total {
		return 0
	}
	return float64(c.busy-before.busy) / float64(c.total-before.total)
}

// pinCPUs puts this process (all its threads) on CPU 0 and the sims on
// the other CPUs, so that they do not take turns on one core.
func pinCPUs(sims []int) error {
	if runtime.NumCPU() < 2 {
		return fmt.Errorf("-pin needs 2 CPUs or more")
	}
	rest := fmt.Sprintf("1-%d", runtime.NumCPU()-1)
	if out, err := exec.Command("taskset", "-a", "-p", "-c", "0", strconv.Itoa(os.Getpid())).CombinedOutput(); err != nil {
		return fmt.Errorf("taskset: %v: %s", err, out)
	}
	for _, pid := range sims {
		if out, err := exec.Command("taskset", "-a", "-p", "-c", rest, strconv.Itoa(pid)).CombinedOutput(); err != nil {
			return fmt.Errorf("taskset: %v: %s", err, out)
		}
	}
	return nil
}

func onSignal(fn func(os.Signal)) {
	c := make(chan os.Signal, 1)
	signal.Notify(c, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	go func() { fn(<-c) }()
}
