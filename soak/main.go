// Command soak runs the real foghorn binary for a few minutes under load
// and faults, then checks from its store and the Twilio simulator's log
// that the pager kept its promises (`make soak`; not in CI):
//
//   - 5,000 HTTP targets on loopback, answered by a peer process (this
//     program again, with -peer), and a chaos loop flipping targets down
//     and up, now and then many at once (a storm);
//   - the Twilio simulator (pager/twiliosim, served by this program, so it
//     outlives foghorn) failing 20% of API requests and answering 30% of
//     calls by voicemail; the other calls are answered and acked with 1;
//   - foghorn killed with SIGKILL every 30–90 s and started again.
//
// After the chaos every target is up for a while, foghorn is stopped, and
// the checks run: every incident that needed a page got one, every acked
// incident stopped paging, no notification was sent more than twice, no
// incident is stuck open after its target recovered. The counts are
// printed; the exit status is 1 if a check failed.
//
//	go run ./soak -bin bin/foghorn -duration 4m
package main

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"foghorn/pager/twiliosim"
	"foghorn/store"
)

const (
	accountSID = "AC5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a"
	authToken  = "soaktoken0123456789abcdef"
	fromNumber = "+15005550006"
	alicePhone = "+15550100001"
	bobPhone   = "+15550100002"
)

type options struct {
	bin                string
	duration, settle   time.Duration
	killMin, killMax   time.Duration
	targets, policies  int
	interval           time.Duration
	failRate, vmRate   float64
	keep               bool
	flipEvery          time.Duration
	flipN, stormN      int
	stormEvery         time.Duration
	startTimeout       time.Duration
	grace              time.Duration
	downMin, downMax   time.Duration
	stormDown          time.Duration
	ackGrace, pageWait time.Duration
}

func main() {
	var o options
	peer := flag.Bool("peer", false, "internal: serve the targets (the peer process)")
	peerN := flag.Int("peer-targets", 0, "internal: targets the peer serves")
	flag.StringVar(&o.bin, "bin", "bin/foghorn", "the foghorn binary (make build)")
	flag.DurationVar(&o.duration, "duration", 4*time.Minute, "how long the chaos (flips, kills) lasts")
	flag.DurationVar(&o.settle, "settle", 130*time.Second, "all targets up, foghorn running, before the final stop (more than 2 intervals to see recoveries, plus the resolve hold of 2 intervals)")
	flag.DurationVar(&o.killMin, "kill-min", 30*time.Second, "shortest run of foghorn between two SIGKILLs")
	flag.DurationVar(&o.killMax, "kill-max", 90*time.Second, "longest run of foghorn between two SIGKILLs")
	flag.IntVar(&o.targets, "targets", 5000, "HTTP targets on loopback")
	flag.IntVar(&o.policies, "policies", 8, "policies the targets are spread over (storms group per policy)")
	flag.DurationVar(&o.interval, "interval", 30*time.Second, "probe interval of every target")
	flag.Float64Var(&o.failRate, "fail", 0.2, "share of Twilio API requests the simulator fails (HTTP 500)")
	flag.Float64Var(&o.vmRate, "voicemail", 0.3, "share of calls answered by voicemail")
	flag.DurationVar(&o.flipEvery, "flip-every", 5*time.Second, "how often the chaos loop takes targets down")
	flag.IntVar(&o.flipN, "flip", 2, "targets taken down each time")
	flag.DurationVar(&o.stormEvery, "storm-every", 70*time.Second, "how often many targets fail at once")
	flag.IntVar(&o.stormN, "storm", 40, "targets in a storm")
	flag.BoolVar(&o.keep, "keep", false, "keep the work dir (config, data, foghorn's log)")
	flag.Parse()
	if *peer {
		runPeer(*peerN)
		return
	}
	o.startTimeout, o.grace = time.Minute, 30*time.Second
	o.downMin, o.downMax, o.stormDown = 20*time.Second, 60*time.Second, 45*time.Second
	o.ackGrace, o.pageWait = 2*time.Second, 20*time.Second
	if err := soak(o); err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
}

// ---- the peer: targets that answer 200, or 503 while down ----

