package pager

import (
	"sync"
	"time"
)

// limitWindow is the window of [twilio] sms_per_15m and calls_per_15m.
const limitWindow = 15 * time.Minute

// limiter counts sends per key (channel and number) in a sliding window, so
// a broken loop or an alert storm cannot call one phone forty times. It is
// in memory: a restart forgets it, which at worst allows one more window's
// worth; the engine's max_per_hour, kept in the store, is the hard cap.
type limiter struct {
	mu   sync.Mutex
	hits map[string][]time.Time
}

func newLimiter() *limiter { return &limiter{hits: map[string][]time.Time{}} }

// take reserves one send for key if fewer than limit were taken in the
// window before now. When it refuses, it says when the oldest one expires.
// A limit of zero or less means no limit.
func (l *limiter) take(key string, limit int, now time.Time) (ok bool, retry time.Time) {
	if limit <= 0 {
		return true, time.Time{}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	hs := l.prune(key, now)
	if len(hs) >= limit {
		return false, hs[len(hs)-limit].Add(limitWindow)
	}
	l.hits[key] = append(hs, now)
	return true, time.Time{}
}

// count is how many sends key has in the window before now.
func (l *limiter) count(key string, now time.Time) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.prune(key, now))
}

// give returns a reservation whose send failed: a page Twilio never
// accepted did not disturb anyone.
func (l *limiter) give(key string, at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	hs := l.hits[key]
	for i := len(hs) - 1; i >= 0; i-- {
		if hs[i].Equal(at) {
			l.hits[key] = append(hs[:i:i], hs[i+1:]...)
			return
		}
	}
}

// prune drops hits older than the window; callers hold mu.
func (l *limiter) prune(key string, now time.Time) []time.Time {
	hs := l.hits[key]
	i := 0
	for i < len(hs) && !hs[i].After(now.Add(-limitWindow)) {
		i++
	}
	hs = hs[i:]
	if len(hs) == 0 {
		delete(l.hits, key)
		return nil
	}
	l.hits[key] = hs
	return hs
}
