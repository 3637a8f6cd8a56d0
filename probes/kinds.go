package probes

import (
	"context"
	"errors"
	"fmt"
	"net"
	"regexp"
	"sync"
	"syscall"
	"time"

	"foghorn/configs"
)

// kinds maps a target's kind to its prober. Two kinds are missing on
// purpose: "heartbeat" needs the *Heartbeats that receives the pushes (the
// scheduler uses Heartbeats.Prober), and "ipmi" lives with the BMC client.
var kinds = map[string]Prober{
	"icmp":    probeICMP,
	"tcp":     probeTCP,
	"http":    probeHTTP,
	"dns":     probeDNS,
	"tls":     probeTLS,
	"snmp":    probeSNMP,
	"command": probeCommand,
}

// Lookup returns the prober for a target kind.
func Lookup(kind string) (Prober, bool) {
	p, ok := kinds[kind]
	return p, ok
}

// defaultTimeout bounds a probe whose target has no timeout and whose
// context has no deadline, so a prober can never hang the scheduler.
const defaultTimeout = 10 * time.Second

// bound gives ctx the target's timeout unless it already ends sooner.
func bound(ctx context.Context, t *configs.Target) (context.Context, context.CancelFunc) {
	d := limit(ctx, t)
	ctx = context.WithValue(ctx, budgetKey{}, d.Round(time.Millisecond))
	return context.WithTimeout(ctx, d)
}

// limit is how long a probe of t may take from now: the target's timeout,
// unless ctx ends sooner.
func limit(ctx context.Context, t *configs.Target) time.Duration {
	d := t.Timeout.Duration
	if d <= 0 {
		d = defaultTimeout
	}
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d {
		d = time.Until(dl)
	}
	return d
}

// finish fills the fields every Result has.
func finish(t *configs.Target, start time.Time, s Status, msg string, perf ...Perf) Result {
	return Result{
		Target:   t.Name,
		Kind:     t.Kind,
		Start:    start,
		Duration: time.Since(start),
		Status:   s,
		Msg:      msg,
		Perf:     perf,
	}
}

// unknown reports a problem on our side (bad config, no socket), which says
// nothing about the target.
func unknown(t *configs.Target, start time.Time, format string, args ...any) Result {
	r := fail(t, start, format, args...)
	r.Status = Unknown
	return r
}

// seconds is the perfdata for an elapsed time.
func seconds(label string, d time.Duration) Perf {
	return Perf{Label: label, Value: d.Seconds(), Unit: "s"}
}

// regexps caches compiled patterns: they come from the config, so the set
// is small, and compiling one per probe run would cost more than the probe.
var regexps sync.Map

func compile(pattern string) (*regexp.Regexp, error) {
	if re, ok := regexps.Load(pattern); ok {
		return re.(*regexp.Regexp), nil
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		return nil, err
	}
	regexps.Store(pattern, re)
	return re, nil
}

// dialError says why a connection failed in words that tell a closed port
// (the host is up, the service is not) from silence (host down or packets
// dropped) — the two mean different things at 3 a.m.
func dialError(ctx context.Context, err error, addr string) string {
	var dnsErr *net.DNSError
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Sprintf("connection refused by %s (host up, nothing listening)", addr)
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return fmt.Sprintf("%s unreachable: %v", addr, err)
	case errors.Is(err, syscall.EPERM), errors.Is(err, syscall.EACCES):
		// The kernel refused to send: a failed check like any other, and
		// the place to look is foghorn's own host, not the target.
		return fmt.Sprintf("cannot connect to %s: %v (a firewall on foghorn's host drops it)", addr, err)
	case errors.As(err, &dnsErr):
		return fmt.Sprintf("cannot resolve %s: %v", dnsErr.Name, dnsErr.Err)
	case isTimeout(err):
		return fmt.Sprintf("no answer from %s within %s (host down or packets dropped)", addr, budget(ctx))
	}
	return fmt.Sprintf("connect %s: %v", addr, err)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

// budgetKey holds the time bound gave a probe, so that timeout messages
// can say how long we waited.
type budgetKey struct{}

// budget is how long the probe was allowed, for messages.
func budget(ctx context.Context) string {
	if d, ok := ctx.Value(budgetKey{}).(time.Duration); ok {
		return d.String()
	}
	return "the timeout"
}
