package main

import (
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Refused heartbeat pushes are limited per source address: a burst of
// pushFailBurst, then one every pushFailEvery. Only refusals count, so a
// host pushing its right token is never slowed; one guessing tokens gets
// ten tries a minute, which makes even a short token a poor target.
const (
	pushFailBurst = 10
	pushFailEvery = 6 * time.Second
	pushMaxKeys   = 10000 // addresses remembered; a spray of them sheds the idle first
)

// pushLimiter counts refused pushes per source. The zero value is ready.
type pushLimiter struct {
	mu   sync.Mutex
	srcs map[string]*pushSource
}

type pushSource struct {
	lim  *rate.Limiter
	seen time.Time
}

// sourceKey names a push's source by its connection's address; an IPv6
// client is named by its /64, which one host usually holds whole.
func sourceKey(remoteAddr string) string {
	ap, err := netip.ParseAddrPort(remoteAddr)
	if err != nil {
		return remoteAddr
	}
	a := ap.Addr().Unmap()
	if a.Is6() {
		if p, err := a.Prefix(64); err == nil {
			return p.String()
		}
	}
	return a.String()
}

// limited says whether src has used up its refusals, and for how long.
func (l *pushLimiter) limited(src string, now time.Time) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s, ok := l.srcs[src]
	if !ok {
		return 0, false
	}
	if tok := s.lim.TokensAt(now); tok < 1 {
		return time.Duration((1 - tok) * float64(pushFailEvery)), true
	}
	return 0, false
}

// fail counts one refused push from src; it reports true when this one
// used up src's allowance (so the caller logs the limit once).
func (l *pushLimiter) fail(src string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.srcs == nil {
		l.srcs = map[string]*pushSource{}
	}
	s, ok := l.srcs[src]
	if !ok {
		if len(l.srcs) >= pushMaxKeys {
			l.shed(now)
		}
		s = &pushSource{lim: rate.NewLimiter(rate.Every(pushFailEvery), pushFailBurst)}
		l.srcs[src] = s
	}
	s.seen = now
	s.lim.AllowN(now, 1)
	return s.lim.TokensAt(now) < 1
}

// shed forgets sources whose allowance is whole again, then, if still
// full, the ones seen longest ago; the caller holds mu.
func (l *pushLimiter) shed(now time.Time) {
	for k, s := range l.srcs {
		if s.lim.TokensAt(now) >= pushFailBurst {
			delete(l.srcs, k)
		}
	}
	for len(l.srcs) >= pushMaxKeys {
		var oldK string
		var oldT time.Time
		for k, s := range l.srcs {
			if oldK == "" || s.seen.Before(oldT) {
				oldK, oldT = k, s.seen
			}
		}
		delete(l.srcs, oldK)
	}
}
