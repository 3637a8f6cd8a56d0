package probes

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"foghorn/configs"
)

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root for raw ICMP sockets")
	}
}

func TestICMP(t *testing.T) {
	t.Parallel()
	needRoot(t)
	cases := []struct {
		name   string
		addr   string
		opts   *configs.ICMP
		status Status
		msg    string
	}{
		{"nil options", "127.0.0.1", nil, OK, "127.0.0.1: 3/3 replies, rtt avg "},
		{"any 127 address, count", "127.0.83.9", &configs.ICMP{Count: 5, Privileged: true}, OK, "127.0.83.9: 5/5 replies"},
		{"name", "localhost", &configs.ICMP{Count: 1}, OK, ": 1/1 replies"},
		{"ipv6", "::1", &configs.ICMP{Count: 2}, OK, "::1: 2/2 replies"},
		{"rtt above max", "127.0.0.1", &configs.ICMP{Count: 2, MaxRTT: configs.Duration{Duration: time.Nanosecond}}, Warning, "2/2 replies, rtt avg"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			tg := probeTarget("icmp", c.addr, 2*time.Second)
			tg.ICMP = c.opts
			r := probeICMP(context.Background(), tg, nil)
			t.Logf("%v: %s", r.Status, r.Msg)
			if r.Status != c.status || !strings.Contains(r.Msg, c.msg) {
				t.Fatalf("got %v %q, want %v containing %q", r.Status, r.Msg, c.status, c.msg)
			}
			if len(r.Perf) != 2 || r.Perf[0].Label != "rtt" || r.Perf[0].Value <= 0 || r.Perf[1] != (Perf{"loss", 0, "%"}) {
				t.Errorf("perf = %+v, want rtt > 0 and 0%% loss", r.Perf)
			}
		})
	}
}

func TestICMPNoReply(t *testing.T) {
	t.Parallel()
	needRoot(t)
	dropTo(t, "127.0.83.4")
	start := time.Now()
	r := probeICMP(context.Background(), probeTarget("icmp", "127.0.83.4", time.Second), nil)
	took := time.Since(start)
	if r.Status != Critical || r.Msg != "127.0.83.4: no reply to 3 echo requests" {
		t.Fatalf("got %v %q", r.Status, r.Msg)
	}
	if took > 1200*time.Millisecond {
		t.Errorf("took %s, want within the 1s timeout", took)
	}
	if r.Perf[1] != (Perf{"loss", 100, "%"}) {
		t.Errorf("perf = %+v, want 100%% loss", r.Perf)
	}
}

// TestICMPLoss drops every other echo request to its own address, for
// a steady 50% loss.
func TestICMPLoss(t *testing.T) {
	t.Parallel()
	needRoot(t)
	nftInput(t, "ip daddr 127.0.83.8 icmp type echo-request numgen inc mod 2 0 drop")
	cases := []struct {
		name    string
		maxLoss float64
		status  Status
		msg     string
	}{
		{"no max_loss: only total loss counts", 0, OK, "127.0.83.8: 2/4 replies, rtt avg"},
		{"above max_loss", 40, Critical, "127.0.83.8: 2/4 replies, loss 50% > max 40%"},
		{"within max_loss", 60, OK, "127.0.83.8: 2/4 replies"},
	}
	for _, c := range cases {
		// One at a time: the rule's counter is shared, and interleaved
		// runs would not see every other packet each.
		tg := probeTarget("icmp", "127.0.83.8", 800*time.Millisecond)
		tg.ICMP = &configs.ICMP{Count: 4, MaxLoss: c.maxLoss}
		r := probeICMP(context.Background(), tg, nil)
		if r.Status != c.status || !strings.Contains(r.Msg, c.msg) {
			t.Errorf("%s: got %v %q, want %v containing %q", c.name, r.Status, r.Msg, c.status, c.msg)
		}
		if r.Perf[1] != (Perf{"loss", 50, "%"}) {
			t.Errorf("%s: perf = %+v, want 50%% loss", c.name, r.Perf)
		}
	}
}

func TestICMPUnresolvable(t *testing.T) {
	t.Parallel()
	r := probeICMP(context.Background(), probeTarget("icmp", "no-such-host.invalid", time.Second), nil)
	if r.Status != Critical || !strings.Contains(r.Msg, "cannot resolve no-such-host.invalid") {
		t.Fatalf("got %v %q", r.Status, r.Msg)
	}
}

const pingGroups = "/proc/sys/net/ipv4/ping_group_range"

// TestICMPUnprivileged pretends not to be root to use the unprivileged
// ping socket, first with net.ipv4.ping_group_range closed (a clear
// Unknown), then open. The sysctl is restored afterwards. Not parallel:
// it changes a package variable and a system setting.
func TestICMPUnprivileged(t *testing.T) {
	needRoot(t)
	old, err := os.ReadFile(pingGroups)
	if err != nil {
		t.Skipf("cannot read %s: %v", pingGroups, err)
	}
	setGroups := func(v string) {
		t.Helper()
		if err := os.WriteFile(pingGroups, []byte(v), 0o644); err != nil {
			t.Skipf("cannot write %s (%v); unprivileged ping not tested", pingGroups, err)
		}
	}
	t.Cleanup(func() {
		if err := os.WriteFile(pingGroups, old, 0o644); err != nil {
			t.Errorf("restoring %s to %q: %v", pingGroups, old, err)
		}
	})
	geteuid = func() int { return 1000 }
	t.Cleanup(func() { geteuid = os.Geteuid })

	tg := probeTarget("icmp", "127.0.0.1", 2*time.Second)
	tg.ICMP = &configs.ICMP{Count: 2}

	// The socket is shared and kept once open: the closed range is met
	// only by a probe that opens one.
	closeDatagram()
	t.Cleanup(closeDatagram)
	setGroups("1 0")
	r := probeICMP(context.Background(), tg, nil)
	if r.Status != Unknown || !strings.Contains(r.Msg, "ping_group_range") {
		t.Errorf("closed range: got %v %q, want Unknown naming the sysctl", r.Status, r.Msg)
	}

	setGroups(fmt.Sprintf("%d %d", os.Getegid(), os.Getegid()))
	r = probeICMP(context.Background(), tg, nil)
	if r.Status != OK || !strings.Contains(r.Msg, "2/2 replies") {
		t.Errorf("open range: got %v %q", r.Status, r.Msg)
	}
}
