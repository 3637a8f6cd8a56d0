package escalation

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// errExpired is handOver's word for a page expired instead of sent.
var errExpired = errors.New("page expired before it could be sent")

const createdQuery = `SELECT created_at FROM notifications WHERE id = ?`

// expired reports whether a claimed page waited longer than
// Config.PageValidity before it could be handed to the Notifier — queued
// behind a vendor's outage, or claimed before a crash and found by Recover
// long after — and if so marks it expired instead of sending it. A page
// that late is news of an old state: the incident's next round pages
// afresh if it still needs anyone, so nothing is lost and nobody is
// blasted with a backlog when the vendor comes back. cmd sets the bound
// to the one the vendor applies to a message it cannot deliver in time.
func (e *Engine) expired(ctx context.Context, in Intent) bool {
	if in.Kind != KindPage || in.ID <= 0 || in.limited {
		return false
	}
	validity := e.cfg.Load().PageValidity
	if validity <= 0 {
		return false
	}
	st, ok := e.stmts.Load(createdQuery)
	if !ok {
		p, err := e.db.PrepareContext(ctx, createdQuery)
		if err != nil {
			return false
		}
		if prev, loaded := e.stmts.LoadOrStore(createdQuery, p); loaded {
			p.Close()
			st = prev
		} else {
			st = p
		}
	}
	var created int64
	if err := st.(*sql.Stmt).QueryRowContext(ctx, in.ID).Scan(&created); err != nil {
		return false // no row to judge by: send rather than drop
	}
	now := e.clock.Now()
	age := now.Sub(time.UnixMilli(created))
	if age <= validity {
		return false
	}
	why := fmt.Sprintf("%s to %s not sent: it waited %s, longer than the page validity %s; the next round pages afresh",
		in.Channel, in.Person, age.Round(time.Second), validity)
	e.log.Warn("stale page expired", "notification", in.ID, "incident", in.Incident, "person", in.Person,
		"channel", in.Channel, "waited", age.Round(time.Second), "validity", validity)
	e.mark(ctx, in.ID, "expired", why)
	if err := event(ctx, e.db, now, "page.expired", in.Incident, "engine", why); err != nil {
		e.log.Error("cannot record the expired page", "incident", in.Incident, "err", err)
	}
	return true
}