func runPeer(n int) {
	down := make([]atomic.Bool, n)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "peer:", err)
		os.Exit(1)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /t/{i}", func(w http.ResponseWriter, r *http.Request) {
		i, err := strconv.Atoi(r.PathValue("i"))
		if err != nil || i < 0 || i >= n {
			http.NotFound(w, r)
			return
		}
		if down[i].Load() {
			http.Error(w, "down (soak chaos)", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok")
	})
	mux.HandleFunc("POST /ctl", func(w http.ResponseWriter, r *http.Request) {
		v := r.URL.Query().Get("down") == "1"
		for _, s := range strings.Split(r.URL.Query().Get("t"), ",") {
			if i, err := strconv.Atoi(s); err == nil && i >= 0 && i < n {
				down[i].Store(v)
			}
		}
	})
	fmt.Printf("LISTEN %s\n", ln.Addr())
	go func() { // the soak ends us by closing stdin, or dies
		io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}()
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	srv.Serve(ln)
}

type peerProc struct {
	cmd  *exec.Cmd
	in   io.WriteCloser
	addr string
}

func startPeer(n int) (*peerProc, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, "-peer", "-peer-targets", strconv.Itoa(n))
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "LISTEN ") {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, fmt.Errorf("the peer did not start: %q %v", line, err)
	}
	return &peerProc{cmd: cmd, in: in, addr: strings.TrimSpace(strings.TrimPrefix(line, "LISTEN "))}, nil
}

func (p *peerProc) set(down bool, ids []int) error {
	var s []string
	for _, i := range ids {
		s = append(s, strconv.Itoa(i))
	}
	d := "0"
	if down {
		d = "1"
	}
	resp, err := http.Post("http://"+p.addr+"/ctl?down="+d+"&t="+strings.Join(s, ","), "", nil)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

func (p *peerProc) stop() {
	p.in.Close()
	p.cmd.Process.Kill()
	p.cmd.Wait()
}

// ---- foghorn, run, killed and run again ----

type foghorn struct {
	o       options
	cfg     string
	logPath string
	log     *os.File

	mu       sync.Mutex
	cmd      *exec.Cmd
	done     chan struct{}
	starts   int
	kills    int
	errors   int
	panics   int
	lastErrs []string
}

func (f *foghorn) start() error {
	cmd := exec.Command(f.o.bin, "run", "-config", f.cfg, "-log-format", "json")
	cmd.Env = append(os.Environ(), "FOGHORN_TWILIO_AUTH_TOKEN="+authToken)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start foghorn: %w", err)
	}
	ready, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		once := sync.Once{}
		for sc.Scan() {
			line := sc.Text()
			f.mu.Lock()
			fmt.Fprintln(f.log, line)
			var m struct{ Level, Msg string }
			json.Unmarshal([]byte(line), &m)
			if m.Level == "ERROR" {
				f.errors++
				if len(f.lastErrs) < 200 {
					f.lastErrs = append(f.lastErrs, m.Msg)
				}
			}
			if strings.HasPrefix(line, "panic:") || strings.Contains(line, "BUG") || strings.HasPrefix(line, "fatal error:") {
				f.panics++
			}
			f.mu.Unlock()
			if m.Msg == "foghorn running" {
				once.Do(func() { close(ready) })
			}
		}
		cmd.Wait()
	}()
	f.mu.Lock()
	f.cmd, f.done = cmd, done
	f.starts++
	f.mu.Unlock()
	select {
	case <-ready:
		return nil
	case <-done:
		return fmt.Errorf("foghorn exited before it was running; see %s", f.logPath)
	case <-time.After(f.o.startTimeout):
		return fmt.Errorf("foghorn not running within %s; see %s", f.o.startTimeout, f.logPath)
	}
}

// kill is the VPS losing power: SIGKILL, no shutdown.
func (f *foghorn) kill() {
	f.mu.Lock()
	cmd, done := f.cmd, f.done
	f.kills++
	f.mu.Unlock()
	cmd.Process.Signal(syscall.SIGKILL)
	<-done
}

// stop is a clean shutdown, bounded.
func (f *foghorn) stop() error {
	f.mu.Lock()
	cmd, done := f.cmd, f.done
	f.mu.Unlock()
	if cmd == nil {
		return nil
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(f.o.grace):
		cmd.Process.Kill()
		<-done
		return fmt.Errorf("foghorn did not stop within %s of SIGTERM", f.o.grace)
	}
	if c := cmd.ProcessState.ExitCode(); c != 0 {
		return fmt.Errorf("foghorn exited %d after SIGTERM", c)
	}
	return nil
}

