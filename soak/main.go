// Command soak runs the real foghorn binary for a few minutes in a hostile
// world, then checks from the Twilio simulator's own record — what reached
// the phones, not what foghorn believes it sent — that every page reached
// a human (`make soak`; not in CI; needs root for the network cut):
//
//   - default limits (sms_per_15m 5, calls_per_15m 3, max_per_hour 20):
//     background HTTP targets (warnings) flap and fail in bursts that use
//     up the budget, and each burst is followed by a critical outage (both
//     routers of a pair down);
//   - the simulator (pager/twiliosim, served by this program, so it
//     outlives foghorn) fails requests with 500, carries out some creates
//     and then never answers (accept-then-hang), throttles with 429 for a
//     while, refuses every request with 401 for a minute, and drops,
//     doubles, delays and reorders status callbacks; callbacks sent while
//     foghorn is down or cut off are lost, as with Twilio;
//   - foghorn is SIGKILLed at random, and at chosen points of the claim →
//     send → mark window through failpoints (a binary built with
//     -tags failpoints; the production build has none): after a claim
//     commits, after Twilio accepted, before the mark;
//   - foghorn runs in a network namespace whose link is set down for a
//     minute or two: the VPS losing its uplink;
//   - people ack by SMS reply, key press on the call, the dashboard (login
//     and form with its CSRF token) and the API; the config is reloaded
//     with SIGHUP mid-run.
//
// Then the table: incidents, pages lost (0), duplicates per kill (≤ 1),
// critical incidents whose first call came later than the policy says (0),
// pages after an ack (0), stuck incidents (0). The exit status is 1 if one
// fails.
//
//	go run ./soak -duration 6m
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"

	"golang.org/x/crypto/bcrypt"

	"foghorn/pager/twiliosim"
)

type options struct {
	bin              string
	duration, settle time.Duration
	killMin, killMax time.Duration
	targets          int
	interval         time.Duration
	pairInterval     time.Duration
	burst            int
	cycle            time.Duration
	critFor          time.Duration
	cutFor           time.Duration
	useNetns         bool
	failRate, vmRate float64
	acceptHang       float64
	dropCB, dupCB    float64
	lateCB           float64
	lateBy           time.Duration
	keep             bool

	startTimeout, grace  time.Duration
	ackGrace, ackAfter   time.Duration
	ackGiveUp, pageSlack time.Duration
	gap, callSlack       time.Duration
	recoverHold          time.Duration
	callsPer15m          int
}

