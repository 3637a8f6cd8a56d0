package pager

import (
	"context"
	"slices"
	"time"

	"foghorn/configs"
	"foghorn/escalation"
)

// A channel is one way to reach a person, like Alertmanager's
// notify.Notifier: it knows its vendor's API and its own texts, nothing
// else. Everything around a send (the checks, the per-number rate limit,
// retries, the vendor's health and the counters) is deliver's, the same
// for every channel. A new channel is one file with its type and one line
// in channels.
type channel interface {
	name() configs.Channel
	// vendor is whose outage the channel shares: channels of one vendor
	// go down together, and an outage is announced through another's.
	vendor() string
	// ready says why nothing can go on the channel (not configured) and,
	// given m, why m cannot (the person has no address on it); else it
	// renders what m does not carry yet. A nil m asks about the config only.
	ready(st *state, m *outgoing) error
	// send hands m to the vendor once (deliver retries) and returns the
	// vendor's ID for it, if any.
	send(ctx context.Context, st *state, m *outgoing) (id string, err error)
}

// limited is a channel with a per-number limit per 15 minutes ([twilio]
// sms_per_15m, calls_per_15m): setting names it in the refusal.
type limited interface {
	limit(st *state) (n int, setting string)
}

// followed is a channel that acts before and after a send of its own:
// voice tracks the call it places, SMS remembers the message's SID.
type followed interface {
	before(m *outgoing)
	after(ctx context.Context, st *state, m *outgoing, id string, err error)
}

// dismisser is a channel whose sends live on after they were handed over
// and must be taken back when the incident no longer needs anyone: a push
// app's emergency notification that repeats until acknowledged, a chat
// message whose buttons would still act. Pager.Cancel (an ack, resolve or
// snooze) calls dismiss for the incident; it logs its own failures.
type dismisser interface {
	dismiss(ctx context.Context, st *state, incident int64)
}

// runner is a channel with work of its own while the pager runs
// (following Pushover's receipts): New starts it, Close ends its ctx.
type runner interface {
	run(ctx context.Context)
}

// channels are the pager's channels; announce tries them in this order.
func channels(p *Pager) []channel {
	return []channel{
		smsChannel{p},
		voiceChannel{p},
		emailChannel{p},
		telegramChannel{p},
		ntfyChannel{p},
		newPushover(p),
	}
}

// outgoing is one send: the intent (who, why) and what the channel says.
type outgoing struct {
	in escalation.Intent
	// told marks what the engine (or the power desk) asked for, as
	// opposed to a power outcome by SMS or an outage notice: its send is
	// logged, and its SID remembered for Recover.
	told bool
	// subject and text are rendered by the channel's ready unless the
	// sender set them (power outcomes, outage notices): the SMS body, the
	// call's TwiML, the mail.
	subject, text string
	callback      string // status callback URL, if any
	provider      string // the SMS and voice provider that took it, once sent
	// once is for outage notices: one attempt, no retries, as a page
	// gets while its vendor is down. Their failures are what tells that
	// the other vendor is down too; retrying each would hold that up.
	once bool
}

// channel is the channel called name, or nil.
func (p *Pager) channel(name configs.Channel) channel {
	for _, ch := range p.chans {
		if ch.name() == name {
			return ch
		}
	}
	return nil
}

// vendors are the vendors of the channels, in order, once each.
func (p *Pager) vendors() []string {
	var out []string
	for _, ch := range p.chans {
		if !slices.Contains(out, ch.vendor()) {
			out = append(out, ch.vendor())
		}
	}
	return out
}

// send delivers m on the channel called name.
func (p *Pager) send(ctx context.Context, st *state, name configs.Channel, m *outgoing) error {
	ch := p.channel(name)
	if ch == nil {
		return permanent("unknown channel %q", name)
	}
	_, err := p.deliver(ctx, st, ch, m)
	return err
}