// ---- the soak ----

type flip struct {
	target   int
	down, up time.Time
}

func soak(o options) error {
	if _, err := os.Stat(o.bin); err != nil {
		return fmt.Errorf("no foghorn binary at %s (make build): %w", o.bin, err)
	}
	work, err := os.MkdirTemp("", "foghorn-soak-")
	if err != nil {
		return err
	}
	if o.keep {
		fmt.Println("work dir:", work)
	} else {
		defer os.RemoveAll(work)
	}
	peer, err := startPeer(o.targets)
	if err != nil {
		return err
	}
	defer peer.stop()

	port, err := freePort()
	if err != nil {
		return err
	}
	pub := fmt.Sprintf("http://127.0.0.1:%d", port)
	sim := twiliosim.New(twiliosim.Options{AccountSID: accountSID, AuthToken: authToken, Number: fromNumber,
		InboundSMSURL: pub + "/twilio/sms", PublicURL: pub, Ring: 2 * time.Second,
		Logger: slog.New(slog.DiscardHandler)})
	simBase, err := sim.Start("127.0.0.1:0")
	if err != nil {
		return err
	}
	defer sim.Close()
	sim.SetFault(twiliosim.Fault{Rate: o.failRate, Status: http.StatusInternalServerError})

	data := filepath.Join(work, "data")
	cfgPath := filepath.Join(work, "foghorn.toml")
	if err := os.WriteFile(cfgPath, []byte(config(o, port, data, simBase, peer.addr)), 0o600); err != nil {
		return err
	}
	chk := exec.Command(o.bin, "check-config", cfgPath)
	chk.Env = append(os.Environ(), "FOGHORN_TWILIO_AUTH_TOKEN="+authToken)
	if out, err := chk.CombinedOutput(); err != nil {
		return fmt.Errorf("the soak's config is refused: %v\n%s", err, out)
	}
	logf, err := os.Create(filepath.Join(work, "foghorn.log"))
	if err != nil {
		return err
	}
	defer logf.Close()
	fh := &foghorn{o: o, cfg: cfgPath, logPath: logf.Name(), log: logf}

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

	fmt.Printf("soak: %d targets every %s, Twilio failing %.0f%% of requests, %.0f%% of calls to voicemail, SIGKILL every %s-%s, chaos for %s then %s settling\n",
		o.targets, o.interval, o.failRate*100, o.vmRate*100, o.killMin, o.killMax, o.duration, o.settle)
	began := time.Now()
	if err := fh.start(); err != nil {
		return err
	}
	fmt.Printf("soak: foghorn running after %s\n", time.Since(began).Round(time.Millisecond))

	// The phones: each call is answered by voicemail with probability
	// vmRate, otherwise by a person who presses 1 (ack). Scripts are
	// taken when a call starts, so re-drawing them every second draws
	// each call's fate.
	var wg sync.WaitGroup
	chaosEnd := time.Now().Add(o.duration)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil && time.Now().Before(chaosEnd.Add(o.settle)) {
			for _, ph := range []string{alicePhone, bobPhone} {
				sc := twiliosim.Script{Call: "answer", Keys: []string{"1"}}
				if rand.Float64() < o.vmRate {
					sc = twiliosim.Script{Call: "voicemail"}
				}
				sim.SetPhone(ph, sc)
			}
			sleep(ctx, 500*time.Millisecond)
		}
	}()

	// Chaos: a few targets down every flipEvery, for 20-60 s; a storm now
	// and then.
	var fmu sync.Mutex
	var flips []flip
	downNow := map[int]bool{}
	wg.Add(1)
	go func() {
		defer wg.Done()
		lastStorm := time.Now()
		for ctx.Err() == nil && time.Now().Before(chaosEnd) {
			n := o.flipN
			dur := func() time.Duration { return o.downMin + rand.N(o.downMax-o.downMin) }
			if time.Since(lastStorm) >= o.stormEvery {
				n, lastStorm = o.stormN, time.Now()
				dur = func() time.Duration { return o.stormDown }
			}
			var ids []int
			fmu.Lock()
			for len(ids) < n {
				i := rand.IntN(o.targets)
				if !downNow[i] && !slices.Contains(ids, i) {
					ids = append(ids, i)
				}
			}
			now := time.Now()
			for _, i := range ids {
				downNow[i] = true
				flips = append(flips, flip{target: i, down: now})
			}
			fmu.Unlock()
			if err := peer.set(true, ids); err != nil {
				fmt.Fprintln(os.Stderr, "soak: chaos:", err)
			}
			d := dur()
			wg.Add(1)
			go func() {
				defer wg.Done()
				sleep(ctx, d)
				peer.set(false, ids)
				fmu.Lock()
				now := time.Now()
				for _, i := range ids {
					delete(downNow, i)
					for k := len(flips) - 1; k >= 0; k-- {
						if flips[k].target == i && flips[k].up.IsZero() {
							flips[k].up = now
							break
						}
					}
				}
				fmu.Unlock()
			}()
			sleep(ctx, o.flipEvery)
		}
	}()

	// SIGKILL and restart, until the chaos ends.
	var runErr error
	for ctx.Err() == nil && time.Now().Before(chaosEnd) {
		wait := o.killMin + rand.N(o.killMax-o.killMin+1)
		if time.Now().Add(wait).After(chaosEnd) {
			sleep(ctx, time.Until(chaosEnd))
			break
		}
		sleep(ctx, wait)
		if ctx.Err() != nil {
			break
		}
		fh.kill()
		fmt.Printf("soak: %s: SIGKILL #%d, restarting\n", time.Since(began).Round(time.Second), fh.kills)
		if runErr = fh.start(); runErr != nil {
			break
		}
	}
	// Everything up again; foghorn keeps running while incidents resolve.
	fmu.Lock()
	var all []int
	for i := range downNow {
		all = append(all, i)
	}
	fmu.Unlock()
	peer.set(false, all)
	if runErr == nil {
		fmt.Printf("soak: %s: chaos over, every target up; settling for %s\n", time.Since(began).Round(time.Second), o.settle)
		sleep(ctx, o.settle)
	}
	stopErr := fh.stop()
	cancel()
	wg.Wait()
	end := time.Now()
	// The simulator's last callbacks have nowhere to go now; its log is
	// complete.
	sleep(context.Background(), 3*time.Second)
	msgs, calls, events := sim.Messages(), sim.Calls(), sim.Events()
	if runErr != nil {
		return runErr
	}

	db, err := store.Open(context.Background(), data)
	if err != nil {
		return fmt.Errorf("open the store after the last stop: %w", err)
	}
	defer db.Close()
	fmu.Lock()
	nflips := len(flips)
	fmu.Unlock()
	r, err := check(db, o, chaosEnd, end, msgs, calls, events)
	if err != nil {
		return err
	}
	fh.mu.Lock()
	defer fh.mu.Unlock()
	fmt.Printf("\nsoak counts (%s in all)\n", end.Sub(began).Round(time.Second))
	fmt.Printf("  foghorn: %d starts, %d SIGKILLs, clean final stop: %v, %d ERROR log lines, %d panics\n",
		fh.starts, fh.kills, stopErr == nil, fh.errors, fh.panics)
	fmt.Printf("  chaos: %d targets taken down (storms of %d every %s)\n", nflips, o.stormN, o.stormEvery)
	r.print()
	if stopErr != nil {
		fmt.Println("  FAIL:", stopErr)
		r.failed++
	}
	if fh.panics > 0 {
		fmt.Println("  FAIL: foghorn panicked; see", fh.logPath)
		r.failed++
	}
	if r.failed > 0 {
		if !o.keep {
			fmt.Println("  (rerun with -keep to keep foghorn's log and store)")
		}
		return fmt.Errorf("%d check(s) failed", r.failed)
	}
	fmt.Println("  all checks passed")
	return nil
}