func main() {
	var o options
	peer := flag.Bool("peer", false, "internal: serve the targets (the peer process)")
	peerAddr := flag.String("peer-addr", "127.0.0.1:0", "internal: where the peer listens")
	peerN := flag.Int("peer-targets", 0, "internal: targets the peer serves")
	flag.StringVar(&o.bin, "bin", "", "a foghorn binary built with -tags failpoints; empty: the soak builds one in its work dir")
	flag.DurationVar(&o.duration, "duration", 6*time.Minute, "how long the chaos lasts")
	flag.DurationVar(&o.settle, "settle", 100*time.Second, "all targets up, foghorn running, before the final stop")
	flag.DurationVar(&o.killMin, "kill-min", 20*time.Second, "shortest run of foghorn between two kills")
	flag.DurationVar(&o.killMax, "kill-max", 45*time.Second, "longest run of foghorn between two kills")
	flag.IntVar(&o.targets, "targets", 2000, "background HTTP targets (warnings)")
	flag.DurationVar(&o.interval, "interval", 20*time.Second, "probe interval of the background targets")
	flag.DurationVar(&o.pairInterval, "pair-interval", 5*time.Second, "probe interval of the router pairs")
	flag.IntVar(&o.burst, "burst", 10, "background targets in a burst of warnings")
	flag.DurationVar(&o.cycle, "cycle", 65*time.Second, "a burst of warnings, then a critical, this often")
	flag.DurationVar(&o.critFor, "crit-for", 80*time.Second, "how long a critical outage (a pair down) lasts")
	flag.DurationVar(&o.cutFor, "cut", 75*time.Second, "how long foghorn's network is cut (0: no cut)")
	flag.BoolVar(&o.useNetns, "netns", true, "run foghorn in a network namespace (needed for the cut)")
	flag.Float64Var(&o.failRate, "fail", 0.05, "share of Twilio API requests failed with 500")
	flag.Float64Var(&o.vmRate, "voicemail", 0.3, "share of calls answered by voicemail")
	flag.Float64Var(&o.acceptHang, "accept-hang", 0.03, "share of creates carried out and then never answered")
	flag.Float64Var(&o.dropCB, "drop-callbacks", 0.03, "share of status callbacks never sent")
	flag.Float64Var(&o.dupCB, "dup-callbacks", 0.05, "share of status callbacks sent twice")
	flag.Float64Var(&o.lateCB, "late-callbacks", 0.10, "share of status callbacks sent late (overtaken by the next)")
	flag.DurationVar(&o.lateBy, "late-by", 40*time.Second, "at most this late")
	flag.BoolVar(&o.keep, "keep", false, "keep the work dir (config, data, foghorn's log)")
	flag.Parse()
	if *peer {
		runPeer(*peerAddr, *peerN)
		return
	}
	o.startTimeout, o.grace = time.Minute, 30*time.Second
	o.ackGrace, o.ackAfter, o.ackGiveUp = 2*time.Second, time.Minute, 4*time.Minute
	o.pageSlack, o.gap, o.callSlack = 20*time.Second, 5*time.Second, 25*time.Second
	o.recoverHold, o.callsPer15m = 75*time.Second, 3
	if err := soak(o); err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
}

// plan is the soak's script, in offsets from the start.
type plan struct {
	cutAt, cutEnd time.Duration
	throttleAt    time.Duration // 429 for throttleFor
	throttleFor   time.Duration
	unauthAt      time.Duration // 401 for a minute
	reloadAt      time.Duration
	cycles        []time.Duration
	critDuringCut bool
}

func makePlan(o options) plan {
	d := o.duration
	p := plan{reloadAt: d * 3 / 10}
	if o.cutFor > 0 {
		p.cutAt = d / 2
		p.cutEnd = p.cutAt + o.cutFor
		p.critDuringCut = true
	}
	// A cycle's critical starts well before the cut or after it, and
	// ends before the chaos does.
	for t := 15 * time.Second; t+15*time.Second+o.critFor <= d; t += o.cycle {
		if o.cutFor > 0 && t+15*time.Second > p.cutAt-30*time.Second && t < p.cutEnd+10*time.Second {
			t = p.cutEnd + 10*time.Second - o.cycle
			continue
		}
		p.cycles = append(p.cycles, t)
	}
	// 429s begin with the first burst, the minute of 401s with the
	// second: those criticals are held through them and must go out after.
	p.throttleFor = 40 * time.Second
	if len(p.cycles) > 0 {
		p.throttleAt = p.cycles[0]
	}
	p.unauthAt = d * 3 / 4
	if len(p.cycles) > 1 {
		p.unauthAt = p.cycles[1]
	}
	return p
}

