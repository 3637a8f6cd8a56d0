package probes

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"foghorn/configs"
)

// An echo the kernel will not send is foghorn's own network failing (the
// uplink gone, a local firewall dropping it): a failed check, which for a
// canary is the evidence that makes foghorn doubt itself. Before, it was
// Unknown, the canary was called broken and the self-check switched off.
func TestICMPSendErrorIsAFailure(t *testing.T) {
	t.Parallel()
	needRoot(t)
	canary := func(addr string) *configs.Target {
		return CanaryTarget(configs.SelfCheck{Kind: "icmp", Timeout: configs.Duration{Duration: time.Second}}, addr)
	}
	check := func(t *testing.T, r Result, errText string) {
		t.Helper()
		t.Logf("%v: %s", r.Status, r.Msg)
		if r.Status != Critical || !strings.Contains(r.Msg, "cannot send an echo request") || !strings.Contains(r.Msg, errText) {
			t.Errorf("got %v %q, want Critical naming the send error %q", r.Status, r.Msg, errText)
		}
	}

	t.Run("uplink down: no route", func(t *testing.T) {
		t.Parallel()
		// A network namespace of its own with no interface up: every
		// destination is unreachable at send time, as with the link down.
		for _, tg := range []*configs.Target{canary("10.29.7.1"), probeTarget("icmp", "10.29.7.2", time.Second)} {
			var r Result
			inEmptyNetns(t, func() { r = probeICMP(context.Background(), tg, nil) })
			check(t, r, "network is unreachable")
		}
	})

	t.Run("local firewall drops the echo", func(t *testing.T) {
		t.Parallel()
		nftHook(t, "output", "ip daddr { 127.0.83.21, 127.0.83.22 } icmp type echo-request drop")
		for _, tg := range []*configs.Target{canary("127.0.83.21"), probeTarget("icmp", "127.0.83.22", time.Second)} {
			start := time.Now()
			r := probeICMP(context.Background(), tg, nil)
			check(t, r, "operation not permitted")
			if took := time.Since(start); took > 500*time.Millisecond {
				t.Errorf("took %s: a refused send is known at once", took)
			}
		}
	})
}

// Target probes treat a refused send the same way: a failed check that
// says where to look, never "cannot be checked".
func TestTargetSendErrorIsAFailure(t *testing.T) {
	t.Parallel()
	needRoot(t)
	var r Result
	inEmptyNetns(t, func() { r = probeTCP(context.Background(), probeTarget("tcp", "10.29.7.3:22", time.Second), nil) })
	if r.Status != Critical || !strings.Contains(r.Msg, "network is unreachable") {
		t.Errorf("uplink down: got %v %q, want Critical naming the send error", r.Status, r.Msg)
	}
	// A dropped SYN is retried by the kernel, so the connect times out; a
	// dropped datagram fails at once with EPERM, and the message says where.
	nftHook(t, "output", "ip daddr 127.0.83.23 drop")
	r = probeTCP(context.Background(), probeTarget("tcp", "127.0.83.23:22", 500*time.Millisecond), nil)
	if r.Status != Critical {
		t.Errorf("firewall drop, tcp: got %v %q, want Critical", r.Status, r.Msg)
	}
	tg := probeTarget("dns", "127.0.83.23:53", time.Second)
	tg.DNS = &configs.DNS{Name: "www.example.net"}
	r = probeDNS(context.Background(), tg, nil)
	if r.Status != Critical || !strings.Contains(r.Msg, "operation not permitted") || !strings.Contains(r.Msg, "firewall on foghorn's host") {
		t.Errorf("firewall drop, udp: got %v %q, want Critical naming foghorn's firewall", r.Status, r.Msg)
	}
}

