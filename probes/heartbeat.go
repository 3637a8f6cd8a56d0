package probes

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"sync"
	"time"

	"foghorn/clock"
	"foghorn/configs"
	"foghorn/store"
)

// Heartbeat defaults, used when the config leaves them zero.
const (
	defaultGrace    = 5 * time.Minute
	defaultInterval = time.Minute
)

// memHeartbeat is where the heartbeat prober keeps the last push, so it
// survives a restart of foghorn through the scheduler's persisted Memory.
const memHeartbeat = "heartbeat.last"

// Push errors. The HTTP handler answers both refusals alike (403, the
// same body), so a prober learns neither target names nor tokens.
var (
	ErrUnknownHeartbeat = errors.New("unknown heartbeat target")
	ErrBadToken         = errors.New("wrong heartbeat token")
	// ErrNotRecorded: the push could not be made durable; the handler
	// answers 5xx so the sender's retry (curl --retry) tries again.
	ErrNotRecorded = errors.New("heartbeat not recorded")
)

// Heartbeats receives the pushes of hosts that report in (a dead-man's
// switch: cron jobs, backups, hosts behind NAT) and judges whether each
// came in time. Unlike the other kinds it needs state fed from outside,
// so it is not in the kinds table: the wiring makes one Heartbeats, calls
// Configure on every config load, hands Push to the HTTP push URL and
// registers Prober for kind "heartbeat" with the scheduler.
//
// The zero value is ready to use and it is safe for concurrent use.
type Heartbeats struct {
	// Clock is the clock; nil is the real one. Tests set a fake to not sleep.
	Clock clock.Clock
	// Store, when set, makes every push durable before Push returns (the
	// push URL answers 204 only then), and gives Configure the pushes
	// received before a restart: a kill cannot lose an acknowledged push
	// and page about a host that did report in.
	Store *store.DB

	mu     sync.Mutex
	tokens map[string]configs.Secret
	last   map[string]time.Time // last push per target
	since  map[string]time.Time // when we began to wait for a target
}

func (h *Heartbeats) now() time.Time { return clock.Or(h.Clock).Now() }

// Configure takes the heartbeat targets and their tokens from a (re)loaded
// config. Pushes already received are kept for targets that remain.
func (h *Heartbeats) Configure(targets []configs.Target) {
	now := h.now()
	h.mu.Lock()
	defer h.mu.Unlock()
	tokens := map[string]configs.Secret{}
	since := map[string]time.Time{}
	last := map[string]time.Time{}
	for _, t := range targets {
		if t.Kind != "heartbeat" {
			continue
		}
		if t.Heartbeat != nil {
			tokens[t.Name] = t.Heartbeat.Token
		} else {
			tokens[t.Name] = configs.Secret{}
		}
		since[t.Name] = now
		if s, ok := h.since[t.Name]; ok {
			since[t.Name] = s
		}
		if l, ok := h.last[t.Name]; ok {
			last[t.Name] = l
		}
	}
	if h.Store != nil && h.last == nil {
		h.restore(last, tokens)
	}
	h.tokens, h.since, h.last = tokens, since, last
}

// restore reads the pushes saved before a restart into last; callers hold mu.
func (h *Heartbeats) restore(last map[string]time.Time, tokens map[string]configs.Secret) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rows, err := h.Store.QueryContext(ctx, `SELECT target, last_at FROM heartbeats`)
	if err != nil {
		return // the scheduler's checkpointed memory is the fallback
	}
	defer rows.Close()
	for rows.Next() {
		var target string
		var at int64
		if rows.Scan(&target, &at) != nil {
			continue
		}
		if _, ok := tokens[target]; ok {
			last[target] = time.UnixMilli(at)
		}
	}
}