func soak(o options) error {
	work, err := os.MkdirTemp("", "foghorn-soak-")
	if err != nil {
		return err
	}
	if o.keep {
		fmt.Println("work dir:", work)
	} else {
		defer os.RemoveAll(work)
	}
	if o.bin == "" {
		o.bin = filepath.Join(work, "foghorn-failpoints")
		began := time.Now()
		build := exec.Command("go", "build", "-tags", "failpoints", "-o", o.bin, "./cmd/foghorn")
		build.Stdout, build.Stderr = os.Stdout, os.Stderr
		if err := build.Run(); err != nil {
			return fmt.Errorf("build foghorn with -tags failpoints (run from the repository root): %w", err)
		}
		fmt.Printf("soak: built %s with -tags failpoints in %s\n", o.bin, time.Since(began).Round(time.Second))
	} else if _, err := os.Stat(o.bin); err != nil {
		return fmt.Errorf("no foghorn binary at %s: %w", o.bin, err)
	}

	// Where everyone lives: foghorn in a namespace of its own, the rest
	// here; or all on loopback when that cannot be had (then no cut).
	fhIP, hostIP := "127.0.0.1", "127.0.0.1"
	var ns *netns
	netMode := "loopback only: no network cut"
	if o.useNetns && o.cutFor > 0 {
		if ns, err = newNetns(); err != nil {
			fmt.Printf("soak: no network namespace (%v); running on loopback without the network cut\n", err)
			o.cutFor = 0
		} else {
			defer ns.close()
			fhIP, hostIP = ns.fh, ns.host
			netMode = fmt.Sprintf("foghorn in netns %s (%s), link down for %s", ns.name, fhIP, o.cutFor)
		}
	} else {
		o.cutFor = 0
	}
	pl := makePlan(o)

	peer, err := startPeer(hostIP+":0", o.targets+2*len(pairs))
	if err != nil {
		return err
	}
	defer peer.stop()
	port, err := freePort()
	if err != nil {
		return err
	}
	listen := fmt.Sprintf("%s:%d", fhIP, port)
	pub := "http://" + listen
	sim := twiliosim.New(twiliosim.Options{AccountSID: accountSID, AuthToken: authToken, Number: fromNumber,
		InboundSMSURL: pub + "/twilio/sms", PublicURL: pub, Ring: 2 * time.Second,
		Logger: slog.New(slog.DiscardHandler)})
	simBase, err := sim.Start(hostIP + ":0")
	if err != nil {
		return err
	}
	defer sim.Close()
	base := twiliosim.Fault{Status: http.StatusInternalServerError, Rate: o.failRate, AcceptHang: o.acceptHang,
		DropCallbacks: o.dropCB, DupCallbacks: o.dupCB, LateCallbacks: o.lateCB, LateBy: o.lateBy}
	sim.SetFault(base)

	hash, err := bcrypt.GenerateFromPassword([]byte(alicePass), bcrypt.DefaultCost)
	if err != nil {
		return err
	}
	data := filepath.Join(work, "data")
	cfgPath := filepath.Join(work, "foghorn.toml")
	writeCfg := func(reload bool) error {
		return os.WriteFile(cfgPath, []byte(config(o, listen, pub, data, simBase, peer.addr, string(hash), reload)), 0o600)
	}
	if err := writeCfg(false); err != nil {
		return err
	}
	env := []string{"FOGHORN_TWILIO_AUTH_TOKEN=" + authToken, "FOGHORN_API_TOKEN=" + apiToken}
	chk := exec.Command(o.bin, "check-config", cfgPath)
	chk.Env = append(os.Environ(), env...)
	if out, err := chk.CombinedOutput(); err != nil {
		return fmt.Errorf("the soak's config is refused: %v\n%s", err, out)
	}
	logf, err := os.Create(filepath.Join(work, "foghorn.log"))
	if err != nil {
		return err
	}
	defer logf.Close()
	fh := &foghorn{o: o, ns: ns, cfg: cfgPath, logPath: logf.Name(), log: logf, env: env}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		select {
		case <-sigs:
			fmt.Fprintln(os.Stderr, "soak: interrupted; stopping")
			cancel()
		case <-ctx.Done():
		}
	}()

	fmt.Printf("soak: %d background targets every %s, 2 router pairs every %s, default limits; %s\n", o.targets, o.interval, o.pairInterval, netMode)
	fmt.Printf("soak: Twilio: %.0f%% 500s, %.0f%% accept-then-hang, callbacks %.0f%% dropped / %.0f%% doubled / %.0f%% late (≤%s); 429s at %s, 401s for a minute at %s\n",
		o.failRate*100, o.acceptHang*100, o.dropCB*100, o.dupCB*100, o.lateCB*100, o.lateBy, pl.throttleAt, pl.unauthAt)
	fmt.Printf("soak: chaos for %s (kills every %s-%s, random and at failpoints), then %s settling\n", o.duration, o.killMin, o.killMax, o.settle)
	began := time.Now()
	if err := fh.start(""); err != nil {
		return err
	}
	t0 := time.Now()
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	fmt.Printf("soak: foghorn running after %s\n", t0.Sub(began).Round(time.Millisecond))
	chaosEnd := at(o.duration)
	clock := func() string { return time.Since(t0).Round(time.Second).String() }

	var wg sync.WaitGroup
	var smu sync.Mutex // guards unable, outages, downNow
	var unable []span
	var outages []outage
	downNow := map[int]bool{}
	addUnable := func(s span) { smu.Lock(); unable = append(unable, s); smu.Unlock() }

	h := &humans{o: o, sim: sim, base: pub, client: &http.Client{Timeout: 10 * time.Second},
		started: map[int]bool{}, failed: map[string]int{}}
	wg.Add(2)
	go func() { defer wg.Done(); h.phones(ctx) }()
	go func() { defer wg.Done(); h.run(ctx, &wg) }()

	// takeDown marks targets down for d (in a goroutine of its own).
	takeDown := func(ids []int, d time.Duration, u *outage) {
		peer.set(true, ids)
		smu.Lock()
		for _, i := range ids {
			downNow[i] = true
		}
		idx := -1
		if u != nil {
			u.down = time.Now()
			outages = append(outages, *u)
			idx = len(outages) - 1
		}
		smu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			sleep(ctx, d)
			peer.set(false, ids)
			smu.Lock()
			for _, i := range ids {
				delete(downNow, i)
			}
			if idx >= 0 && outages[idx].up.IsZero() {
				outages[idx].up = time.Now()
			}
			smu.Unlock()
		}()
	}
	pick := func(n int) []int {
		smu.Lock()
		defer smu.Unlock()
		var ids []int
		for len(ids) < n {
			i := rand.IntN(o.targets)
			if !downNow[i] && !slices.Contains(ids, i) {
				ids = append(ids, i)
			}
		}
		return ids
	}
	pairIDs := func(p int) []int { return []int{o.targets + 2*p, o.targets + 2*p + 1} }

	// Background flaps: one warning target down every 5 s for 20-60 s.
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil && time.Now().Before(chaosEnd) {
			takeDown(pick(1), 20*time.Second+rand.N(40*time.Second), nil)
			sleep(ctx, 5*time.Second)
		}
	}()
	// The script: bursts of warnings, each followed by a critical; the
	// cut with a critical under way; 429s; a minute of 401s; a reload.
	type ev struct {
		at time.Duration
		do func()
	}
	var evs []ev
	pairAt := func(t time.Duration) int { // pairs take turns in time order, the cut's critical included
		k := 0
		for _, c := range pl.cycles {
			if c < t {
				k++
			}
		}
		if pl.critDuringCut && pl.cutAt < t {
			k++
		}
		return k % len(pairs)
	}
	for _, t := range pl.cycles {
		p := pairAt(t)
		evs = append(evs, ev{t, func() {
			fmt.Printf("soak: %s: burst of %d warnings\n", clock(), o.burst)
			takeDown(pick(o.burst), 45*time.Second, &outage{name: "burst"})
		}}, ev{t + 15*time.Second, func() {
			fmt.Printf("soak: %s: %s both down (critical)\n", clock(), pairs[p])
			takeDown(pairIDs(p), o.critFor, &outage{name: pairs[p], critical: true})
		}})
	}
	if pl.critDuringCut {
		p := pairAt(pl.cutAt)
		evs = append(evs, ev{pl.cutAt - 12*time.Second, func() {
			fmt.Printf("soak: %s: %s both down (critical), until after the cut\n", clock(), pairs[p])
			takeDown(pairIDs(p), 12*time.Second+o.cutFor+45*time.Second, &outage{name: pairs[p], critical: true, duringCut: true})
		}}, ev{pl.cutAt, func() {
			if err := ns.cut(true); err != nil {
				fmt.Println("soak: cut:", err)
				return
			}
			fmt.Printf("soak: %s: foghorn's link DOWN for %s\n", clock(), o.cutFor)
			addUnable(span{from: time.Now(), to: time.Now().Add(o.cutFor)})
		}}, ev{pl.cutEnd, func() {
			if err := ns.cut(false); err != nil {
				fmt.Println("soak: uncut:", err)
			}
			fmt.Printf("soak: %s: foghorn's link up again\n", clock())
		}})
	}
	evs = append(evs, ev{pl.throttleAt, func() {
		f := base
		f.Status, f.Rate = http.StatusTooManyRequests, 0.5
		sim.SetFault(f)
		fmt.Printf("soak: %s: Twilio answers 429 to half the requests for %s\n", clock(), pl.throttleFor)
	}}, ev{pl.throttleAt + pl.throttleFor, func() { sim.SetFault(base) }},
		ev{pl.unauthAt, func() {
			f := base
			f.Status, f.Rate = http.StatusUnauthorized, 1
			sim.SetFault(f)
			addUnable(span{from: time.Now(), to: time.Now().Add(time.Minute)})
			fmt.Printf("soak: %s: Twilio answers 401 to everything for a minute\n", clock())
		}}, ev{pl.unauthAt + time.Minute, func() { sim.SetFault(base) }},
		ev{pl.reloadAt, func() {
			if err := writeCfg(true); err != nil {
				fmt.Println("soak: reload:", err)
				return
			}
			fh.signal(syscall.SIGHUP)
			fmt.Printf("soak: %s: config changed (one target added), SIGHUP\n", clock())
		}})
	slices.SortFunc(evs, func(a, b ev) int { return int(a.at - b.at) })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for _, e := range evs {
			sleep(ctx, time.Until(at(e.at)))
			if ctx.Err() != nil {
				return
			}
			e.do()
		}
	}()

	// Kills until the chaos ends, none around the cut or the reload: a
	// random SIGKILL, then a run armed with the next failpoint, which
	// kills itself there (or is killed at random if it is not reached).
	points := []string{"engine.after-claim", "pager.after-api", "engine.before-mark"}
	quiet := func(t time.Time) bool {
		d := t.Sub(t0)
		if o.cutFor > 0 && d > pl.cutAt-25*time.Second && d < pl.cutEnd+15*time.Second {
			return true
		}
		return d > pl.reloadAt-5*time.Second && d < pl.reloadAt+10*time.Second
	}
	var runErr error
	missed, fpTurn, armed := 0, 0, ""
	for ctx.Err() == nil && time.Now().Before(chaosEnd) {
		wait := o.killMin + rand.N(o.killMax-o.killMin+1)
		if time.Now().Add(wait).After(chaosEnd) {
			wait = time.Until(chaosEnd)
		}
		var how string
		select {
		case <-ctx.Done():
		case <-fh.exited():
			how = fh.reap()
		case <-time.After(wait):
			if !time.Now().Before(chaosEnd) {
				continue // the loop ends; no kill at the very end
			}
			for quiet(time.Now()) && ctx.Err() == nil {
				sleep(ctx, time.Second)
			}
			how = fh.kill()
			if armed != "" && how == "SIGKILL" {
				missed++
			}
		}
		if ctx.Err() != nil {
			break
		}
		next := ""
		if armed == "" && !quiet(time.Now().Add(time.Minute)) {
			next = fmt.Sprintf("%s:%d", points[fpTurn%len(points)], 1+rand.IntN(2))
			fpTurn++
		}
		fmt.Printf("soak: %s: %s; restarting%s\n", clock(), how, map[bool]string{true: " armed with failpoint " + next}[next != ""])
		armed = next
		if runErr = fh.start(next); runErr != nil {
			break
		}
	}
	// Everything up again; foghorn keeps running while incidents resolve.
	smu.Lock()
	var all []int
	for i := range downNow {
		all = append(all, i)
	}
	smu.Unlock()
	peer.set(false, all)
	smu.Lock()
	for i := range outages {
		if outages[i].up.IsZero() {
			outages[i].up = time.Now()
		}
	}
	smu.Unlock()
	select {
	case <-fh.exited(): // an armed run may still fire
		fmt.Printf("soak: %s: %s; restarting\n", clock(), fh.reap())
		if runErr == nil {
			runErr = fh.start("")
		}
	default:
	}
	var open []openIncident
	var openErr error
	if runErr == nil {
		fmt.Printf("soak: %s: chaos over, every target up; settling for %s\n", clock(), o.settle)
		sleep(ctx, o.settle)
		open, openErr = openIncidents(pub)
	}
	stopErr := fh.stop()
	cancel()
	wg.Wait()
	end := time.Now()
	sleep(context.Background(), 2*time.Second)
	if runErr != nil {
		return runErr
	}

	smu.Lock()
	in := &checkInput{o: o, msgs: sim.Messages(), calls: sim.Calls(), events: sim.Events(),
		outages: append([]outage(nil), outages...), chaosEnd: chaosEnd, end: end,
		recoveredBy: chaosEnd.Add(o.recoverHold), openAtEnd: open, openErr: openErr, failpointsMissed: missed}
	in.unable = append(append([]span(nil), unable...), fh.downSpans()...)
	smu.Unlock()
	in.down, in.deaths = fh.downSpans(), fh.deathList()
	in.acks, _, _ = h.report()
	for i := range in.outages {
		if in.outages[i].up.IsZero() {
			in.outages[i].up = chaosEnd
		}
	}
	rows := check(in)
	rows = append(rows, extraRows(in, fh, h, stopErr, netMode)...)
	rows = append(rows, faultRows(in)...)
	fmt.Printf("\nsoak table (%s in all; the simulator's record)\n", end.Sub(began).Round(time.Second))
	failed := printTable(rows)
	if failed > 0 {
		if !o.keep {
			fmt.Println("  (rerun with -keep to keep foghorn's log and store)")
		}
		return fmt.Errorf("%d invariant(s) failed", failed)
	}
	fmt.Println("  all invariants hold")
	return nil
}

