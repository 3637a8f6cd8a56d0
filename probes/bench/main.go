// Command bench holds foghorn's scheduler to its performance targets:
// 10,000 TCP targets on loopback at a 10s interval on one core
// (GOMAXPROCS=1), 20% of them silently dropping packets, and prints
// CPU per probe, RSS, lateness of probe starts, the time of the first
// full round, and the detection latency of targets killed mid-run.
//
//	go run ./probes/bench                 # the full figures, about 75s
//	go run ./probes/bench -targets 2000 -measure 10s -victims 20   # a quick look
//	go run ./probes/bench -kind icmp      # 10,000 icmp targets, against fping
//
// The peers run in a child process (this binary again, with -serve), so
// the CPU and memory measured are foghorn's alone. Silent drops need
// nftables and root (a table of its own, removed at exit); without them
// the run says so and goes on without drops.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"foghorn/bench/procstat"
	"foghorn/configs"
	"foghorn/probes"
	"foghorn/probes/classify"
)

func main() {
	serve := flag.Bool("serve", false, "internal: run the loopback peers (the child process)")
	n := flag.Int("targets", 10000, "targets")
	iv := flag.Duration("interval", 10*time.Second, "probe interval")
	to := flag.Duration("timeout", 5*time.Second, "probe timeout: a silent target holds a slot this long")
	vto := flag.Duration("victim-timeout", time.Second, "timeout of the targets killed to measure detection")
	drop := flag.Float64("drop", 0.2, "share of targets that silently drop packets (nftables)")
	measure := flag.Duration("measure", 20*time.Second, "steady-state window for CPU and lateness")
	victims := flag.Int("victims", 80, "targets killed mid-run (half refused, half silent) to time detection")
	nports := flag.Int("ports", 50, "listening ports the live targets share")
	procs := flag.Int("procs", 1, "GOMAXPROCS of the scheduler's process")
	victimAddrs := flag.String("victim-addrs", "", "internal: addresses the child listens on for victims")
	memprofile := flag.String("memprofile", "", "write a heap profile here after the steady-state window")
	kind := flag.String("kind", "tcp", "tcp, or icmp: icmp targets on 127.x addresses against fping (see icmp.go)")
	count := flag.Int("count", 3, "icmp: pings per probe")
	flag.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the steady-state (tcp) or measuring (icmp) window here")
	noFping := flag.Bool("no-fping", false, "icmp: do not run fping for comparison")
	flag.Parse()
	if *serve {
		peers(*nports, *victimAddrs)
		return
	}
	runtime.GOMAXPROCS(*procs)
	heapProfile = *memprofile
	if *kind == "icmp" {
		if err := icmpBench(*n, *count, *iv, *measure, !*noFping); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		return
	}
	if heapProfile != "" {
		runtime.MemProfileRate = 512 // every per-target struct shows; CPU figures are then high
	}
	if err := bench(*n, *iv, *to, *vto, *drop, *measure, *victims, *nports); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func bench(n int, iv, to, vto time.Duration, drop float64, measure time.Duration, nv, nports int) error {
	// Victims: half refused (their listener closes), half silent (nft).
	var refused, silent []string
	for i := range nv {
		if i%2 == 0 {
			refused = append(refused, fmt.Sprintf("127.0.3.%d:7000", len(refused)+1))
		} else {
			silent = append(silent, fmt.Sprintf("127.0.4.%d:7000", len(silent)+1))
		}
	}
	child, ports, err := startPeers(nports, append(slices.Clone(refused), silent...))
	if err != nil {
		return err
	}
	defer child.stop()
	fw, err := newFirewall()
	if err != nil {
		fmt.Printf("note: no silent drops (%v)\n", err)
		drop = 0
	} else {
		defer fw.close()
		stopOnSignal(func() { fw.close(); child.stop() })
	}

	base, _ := procstat.Memory()
	live := []string{}
	for _, p := range ports {
		live = append(live, "127.0.0.1:"+p)
	}
	floor0, err := floor(live, floorConnects)
	if err != nil {
		return err
	}

	cfg := &configs.Config{}
	cfg.Escalation.StormWindow.Duration = 0 // one event per victim, to time each
	cfg.SelfCheck = configs.SelfCheck{
		Canaries: []string{"127.0.0.1:" + ports[0], "127.0.0.1:" + ports[1]}, Kind: "tcp", MinUp: 1,
		Interval: configs.Duration{Duration: 30 * time.Second}, Timeout: configs.Duration{Duration: 2 * time.Second},
	}
	ndrop := int(float64(n) * drop)
	target := func(name, addr string, timeout time.Duration) configs.Target {
		return configs.Target{Name: name, Kind: "tcp", Address: addr, Rise: 2, Fall: 3, Severity: "critical",
			Interval: configs.Duration{Duration: iv}, Timeout: configs.Duration{Duration: timeout}}
	}
	for i := range n - nv {
		addr := fmt.Sprintf("127.0.0.1:%s", ports[i%len(ports)])
		if i < ndrop {
			addr = fmt.Sprintf("127.0.2.%d:9", 1+i%250)
		}
		cfg.Targets = append(cfg.Targets, target(fmt.Sprintf("t%05d", i), addr, to))
	}
	for i, a := range refused {
		cfg.Targets = append(cfg.Targets, target(fmt.Sprintf("v-refused-%02d", i), a, vto))
	}
	for i, a := range silent {
		cfg.Targets = append(cfg.Targets, target(fmt.Sprintf("v-silent-%02d", i), a, vto))
	}

	var (
		mu        sync.Mutex
		seen      = make(map[string]bool, n)
		roundDone atomic.Bool
		firstAt   time.Time
		detected  = map[string]time.Time{}
		events    atomic.Int64
	)
	c := classify.New(classify.Options{
		OnEvent: func(e classify.Event) {
			events.Add(1)
			if name, ok := strings.CutPrefix(e.Key, "target:v-"); ok && e.Firing {
				mu.Lock()
				if _, dup := detected[name]; !dup {
					detected[name] = e.At
				}
				mu.Unlock()
			}
		},
	})
	s := probes.NewScheduler(probes.Options{
		Observer: c,
		OnResult: func(r probes.Result) {
			if roundDone.Load() {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if seen[r.Target] = true; len(seen) == n && firstAt.IsZero() {
				firstAt = time.Now()
				roundDone.Store(true)
			}
		},
	})
	c.Attach(s)
	c.Start()
	defer c.Stop()
	defer s.Stop()

	fmt.Printf("foghorn scheduler benchmark: %d TCP targets on loopback, interval %s, timeout %s, %.0f%% silently dropping, GOMAXPROCS=%d, %d CPUs\n",
		n, iv, to, drop*100, runtime.GOMAXPROCS(0), runtime.NumCPU())
	start := time.Now()
	c.Configure(classify.Config{Targets: cfg.Targets, SelfCheck: cfg.SelfCheck, StormWindow: cfg.Escalation.StormWindow.Duration})
	s.Update(probes.Config{Targets: cfg.Targets, SelfCheck: cfg.SelfCheck})
	for !roundDone.Load() {
		if time.Since(start) > 3*iv {
			return fmt.Errorf("no full round within %s", 3*iv)
		}
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	first := firstAt.Sub(start)
	mu.Unlock()

	// Steady state: a few seconds to settle, then measure.
	time.Sleep(2 * time.Second)
	stopCPU := startCPUProfile()
	c0, k0, p0, w0 := procstat.CPU(), sysCPU(), s.Stats().Probes, time.Now()
	time.Sleep(measure)
	c1, k1, st, w1 := procstat.CPU(), sysCPU(), s.Stats(), time.Now()
	stopCPU()
	rss, peak := procstat.Memory()
	if heapProfile != "" {
		if f, err := os.Create(heapProfile); err == nil {
			pprof.WriteHeapProfile(f)
			f.Close()
		}
	}
	probesRun := st.Probes - p0
	perProbe := time.Duration(int64(c1-c0) / int64(max(probesRun, 1)))
	share := float64(c1-c0) / float64(w1.Sub(w0))

	// Detection: kill the victims at random points of one interval.
	killed := map[string]time.Time{}
	var kmu sync.Mutex
	var wg sync.WaitGroup
	t0 := time.Now()
	for i, a := range refused {
		wg.Add(1)
		at := time.Duration(rand.Int64N(int64(iv)))
		go func() {
			defer wg.Done()
			time.Sleep(at)
			if err := child.close(a); err != nil {
				fmt.Fprintln(os.Stderr, "bench:", err)
			}
			kmu.Lock()
			killed[fmt.Sprintf("refused-%02d", i)] = time.Now()
			kmu.Unlock()
		}()
	}
	for i, a := range silent {
		if fw == nil {
			break
		}
		wg.Add(1)
		at := time.Duration(rand.Int64N(int64(iv)))
		go func() {
			defer wg.Done()
			time.Sleep(at)
			host, _, _ := net.SplitHostPort(a)
			kmu.Lock() // nft commands one at a time
			err := fw.add(host)
			killed[fmt.Sprintf("silent-%02d", i)] = time.Now()
			kmu.Unlock()
			if err != nil {
				fmt.Fprintln(os.Stderr, "bench:", err)
			}
		}()
	}
	wg.Wait()
	for time.Since(t0) < iv+30*time.Second {
		mu.Lock()
		done := len(detected) >= len(killed)
		mu.Unlock()
		if done {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	var lref, lsil []time.Duration
	missed := 0
	mu.Lock()
	for v, k := range killed {
		d, ok := detected[v]
		switch {
		case !ok:
			missed++
		case strings.HasPrefix(v, "refused"):
			lref = append(lref, d.Sub(k))
		default:
			lsil = append(lsil, d.Sub(k))
		}
	}
	mu.Unlock()
	_, peak2 := procstat.Memory()
	var ms runtime.MemStats // the scheduler's, before it stops for the floor
	runtime.ReadMemStats(&ms)
	goroutines := runtime.NumGoroutine()
	s.Stop() // the floor again, with nothing of ours running
	floor1, err := floor(live, floorConnects)
	if err != nil {
		return err
	}
	gap := iv / time.Duration(len(cfg.Targets))
	paced, err := pacedFloor(live, pacedConnects, gap)
	if err != nil {
		return err
	}

	ok := func(b bool) string {
		if b {
			return "met"
		}
		return "NOT MET"
	}
	fmt.Printf("first full round:      %6.2fs   (target: within one interval, %s)  %s\n", first.Seconds(), iv, ok(first <= iv))
	fmt.Printf("CPU per probe:         %6.3fms  (target <= 0.2ms)  %s   [%d probes in %s]\n",
		float64(perProbe)/1e6, ok(perProbe <= 200*time.Microsecond), probesRun, w1.Sub(w0).Round(time.Millisecond))
	fmt.Printf("CPU, share of a core:  %6.1f%%   (target < 20%%)  %s\n", share*100, ok(share < 0.2))
	fmt.Printf("RSS:                   %6.1fMB  (peak %.1fMB, %.1fMB after the kills; target < 80MB)  %s\n",
		rss, peak, peak2, ok(max(peak, peak2) < 80))
	printFloor(floor0, floor1, paced, gap, cost{perProbe, (k1 - k0) / time.Duration(max(probesRun, 1))})
	printRSSPerTarget(rss, base, len(cfg.Targets), float64(p0+probesRun)/float64(len(cfg.Targets)))
	fmt.Printf("  go memory: heap in use %.1fMB, stacks %.1fMB, runtime total %.1fMB; %d goroutines; %d GCs\n",
		float64(ms.HeapInuse)/1e6, float64(ms.StackInuse)/1e6, float64(ms.Sys)/1e6, goroutines, ms.NumGC)
	fmt.Printf("lateness of starts:    p50 <= %s, p99 <= %s, max %s  (target p99 <= 1s)  %s   [in flight at end %d]\n",
		st.LateP50, st.LateP99, st.LateMax.Round(time.Microsecond), ok(st.LateP99 <= time.Second), st.InFlight)
	report := func(what string, ls []time.Duration) {
		if len(ls) == 0 {
			return
		}
		slices.Sort(ls)
		p95 := ls[min(len(ls)-1, (len(ls)*95+99)/100-1)]
		fmt.Printf("detection, %-22s p50 %5.1fs, p95 %5.1fs, max %5.1fs over %d  (target p95 <= 15s)  %s\n", what+":",
			ls[len(ls)/2].Seconds(), p95.Seconds(), ls[len(ls)-1].Seconds(), len(ls), ok(p95 <= 15*time.Second))
	}
	report("refused", lref)
	report(fmt.Sprintf("silent (timeout %s)", vto), lsil)
	report("all", append(slices.Clone(lref), lsil...))
	if missed > 0 {
		fmt.Printf("detection: %d killed targets never paged  NOT MET\n", missed)
	}
	fmt.Printf("events: %d (the silently dropping targets page too: storms are off to time each victim)\n", events.Load())
	return nil
}

var heapProfile, cpuProfile string

// startCPUProfile profiles the steady state when -cpuprofile asks; the
// returned func ends it.
func startCPUProfile() func() {
	if cpuProfile == "" {
		return func() {}
	}
	f, err := os.Create(cpuProfile)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench: cpuprofile:", err)
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		fmt.Fprintln(os.Stderr, "bench: cpuprofile:", err)
		f.Close()
		return func() {}
	}
	return func() { pprof.StopCPUProfile(); f.Close() }
}

// peerProc is the child process serving the targets.
type peerProc struct {
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  *bufio.Reader
	mu   sync.Mutex
	once sync.Once
}

func startPeers(nports int, victims []string) (*peerProc, []string, error) {
	cmd := exec.Command(os.Args[0], "-serve", "-ports", strconv.Itoa(nports), "-victim-addrs", strings.Join(victims, ","))
	cmd.Env = append(os.Environ(), "GOMAXPROCS=1")
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("start the peers: %w", err)
	}
	p := &peerProc{cmd: cmd, in: in, out: bufio.NewReader(out)}
	line, err := p.out.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "PORTS ") {
		p.stop()
		return nil, nil, fmt.Errorf("the peers did not start: %q %v", line, err)
	}
	return p, strings.Fields(line)[1:], nil
}

// close makes the peer at addr refuse connections from now on.
func (p *peerProc) close(addr string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, err := fmt.Fprintf(p.in, "close %s\n", addr); err != nil {
		return err
	}
	if l, err := p.out.ReadString('\n'); err != nil || l != "ok\n" {
		return fmt.Errorf("close %s: %q %v", addr, l, err)
	}
	return nil
}

func (p *peerProc) stop() {
	p.once.Do(func() {
		p.in.Close()
		p.cmd.Process.Kill()
		p.cmd.Wait()
	})
}

// peers is the child: listeners that accept and close at once.
func peers(nports int, victimAddrs string) {
	ls := map[string]net.Listener{}
	var ports []string
	for range nports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			fmt.Fprintln(os.Stderr, "peers:", err)
			os.Exit(1)
		}
		_, port, _ := net.SplitHostPort(l.Addr().String())
		ports = append(ports, port)
		go accept(l)
	}
	for a := range strings.SplitSeq(victimAddrs, ",") {
		if a == "" {
			continue
		}
		l, err := net.Listen("tcp", a)
		if err != nil {
			fmt.Fprintln(os.Stderr, "peers:", err)
			os.Exit(1)
		}
		ls[a] = l
		go accept(l)
	}
	fmt.Printf("PORTS %s\n", strings.Join(ports, " "))
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		if a, ok := strings.CutPrefix(sc.Text(), "close "); ok {
			if l := ls[a]; l != nil {
				l.Close()
			}
			fmt.Println("ok")
		}
	}
}

