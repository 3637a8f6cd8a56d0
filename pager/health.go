package pager

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"foghorn/configs"
	"foghorn/escalation"
)

// Vendors whose outage is tracked: Twilio carries SMS and voice, SMTP
// carries email, each push app is its own. When one fails for everyone,
// another says so.
const (
	vendorTwilio = "twilio"
	vendorSMTP   = "smtp"

	vendorPushover = "pushover" // pushover.go: its outage is announced by SMS or mail
)

// health tracks consecutive vendor-wide failures (5xx, 429, timeouts,
// refused credentials) per vendor. OutageAfter of them in a row, whatever
// the number dialled, make the vendor "down" until one send succeeds.
type health struct {
	mu sync.Mutex
	v  map[string]*vendorState
}

type vendorState struct {
	fails int
	down  bool
	since time.Time
	last  string
}

func newHealth() *health { return &health{v: map[string]*vendorState{}} }

func (h *health) get(vendor string) *vendorState {
	s := h.v[vendor]
	if s == nil {
		s = &vendorState{}
		h.v[vendor] = s
	}
	return s
}

// ok records a send the vendor accepted (or refused for that number only,
// which proves it is up). It reports whether this ended an outage.
func (h *health) ok(vendor string, now time.Time) (recovered bool, downFor time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.get(vendor)
	s.fails = 0
	if !s.down {
		return false, 0
	}
	s.down = false
	return true, now.Sub(s.since)
}

// fail records a vendor-wide failure; it reports whether this one started
// an outage.
func (h *health) fail(vendor, why string, now time.Time, threshold int) (wentDown bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.get(vendor)
	s.fails++
	s.last = why
	if s.down || s.fails < threshold {
		return false
	}
	s.down, s.since = true, now
	return true
}

func (h *health) isDown(vendor string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.get(vendor).down
}

// noteSend feeds a send's result to the outage tracker and acts on the
// transitions: loudly in the log, on /metrics, and through the other
// vendor's channel to everyone.
func (p *Pager) noteSend(vendor string, err error) {
	now := p.clock.Now()
	var pe *permanentError
	if errors.As(err, &pe) {
		return // our own refusal (bad address...): says nothing about the vendor
	}
	refused := credentialRefused(err)
	if err == nil || !vendorWide(err) {
		if rec, d := p.health.ok(vendor, now); rec {
			p.log.Warn("channel works again", "vendor", vendor, "was_down_for", d.Round(time.Second))
			p.background(func(ctx context.Context) { p.announce(ctx, vendor, false, "", d) })
		}
		return
	}
	why, threshold := explain(err), p.opts.OutageAfter
	if refused {
		// Refused credentials fail every send alike: one is proof.
		why, threshold = explainRefusal(err), 1
	}
	if !p.health.fail(vendor, why, now, threshold) {
		return
	}
	p.stats.add("outages", vendor)
	p.log.Error("CHANNEL DOWN: every recent send failed; pages by this vendor are not going out",
		"vendor", vendor, "consecutive_failures", threshold, "last_error", why)
	p.background(func(ctx context.Context) { p.announce(ctx, vendor, true, why, 0) })
}

