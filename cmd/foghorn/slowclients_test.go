package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Issue 11, point 7: slow clients must not blind the probes. The real
// binary runs the example config plus 1,000 TCP targets under a file
// descriptor limit of 1,100 (hard, so raising soft to hard gains
// nothing), while 3,000 idle keep-alive connections and 200 clients that
// trickle a request body hold on to its HTTP listener.
const (
	slowFDLimit  = 1100
	slowTargets  = 1000
	slowIdle     = 3000
	slowBodies   = 200
	slowInterval = 10 * time.Second // the example's routers' interval
)

func TestSlowClientsDoNotBlindProbes(t *testing.T) {
	if _, err := exec.LookPath("prlimit"); err != nil {
		requirePeer(t, "prlimit is not installed (Debian package util-linux)")
	}
	// The targets: a few loopback listeners that accept and close, each
	// behind many targets (a probe is a connect).
	var addrs []string
	for range 10 {
		addrs = append(addrs, acceptCloseListener(t))
	}
	x := newExample(t, func(s string) string {
		var b strings.Builder
		b.WriteString(s)
		for i := range slowTargets {
			fmt.Fprintf(&b, "\n[[target]]\nname = \"t%04d\"\nkind = \"tcp\"\naddress = %q\ninterval = %q\n",
				i, addrs[i%len(addrs)], slowInterval.String())
		}
		return b.String()
	})
	p := startLimited(t, slowFDLimit, "FOGHORN_API_TOKEN="+e2eToken, "run", "-config", x.path, "-log-format", "json")
	p.waitWithin(t, 30*time.Second, 0, "foghorn running", nil)

	// Every target has had a probe before the flood starts.
	before, err := scrapeRetry(x.base, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if got := slowMetric(before, "process_max_fds"); got != slowFDLimit {
		t.Fatalf("process_max_fds = %v, want %d: the limit did not reach foghorn", got, slowFDLimit)
	}
	floodAt := time.Now()

	// 3,000 clients make one request each and then keep the connection
	// open without a word; 200 send a form's headers and then a byte now
	// and then.
	idle := make([]connFate, slowIdle)
	slow := make([]connFate, slowBodies)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64) // dials in flight: the kernel's SYN queue is finite
	host := strings.TrimPrefix(x.base, "http://")
	for i := range idle {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			idle[i].run(host, "GET /healthz HTTP/1.1\r\nHost: foghorn\r\n\r\n", nil, func() { <-sem })
		}()
	}
	for i := range slow {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			// Half within the webhook's body cap, half over it: a form
			// read at the client's pace, and one refused but left to drain.
			head := "POST /twilio/sms HTTP/1.1\r\nHost: foghorn\r\nContent-Type: application/x-www-form-urlencoded\r\n" +
				fmt.Sprintf("X-Twilio-Signature: c2xvdw==\r\nContent-Length: %d\r\n\r\n", []int{10_000, 100_000}[i%2])
			slow[i].run(host, head, func(c net.Conn) bool {
				time.Sleep(200 * time.Millisecond)
				_, err := c.Write([]byte("a"))
				return err == nil
			}, func() { <-sem })
		}()
	}

	// While they hold on, foghorn stays reachable...
	time.Sleep(time.Second)
	during, err := scrapeRetry(x.base, 15*time.Second)
	if err != nil {
		t.Errorf("/metrics unreachable under slow clients: %v", err)
	}

	// ...and one quiet keep-alive connection made later is closed after
	// the idle timeout, not before and not never.
	wg.Wait()
	quiet := connFate{}
	quietDone := make(chan struct{})
	go func() {
		defer close(quietDone)
		quiet.run(host, "GET /healthz HTTP/1.1\r\nHost: foghorn\r\n\r\n", nil, func() {})
	}()
	<-quietDone
	after, err := scrapeRetry(x.base, 10*time.Second)
	if err != nil {
		t.Errorf("/metrics unreachable after slow clients: %v", err)
	}
	elapsed := time.Since(floodAt)

	// What the clients saw.
	var served, idleOpen, idleLate int
	for _, f := range idle {
		if f.status != 0 {
			served++
		}
		switch {
		case f.closed.IsZero():
			idleOpen++
		case f.closed.Sub(f.start) > httpIdleTimeout+5*time.Second:
			idleLate++
		}
	}
	t.Logf("idle: %d of %d served, %d never closed, %d closed later than the idle timeout (%s) + 5s", served, slowIdle, idleOpen, idleLate, httpIdleTimeout)
	if served < slowIdle*9/10 || idleOpen > 0 || idleLate > 0 {
		t.Errorf("idle keep-alive connections: %d of %d served, %d never closed, %d held past the idle timeout", served, slowIdle, idleOpen, idleLate)
	}
	var cut, bodyOK, slowLong int
	for _, f := range slow {
		if !f.closed.IsZero() {
			cut++
		}
		if f.status/100 == 2 {
			bodyOK++
		}
		if f.closed.Sub(f.start) > 40*time.Second {
			slowLong++
		}
	}
	t.Logf("slow bodies: %d of %d cut, %d accepted, %d held over 40s", cut, slowBodies, bodyOK, slowLong)
	if cut < slowBodies || bodyOK > 0 || slowLong > 0 {
		t.Errorf("slow bodies: %d of %d cut by the server, %d accepted, %d held over 40s", cut, slowBodies, bodyOK, slowLong)
	}
	if quiet.status == 0 || quiet.closed.IsZero() {
		t.Errorf("quiet keep-alive connection: status %d, closed %v", quiet.status, !quiet.closed.IsZero())
	} else if held := quiet.closed.Sub(quiet.start); held < httpIdleTimeout-time.Second || held > httpIdleTimeout+5*time.Second {
		t.Errorf("a quiet keep-alive connection was closed after %s; the idle timeout is %s", held, httpIdleTimeout)
	}

	// What foghorn saw: probes on time, every target up, never blind, no fd
	// ran out.
	for _, text := range []string{during, after} {
		if text == "" {
			continue
		}
		if v := slowMetric(text, "foghorn_blind"); v != 0 {
			t.Errorf("foghorn_blind = %v under slow clients: the canaries failed", v)
		}
		if v := slowMetric(text, "foghorn_probe_lateness_p99_seconds"); v > 1 || v < 0 {
			t.Errorf("foghorn_probe_lateness_p99_seconds = %v under slow clients, want at most 1s", v)
		}
	}
	okBefore := slowMetric(before, `foghorn_probe_results_total{kind="tcp",status="OK"}`)
	okAfter := slowMetric(after, `foghorn_probe_results_total{kind="tcp",status="OK"}`)
	if want := 0.8 * slowTargets * elapsed.Seconds() / slowInterval.Seconds(); okAfter-okBefore < want {
		t.Errorf("%v OK tcp probes in %s of slow clients, want at least %.0f (1,000 targets every %s)", okAfter-okBefore, elapsed.Round(time.Second), want, slowInterval)
	}
	bad, seen := 0, 0
	for _, m := range regexp.MustCompile(`(?m)^foghorn_probe_status\{target="t\d{4}"\} (\S+)$`).FindAllStringSubmatch(after, -1) {
		seen++
		if m[1] != "0" {
			bad++
		}
	}
	if bad > 0 || seen < slowTargets {
		t.Errorf("%d of the %d targets probed (of %d) failed their last probe under slow clients", bad, seen, slowTargets)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, raw := range p.raw {
		m := p.lines[i]
		switch {
		case strings.Contains(raw, "too many open files"):
			t.Errorf("file descriptors ran out: %s", raw)
		case m != nil && m["msg"] == "target down" && strings.HasPrefix(fmt.Sprint(m["target"]), "t"):
			t.Errorf("a target went down under slow clients: %s", raw)
		case strings.Contains(raw, "foghorn cannot see the outside world"):
			t.Errorf("foghorn went blind under slow clients: %s", raw)
		}
	}
	if t.Failed() {
		var keep []string
		for i, raw := range p.raw {
			if m := p.lines[i]; m == nil || m["msg"] != "target up" {
				keep = append(keep, raw)
			}
		}
		os.WriteFile("/tmp/slow_foghorn.log", []byte(strings.Join(p.raw, "\n")), 0o644) // DEBUG
		t.Logf("log (without targets coming up):\n%s", strings.Join(keep[max(0, len(keep)-60):], "\n"))
	}
}

