package escalation

import (
	"context"
	"fmt"
	"sync"
)

// outcomeRank orders what can be known of a notification: a person reached
// (delivered, a key pressed) beats a call nobody took, which beats a
// failure. Anything else (claimed, sent, expired...) is not an outcome yet.
func outcomeRank(state string) int {
	switch Outcome(state) {
	case Delivered:
		return 3
	case Unanswered:
		return 2
	case Failed:
		return 1
	}
	return 0
}

// reportLocks serialise the reports of one notification (striped by ID),
// so two callbacks racing for the same row cannot both pass the rank check.
var reportLocks [64]sync.Mutex

// outranked reports whether the stored outcome of in already says as much
// as o, or more: then o is a late or duplicate callback (Twilio repeats
// them, delivers them out of order, and keeps sending them while foghorn
// restarts). Such a report is written to the timeline only: it never
// downgrades the row, never falls back, never pages. The stored state is
// the memory of what was reported, so it holds across restarts. Call
// release when the report is recorded.
func (e *Engine) outranked(ctx context.Context, in Intent, o Outcome, detail string) (release func(), late bool) {
	mu := &reportLocks[uint64(in.ID)%uint64(len(reportLocks))]
	mu.Lock()
	var cur string
	if err := e.db.QueryRowContext(ctx, `SELECT state FROM notifications WHERE id = ?`, in.ID).Scan(&cur); err != nil {
		return mu.Unlock, false // Report's own write says what is wrong with the store
	}
	if outcomeRank(cur) == 0 || outcomeRank(string(o)) > outcomeRank(cur) {
		return mu.Unlock, false
	}
	e.log.Info("late delivery report ignored: the notification already has an outcome as good", "notification", in.ID,
		"incident", in.Incident, "outcome", o, "recorded", cur, "detail", detail)
	e.db.Event(ctx, "delivery.late", fmt.Sprint(in.Incident), in.Person,
		fmt.Sprintf("%s: %s (%s) came after %s; kept %s", in.Channel, o, detail, cur, cur))
	mu.Unlock()
	return func() {}, true
}
