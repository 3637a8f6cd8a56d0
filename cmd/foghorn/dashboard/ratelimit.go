package dashboard

import (
	"sync"
	"time"
)

// maxKeys bounds the limiter's memory under a spray of random names: past
// it, the oldest-keyed failures are forgotten first.
const maxKeys = 10000

// limiter counts failed logins per key ("ip:…", "name:…") in a sliding
// window. Only failures count, so a person who types their password right
// is never slowed down by it.
type limiter struct {
	mu     sync.Mutex
	fails  map[string][]time.Time
	max    int
	window time.Duration
}

func newLimiter(max int, window time.Duration) *limiter {
	return &limiter{fails: map[string][]time.Time{}, max: max, window: window}
}

// recent drops failures older than the window; the caller holds mu.
func (l *limiter) recent(k string, now time.Time) []time.Time {
	ts := l.fails[k]
	i := 0
	for i < len(ts) && now.Sub(ts[i]) >= l.window {
		i++
	}
	ts = ts[i:]
	if len(ts) == 0 {
		delete(l.fails, k)
	} else {
		l.fails[k] = ts
	}
	return ts
}

// wait reports how long until any of keys may try again; zero: now.
func (l *limiter) wait(now time.Time, keys ...string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	var d time.Duration
	for _, k := range keys {
		ts := l.recent(k, now)
		if len(ts) >= l.max {
			// Free again when enough old failures have left the window.
			d = max(d, ts[len(ts)-l.max].Add(l.window).Sub(now))
		}
	}
	return d
}

// fail records one failed login against every key.
func (l *limiter) fail(now time.Time, keys ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.fails) >= maxKeys {
		l.shed(now)
	}
	for _, k := range keys {
		ts := l.recent(k, now)
		if len(ts) >= l.max*2 {
			ts = ts[1:] // enough to stay blocked; keep memory flat
		}
		l.fails[k] = append(ts, now)
	}
}

// reset forgets a key's failures (a name that just logged in).
func (l *limiter) reset(k string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.fails, k)
}

// shed drops expired keys, then, if still full, the keys whose last
// failure is oldest; the caller holds mu.
func (l *limiter) shed(now time.Time) {
	for k := range l.fails {
		l.recent(k, now)
	}
	for len(l.fails) >= maxKeys {
		var oldK string
		var oldT time.Time
		for k, ts := range l.fails {
			if last := ts[len(ts)-1]; oldK == "" || last.Before(oldT) {
				oldK, oldT = k, last
			}
		}
		delete(l.fails, oldK)
	}
}