// announce tells everyone, through the other vendor, that a channel went
// down or came back.
func (p *Pager) announce(ctx context.Context, vendor string, down bool, why string, downFor time.Duration) {
	st := p.state()
	var subject, text string
	switch {
	case vendor == vendorTwilio && down && len(st.provs) > 1:
		subject = "foghorn: every SMS and voice provider is failing - SMS and voice pages are NOT going out"
		text = fmt.Sprintf("foghorn cannot send through any SMS and voice provider (%s) since %s UTC (last error: %s).\n\n"+
			"Pages fall back to email where a policy step lists it. Check the providers' status pages and accounts.\n",
			providerNames(st), p.clock.Now().UTC().Format("15:04"), why)
	case vendor == vendorTwilio && down:
		subject = "foghorn: Twilio is failing - SMS and voice pages are NOT going out"
		text = fmt.Sprintf("foghorn cannot send through Twilio since %s UTC: the last sends all failed (last error: %s).\n\n"+
			"Pages fall back to email where a policy step lists it. Check https://status.twilio.com and the account.\n",
			p.clock.Now().UTC().Format("15:04"), why)
	case vendor == vendorTwilio:
		subject = "foghorn: Twilio works again"
		text = fmt.Sprintf("SMS and voice pages go out again (Twilio was failing for %s).\n", downFor.Round(time.Second))
	case vendor == vendorTelegram && down:
		subject = "foghorn: Telegram is failing - pages by Telegram are NOT going out"
		text = fmt.Sprintf("foghorn cannot send through the Telegram bot since %s UTC: %s", p.clock.Now().UTC().Format("15:04"), why)
	case vendor == vendorTelegram:
		subject = "foghorn: Telegram works again"
		text = fmt.Sprintf("foghorn's Telegram bot works again (was failing for %s).", downFor.Round(time.Second))
	case vendor == vendorNtfy: // ntfy.go
		subject, text = ntfyOutage(down, why, p.clock.Now(), downFor)
	case vendor == vendorSMTP && down:
		subject = "foghorn: email (SMTP) is failing - pages by email are NOT going out"
		text = fmt.Sprintf("foghorn email failing since %s UTC: %s", p.clock.Now().UTC().Format("15:04"), why)
	case vendor == vendorSMTP:
		subject = "foghorn: email (SMTP) works again"
		text = fmt.Sprintf("foghorn email works again (was failing for %s).", downFor.Round(time.Second))
	case down: // a push app
		subject = fmt.Sprintf("foghorn: %s is failing - pages by %s are NOT going out", vendor, vendor)
		text = fmt.Sprintf("foghorn cannot send through %s since %s UTC: %s", vendor, p.clock.Now().UTC().Format("15:04"), why)
	default:
		subject = fmt.Sprintf("foghorn: %s works again", vendor)
		text = fmt.Sprintf("Pages by %s go out again (it was failing for %s).", vendor, downFor.Round(time.Second))
	}
	if eng := p.engine(); eng != nil && down {
		if open, err := eng.Open(ctx); err == nil && len(open) > 0 {
			var b strings.Builder
			fmt.Fprintf(&b, "\nOpen incidents:\n")
			for _, inc := range open {
				fmt.Fprintf(&b, "  #%d [%s] %s (%s)\n", inc.Short, sevTag(inc.Severity), clean(inc.Summary), inc.State)
			}
			text += b.String()
		}
	}
	told := 0
	for _, person := range st.cfg.People {
		// These sends say as much about the other vendor as a page does:
		// an alarm that cannot go out either means no channel works.
		in := escalation.Intent{Kind: escalation.KindNotice, Person: person.Name, Phone: person.Phone, Email: person.Email}
		ch, m := p.other(st, vendor, in, subject, text)
		if ch == nil {
			continue
		}
		if _, err := p.deliver(ctx, st, ch, m); err != nil {
			p.log.Error("could not tell about the channel outage", "vendor", vendor, "person", person.Name, "err", explain(err))
			continue
		}
		told++
	}
	if told == 0 && down {
		p.log.Error("CHANNEL DOWN and nobody could be told through another channel: configure [smtp] and people's email",
			"vendor", vendor)
	}
}

// other is the first channel, not of vendor, that can reach in's person,
// with the outage notice as it says it (a text message is one segment);
// nil when there is none.
func (p *Pager) other(st *state, vendor string, in escalation.Intent, subject, text string) (channel, *outgoing) {
	for _, ch := range p.chans {
		if ch.vendor() == vendor {
			continue
		}
		m := &outgoing{in: in, subject: subject, text: text, once: true}
		if ch.name() != configs.Email {
			m.text = cut(clean(text), gsmSegment)
		}
		if ch.ready(st, m) == nil {
			return ch, m
		}
	}
	return nil, nil
}

// stats are the pager's counters, on /metrics through Collect and for
// tests through Stats.
type stats struct {
	mu sync.Mutex
	c  map[string]float64 // family + "\x00" + label values joined by "\x00"
}