func config(o options, port int, data, simBase, peer string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `[server]
listen = "127.0.0.1:%d"
public_url = "http://127.0.0.1:%d"
data_dir = %q
[twilio]
account_sid = %q
from = %q
api_base = %q
machine_detection = true
sms_per_15m = 10000
calls_per_15m = 10000
[self_check]
kind = "tcp"
canaries = [%q]
[escalation]
default_policy = "ops0"
max_per_hour = 100000
[[person]]
name = "alice"
phone = %q
[[person]]
name = "bob"
phone = %q
`, port, port, data, accountSID, fromNumber, simBase, peer, alicePhone, bobPhone)
	// The same steps in every policy: alice by SMS, then by phone, then bob.
	for p := range max(o.policies, 1) {
		fmt.Fprintf(&b, `[[policy]]
name = "ops%d"
  [[policy.step]]
  who = ["alice"]
  channels = ["sms"]
  [[policy.step]]
  who = ["alice"]
  channels = ["voice", "sms"]
  delay = "20s"
  repeat = 1
  interval = "30s"
  [[policy.step]]
  who = ["bob"]
  channels = ["voice", "sms"]
  delay = "30s"
  until_ack = true
  interval = "1m"
`, p)
	}
	for i := range o.targets {
		fmt.Fprintf(&b, "[[target]]\nname = \"t%04d\"\nkind = \"http\"\naddress = \"http://%s/t/%d\"\ninterval = %q\ntimeout = \"2s\"\nrise = 1\nfall = 2\npolicy = \"ops%d\"\n",
			i, peer, i, o.interval.String(), i%max(o.policies, 1))
	}
	return b.String()
}

