package pager

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	api "github.com/twilio/twilio-go/rest/api/v2010"

	"foghorn/configs"
	"foghorn/escalation"
)

// remember records the SID Twilio gave a notification, as soon as the API
// answered: after a kill before the engine's "sent" mark, Find then knows
// it exactly, and knows the message or call is not another one's. The
// provider is stored as the migration says: ” for [twilio], else the
// [[provider]]'s name.
func (p *Pager) remember(ctx context.Context, in escalation.Intent, sid, provider string) {
	if p.opts.Store == nil || in.ID <= 0 || sid == "" {
		return
	}
	if provider == vendorTwilio {
		provider = ""
	}
	_, err := p.opts.Store.ExecContext(context.WithoutCancel(ctx), `INSERT INTO twilio_sids (sid, notification, at, provider) VALUES (?, ?, ?, ?)
		ON CONFLICT (sid) DO NOTHING`, sid, in.ID, p.clock.Now().UnixMilli(), provider)
	if err != nil {
		p.log.Warn("cannot record a Twilio SID; a restart may resend this once", "notification", in.ID, "sid", sid, "err", err)
	}
}

// ProviderID is the Twilio SID of a notification handed over
// (escalation.ProviderIDs, for a cluster's notification log); "" when
// none was recorded.
func (p *Pager) ProviderID(ctx context.Context, notification int64) string {
	if p.opts.Store == nil {
		return ""
	}
	var sid string
	p.opts.Store.QueryRowContext(ctx, `SELECT sid FROM twilio_sids WHERE notification = ? ORDER BY at LIMIT 1`, notification).Scan(&sid)
	return sid
}

// Find looks an interrupted notification up (escalation.Finder, for
// Recover after a kill): by the SID remembered for it, else in Twilio's
// own lists, the messages or calls from our number to the person's phone
// since it was handed over, oldest first, less those known to be another
// notification's. An SMS must also be about the same incident; a call
// carries nothing else to tell it apart, and Recover gives each SID to one
// notification only.
func (p *Pager) Find(ctx context.Context, in escalation.Intent, since time.Time) ([]string, error) {
	st := p.state()
	if err := twilioReady(st, in); err != nil {
		return nil, err
	}
	db := p.opts.Store
	if db != nil {
		var sid string
		err := db.QueryRowContext(ctx, `SELECT sid FROM twilio_sids WHERE notification = ? ORDER BY at LIMIT 1`, in.ID).Scan(&sid)
		if err == nil {
			return []string{sid}, nil
		}
	}
	ctx, cancel := context.WithTimeout(ctx, p.opts.APITimeout)
	defer cancel()
	since = since.UTC().Truncate(time.Second)
	type rec struct {
		sid     string
		created time.Time
	}
	var recs []rec
	keep := func(sid, created *string) {
		at, err := time.Parse(time.RFC1123Z, deref(created))
		// Twilio may apply the date filter by day: the exact bound is ours.
		if sid != nil && (err != nil || !at.Before(since)) {
			recs = append(recs, rec{*sid, at})
		}
	}
	// No SID was remembered, so nothing says which provider took it: ask
	// each one's own records, from its own number.
	for _, pr := range st.provs {
		svc := pr.service(ctx)
		switch in.Channel {
		case configs.SMS:
			lp := &api.ListMessageParams{}
			lp.SetTo(in.Phone).SetFrom(pr.from).SetDateSentAfter(since).SetLimit(lookupLimit)
			ms, err := svc.ListMessage(lp)
			if err != nil {
				return nil, fmt.Errorf("pager: look up SMS to %s in %s's Messages: %s", in.Person, title(pr.name), explain(err))
			}
			for _, m := range ms {
				if about(deref(m.Body), in) {
					keep(m.Sid, m.DateCreated)
				}
			}
		case configs.Voice:
			lp := &api.ListCallParams{}
			lp.SetTo(in.Phone).SetFrom(pr.from).SetStartTimeAfter(since).SetLimit(lookupLimit)
			cs, err := svc.ListCall(lp)
			if err != nil {
				return nil, fmt.Errorf("pager: look up calls to %s in %s's Calls: %s", in.Person, title(pr.name), explain(err))
			}
			for _, c := range cs {
				keep(c.Sid, c.DateCreated)
			}
		default:
			return nil, permanent("no lookup for channel %q", in.Channel)
		}
	}
	slices.SortStableFunc(recs, func(a, b rec) int { return a.created.Compare(b.created) })
	out := make([]string, 0, len(recs))
	for _, r := range recs {
		if db != nil {
			var other int64
			if db.QueryRowContext(ctx, `SELECT notification FROM twilio_sids WHERE sid = ?`, r.sid).Scan(&other) == nil && other != in.ID {
				continue // another notification's message or call
			}
		}
		out = append(out, r.sid)
	}
	return out, nil
}

// lookupLimit bounds the records one lookup reads (one page of Twilio's
// largest): the window is the seconds before a kill, and even a storm
// sends one phone fewer.
const lookupLimit = 1000

// about reports whether an SMS body is in's: a page names its incident as
// "[CRIT] #42 …"; a notice is its own text, or names "#42" in it.
func about(body string, in escalation.Intent) bool {
	tag := fmt.Sprintf("#%d", in.Short)
	if in.Kind == escalation.KindPage {
		return strings.Contains(body, "] "+tag+" ")
	}
	if body == noticeSMS(in) {
		return true
	}
	for rest := body; ; {
		i := strings.Index(rest, tag)
		if i < 0 {
			return false
		}
		rest = rest[i+len(tag):]
		if rest == "" || rest[0] < '0' || rest[0] > '9' {
			return true
		}
	}
}