// deliver is every send's one path: the channel's checks, the per-number
// limit, the send with retries, the vendor's health and the counters.
func (p *Pager) deliver(ctx context.Context, st *state, ch channel, m *outgoing) (string, error) {
	if err := ch.ready(st, m); err != nil {
		return "", err
	}
	name := string(ch.name())
	var key string
	var at time.Time
	if l, ok := ch.(limited); ok {
		n, setting := l.limit(st)
		var err error
		if key, at, err = p.take(name, m.in.Phone, n, setting, m.in); err != nil {
			return "", err
		}
	}
	f, _ := ch.(followed)
	if f != nil {
		f.before(m)
	}
	attempts := p.attempts(ch.vendor())
	if m.once {
		attempts = 1
	}
	var id string
	err := retry(ctx, attempts, p.opts.RetryBase, func(ctx context.Context) error {
		var err error
		id, err = ch.send(ctx, st, m)
		return err
	}, p.onRetry(name, m.in))
	p.noteSend(ch.vendor(), err)
	if err != nil {
		if key != "" {
			p.limits.give(key, at)
		}
		p.stats.add("sends", name, "failed")
	} else {
		p.stats.add("sends", name, "ok")
	}
	if f != nil {
		f.after(ctx, st, m, id, err)
	}
	if err != nil {
		return "", err
	}
	return id, nil
}

// attempts is how often a send is tried: once only while the vendor is
// known to be down, so pages fall back to another channel without waiting
// out a backoff per page (and the one attempt still notices the recovery).
func (p *Pager) attempts(vendor string) int {
	if p.health.isDown(vendor) {
		return 1
	}
	return 1 + p.opts.Retries
}

func (p *Pager) onRetry(channel string, in escalation.Intent) func(int, error, time.Duration) {
	return func(n int, err error, wait time.Duration) {
		p.stats.add("retries", channel)
		p.log.Warn("send failed; retrying", "channel", channel, "notification", in.ID, "person", in.Person,
			"attempt", n, "wait", wait.Round(time.Millisecond), "err", explain(err))
	}
}

// take applies a per-number limit (setting: [twilio] sms_per_15m or
// calls_per_15m) to a number. Pages outrank notices: notices ("acked by",
// "resolved", power outcomes) have a budget of their own, half the limit
// (at least one), so they can never use up what pages need; a warning page
// may use the limit while one send is left for a critical; a critical
// page that finds the window full is held until it frees
// (escalation.Later), never dropped. It returns the key to give the
// reservation back to if the send fails.
func (p *Pager) take(channel, phone string, limit int, setting string, in escalation.Intent) (key string, at time.Time, err error) {
	now := p.clock.Now()
	key, room := channel+":"+phone, limit
	switch {
	case limit <= 0:
		room = 0
	case in.Kind != escalation.KindPage:
		key, room = "notice:"+key, max(limit/2, 1)
	case in.Severity != configs.Critical:
		room = max(limit-1, 1)
	}
	ok, until := p.limits.take(key, room, now)
	if !ok {
		p.stats.add("sends", channel, "ratelimited")
		err := permanent("rate limit: %d %s to %s in 15 minutes already (twilio %s = %d; %s); next allowed at %s UTC",
			p.limits.count(key, now), channel, phone, setting, limit, roomFor(in), until.UTC().Format("15:04:05"))
		if in.Kind == escalation.KindPage && in.Severity == configs.Critical {
			return key, now, &escalation.Later{Until: until, Err: err}
		}
		return key, now, err
	}
	return key, now, nil
}

// roomFor says which share of the limit an intent may use.
func roomFor(in escalation.Intent) string {
	switch {
	case in.Kind != escalation.KindPage:
		return "notices have half of it, apart from pages"
	case in.Severity != configs.Critical:
		return "warnings leave one for a critical page"
	}
	return "critical pages wait for the window"
}

// Vendor is what the pager knows of one vendor now, for /healthz: whether
// the config sets it up, and whether it fails for everyone.
type Vendor struct {
	Name       string    // "twilio" or "smtp"
	Channels   []string  // the step channels it carries
	Configured bool      // [twilio] or [smtp] is set up
	Down       bool      // every recent send failed, or the credentials were refused
	Since      time.Time // when it went down
	LastError  string    // why, as logged; never a secret
}

// Vendors reports Twilio and SMTP. A vendor never tried counts as up:
// only a failed send is evidence.
func (p *Pager) Vendors() []Vendor {
	st := p.state()
	var out []Vendor
	for _, v := range p.vendors() {
		vd := Vendor{Name: v}
		for _, ch := range p.chans {
			if ch.vendor() == v {
				vd.Channels = append(vd.Channels, string(ch.name()))
				vd.Configured = vd.Configured || (st != nil && ch.ready(st, nil) == nil)
			}
		}
		out = append(out, vd)
	}
	p.health.mu.Lock()
	defer p.health.mu.Unlock()
	for i := range out {
		if s := p.health.v[out[i].Name]; s != nil && s.down {
			out[i].Down, out[i].Since, out[i].LastError = true, s.since, s.last
		}
	}
	return out
}