func accept(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		c.Close()
	}
}

// firewall is an nftables table of the benchmark's own: 127.0.2.0/24
// drops everything (the silent share), and victims join a drop set.
type firewall struct {
	table string
	once  sync.Once
}

func newFirewall() (*firewall, error) {
	if _, err := exec.LookPath("nft"); err != nil {
		return nil, fmt.Errorf("nft is not installed (Debian package nftables)")
	}
	f := &firewall{table: fmt.Sprintf("foghorn_bench_%d", os.Getpid())}
	rules := fmt.Sprintf(`table inet %s {
	set victims { type ipv4_addr; }
	chain in {
		type filter hook input priority 0;
		ip daddr 127.0.2.0/24 drop
		ip daddr @victims drop
	}
}
`, f.table)
	cmd := exec.Command("nft", "-f", "-")
	cmd.Stdin = strings.NewReader(rules)
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("nft: %v: %s", err, out)
	}
	return f, nil
}

func (f *firewall) add(ip string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "nft", "add", "element", "inet", f.table, "victims", "{ "+ip+" }").CombinedOutput(); err != nil {
		return fmt.Errorf("nft add element: %v: %s", err, out)
	}
	return nil
}

func (f *firewall) close() {
	f.once.Do(func() { exec.Command("nft", "delete", "table", "inet", f.table).Run() })
}

func stopOnSignal(fn func()) {
	c := make(chan os.Signal, 1)
	signal.Notify(c, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-c
		fn()
		os.Exit(130)
	}()
}
