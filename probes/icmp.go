package probes

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"time"

	"foghorn/configs"
)

const defaultPings = 3

// geteuid is a variable so a test run as root can still exercise the
// unprivileged (UDP) path.
var geteuid = os.Geteuid

// probeICMP pings the address count times. Raw sockets are used when
// configured or when we are root (they need no sysctl); otherwise the
// unprivileged "ping socket", which needs net.ipv4.ping_group_range to
// include our group.
//
// Loss above max_loss is Critical (no max_loss: only losing every echo
// is); an average round trip above max_rtt is a Warning.
func probeICMP(ctx context.Context, t *configs.Target, _ *Memory) Result {
	start := time.Now()
	ctx, cancel := bound(ctx, t)
	defer cancel()
	o := t.ICMP
	if o == nil {
		o = &configs.ICMP{}
	}
	count := o.Count
	if count <= 0 {
		count = defaultPings
	}

	host := strings.Trim(t.Address, "[]")
	ip, err := netip.ParseAddr(host)
	if err != nil {
		if !hostName(host) {
			return unknown(t, start, "config: %q is neither an IP address nor a host name (an icmp address has no port)", t.Address)
		}
		ips, err := net.DefaultResolver.LookupIPAddr(ctx, host)
		if err != nil || len(ips) == 0 {
			return fail(t, start, "cannot resolve %s: %v", host, err)
		}
		ip, _ = netip.AddrFromSlice(ips[0].IP)
		ip = ip.WithZone(ips[0].Zone)
	}
	privileged := o.Privileged || geteuid() == 0
	// Spread the echoes over the time we have, as ping would with 1s
	// apart but no more than maxGap, and stop a little before the deadline
	// so the statistics are ours to judge rather than a context error.
	dl, _ := ctx.Deadline()
	left := time.Until(dl)
	gap := max(time.Millisecond, min(maxGap, left/time.Duration(count+1)))
	st, err := ping(ctx, ip, privileged, count, gap, dl.Add(-left/20))
	if err != nil {
		return pingError(t, start, host, privileged, nil, err)
	}
	if st.sent == 0 && st.sendErr == nil {
		return fail(t, start, "%s: no echo request sent: %v", host, ctx.Err())
	}
	if st.sent == 0 {
		return pingError(t, start, host, privileged, st.sendErr, st.sendErr)
	}
	sendErr := st.sendErr
	addr := ip.Unmap().String()

	perf := []Perf{
		seconds("rtt", st.avg),
		{Label: "loss", Value: st.loss(), Unit: "%"},
	}
	got := fmt.Sprintf("%s: %d/%d replies", addr, st.recv, st.sent)
	switch {
	case st.recv == 0 && sendErr != nil:
		return finish(t, start, Critical, fmt.Sprintf("%s: no reply to %d echo requests, and sending the others failed: %s", addr, st.sent, sendWhy(sendErr)), perf...)
	case st.recv == 0:
		return finish(t, start, Critical, fmt.Sprintf("%s: no reply to %d echo requests", addr, st.sent), perf...)
	case o.MaxLoss > 0 && st.loss() > o.MaxLoss:
		return finish(t, start, Critical, fmt.Sprintf("%s, loss %.0f%% > max %.0f%%", got, st.loss(), o.MaxLoss), perf...)
	case o.MaxRTT.Duration > 0 && st.avg > o.MaxRTT.Duration:
		return finish(t, start, Warning, fmt.Sprintf("%s, rtt avg %s > max %s", got, st.avg.Round(time.Microsecond), o.MaxRTT.Duration), perf...)
	}
	return finish(t, start, OK, fmt.Sprintf("%s, rtt avg %s", got, st.avg.Round(time.Microsecond)), perf...)
}

// pingError is the result of a ping that sent nothing. An echo the kernel
// would not send (no route: the uplink is down; EPERM: a local firewall
// drops it; ENOBUFS) is a failed check like a lost reply: for a canary it
// is the best evidence there is that foghorn's own network failed, and
// calling it a config problem would switch the self-check off exactly when
// it is needed. Only what no network change can fix is Unknown: no
// permission to open an ICMP socket, an address family the host lacks.
func pingError(t *configs.Target, start time.Time, host string, privileged bool, sendErr, err error) Result {
	switch {
	case sendErr != nil && !pingConfigError(sendErr, true):
		return fail(t, start, "cannot send an echo request to %s: %s", host, sendWhy(sendErr))
	case sendErr != nil:
		return unknown(t, start, "config: cannot ping %s: %v (an address family or address this host cannot use)", host, sendErr)
	case !pingConfigError(err, false):
		return fail(t, start, "cannot open a ping socket for %s: %v (foghorn's own host: out of sockets or memory?)", host, err)
	case !privileged:
		return unknown(t, start, "cannot ping %s unprivileged: %v (allow our group in net.ipv4.ping_group_range, or set icmp.privileged and grant CAP_NET_RAW)", host, err)
	}
	return unknown(t, start, "cannot ping %s: %v", host, err)
}

// sendWhy is a send error in a few words for a page, with where to look:
// "sendmsg: network is unreachable (no route from foghorn: its link or
// route is down)".
func sendWhy(err error) string {
	msg := err.Error()
	var se *os.SyscallError
	if errors.As(err, &se) {
		msg = se.Error() // not "write ip 0.0.0.0->10.0.0.1: " again
	}
	switch {
	case errors.Is(err, syscall.EPERM), errors.Is(err, syscall.EACCES):
		return msg + " (a firewall on foghorn's host drops it)"
	case errors.Is(err, syscall.ENOBUFS), errors.Is(err, syscall.ENOMEM):
		return msg + " (foghorn's host is out of buffers)"
	}
	return msg + " (no route from foghorn: its link or route is down)"
}

// pingConfigError reports whether err, from opening the ping socket or
// (sending) from sending an echo on it, is foghorn's setup rather than its
// network or host failing now. EPERM means a missing capability when the
// socket is opened, and a firewall's drop when an echo is sent; EMFILE or
// ENOBUFS is the host short of resources, which passes.
func pingConfigError(err error, sending bool) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return false
	}
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return !sending // our own word about the socket asked for (its filter)
	}
	switch errno {
	case syscall.EAFNOSUPPORT, syscall.EPROTONOSUPPORT, syscall.ESOCKTNOSUPPORT, syscall.EINVAL, syscall.EDESTADDRREQ:
		return true
	case syscall.EPERM, syscall.EACCES:
		return !sending
	}
	return false
}

// hostName reports whether s can be looked up as a host name, by the rules
// Go's resolver applies before it asks anyone: letters, digits, '-', '_'
// and dots, labels of at most 63, and not all digits ("999.1.1.1" is a
// mistyped address, not a name).
func hostName(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return false
	}
	numeric := true
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			switch {
			case r >= '0' && r <= '9':
			case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r == '-', r == '_':
				numeric = false
			default:
				return false
			}
		}
	}
	return !numeric
}
