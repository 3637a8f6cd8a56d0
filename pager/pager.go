// Package pager is foghorn's voice: it delivers the escalation engine's
// notification intents by Twilio SMS and voice calls and by email, follows
// their delivery through Twilio's status callbacks, and turns what people
// answer (an SMS reply, a key pressed on a call) into acks, resolves,
// escalations and snoozes.
//
// It knows nothing of targets: it gets an escalation.Intent and reports
// back through the small Engine interface.
package pager

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"foghorn/configs"
	"foghorn/escalation"
	"foghorn/pager/twiliosim"
	"foghorn/store"
)

// Engine is what the pager needs of the escalation engine; *escalation.Engine
// implements it.
type Engine interface {
	Get(ctx context.Context, id int64) (*escalation.Incident, error)
	Report(ctx context.Context, notification int64, o escalation.Outcome, detail string) error
	Ack(ctx context.Context, id int64, by, via string) (*escalation.Incident, error)
	Resolve(ctx context.Context, id int64, by, via string) (*escalation.Incident, error)
	Escalate(ctx context.Context, id int64, from int, by string) (*escalation.Incident, error)
	Snooze(ctx context.Context, id int64, d time.Duration, by string) (*escalation.Incident, error)
	ByShort(ctx context.Context, person string, short int) (*escalation.Incident, error)
	LastPaged(ctx context.Context, person string) (*escalation.Incident, error)
	Open(ctx context.Context) ([]escalation.Incident, error)
	OnCall(ctx context.Context, t time.Time, next int) (map[string][]escalation.Shift, error)
}

// Clock is the pager's time source (rate limits, "since 02:14").
type Clock interface{ Now() time.Time }

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

// Options tune a Pager; zero values are sensible.
type Options struct {
	// APIBase replaces [twilio] api_base: the in-process simulator's URL,
	// known only once it listens.
	APIBase string
	Log     *slog.Logger
	Clock   Clock

	APITimeout  time.Duration // one request to Twilio or one SMTP session; default 10s
	Retries     int           // retries after the first attempt on 5xx, 429, timeouts; default 3, negative for none
	RetryBase   time.Duration // first wait between attempts, doubling; default 300ms
	OutageAfter int           // consecutive vendor-wide failures that mean "Twilio is down"; default 3
	Ring        time.Duration // how long a call rings before it is a no-answer; default 30s
	Store       *store.DB     // remembers inbound MessageSids (replay.go); nil: in memory only
	KeyWait     time.Duration // how long the menu waits for a key; default 8s
}

// Webhook paths, under [server] public_url. Point the Twilio number's
// "A message comes in" webhook at SMSPath (HTTP POST); the others are set
// per message and call.
const (
	SMSPath         = "/twilio/sms"
	SMSStatusPath   = "/twilio/sms/status"
	VoiceStatusPath = "/twilio/voice/status"
	GatherPath      = "/twilio/voice/gather"
)

