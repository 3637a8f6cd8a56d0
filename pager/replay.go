package pager

import (
	"context"
	"time"
)

// replayWindow is how long an inbound MessageSid is remembered. A signed
// webhook stays valid for ever, so without this an exact replay of "ACK"
// (same MessageSid, same signature) would ack whatever incident is the
// person's latest by then.
const replayWindow = 24 * time.Hour

// replayed reports whether an inbound SMS with this MessageSid was already
// taken, and remembers it otherwise, in the store (Options.Store) so a
// restart does not forget. Twilio itself never posts one message twice to
// the inbound webhook, so a repeat is answered with empty TwiML and a WARN
// line, and does nothing. Without a store there is no check.
func (p *Pager) replayed(ctx context.Context, sid, from string) bool {
	db := p.opts.Store
	if sid == "" || db == nil {
		return false // nothing to tell repeats by; every real Twilio webhook has one
	}
	now := p.clock.Now()
	ctx = context.WithoutCancel(ctx)
	db.ExecContext(ctx, `DELETE FROM inbound_sms WHERE at < ?`, now.Add(-replayWindow).UnixMilli())
	res, err := db.ExecContext(ctx, `INSERT INTO inbound_sms (sid, at) VALUES (?, ?) ON CONFLICT (sid) DO NOTHING`, sid, now.UnixMilli())
	if err != nil {
		// A real reply must not be lost to a failing store: act on it.
		p.log.Error("cannot record an inbound SMS; a replay of it would not be recognised", "sid", sid, "err", err)
		return false
	}
	if n, err := res.RowsAffected(); err != nil || n > 0 {
		return false
	}
	p.stats.add("sms_commands", "replayed")
	p.log.Warn("inbound SMS ignored: this MessageSid was already taken (a replayed webhook)", "sid", sid, "from", from)
	return true
}
