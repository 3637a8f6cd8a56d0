package escalation

import (
	"context"
	"time"
)

// maxSlew is how far the wall clock may move back between two steps before
// the engine treats it as a jump; NTP slews far less.
const maxSlew = time.Second

// checkClock notices the wall clock stepping back (NTP correcting a VPS
// clock that ran fast, a restored snapshot) and moves every pending due
// time back by as much: otherwise a step due in a minute would wait for
// the size of the jump on top. Forward jumps need nothing: each overdue
// incident takes one step, not one per interval it missed, and its next
// step counts from now.
func (e *Engine) checkClock(ctx context.Context) {
	now := e.clock.Now()
	e.mem.mu.Lock()
	last := e.mem.lastNow
	e.mem.lastNow = now
	e.mem.mu.Unlock()
	if last.IsZero() {
		return
	}
	// With the real clock both readings carry a monotonic part: the jump is
	// the wall time moved minus the time that really passed. A clock
	// without one (a test's) has only its wall readings to go by.
	wall := now.Round(0).Sub(last.Round(0))
	jump := wall - now.Sub(last)
	if wall < 0 {
		jump = min(jump, wall)
	}
	if jump >= -maxSlew {
		return
	}
	e.mu.Lock()
	res, err := e.db.ExecContext(ctx, `UPDATE incidents SET due = due + ?,
		snoozed_until = CASE WHEN snoozed_until IS NULL THEN NULL ELSE snoozed_until + ? END
		WHERE due IS NOT NULL AND due > ?`, jump.Milliseconds(), jump.Milliseconds(), ms(now))
	e.mu.Unlock()
	if err != nil {
		e.log.Error("the wall clock went back, and the pending steps could not be moved back with it: they come late by as much",
			"jump", jump.Round(time.Second), "err", err)
		return
	}
	n, _ := res.RowsAffected()
	e.log.Warn("the wall clock went back: pending escalation steps moved back by as much, so none comes late",
		"jump", jump.Round(time.Second), "incidents", n)
}