type family struct {
	name, help string
	labels     []string
}

var families = map[string]family{
	"sends":             {"foghorn_pager_sends_total", "Notifications handed to a channel, by channel and result (ok, failed, ratelimited).", []string{"channel", "result"}},
	"retries":           {"foghorn_pager_retries_total", "Retried requests to Twilio or SMTP (5xx, 429, timeouts).", []string{"channel"}},
	"webhooks":          {"foghorn_pager_webhooks_total", "Twilio webhooks by route and result (ok, forbidden, bad_request, unavailable).", []string{"route", "result"}},
	"reports":           {"foghorn_pager_reports_total", "Delivery outcomes reported to the escalation engine.", []string{"outcome"}},
	"hangup":            {"foghorn_pager_hangups_total", "Calls hung up after an ack, a cancel or a voicemail.", []string{"result"}},
	"sms_commands":      {"foghorn_pager_sms_commands_total", "Inbound SMS by result (the command's verb, not_understood, unknown_number).", []string{"result"}},
	"pushover_receipts": {"foghorn_pager_pushover_receipts_total", "Pushover emergency receipts followed, by event (polled, unacknowledged, acked, foreign_ack, expired, cancelled).", []string{"event"}},
	"telegram":          {"foghorn_pager_telegram_total", "Telegram updates and edits by result (ack, esc, snz, not_allowed, forbidden, replayed, edited, edit_failed, api_error).", []string{"result"}},
	"outages":           {"foghorn_pager_channel_outages_total", "Times a vendor was found failing for everyone (Twilio or SMTP down).", []string{"vendor"}},
}

var downDesc = prometheus.NewDesc("foghorn_pager_channel_down", "1 while a vendor fails for everyone (Twilio or SMTP down).", []string{"vendor"}, nil)

func newStats() *stats { return &stats{c: map[string]float64{}} }

func (s *stats) add(fam string, labels ...string) {
	s.mu.Lock()
	s.c[fam+"\x00"+strings.Join(labels, "\x00")]++
	s.mu.Unlock()
}

// Stats is a snapshot of the pager's counters, keyed "family/label/label"
// ("sends/sms/ok", "retries/sms", "webhooks/sms/forbidden",
// "outages/twilio"), and which vendors are down now.
type Stats struct {
	Counts map[string]float64
	Down   []string
}

// Stats returns the counters so far.
func (p *Pager) Stats() Stats {
	p.stats.mu.Lock()
	out := Stats{Counts: make(map[string]float64, len(p.stats.c))}
	for k, v := range p.stats.c {
		out.Counts[strings.ReplaceAll(k, "\x00", "/")] = v
	}
	p.stats.mu.Unlock()
	for _, v := range p.vendors() {
		if p.health.isDown(v) {
			out.Down = append(out.Down, v)
		}
	}
	return out
}

// Describe implements prometheus.Collector: register the Pager itself.
func (p *Pager) Describe(ch chan<- *prometheus.Desc) {
	for _, k := range slices.Sorted(maps.Keys(families)) {
		f := families[k]
		ch <- prometheus.NewDesc(f.name, f.help, f.labels, nil)
	}
	ch <- downDesc
	ch <- providerDownDesc
}

// Collect implements prometheus.Collector.
func (p *Pager) Collect(ch chan<- prometheus.Metric) {
	p.stats.mu.Lock()
	snap := maps.Clone(p.stats.c)
	p.stats.mu.Unlock()
	for k, v := range snap {
		parts := strings.Split(k, "\x00")
		f, ok := families[parts[0]]
		if !ok || len(parts)-1 != len(f.labels) {
			continue
		}
		ch <- prometheus.MustNewConstMetric(prometheus.NewDesc(f.name, f.help, f.labels, nil), prometheus.CounterValue, v, parts[1:]...)
	}
	for _, v := range p.vendors() {
		d := 0.0
		if p.health.isDown(v) {
			d = 1
		}
		ch <- prometheus.MustNewConstMetric(downDesc, prometheus.GaugeValue, d, v)
	}
	p.collectProviders(ch)
}