// ---- the checks ----

type result struct {
	incidents, notices, open, stuck        int
	needed, paged, missing                 int
	acked, pagedAfterAck, simAfterAck      int
	claimed, resent, expired, unrecorded   int
	simSMS, simCalls, voicemail, injected  int
	maxSends, overTwice                    int
	failed                                 int
	missingIDs, afterAckIDs, stuckIDs, dup []string
}

func (r *result) print() {
	fmt.Printf("  incidents: %d (+%d notices); open at the end: %d\n", r.incidents, r.notices, r.open)
	fmt.Printf("  simulator: %d SMS and %d calls created (%d answered by voicemail), %d API requests failed on purpose\n",
		r.simSMS, r.simCalls, r.voicemail, r.injected)
	fmt.Printf("  notifications: %d page rows claimed, %d resent after a SIGKILL, %d expired, most sends of one notification %d\n",
		r.claimed, r.resent, r.expired, r.maxSends)
	line := func(ok bool, f string, a ...any) {
		mark := "ok  "
		if !ok {
			mark = "FAIL"
			r.failed++
		}
		fmt.Printf("  %s %s\n", mark, fmt.Sprintf(f, a...))
	}
	line(r.missing == 0, "every incident that needed a page got one: %d of %d needed one, %d got one%s", r.needed, r.incidents, r.paged, ids(r.missingIDs))
	line(r.pagedAfterAck == 0 && r.simAfterAck == 0, "every acked incident stopped paging: %d acked, %d pages claimed and %d sent after the ack%s",
		r.acked, r.pagedAfterAck, r.simAfterAck, ids(r.afterAckIDs))
	line(r.overTwice == 0, "no notification sent more than twice: %d sent 3+ times%s", r.overTwice, ids(r.dup))
	line(r.stuck == 0, "no incident stuck open after its target recovered: %d%s", r.stuck, ids(r.stuckIDs))
}

func ids(s []string) string {
	if len(s) == 0 {
		return ""
	}
	if len(s) > 10 {
		s = append(s[:10:10], "...")
	}
	return " [" + strings.Join(s, " ") + "]"
}

// notification is the n= of a status callback URL.
func notification(callback string) int64 {
	u, err := url.Parse(callback)
	if err != nil {
		return 0
	}
	n, _ := strconv.ParseInt(u.Query().Get("n"), 10, 64)
	return n
}