// Push records a heartbeat of target at time at (zero: now), if token is
// the target's. Errors wrap ErrUnknownHeartbeat or ErrBadToken.
func (h *Heartbeats) Push(target, token string, at time.Time) error {
	if at.IsZero() {
		at = h.now()
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.check(target, token); err != nil {
		return err
	}
	if h.Store != nil {
		// Written through, under mu so a slower write of an older push
		// cannot land last; a push is one small row and pushes are rare.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := h.Store.ExecContext(ctx, `INSERT INTO heartbeats (target, last_at) VALUES (?, ?)
			ON CONFLICT (target) DO UPDATE SET last_at = max(last_at, excluded.last_at)`, target, at.UnixMilli())
		cancel()
		if err != nil {
			return fmt.Errorf("%w for %q: the store failed (%v): the sender should retry", ErrNotRecorded, target, err)
		}
	}
	if at.After(h.last[target]) {
		h.last[target] = at
	}
	return nil
}

// Valid reports whether token is target's, without recording a push.
func (h *Heartbeats) Valid(target, token string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.check(target, token) == nil
}

// check compares token with target's; callers hold mu. An unknown target
// costs the same hashing and comparison as a known one, so the time of
// the answer does not tell which target names exist.
func (h *Heartbeats) check(target, token string) error {
	want, ok := h.tokens[target]
	// Hashing first makes the comparison constant-time in the length too.
	a, b := sha256.Sum256([]byte(token)), sha256.Sum256([]byte(want.Reveal()))
	same := subtle.ConstantTimeCompare(a[:], b[:]) == 1
	switch {
	case !ok:
		return fmt.Errorf("%w %q", ErrUnknownHeartbeat, target)
	case want.Empty():
		return fmt.Errorf("%w for %q: it has no token configured (heartbeat.token_file), so pushes are refused", ErrBadToken, target)
	case !same:
		return fmt.Errorf("%w for %q", ErrBadToken, target)
	}
	return nil
}

// Prober judges a heartbeat target: Critical once the last push is older
// than the target's interval plus grace. A target never heard from gets
// the same allowance from when foghorn began waiting for it.
func (h *Heartbeats) Prober() Prober {
	return func(_ context.Context, t *configs.Target, mem *Memory) Result {
		now := h.now()
		grace, interval := defaultGrace, t.Interval.Duration
		if t.Heartbeat != nil && t.Heartbeat.Grace.Duration > 0 {
			grace = t.Heartbeat.Grace.Duration
		}
		if interval <= 0 {
			interval = defaultInterval
		}

		h.mu.Lock()
		last, heard := h.last[t.Name]
		since, ok := h.since[t.Name]
		if !ok {
			if h.since == nil {
				h.since = map[string]time.Time{}
			}
			since = now
			h.since[t.Name] = now
		}
		h.mu.Unlock()
		if mem != nil {
			if v, ok := mem.Get(memHeartbeat); ok {
				if prev, err := time.Parse(time.RFC3339Nano, v); err == nil && prev.After(last) {
					last, heard = prev, true
				}
			}
			if heard {
				mem.Set(memHeartbeat, last.Format(time.RFC3339Nano))
			}
		}

		r := Result{Target: t.Name, Kind: t.Kind, Start: now, Status: OK}
		switch {
		case heard && now.Sub(last) > interval+grace:
			r.Status = Critical
			r.Msg = fmt.Sprintf("no heartbeat since %s, grace %s", last.Format(time.TimeOnly), grace)
		case heard:
			r.Msg = fmt.Sprintf("last heartbeat %s ago at %s", now.Sub(last).Round(time.Second), last.Format(time.TimeOnly))
		case now.Sub(since) > interval+grace:
			r.Status = Critical
			r.Msg = fmt.Sprintf("no heartbeat since %s (when watching began), grace %s", since.Format(time.TimeOnly), grace)
		default:
			r.Msg = fmt.Sprintf("waiting for the first heartbeat, due by %s", since.Add(interval+grace).Format(time.TimeOnly))
		}
		if heard {
			r.Perf = []Perf{seconds("age", now.Sub(last))}
		}
		return r
	}
}
