package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
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
// trickle a request body (and 64 that connect and say nothing) hold on
// to its HTTP listener.
const (
	slowFDLimit  = 1100
	slowTargets  = 1000
	slowIdle     = 3000
	slowBodies   = 200
	slowSilent   = 64
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
	silent := make([]connFate, slowSilent) // connect and say nothing
	var all, answered sync.WaitGroup       // every client done; every client answered or cut
	sem := make(chan struct{}, 64)         // dials in flight: the kernel's SYN queue is finite
	host := strings.TrimPrefix(x.base, "http://")
	client := func(f *connFate, req string, trickle func(net.Conn) bool) {
		all.Add(1)
		answered.Add(1)
		go func() {
			defer all.Done()
			sem <- struct{}{}
			f.run(host, req, trickle, func() { <-sem }, answered.Done)
		}()
	}
	mute := func(f *connFate) { // waited for only at the end
		all.Add(1)
		go func() {
			defer all.Done()
			sem <- struct{}{}
			f.run(host, "", nil, func() { <-sem }, func() {})
		}()
	}
	for i := range idle {
		client(&idle[i], "GET /healthz HTTP/1.1\r\nHost: foghorn\r\n\r\n", nil)
	}
	for i := range slow {
		// Half within the webhook's body cap, half over it: a form read
		// at the client's pace, and one refused but left to drain.
		client(&slow[i], "POST /twilio/sms HTTP/1.1\r\nHost: foghorn\r\nContent-Type: application/x-www-form-urlencoded\r\n"+
			fmt.Sprintf("X-Twilio-Signature: c2xvdw==\r\nContent-Length: %d\r\n\r\n", []int{10_000, 100_000}[i%2]),
			func(c net.Conn) bool {
				time.Sleep(200 * time.Millisecond)
				_, err := c.Write([]byte("a"))
				return err == nil
			})
	}

	for i := range silent {
		mute(&silent[i])
	}

	// While they hold on, foghorn stays reachable...
	time.Sleep(time.Second)
	during, err := scrapeRetry(x.base, 20*time.Second)
	if err != nil {
		t.Errorf("/metrics unreachable under slow clients: %v", err)
	}

	// ...and once every client had its answer, one quiet keep-alive
	// connection is closed after the idle timeout, not before, not never.
	answered.Wait()
	var quiet connFate
	quiet.run(host, "GET /healthz HTTP/1.1\r\nHost: foghorn\r\n\r\n", nil, func() {}, func() {})
	all.Wait()
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
		case f.closed.Sub(f.answered) > httpIdleTimeout+5*time.Second:
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
	held, longest := 0, time.Duration(0)
	for _, f := range silent {
		if f.closed.IsZero() {
			held++
		}
		longest = max(longest, f.closed.Sub(f.start))
	}
	t.Logf("silent: %d of %d never closed; the longest-lived was closed %s after its dial (header timeout %s)", held, slowSilent, longest.Round(time.Second), httpHeaderTimeout)
	if held > 0 {
		t.Errorf("%d of %d silent connections were never closed", held, slowSilent)
	}
	if quiet.status == 0 || quiet.closed.IsZero() {
		t.Errorf("quiet keep-alive connection: status %d, closed %v", quiet.status, !quiet.closed.IsZero())
	} else if held := quiet.closed.Sub(quiet.answered); held < httpIdleTimeout-time.Second || held > httpIdleTimeout+5*time.Second {
		t.Errorf("a quiet keep-alive connection was closed after %s; the idle timeout is %s", held, httpIdleTimeout)
	}

	// What foghorn saw: probes on time, every target up, never blind, no fd
	// ran out.
	for _, text := range []string{during, after} {
		if text == "" {
			continue
		}
		if n, cap := slowMetric(text, "foghorn_http_connections"), slowMetric(text, "foghorn_http_connections_max"); n > cap || cap <= 0 {
			t.Errorf("foghorn_http_connections = %v, over its cap %v", n, cap)
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
	found := map[string][]string{} // what went wrong: the log lines that say so
	for i, raw := range p.raw {
		m := p.lines[i]
		switch {
		case strings.Contains(raw, "too many open files"):
			found["file descriptors ran out"] = append(found["file descriptors ran out"], raw)
		case m != nil && m["msg"] == "target down" && strings.HasPrefix(fmt.Sprint(m["target"]), "t"):
			found["a target went down"] = append(found["a target went down"], raw)
		case strings.Contains(raw, "foghorn cannot see the outside world"),
			m != nil && (m["level"] == "WARN" || m["level"] == "ERROR") && strings.Contains(fmt.Sprint(m["msg"]), "canary"):
			found["the canaries failed"] = append(found["the canaries failed"], raw)
		}
	}
	for what, lines := range found {
		t.Errorf("under slow clients %s: %d log lines, the first: %s", what, len(lines), lines[0])
	}
	if t.Failed() {
		var keep []string
		for i, raw := range p.raw {
			if m := p.lines[i]; m == nil || m["msg"] != "target up" {
				keep = append(keep, raw)
			}
		}
		t.Logf("log (without targets coming up):\n%s", strings.Join(keep[max(0, len(keep)-60):], "\n"))
	}
}

// connFate is what one raw client connection saw.
type connFate struct {
	start    time.Time
	answered time.Time // the response came, or the server cut the request
	closed   time.Time // the server closed the connection (zero: never)
	status   int       // of the response, 0 without one
	err      error     // dialling
}

// run dials host, writes req, then calls trickle (if any) until it
// returns false, and records what the server does. It gives up after a
// minute. dialled is called when the dial is over, answered when the
// response came or the server cut the request (or run gave up).
func (f *connFate) run(host, req string, trickle func(net.Conn) bool, dialled, answered func()) {
	var once sync.Once
	answer := func() { once.Do(func() { f.answered = time.Now(); answered() }) }
	defer answer()
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
	answer()
	// The connection is now idle (or the server gave up on it): the server
	// closing it is an EOF or a reset; our own deadline is a timeout.
	var one [1]byte
	_, err = br.Read(one[:])
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		return
	}
	f.closed = time.Now()
}

// scrapeRetry reads /metrics on a connection of its own, waiting up to d
// (a busy listener queues connections), and retrying errors meanwhile.
func scrapeRetry(base string, d time.Duration) (string, error) {
	cl := &http.Client{Timeout: d, Transport: &http.Transport{DisableKeepAlives: true}}
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
	return bannerListener(t, "")
}

// startLimited is startEnv with RLIMIT_NOFILE set to nofile (soft and
// hard) for foghorn, through prlimit(1), which execs it in place.
func startLimited(t *testing.T, nofile int, env string, args ...string) *proc {
	t.Helper()
	argv := append([]string{fmt.Sprintf("--nofile=%d:%d", nofile, nofile), "--", bin}, args...)
	return startCmd(t, exec.Command("prlimit", argv...), []string{env})
}
