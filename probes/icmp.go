package probes

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	probing "github.com/prometheus-community/pro-bing"

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
	ips, err := net.DefaultResolver.LookupIPAddr(ctx, host)
	if err != nil || len(ips) == 0 {
		return fail(t, start, "cannot resolve %s: %v", host, err)
	}
	p := probing.New("")
	p.SetIPAddr(&ips[0])
	p.SetLogger(probing.NoopLogger{})
	privileged := o.Privileged || geteuid() == 0
	p.SetPrivileged(privileged)
	p.Count = count
	p.RecordRtts, p.RecordTTLs = false, false
	// Spread the echoes over the time we have, as ping would with 1s apart,
	// and stop a little before the deadline so the statistics are ours to
	// judge rather than a context error.
	dl, _ := ctx.Deadline()
	left := time.Until(dl)
	p.Interval = max(time.Millisecond, min(time.Second, left/time.Duration(count+1)))
	p.Timeout = max(time.Millisecond, left-left/20)

	err = p.RunWithContext(ctx)
	st := p.Statistics()
	if err != nil && st.PacketsSent == 0 {
		if !privileged {
			return unknown(t, start, "cannot ping %s unprivileged: %v (allow our group in net.ipv4.ping_group_range, or set icmp.privileged and grant CAP_NET_RAW)", host, err)
		}
		return unknown(t, start, "cannot ping %s: %v", host, err)
	}

	perf := []Perf{
		seconds("rtt", st.AvgRtt),
		{Label: "loss", Value: st.PacketLoss, Unit: "%"},
	}
	got := fmt.Sprintf("%s: %d/%d replies", st.IPAddr, st.PacketsRecv, st.PacketsSent)
	switch {
	case st.PacketsRecv == 0:
		return finish(t, start, Critical, fmt.Sprintf("%s: no reply to %d echo requests", st.IPAddr, st.PacketsSent), perf...)
	case o.MaxLoss > 0 && st.PacketLoss > o.MaxLoss:
		return finish(t, start, Critical, fmt.Sprintf("%s, loss %.0f%% > max %.0f%%", got, st.PacketLoss, o.MaxLoss), perf...)
	case o.MaxRTT.Duration > 0 && st.AvgRtt > o.MaxRTT.Duration:
		return finish(t, start, Warning, fmt.Sprintf("%s, rtt avg %s > max %s", got, st.AvgRtt.Round(time.Microsecond), o.MaxRTT.Duration), perf...)
	}
	return finish(t, start, OK, fmt.Sprintf("%s, rtt avg %s", got, st.AvgRtt.Round(time.Microsecond)), perf...)
}
