package probes

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"foghorn/configs"
)

// probeTarget is a Target of kind with a timeout, as the loader would give it.
func probeTarget(kind, addr string, timeout time.Duration) *configs.Target {
	return &configs.Target{
		Name:    "test-" + kind,
		Kind:    kind,
		Address: addr,
		Timeout: configs.Duration{Duration: timeout},
	}
}

var nftTables atomic.Int32

// dropTo makes the loopback address ip silently drop every packet sent to
// it, like a hung host, until the test ends.
func dropTo(t *testing.T, ip string) {
	t.Helper()
	nftInput(t, "ip daddr "+ip+" drop")
}

// nftInput adds rule to the input hook, in an nftables table of the
// test's own so that nothing else on the machine is touched, and removes
// it when the test ends.
func nftInput(t *testing.T, rule string) {
	t.Helper()
	if _, err := exec.LookPath("nft"); err != nil {
		missingPeer(t, "nft is not installed (Debian package nftables); cannot simulate a silent host")
	}
	table := fmt.Sprintf("foghorn_test_%d_%d", os.Getpid(), nftTables.Add(1))
	rules := fmt.Sprintf("table inet %s {\n chain in {\n  type filter hook input priority 0;\n  %s\n }\n}\n", table, rule)
	cmd := exec.Command("nft", "-f", "-")
	cmd.Stdin = strings.NewReader(rules)
	if out, err := cmd.CombinedOutput(); err != nil {
		if strings.Contains(string(out), "not permitted") {
			t.Skipf("nft is not permitted here (%s); cannot simulate a silent host", out)
		}
		t.Fatalf("nft -f: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("nft", "delete", "table", "inet", table).CombinedOutput(); err != nil {
			t.Errorf("removing nft table %s: %v: %s", table, err, out)
		}
	})
}

// closedPort returns a loopback address where nothing listens.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// bannerServer greets like an SMTP server, answers PING with PONG and
// keeps the connection open until the client leaves.
func bannerServer(t testing.TB) string {
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
			go func() {
				defer c.Close()
				c.Write([]byte("220 foghorn-test ready\r\n"))
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					if strings.TrimSpace(line) == "PING" {
						c.Write([]byte("PONG\r\n"))
					}
				}
			}()
		}
	}()
	return l.Addr().String()
}

func TestTCP(t *testing.T) {
	t.Parallel()
	addr := bannerServer(t)
	cases := []struct {
		name   string
		opts   *configs.TCP
		status Status
		msg    string
	}{
		{"connect only, nil options", nil, OK, "connected to " + addr},
		{"banner", &configs.TCP{Expect: `^220 foghorn`}, OK, "connected"},
		{"send and expect", &configs.TCP{Send: "PING\r\n", Expect: `PONG`}, OK, "connected"},
		{"wrong banner", &configs.TCP{Expect: `^SSH-2\.0`}, Critical, `no reply matched /^SSH-2\.0/ (timed out after 500ms); got "220 foghorn-test ready\r\n"`},
		{"bad regexp", &configs.TCP{Expect: `(`}, Unknown, "config: tcp.expect"},
		{"tls on a plain port", &configs.TCP{TLS: true}, Critical, "TLS handshake with " + addr + " failed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			tg := probeTarget("tcp", addr, 500*time.Millisecond)
			tg.TCP = c.opts
			r := probeTCP(context.Background(), tg, nil)
			if r.Status != c.status || !strings.Contains(r.Msg, c.msg) {
				t.Fatalf("got %v %q, want %v containing %q", r.Status, r.Msg, c.status, c.msg)
			}
			if r.Target != "test-tcp" || r.Kind != "tcp" || r.Start.IsZero() {
				t.Errorf("result not labelled: %+v", r)
			}
			if c.status == OK && (len(r.Perf) != 2 || r.Perf[0].Label != "time" || r.Perf[0].Value <= 0) {
				t.Errorf("perf = %+v, want time and connect in seconds", r.Perf)
			}
		})
	}
}

func TestTCPExpectClosed(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err == nil {
			c.Write([]byte("go away\n"))
			c.Close()
		}
	}()
	tg := probeTarget("tcp", l.Addr().String(), 2*time.Second)
	tg.TCP = &configs.TCP{Expect: "welcome"}
	start := time.Now()
	r := probeTCP(context.Background(), tg, nil)
	if r.Status != Critical || !strings.Contains(r.Msg, "(connection closed)") || !strings.Contains(r.Msg, `"go away\n"`) {
		t.Fatalf("got %v %q", r.Status, r.Msg)
	}
	if time.Since(start) > time.Second {
		t.Errorf("took %s: a closed connection must end the wait at once", time.Since(start))
	}
}

