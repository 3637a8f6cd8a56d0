package pager

import (
	"sync"
	"time"
)

// A Twilio request whose signature does not match is either forged or —
// far more often — signed for another URL than [server] public_url: a
// proxy in front that changes the scheme, host or port, a typo, a missing
// path prefix, or a rotated auth token. Then every delivery report, SMS
// reply and key press is refused, and paging degrades quietly: nobody can
// ack. So it is reported as the config problem it most likely is: an ERROR
// naming public_url (at most once a minute per foghorn) and a counter of
// its own on /metrics, besides the webhook's "forbidden" count.

func init() {
	families["bad_signatures"] = family{"foghorn_pager_webhook_bad_signatures_total",
		"Twilio webhooks refused for a signature that does not match [server] public_url (a config problem unless forged).",
		[]string{"route"}}
}

// badSigEvery bounds the ERROR lines for bad signatures.
const badSigEvery = time.Minute

var badSigLogged sync.Map // *Pager → time.Time of the last ERROR

func (p *Pager) badSignature(route string, st *state, checked string) {
	p.stats.add("bad_signatures", route)
	now := time.Now()
	if last, ok := badSigLogged.Load(p); ok && now.Sub(last.(time.Time)) < badSigEvery {
		return
	}
	badSigLogged.Store(p, now)
	p.log.Error("CONFIG PROBLEM: Twilio webhook signatures do not match: set [server] public_url to the exact URL Twilio calls "+
		"(scheme, host, port and path prefix), or check the Twilio auth token; until then delivery reports, SMS replies and key presses are refused",
		"public_url", st.public, "checked_url", checked, "route", route)
}