// extraRows: what the soak did, and the checks on foghorn itself.
func extraRows(in *checkInput, fh *foghorn, h *humans, stopErr error, netMode string) []row {
	fh.mu.Lock()
	defer fh.mu.Unlock()
	kinds := map[string]int{}
	for _, d := range in.deaths {
		kinds[d.how]++
	}
	var ks []string
	for k, v := range kinds {
		ks = append(ks, fmt.Sprintf("%s %d", k, v))
	}
	slices.Sort(ks)
	acks, failed, skipped := h.report()
	by := map[string]int{}
	for _, a := range acks {
		by[a.method]++
	}
	stop := "clean"
	if stopErr != nil {
		stop = stopErr.Error()
	}
	return []row{
		{name: "kills", info: true, value: fmt.Sprintf("%d (%s); %d armed runs killed at random instead (failpoint not reached)", len(in.deaths), joinOr(ks), in.failpointsMissed)},
		{name: "acks taken", info: true, value: fmt.Sprintf("sms %d, key %d, dashboard %d, api %d; %d resolved before the ack; attempts refused: %v", by["sms"], by["key"], by["dashboard"], by["api"], skipped, failed)},
		{name: "network", info: true, value: netMode},
		{name: "config reload (SIGHUP) applied", ok: fh.reloads >= 1 && fh.refused == 0, value: fmt.Sprintf("%d applied, %d refused", fh.reloads, fh.refused)},
		{name: "foghorn: starts, final stop, panics", ok: stopErr == nil && fh.panics == 0, value: fmt.Sprintf("%d starts, stop %s, %d panics, %d ERROR lines", fh.starts, stop, fh.panics, fh.errors)},
	}
}

func joinOr(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	out := s[0]
	for _, v := range s[1:] {
		out += ", " + v
	}
	return out
}

func openIncidents(base string) ([]openIncident, error) {
	req, _ := http.NewRequest(http.MethodGet, base+"/api/v1/incidents", nil)
	req.Header.Set("Authorization", "Bearer "+apiToken)
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /api/v1/incidents: %s", resp.Status)
	}
	var out []openIncident
	return out, json.NewDecoder(resp.Body).Decode(&out)
}

// ---- helpers ----

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func sleep(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
