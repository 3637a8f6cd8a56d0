package probes

import (
	"context"
	"sync"
	"time"
)

// probeCtx is the context the scheduler gives one probe: the probe's
// deadline, cancellation when its target is dropped, and the values of
// parent (the source address). context.WithTimeout would arm a runtime
// timer for every probe, a thousand a second at 10,000 targets, while a
// connect check that is done within its system calls only reads the
// deadline; probeCtx arms its timer only when something waits for it
// (Done, or a child context or context.AfterFunc through AfterFunc).
type probeCtx struct {
	parent context.Context
	dl     time.Time

	mu   sync.Mutex
	done chan struct{}
	err  error
	tm   *time.Timer
	fns  map[*func()]struct{}
}

func newProbeCtx(parent context.Context, timeout time.Duration) *probeCtx {
	return &probeCtx{parent: parent, dl: time.Now().Add(timeout)}
}

func (c *probeCtx) Deadline() (time.Time, bool) { return c.dl, true }

func (c *probeCtx) Value(key any) any { return c.parent.Value(key) }

func (c *probeCtx) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil && !time.Now().Before(c.dl) {
		return context.DeadlineExceeded // its timer, if any, is about to say so
	}
	return c.err
}

func (c *probeCtx) Done() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.armLocked()
	return c.done
}

// AfterFunc calls f once c is done, as context.AfterFunc would; the
// context package uses it for children of c instead of a goroutine each.
func (c *probeCtx) AfterFunc(f func()) (stop func() bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.armLocked()
	if c.err != nil {
		go f()
		return func() bool { return false }
	}
	return c.addLocked(f)
}

// onCancel calls f when ctx is cancelled, as context.AfterFunc does, for
// a wait that has its own deadline: on a probe's context it arms no timer
// of the context's (the wait's deadline is the same).
func onCancel(ctx context.Context, f func()) (stop func() bool) {
	c, ok := ctx.(*probeCtx)
	if !ok {
		return context.AfterFunc(ctx, f)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		go f()
		return func() bool { return false }
	}
	return c.addLocked(f)
}

// addLocked registers f to be called when c ends; c.mu is held.
func (c *probeCtx) addLocked(f func()) (stop func() bool) {
	if c.fns == nil {
		c.fns = map[*func()]struct{}{}
	}
	p := &f
	c.fns[p] = struct{}{}
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		_, ok := c.fns[p]
		delete(c.fns, p)
		return ok
	}
}

// armLocked makes the done channel and the timer that closes it; c.mu is
// held.
func (c *probeCtx) armLocked() {
	if c.done != nil {
		return
	}
	c.done = make(chan struct{})
	if c.err != nil {
		close(c.done)
		return
	}
	c.tm = time.AfterFunc(time.Until(c.dl), func() { c.end(context.DeadlineExceeded) })
}

// cancel ends c, as a CancelFunc does; the scheduler calls it when the
// probe returns or its target is dropped.
func (c *probeCtx) cancel() { c.end(context.Canceled) }

func (c *probeCtx) end(err error) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return
	}
	c.err = err
	if c.tm != nil {
		c.tm.Stop()
	}
	if c.done != nil {
		close(c.done)
	}
	fns := c.fns
	c.fns = nil
	c.mu.Unlock()
	for p := range fns {
		go (*p)()
	}
}