// Pager delivers intents and serves Twilio's webhooks. Create it with New,
// mount Routes, and Close it.
type Pager struct {
	opts   Options
	log    *slog.Logger
	clock  Clock
	st     atomic.Pointer[state]
	eng    atomic.Pointer[engineRef]
	limits *limiter
	calls  *calls
	health *health
	stats  *stats

	zmu   sync.Mutex
	zones map[string]*time.Location

	power powerState // power.go: the power desk; who was told of automated steps

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

type engineRef struct{ Engine }

// state is everything derived from one config; SetConfig swaps it whole.
type state struct {
	cfg      *configs.Config
	byPhone  map[string]*configs.Person
	public   string // webhook base URL, no trailing slash
	token    string // Twilio auth token: API password and webhook signing key
	tw       *twilioAPI
	mail     *mailer
	validity time.Duration
}

// New makes a pager for cfg. eng may be nil when the engine is built after
// the pager (it takes the pager as its Notifier); call SetEngine then.
// Webhooks answer 503 until an engine is set.
func New(cfg *configs.Config, eng Engine, opts Options) (*Pager, error) {
	if opts.Log == nil {
		opts.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.Clock == nil {
		opts.Clock = realClock{}
	}
	if opts.APITimeout <= 0 {
		opts.APITimeout = 10 * time.Second
	}
	if opts.Retries == 0 {
		opts.Retries = 3
	}
	opts.Retries = max(opts.Retries, 0)
	if opts.RetryBase <= 0 {
		opts.RetryBase = 300 * time.Millisecond
	}
	if opts.OutageAfter <= 0 {
		opts.OutageAfter = 3
	}
	if opts.Ring <= 0 {
		opts.Ring = 30 * time.Second
	}
	if opts.KeyWait <= 0 {
		opts.KeyWait = 8 * time.Second
	}
	p := &Pager{opts: opts, log: opts.Log, clock: opts.Clock, limits: newLimiter(), calls: newCalls(),
		health: newHealth(), stats: newStats(), zones: map[string]*time.Location{}}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	if err := p.SetConfig(cfg); err != nil {
		return nil, err
	}
	p.SetEngine(eng)
	return p, nil
}

// SetEngine sets the engine that webhooks act on and outcomes go to.
func (p *Pager) SetEngine(eng Engine) {
	if eng == nil {
		p.eng.Store(nil)
		return
	}
	p.eng.Store(&engineRef{eng})
}

func (p *Pager) engine() Engine {
	if r := p.eng.Load(); r != nil {
		return r.Engine
	}
	return nil
}

func (p *Pager) state() *state { return p.st.Load() }

// SetConfig switches to a reloaded config. A config the pager cannot use
// is refused and the old one kept. Calls in progress keep going: their
// webhooks carry all they need in their URLs.
func (p *Pager) SetConfig(cfg *configs.Config) error {
	if cfg == nil {
		return errors.New("pager: no config")
	}
	old := p.state()
	st := &state{cfg: cfg, byPhone: map[string]*configs.Person{}, public: publicURL(cfg), validity: cfg.Twilio.SMSValidity.Duration}
	for i := range cfg.People {
		if ph := cfg.People[i].Phone; ph != "" {
			st.byPhone[ph] = &cfg.People[i]
		}
	}
	tw := cfg.Twilio
	if tw.AccountSID != "" || tw.Simulator {
		sid, token := credentials(cfg)
		base := strings.TrimSuffix(tw.APIBase, "/")
		if p.opts.APIBase != "" {
			base = strings.TrimSuffix(p.opts.APIBase, "/")
		}
		if tw.Simulator && (base == "" || base == configs.DefaultAPIBase) {
			return errors.New("pager: twilio.simulator = true but no simulator URL: start twiliosim and pass its URL as pager.Options.APIBase")
		}
		if base == "" {
			base = configs.DefaultAPIBase
		}
		if _, err := url.Parse(base); err != nil {
			return fmt.Errorf("pager: twilio api_base %q: %w", base, err)
		}
		st.token = token
		if old != nil && old.tw.same(sid, token, tw.From, base) {
			st.tw = old.tw
		} else {
			st.tw = newTwilioAPI(sid, token, tw.From, base, p.opts.APITimeout)
		}
		if st.public == "" {
			p.log.Warn("no [server] public_url: Twilio cannot reach the webhooks; delivery reports, replies and key presses will be lost")
		}
	}
	st.mail = newMailer(cfg.SMTP, p.opts.APITimeout)
	p.st.Store(st)
	if old != nil && old.tw != nil && old.tw != st.tw {
		old.tw.close()
	}
	return nil
}

// credentials are the account SID and auth token, with the simulator's
// defaults when twilio.simulator is on and none are configured.
func credentials(cfg *configs.Config) (sid, token string) {
	sid, token = cfg.Twilio.AccountSID, cfg.Twilio.AuthToken.Reveal()
	if cfg.Twilio.Simulator {
		if sid == "" {
			sid = twiliosim.DefaultAccountSID
		}
		if token == "" {
			token = twiliosim.DefaultAuthToken
		}
	}
	return sid, token
}

// publicURL is where Twilio reaches the webhooks: [server] public_url, or
// for a simulator on the same machine the listen address.
func publicURL(cfg *configs.Config) string {
	if u := strings.TrimSuffix(cfg.Server.PublicURL, "/"); u != "" {
		return u
	}
	if !cfg.Twilio.Simulator {
		return ""
	}
	host, port, err := net.SplitHostPort(cfg.Server.Listen)
	if err != nil {
		return ""
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// SimulatorOptions are the twiliosim options that match cfg, for the demo's
// in-process simulator: the same account and token (so the pager's API
// calls are accepted and the simulator's webhooks pass the signature
// check), the Twilio number, and the webhooks at cfg's public URL.
//
//	sim := twiliosim.New(pager.SimulatorOptions(cfg))
//	base, err := sim.Start("127.0.0.1:0")
//	p, err := pager.New(cfg, nil, pager.Options{APIBase: base})
func SimulatorOptions(cfg *configs.Config) twiliosim.Options {
	sid, token := credentials(cfg)
	pub := publicURL(cfg)
	o := twiliosim.Options{AccountSID: sid, AuthToken: token, Number: cfg.Twilio.From, PublicURL: pub}
	if pub != "" {
		o.InboundSMSURL = pub + SMSPath
	}
	return o
}

// Close stops background work (outage notices, hang-ups) and waits for it.
func (p *Pager) Close() error {
	p.cancel()
	p.wg.Wait()
	if st := p.state(); st != nil && st.tw != nil {
		st.tw.close()
	}
	return nil
}

// background runs fn in a goroutine that Close waits for.
func (p *Pager) background(fn func(ctx context.Context)) {
	if p.ctx.Err() != nil {
		return
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		fn(p.ctx)
	}()
}

// zone loads a person's time zone once; unknown zones read as UTC.
func (p *Pager) zone(name string) *time.Location {
	if name == "" {
		return time.UTC
	}
	p.zmu.Lock()
	defer p.zmu.Unlock()
	if loc, ok := p.zones[name]; ok {
		return loc
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		p.log.Warn("unknown time zone; using UTC in messages", "zone", name, "err", err)
		loc = time.UTC
	}
	p.zones[name] = loc
	return loc
}

func (p *Pager) personZone(st *state, name string) *time.Location {
	if per := st.cfg.Person(name); per != nil {
		return p.zone(per.TimeZone)
	}
	return time.UTC
}

// Notify hands one intent to its channel (escalation.Notifier). It returns
// once the channel accepted it (Twilio answered 201, the mail server 250),
// after retrying 5xx, 429 and timeouts; an error means it was not handed
// over, and the engine falls back to the step's next channel. What happens
// next (delivered, voicemail, no answer, undeliverable) comes back through
// the status callbacks as engine.Report.
func (p *Pager) Notify(ctx context.Context, in escalation.Intent) error {
	if in.Kind != "page" {
		// Acks from the web page or the API make the engine send the
		// "acked by" notices and the cancel under the request's context,
		// which ends as soon as the handler has answered: these must
		// outlive it, or a call keeps ringing after the ack.
		var cancel context.CancelFunc
		ctx, cancel = p.detach(ctx, noticeTimeout)
		defer cancel()
	}
	st := p.state()
	var err error
	switch {
	case in.Kind == "cancel":
		p.cancelCalls(ctx, st, in.Incident)
		return nil
	case in.Channel == "sms":
		err = p.sendSMS(ctx, st, in)
		if err != nil && in.Kind != "page" && in.Email != "" && st.mail != nil {
			// The engine falls back only for pages; a notice ("acked by
			// alice") that cannot go by SMS goes by mail rather than not at all.
			p.log.Warn("notice by SMS failed; sending it by email", "person", in.Person, "err", explain(err))
			err = p.sendEmail(ctx, st, in)
		}
	case in.Channel == "voice":
		err = p.placeCall(ctx, st, in)
	case in.Channel == "email":
		err = p.sendEmail(ctx, st, in)
	default:
		err = permanent("unknown channel %q", in.Channel)
	}
	if err != nil {
		p.log.Warn("notification not sent", "notification", in.ID, "incident", in.Incident, "kind", in.Kind,
			"channel", in.Channel, "person", in.Person, "err", explain(err))
		var later *escalation.Later
		if errors.As(err, &later) {
			return err
		}
		wrapped := fmt.Errorf("pager: %s to %s: %s", in.Channel, in.Person, explain(err))
		// The vendor unreachable, failing or refusing us is not this
		// page's fault: the engine holds it and tries again for as long
		// as it is valid, rather than giving up after a few seconds.
		if in.Kind == "page" && vendorWide(err) {
			return &escalation.Later{Err: wrapped}
		}
		return wrapped
	}
	return nil
}

// noticeTimeout bounds a notice or cancel detached from its caller.
const noticeTimeout = time.Minute

// detach is ctx without its cancellation, ending after d or at Close.
func (p *Pager) detach(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	c, cancel := context.WithTimeout(context.WithoutCancel(ctx), d)
	stop := context.AfterFunc(p.ctx, cancel)
	return c, func() { stop(); cancel() }
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

// take applies [twilio] sms_per_15m or calls_per_15m to a number. Pages
// outrank notices: notices ("acked by", "resolved", power outcomes) have a
// budget of their own, half the limit (at least one), so they can never
// use up what pages need; a warning page may use the limit while one send
// is left for a critical; a critical page that finds the window full is
// held until it frees (escalation.Later), never dropped. It returns the
// key to give the reservation back to if the send fails.
func (p *Pager) take(channel, phone string, limit int, in escalation.Intent) (key string, at time.Time, err error) {
	now := p.clock.Now()
	key, room := channel+":"+phone, limit
	switch {
	case limit <= 0:
		room = 0
	case in.Kind != "page":
		key, room = "notice:"+key, max(limit/2, 1)
	case in.Severity != "critical":
		room = max(limit-1, 1)
	}
	ok, until := p.limits.take(key, room, now)
	if !ok {
		p.stats.add("sends", channel, "ratelimited")
		name := map[string]string{"sms": "sms", "voice": "calls"}[channel]
		err := permanent("rate limit: %d %s to %s in 15 minutes already (twilio %s_per_15m = %d; %s); next allowed at %s UTC",
			p.limits.count(key, now), channel, phone, name, limit, roomFor(in), until.UTC().Format("15:04:05"))
		if in.Kind == "page" && in.Severity == "critical" {
			return key, now, &escalation.Later{Until: until, Err: err}
		}
		return key, now, err
	}
	return key, now, nil
}

// roomFor says which share of the limit an intent may use.
func roomFor(in escalation.Intent) string {
	switch {
	case in.Kind != "page":
		return "notices have half of it, apart from pages"
	case in.Severity != "critical":
		return "warnings leave one for a critical page"
	}
	return "critical pages wait for the window"
}

// twilioReady says why a Twilio send to in cannot even be tried.
func twilioReady(st *state, in escalation.Intent) error {
	if st.tw == nil {
		return permanent("Twilio is not configured ([twilio] account_sid or simulator)")
	}
	if in.Phone == "" {
		return permanent("%s has no phone number", in.Person)
	}
	return nil
}

func (p *Pager) sendSMS(ctx context.Context, st *state, in escalation.Intent) error {
	now := p.clock.Now()
	body := noticeSMS(in)
	if in.Kind == "page" {
		body = pageSMS(in, now, p.personZone(st, in.Person))
	}
	callback := ""
	if st.public != "" && in.ID > 0 {
		callback = st.public + SMSStatusPath + "?n=" + strconv.FormatInt(in.ID, 10)
	}
	sid, err := p.deliverSMS(ctx, st, in, body, callback)
	if err != nil {
		return err
	}
	p.remember(ctx, in, sid) // lookup.go
	p.log.Info("SMS sent", "notification", in.ID, "incident", in.Incident, "kind", in.Kind, "person", in.Person, "sid", sid)
	return nil
}

// deliverSMS sends body to in's phone within the per-number limit, with
// retries, and counts the outcome; every SMS goes through it.
func (p *Pager) deliverSMS(ctx context.Context, st *state, in escalation.Intent, body, callback string) (string, error) {
	if err := twilioReady(st, in); err != nil {
		return "", err
	}
	key, at, err := p.take("sms", in.Phone, st.cfg.Twilio.SMSPer15m, in)
	if err != nil {
		return "", err
	}
	var sid string
	err = retry(ctx, p.attempts(vendorTwilio), p.opts.RetryBase, func(ctx context.Context) error {
		var err error
		sid, err = st.tw.sms(ctx, in.Phone, body, callback, st.validity)
		return err
	}, p.onRetry("sms", in))
	p.noteSend(vendorTwilio, err)
	if err != nil {
		p.limits.give(key, at)
		p.stats.add("sends", "sms", "failed")
		return "", err
	}
	p.stats.add("sends", "sms", "ok")
	return sid, nil
}

func (p *Pager) placeCall(ctx context.Context, st *state, in escalation.Intent) error {
	if err := twilioReady(st, in); err != nil {
		return err
	}
	key, at, err := p.take("voice", in.Phone, st.cfg.Twilio.CallsPer15m, in)
	if err != nil {
		return err
	}
	doc, err := p.callTwiML(st, in)
	if err != nil {
		p.limits.give(key, at)
		return err
	}
	callback := ""
	if st.public != "" && in.ID > 0 {
		callback = st.public + VoiceStatusPath + "?n=" + strconv.FormatInt(in.ID, 10)
	}
	// Registered before the request: its status callbacks may arrive
	// before the API's answer, and a cancel may come in between.
	if in.ID > 0 {
		p.calls.add(&liveCall{n: in.ID, incident: in.Incident, person: in.Person, placed: p.clock.Now()})
	}
	var sid string
	err = retry(ctx, p.attempts(vendorTwilio), p.opts.RetryBase, func(ctx context.Context) error {
		var err error
		sid, err = st.tw.call(ctx, callSpec{to: in.Phone, twiml: doc, callback: callback, ring: p.opts.Ring, amd: st.cfg.Twilio.MachineDetection})
		return err
	}, p.onRetry("voice", in))
	p.noteSend(vendorTwilio, err)
	if err != nil {
		p.calls.remove(in.ID)
		p.limits.give(key, at)
		p.stats.add("sends", "voice", "failed")
		return err
	}
	p.stats.add("sends", "voice", "ok")
	p.remember(ctx, in, sid)
	p.log.Info("call placed", "notification", in.ID, "incident", in.Incident, "person", in.Person, "sid", sid)
	if in.ID > 0 && p.calls.placed(in.ID, sid) {
		p.hangUpAll(ctx, st, []string{sid}, "incident acked while the call was being placed")
	}
	return nil
}

// cancelCalls hangs up the calls still ringing (or talking) for an
// incident that was just acked, resolved or snoozed.
func (p *Pager) cancelCalls(ctx context.Context, st *state, incident int64) {
	sids := p.calls.forIncident(incident)
	if len(sids) == 0 || st.tw == nil {
		return
	}
	p.hangUpAll(ctx, st, sids, fmt.Sprintf("incident %d no longer needs paging", incident))
}

func (p *Pager) sendEmail(ctx context.Context, st *state, in escalation.Intent) error {
	if st.mail == nil {
		return permanent("email is not configured ([smtp] host)")
	}
	if in.Email == "" {
		return permanent("%s has no email address", in.Person)
	}
	subject, body := mailNotice(in)
	if in.Kind == "page" {
		subject, body = mailPage(in, st.public, p.clock.Now(), p.personZone(st, in.Person))
	}
	err := retry(ctx, p.attempts(vendorSMTP), p.opts.RetryBase, func(ctx context.Context) error {
		return st.mail.send(ctx, in.Email, subject, body)
	}, p.onRetry("email", in))
	p.noteSend(vendorSMTP, err)
	if err != nil {
		p.stats.add("sends", "email", "failed")
		return err
	}
	p.stats.add("sends", "email", "ok")
	p.log.Info("email sent", "notification", in.ID, "incident", in.Incident, "kind", in.Kind, "person", in.Person)
	return nil
}
