package escalation

import "context"

// cancelOf is what tellPaged adds to an ack's, resolve's or snooze's
// intents: not a notification (no row, no person), only the mark that
// dispatch, after the commit, calls the Notifier's Cancel for inc.
func cancelOf(inc *Incident) Intent {
	return Intent{Incident: inc.ID, Short: inc.Short, cancel: true}
}

// cancel runs the Notifier's Cancel with one of the bounded send slots,
// like a notification's hand-over.
func (e *Engine) cancel(ctx context.Context, incident int64) {
	e.limit <- struct{}{}
	defer func() { <-e.limit }()
	if err := e.notify.Cancel(ctx, incident); err != nil {
		e.log.Warn("calls for the incident not hung up", "incident", incident, "err", err)
	}
}