// connFate is what one raw client connection saw.
type connFate struct {
	start, closed time.Time // closed: when the server closed it (zero: never)
	status        int       // of the first response, 0 without one
	err           error     // dialling
}

// run dials host, writes req, then calls trickle (if any) until it
// returns false, and records when the server closes the connection. It
// gives up after a minute. dialled is called once the dial is over.
func (f *connFate) run(host, req string, trickle func(net.Conn) bool, dialled func()) {
	f.start = time.Now()
	c, err := net.DialTimeout("tcp", host, 10*time.Second)
	dialled()
	if err != nil {
		f.err = err
		return
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Minute))
	if _, err := io.WriteString(c, req); err != nil {
		f.closed = time.Now()
		return
	}
	if trickle != nil {
		go func() {
			for trickle(c) {
			}
		}()
	}
	br := bufio.NewReader(c)
	if resp, err := http.ReadResponse(br, nil); err == nil {
		f.status = resp.StatusCode
		io.Copy(io.Discard, resp.Body)
	}
	// The connection is now idle (or the server gave up on it): the server
	// closing it is an EOF or a reset; our own deadline is a timeout.
	var one [1]byte
	_, err = br.Read(one[:])
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		return
	}
	f.closed = time.Now()
}

// scrapeRetry reads /metrics on a connection of its own, retrying while
// the listener is busy.
func scrapeRetry(base string, d time.Duration) (string, error) {
	cl := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	var last error
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		resp, err := cl.Get(base + "/metrics")
		if err != nil {
			last = err
			continue
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err == nil && resp.StatusCode == 200 {
			return string(b), nil
		}
		last = fmt.Errorf("status %d, %v", resp.StatusCode, err)
	}
	return "", fmt.Errorf("no /metrics for %s: %w", d, last)
}

// slowMetric is the value of one exposition line ("name{labels}"), or -1.
func slowMetric(text, series string) float64 {
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(text)
	if m == nil {
		return -1
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

// acceptCloseListener is a TCP port on loopback that accepts and closes.
func acceptCloseListener(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return l.Addr().String()
}

// startLimited is startEnv with RLIMIT_NOFILE set to nofile (soft and
// hard) for foghorn, through prlimit(1), which execs it in place.
func startLimited(t *testing.T, nofile int, env string, args ...string) *proc {
	t.Helper()
	argv := append([]string{fmt.Sprintf("--nofile=%d:%d", nofile, nofile), "--", bin}, args...)
	p := &proc{cmd: exec.Command("prlimit", argv...), done: make(chan error, 1)}
	p.cmd.Env = append(os.Environ(), env)
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			var m map[string]any
			json.Unmarshal(sc.Bytes(), &m)
			p.mu.Lock()
			p.lines = append(p.lines, m)
			p.raw = append(p.raw, sc.Text())
			p.mu.Unlock()
		}
		p.done <- p.cmd.Wait()
	}()
	t.Cleanup(func() { p.cmd.Process.Kill() })
	return p
}