func check(db *store.DB, o options, chaosEnd, end time.Time, msgs []twiliosim.Message, calls []twiliosim.Call, events []twiliosim.Event) (*result, error) {
	r := &result{}
	// What reached the simulator, per notification.
	sends := map[int64][]time.Time{}
	for _, m := range msgs {
		if m.Direction != "outbound-api" {
			continue
		}
		r.simSMS++
		if n := notification(m.StatusCallback); n > 0 {
			sends[n] = append(sends[n], m.Created)
		}
	}
	for _, c := range calls {
		r.simCalls++
		if strings.HasPrefix(c.AnsweredBy, "machine") {
			r.voicemail++
		}
		if n := notification(c.StatusCallback); n > 0 {
			sends[n] = append(sends[n], c.Created)
		}
	}
	for _, e := range events {
		if e.Kind == twiliosim.KindAPI && e.Err == "injected fault" {
			r.injected++
		}
	}
	for n, ts := range sends {
		r.maxSends = max(r.maxSends, len(ts))
		if len(ts) > 2 {
			r.overTwice++
			r.dup = append(r.dup, fmt.Sprintf("n%d×%d", n, len(ts)))
		}
	}

	type inc struct {
		id                       int64
		key, state, source, by   string
		opened                   int64
		acked, resolved          sql.NullInt64
		pages                    []int64 // notification ids
		pageCreated              []int64
		retriggeredAfterAckEvent bool
	}
	rows, err := db.Query(`SELECT id, key, state, source, resolved_by, opened_at, acked_at, resolved_at FROM incidents ORDER BY id`)
	if err != nil {
		return nil, err
	}
	incs := map[int64]*inc{}
	var order []int64
	for rows.Next() {
		i := &inc{}
		if err := rows.Scan(&i.id, &i.key, &i.state, &i.source, &i.by, &i.opened, &i.acked, &i.resolved); err != nil {
			rows.Close()
			return nil, err
		}
		incs[i.id] = i
		order = append(order, i.id)
	}
	rows.Close()
	rows, err = db.Query(`SELECT id, incident, created_at, attempt, state FROM notifications WHERE kind = 'page' ORDER BY id`)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var id, incident, created int64
		var attempt int
		var state string
		if err := rows.Scan(&id, &incident, &created, &attempt, &state); err != nil {
			rows.Close()
			return nil, err
		}
		r.claimed++
		if attempt > 1 {
			r.resent++
		}
		if state == "expired" {
			r.expired++
		}
		if i := incs[incident]; i != nil {
			i.pages = append(i.pages, id)
			i.pageCreated = append(i.pageCreated, created)
		}
	}
	rows.Close()
	// Events that legitimately page an acked incident again.
	rows, err = db.Query(`SELECT subject, at FROM events WHERE kind IN ('ack.stale', 'snooze.end', 'incident.escalate', 'incident.severity')`)
	if err != nil {
		return nil, err
	}
	again := map[int64][]time.Time{}
	for rows.Next() {
		var subject, at string
		rows.Scan(&subject, &at)
		id, _ := strconv.ParseInt(subject, 10, 64)
		t, _ := time.Parse(time.RFC3339Nano, at)
		again[id] = append(again[id], t)
	}
	rows.Close()

	for _, id := range order {
		i := incs[id]
		if i.by == "notice" {
			r.notices++
			continue
		}
		r.incidents++
		if i.state != "resolved" {
			r.open++
			if i.source == "probe" {
				r.stuck++
				r.stuckIDs = append(r.stuckIDs, fmt.Sprintf("#%d:%s", i.id, i.key))
			}
		}
		// Needed a page: open long enough for its first page (the first
		// step has no delay), and not opened in the last moments before
		// the end.
		opened := time.UnixMilli(i.opened)
		lasted := end.Sub(opened)
		if i.resolved.Valid {
			lasted = time.UnixMilli(i.resolved.Int64).Sub(opened)
		}
		if lasted >= o.pageWait && end.Sub(opened) >= o.pageWait {
			r.needed++
			got := false
			for _, n := range i.pages {
				if len(sends[n]) > 0 {
					got = true
				}
			}
			if got {
				r.paged++
			} else {
				r.missing++
				r.missingIDs = append(r.missingIDs, fmt.Sprintf("#%d:%s", i.id, i.key))
			}
		}
		if !i.acked.Valid {
			continue
		}
		r.acked++
		ackedAt := time.UnixMilli(i.acked.Int64)
		retriggered := false
		for _, t := range again[i.id] {
			if t.After(ackedAt) {
				retriggered = true
			}
		}
		if retriggered {
			continue
		}
		bad := false
		for k, n := range i.pages {
			if time.UnixMilli(i.pageCreated[k]).After(ackedAt.Add(time.Second)) {
				r.pagedAfterAck++
				bad = true
			}
			for _, t := range sends[n] {
				if t.After(ackedAt.Add(o.ackGrace)) {
					r.simAfterAck++
					bad = true
				}
			}
		}
		if bad {
			r.afterAckIDs = append(r.afterAckIDs, fmt.Sprintf("#%d", i.id))
		}
	}
	return r, nil
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
