package dashboard

import (
	"sync"
	"time"
)

// maxKeys bounds the limiter's memory under a spray of random names: past
// it, the oldest-keyed failures are forgotten first.
const maxKeys = 10000

// limiter locks a key ("ip:…", "name:…") out for window once it has max
// failed logins within window: a person's name is locked from every
// address, an address for every name. Only failures count, so a person
// who types their password right is never slowed down by it.
//
// A guess is reserved before its password is checked (begin) and settled
// after (end): 120 guesses sent at once would otherwise all be checked
// before the first failure was counted, and a lock after five guesses
// would really be a lock after 120.
type limiter struct {
	mu       sync.Mutex
	fails    map[string][]time.Time
	inflight map[string]int
	locked   map[string]time.Time // key -> locked until
	max      int
	window   time.Duration
}

func newLimiter(max int, window time.Duration) *limiter {
	return &limiter{fails: map[string][]time.Time{}, inflight: map[string]int{}, locked: map[string]time.Time{}, max: max, window: window}
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

// lockedUntil is when k's lock ends, zero if it is not locked; the caller
// holds mu.
func (l *limiter) lockedUntil(k string, now time.Time) time.Time {
	until, ok := l.locked[k]
	if ok && !now.Before(until) {
		delete(l.locked, k)
		delete(l.fails, k) // a lock served wipes the slate
		return time.Time{}
	}
	return until
}

// refusal says why a login is not even tried: a key locked until a time,
// or (busy) as many guesses for a key already being checked as it has
// left before its lock.
type refusal struct {
	key   string
	until time.Time
	busy  bool
}

// begin reserves one guess against every key, or says why not.
func (l *limiter) begin(now time.Time, keys ...string) (refusal, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var r refusal
	for _, k := range keys {
		if until := l.lockedUntil(k, now); until.After(r.until) {
			r = refusal{key: k, until: until}
		}
	}
	if !r.until.IsZero() {
		return r, false
	}
	for _, k := range keys {
		if len(l.recent(k, now))+l.inflight[k] >= l.max {
			return refusal{key: k, busy: true}, false
		}
	}
	for _, k := range keys {
		l.inflight[k]++
	}
	return refusal{}, true
}

// end settles a guess begun with begin: failed counts it against every
// key and returns the keys it just locked; otherwise (a right password, or
// a check that never ran) only the reservation is released.
func (l *limiter) end(now time.Time, failed bool, keys ...string) (locked []string, until time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, k := range keys {
		if l.inflight[k]--; l.inflight[k] <= 0 {
			delete(l.inflight, k)
		}
	}
	if !failed {
		return nil, time.Time{}
	}
	if len(l.fails) >= maxKeys || len(l.locked) >= maxKeys {
		l.shed(now)
	}
	until = now.Add(l.window)
	for _, k := range keys {
		if !l.lockedUntil(k, now).IsZero() {
			continue // locked meanwhile by a guess that ended first
		}
		ts := append(l.recent(k, now), now)
		if len(ts) >= l.max {
			l.locked[k] = until
			delete(l.fails, k)
			locked = append(locked, k)
			continue
		}
		l.fails[k] = ts
	}
	return locked, until
}

// reset forgets a key's failures (a name that just logged in).
func (l *limiter) reset(k string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.fails, k)
}

// shed drops expired keys and locks, then, if still full, the keys whose
// last failure is oldest, and the locks that end soonest; the caller
// holds mu.
func (l *limiter) shed(now time.Time) {
	for k := range l.fails {
		l.recent(k, now)
	}
	for k := range l.locked {
		l.lockedUntil(k, now)
	}
	for len(l.locked) >= maxKeys {
		var soonK string
		var soonT time.Time
		for k, t := range l.locked {
			if soonK == "" || t.Before(soonT) {
				soonK, soonT = k, t
			}
		}
		delete(l.locked, soonK)
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