func TestTCPRefused(t *testing.T) {
	t.Parallel()
	addr := closedPort(t)
	start := time.Now()
	r := probeTCP(context.Background(), probeTarget("tcp", addr, 2*time.Second), nil)
	if r.Status != Critical || r.Msg != "connection refused by "+addr+" (host up, nothing listening)" {
		t.Fatalf("got %v %q", r.Status, r.Msg)
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("refused took %s, want immediate", d)
	}
}

func TestTCPTimeout(t *testing.T) {
	t.Parallel()
	dropTo(t, "127.0.83.1")
	start := time.Now()
	r := probeTCP(context.Background(), probeTarget("tcp", "127.0.83.1:25", time.Second), nil)
	took := time.Since(start)
	if r.Status != Critical || r.Msg != "no answer from 127.0.83.1:25 within 1s (host down or packets dropped)" {
		t.Fatalf("got %v %q", r.Status, r.Msg)
	}
	if took < 900*time.Millisecond || took > 1300*time.Millisecond {
		t.Errorf("took %s, want the 1s timeout", took)
	}
}

// TestTCPParentDeadline checks that a scheduler deadline shorter than the
// target's timeout wins, and that the message says how long we waited.
func TestTCPParentDeadline(t *testing.T) {
	t.Parallel()
	dropTo(t, "127.0.83.6")
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	r := probeTCP(ctx, probeTarget("tcp", "127.0.83.6:25", 10*time.Second), nil)
	if took := time.Since(start); took > 600*time.Millisecond {
		t.Errorf("took %s, want the 300ms of the parent context", took)
	}
	if r.Status != Critical || !strings.Contains(r.Msg, "within 300ms") {
		t.Fatalf("got %v %q", r.Status, r.Msg)
	}
}

func TestTCPTLS(t *testing.T) {
	t.Parallel()
	srv := httptest.NewTLSServer(nil)
	defer srv.Close()
	tg := probeTarget("tcp", srv.Listener.Addr().String(), 2*time.Second)
	tg.TCP = &configs.TCP{TLS: true}
	r := probeTCP(context.Background(), tg, nil)
	// The test server's certificate is not trusted: the handshake must be
	// verified, and say so.
	if r.Status != Critical || !strings.Contains(r.Msg, "certificate") {
		t.Fatalf("got %v %q, want a verification failure", r.Status, r.Msg)
	}
}

// A connect check to an IPv6 literal takes the bare-socket path too, with
// the same result and wording as to IPv4.
func TestTCPConnectsToIPv6Literals(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback here: %v", err)
	}
	addr := l.Addr().String()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	r := probeTCP(context.Background(), probeTarget("tcp", addr, time.Second), nil)
	if r.Status != OK || !strings.HasPrefix(r.Msg, "connected to "+addr+" in ") || len(r.Perf) != 2 {
		t.Errorf("open: got %v %q %+v", r.Status, r.Msg, r.Perf)
	}
	l.Close()
	r = probeTCP(context.Background(), probeTarget("tcp", addr, time.Second), nil)
	if r.Status != Critical || r.Msg != "connection refused by "+addr+" (host up, nothing listening)" {
		t.Errorf("closed: got %v %q", r.Status, r.Msg)
	}
}

// The bare-socket path words every failure as net.Dialer's path does:
// what a page says must not depend on which one ran.
func TestTCPConnectOnlySaysWhatTheDialerSays(t *testing.T) {
	t.Parallel()
	dropTo(t, "127.0.83.8")
	for _, addr := range []string{closedPort(t), "127.0.83.8:25"} {
		tg := probeTarget("tcp", addr, 300*time.Millisecond)
		lean := probeTCP(context.Background(), tg, nil)
		dialed := dialTCP(context.Background(), tg, &configs.TCP{}, time.Now())
		if lean.Status != dialed.Status || lean.Msg != dialed.Msg {
			t.Errorf("%s: bare socket says %v %q, the dialer %v %q", addr, lean.Status, lean.Msg, dialed.Status, dialed.Msg)
		}
	}
	needRoot(t)
	var lean, dialed Result
	tg := probeTarget("tcp", "10.29.7.4:22", time.Second)
	inEmptyNetns(t, func() {
		lean = probeTCP(context.Background(), tg, nil)
		dialed = dialTCP(context.Background(), tg, &configs.TCP{}, time.Now())
	})
	if lean.Msg != dialed.Msg || !strings.Contains(lean.Msg, "network is unreachable") {
		t.Errorf("uplink down: bare socket says %q, the dialer %q", lean.Msg, dialed.Msg)
	}
}
