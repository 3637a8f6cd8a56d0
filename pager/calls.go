package pager

import (
	"context"
	"sync"
	"time"
)

// liveCall is a call the pager placed and has not seen end. It is keyed by
// notification ID, which every webhook of the call carries in its signed
// URL; the registry only adds what a "cancel" needs (incident → call SIDs)
// and remembers which outcomes were already reported.
type liveCall struct {
	n        int64
	incident int64
	person   string
	sid      string // empty while the Calls API request is in flight
	provider string // the provider it is being placed through
	status   string // last status seen: queued, ringing, in-progress...
	acted    bool   // a key was pressed: the caller is acting, do not cut them off
	cancel   bool   // the incident no longer needs paging: hang up, and report no outcome
	hung     bool   // the hang-up was sent
	placed   time.Time
}

// calls is in memory: after a restart, calls placed before it cannot be
// cancelled early (they ring out on their own, and pressing 1 still acks,
// since everything a webhook needs is in its URL).
type calls struct {
	mu       sync.Mutex
	byN      map[int64]*liveCall
	reported map[int64]time.Time // notifications whose outcome went to the engine
}

// maxCallAge drops calls whose final callback never came (lost webhook).
const maxCallAge = 30 * time.Minute

func newCalls() *calls {
	return &calls{byN: map[int64]*liveCall{}, reported: map[int64]time.Time{}}
}

func (c *calls) add(lc *liveCall) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gc(lc.placed)
	c.byN[lc.n] = lc
}

// placed records the SID the API returned. It reports whether the call
// was cancelled meanwhile and must be hung up now.
func (c *calls) placed(n int64, sid string) (hangUp bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	lc, ok := c.byN[n]
	if !ok {
		return false
	}
	lc.sid = sid
	if lc.cancel && !lc.hung {
		lc.hung = true
		return true
	}
	return false
}

// via notes the provider a call is being placed through.
func (c *calls) via(n int64, provider string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if lc, ok := c.byN[n]; ok {
		lc.provider = provider
	}
}

func (c *calls) remove(n int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.byN, n)
}

// status notes a status callback; the callback may come before the API
// answer, so it can also fill in the SID.
func (c *calls) status(n int64, sid, status string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if lc, ok := c.byN[n]; ok {
		if lc.sid == "" {
			lc.sid = sid
		}
		lc.status = status
	}
}

// acting marks the call whose person pressed a key: a "cancel" caused by
// their own ack must not hang up on them before they hear "acknowledged".
func (c *calls) acting(n int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if lc, ok := c.byN[n]; ok {
		lc.acted = true
	}
}

// forIncident marks the calls of an incident as cancelled and returns
// the SIDs to hang up; calls still being placed are hung up by placeCall
// as soon as their SID is known. The call of the person who pressed a key
// is left alone.
func (c *calls) forIncident(incident int64) []placedCall {
	c.mu.Lock()
	defer c.mu.Unlock()
	var sids []placedCall
	for _, lc := range c.byN {
		if lc.incident != incident || lc.acted || lc.cancel {
			continue
		}
		lc.cancel = true
		if lc.sid != "" {
			lc.hung = true
			sids = append(sids, placedCall{lc.sid, lc.provider})
		}
	}
	return sids
}

// end forgets a call that ended and returns what was known of it (nil
// after a restart).
func (c *calls) end(n int64) *liveCall {
	c.mu.Lock()
	defer c.mu.Unlock()
	lc := c.byN[n]
	delete(c.byN, n)
	return lc
}

// once reports true the first time it is asked about n: an outcome is
// reported to the engine once, however many callbacks say it (a voicemail
// is seen on "answered", at the Gather and on "completed").
func (c *calls) once(n int64, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gc(now)
	if _, done := c.reported[n]; done {
		return false
	}
	c.reported[n] = now
	return true
}

// gc forgets old entries; callers hold mu.
func (c *calls) gc(now time.Time) {
	if len(c.byN)+len(c.reported) < 256 {
		return
	}
	for n, lc := range c.byN {
		if now.Sub(lc.placed) > maxCallAge {
			delete(c.byN, n)
		}
	}
	for n, t := range c.reported {
		if now.Sub(t) > 2*time.Hour {
			delete(c.reported, n)
		}
	}
}

// placedCall is a call to hang up: its SID and the provider that placed it.
type placedCall struct{ sid, provider string }

// hangUpAll hangs up sids, each in turn; failures are logged, not returned:
// a call that cannot be hung up rings out and is not an ack either way.
func (p *Pager) hangUpAll(ctx context.Context, st *state, calls []placedCall, why string) {
	for _, pc := range calls {
		sid := pc.sid
		// The provider that placed the call; "" (a call placed before
		// providers were named) is [twilio]'s.
		pr := st.tw
		if pc.provider != "" {
			pr = st.provider(pc.provider)
		}
		if pr == nil {
			p.log.Warn("could not hang up call: its provider is no longer configured", "sid", sid, "provider", pc.provider, "why", why)
			p.stats.add("hangup", "failed")
			continue
		}
		err := retry(ctx, 1+p.opts.Retries, p.opts.RetryBase, func(ctx context.Context) error {
			return pr.hangUp(ctx, sid)
		}, nil)
		if err != nil {
			p.log.Warn("could not hang up call", "sid", sid, "provider", pr.name, "why", why, "err", explain(err))
			p.stats.add("hangup", "failed")
			continue
		}
		p.log.Info("call hung up", "sid", sid, "provider", pr.name, "why", why)
		p.stats.add("hangup", "ok")
	}
}