// Only what no network change can fix is a config problem (Unknown): an
// address that cannot be an address.
func TestICMPBadAddressIsConfig(t *testing.T) {
	t.Parallel()
	for _, addr := range []string{"9.9.9.9:53", "999.1.1.1", "1.2.3", "two words", "-bad.example"} {
		r := probeICMP(context.Background(), probeTarget("icmp", addr, time.Second), nil)
		if r.Status != Unknown || !strings.HasPrefix(r.Msg, "config: ") || !strings.Contains(r.Msg, fmt.Sprintf("%q", addr)) {
			t.Errorf("%s: got %v %q, want Unknown, a config problem naming the address", addr, r.Status, r.Msg)
		}
	}
	for _, addr := range []string{"127.0.0.1", "::1", "fe80::1%lo", "localhost", "rt1.fra1.example.net.", "host_1"} {
		if r := probeICMP(context.Background(), probeTarget("icmp", addr, 300*time.Millisecond), nil); strings.HasPrefix(r.Msg, "config: ") {
			t.Errorf("%s: a usable address called a config problem: %q", addr, r.Msg)
		}
	}
}

// The errors as pro-bing returns them: a send error is the network (or the
// host's resources), an error opening the socket is our setup unless the
// host is short of resources.
func TestPingErrorClassification(t *testing.T) {
	t.Parallel()
	send := func(e syscall.Errno) error {
		return &net.OpError{Op: "write", Net: "ip4:icmp", Err: os.NewSyscallError("sendto", e)}
	}
	open := func(e syscall.Errno) error {
		return &net.OpError{Op: "listen", Net: "ip4:icmp", Err: os.NewSyscallError("socket", e)}
	}
	cases := []struct {
		name    string
		err     error
		sending bool
		config  bool
	}{
		{"send: uplink down", send(syscall.ENETUNREACH), true, false},
		{"send: no route to host", send(syscall.EHOSTUNREACH), true, false},
		{"send: firewall output drop", send(syscall.EPERM), true, false},
		{"send: firewall, EACCES", send(syscall.EACCES), true, false},
		{"send: no buffer space", send(syscall.ENOBUFS), true, false},
		{"send: network down", send(syscall.ENETDOWN), true, false},
		{"send: source address gone", send(syscall.EADDRNOTAVAIL), true, false},
		{"send: family unsupported", send(syscall.EAFNOSUPPORT), true, true},
		{"send: invalid address", send(syscall.EINVAL), true, true},
		{"open: no CAP_NET_RAW", open(syscall.EPERM), false, true},
		{"open: ping_group_range", open(syscall.EACCES), false, true},
		{"open: no IPv6 on this host", open(syscall.EAFNOSUPPORT), false, true},
		{"open: protocol unsupported", open(syscall.EPROTONOSUPPORT), false, true},
		{"open: out of fds", open(syscall.EMFILE), false, false},
		{"open: system out of fds", open(syscall.ENFILE), false, false},
		{"open: out of memory", open(syscall.ENOMEM), false, false},
		{"open: pro-bing's own error", errors.New("invalid source address: x"), false, true},
		{"open: timed out", context.DeadlineExceeded, false, false},
	}
	for _, c := range cases {
		if got := pingConfigError(c.err, c.sending); got != c.config {
			t.Errorf("%s (%v): config problem = %v, want %v", c.name, c.err, got, c.config)
		}
	}
}

// inEmptyNetns runs fn on an OS thread moved into a new, empty network
// namespace (no interface up). Sockets fn opens stay in it. The thread is
// never unlocked, so it ends with its goroutine and never runs other code.
func inEmptyNetns(t *testing.T, fn func()) {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := syscall.Unshare(syscall.CLONE_NEWNET); err != nil {
			done <- err
			return
		}
		fn()
		done <- nil
	}()
	if err := <-done; err != nil {
		t.Skipf("cannot make a network namespace: %v", err)
	}
}

// nftHook adds rule to hook (input, output) in an nftables table of the
// test's own, removed when the test ends.
func nftHook(t *testing.T, hook, rule string) {
	t.Helper()
	if _, err := exec.LookPath("nft"); err != nil {
		missingPeer(t, "nft is not installed (Debian package nftables); cannot simulate a local firewall")
	}
	table := fmt.Sprintf("foghorn_test_%d_%d", os.Getpid(), nftTables.Add(1))
	rules := fmt.Sprintf("table inet %s {\n chain c {\n  type filter hook %s priority 0;\n  %s\n }\n}\n", table, hook, rule)
	cmd := exec.Command("nft", "-f", "-")
	cmd.Stdin = strings.NewReader(rules)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nft -f: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("nft", "delete", "table", "inet", table).CombinedOutput(); err != nil {
			t.Errorf("removing nft table %s: %v: %s", table, err, out)
		}
	})
}
