// Package pager is foghorn's voice: it delivers the escalation engine's
// notification intents by Twilio SMS and voice calls and by email, follows
// their delivery through Twilio's status callbacks, and turns what people
// answer (an SMS reply, a key pressed on a call) into acks, resolves,
// escalations and snoozes.
//
// It knows nothing of targets: it gets its own Config (people, [twilio],
// [smtp], the public URL) from cmd, an escalation.Intent per send, and
// reports back through two small interfaces, Answers and Reads. Each
// channel (sms.go, voice.go, email.go) is one type behind the channel
// interface; channels.go's deliver does the rest for all of them.
package pager

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"foghorn/clock"
	"foghorn/configs"
	"foghorn/escalation"
	"foghorn/store"
)

// Answers is what answering a page needs of the escalation engine: an SMS
// reply or a key pressed on a call acts on an incident, and delivery
// outcomes go back to it.
type Answers interface {
	Get(ctx context.Context, id int64) (*escalation.Incident, error)
	ByShort(ctx context.Context, person string, short int) (*escalation.Incident, error)
	LastPaged(ctx context.Context, person string) (*escalation.Incident, error)
	Ack(ctx context.Context, id int64, by, via string) (*escalation.Incident, error)
	Resolve(ctx context.Context, id int64, by, via string) (*escalation.Incident, error)
	Escalate(ctx context.Context, id int64, from int, by string) (*escalation.Incident, error)
	Snooze(ctx context.Context, id int64, d time.Duration, by string) (*escalation.Incident, error)
	Report(ctx context.Context, notification int64, o escalation.Outcome, detail string) error
}

// Reads is what the read-only texts need (STATUS, ONCALL, the open
// incidents in an outage notice).
type Reads interface {
	Open(ctx context.Context) ([]escalation.Incident, error)
	OnCall(ctx context.Context, t time.Time, next int) (map[string][]escalation.Shift, error)
}

// Engine is both, as SetEngine takes it; *escalation.Engine implements it.
type Engine interface {
	Answers
	Reads
}

// Options tune a Pager; zero values are sensible.
type Options struct {
	// APIBase replaces [twilio] api_base: the in-process simulator's URL,
	// known only once it listens.
	APIBase string
	Log     *slog.Logger
	Clock   clock.Clock // rate limits, "since 02:14"; nil: the real clock

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
	clock  clock.Clock
	st     atomic.Pointer[state]
	eng    atomic.Pointer[engineRef]
	limits *limiter
	chans  []channel // channels.go: in the order announce tries them
	calls  *calls
	health *health
	routes *routes // providers.go: which SMS and voice provider is skipped
	stats  *stats

	zmu   sync.Mutex
	zones map[string]*time.Location

	power powerState // power.go: the power desk; who was told of automated steps

	tg telegramRun // telegram.go: the bot's poller or webhook registration

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// The channels' runners (Pushover's receipt follower) act on the
	// engine like webhooks do: StopAnswers ends them before the engine.
	stopAnswers context.CancelFunc
	answering   sync.WaitGroup
}

type engineRef struct{ Engine }

// state is everything derived from one config; SetConfig swaps it whole.
type state struct {
	cfg      Config
	byPhone  map[string]*configs.Person
	public   string       // webhook base URL, no trailing slash
	tw       *twilioAPI   // the first provider ([twilio] when configured), or nil
	provs    []*twilioAPI // every SMS and voice provider, in order: tw first
	mail     *mailer
	tg       *telegramBot // telegram.go; nil without [telegram]
	validity time.Duration
}

// New makes a pager for cfg. eng may be nil when the engine is built after
// the pager (it takes the pager as its Notifier); call SetEngine then.
// Webhooks answer 503 until an engine is set.
func New(cfg Config, eng Engine, opts Options) (*Pager, error) {
	if opts.Log == nil {
		opts.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	opts.Clock = clock.Or(opts.Clock)
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
		health: newHealth(), routes: newRoutes(), stats: newStats(), zones: map[string]*time.Location{}}
	p.chans = channels(p)
	p.ctx, p.cancel = context.WithCancel(context.Background())
	if err := p.SetConfig(cfg); err != nil {
		return nil, err
	}
	var actx context.Context
	actx, p.stopAnswers = context.WithCancel(p.ctx)
	for _, ch := range p.chans {
		if r, ok := ch.(runner); ok {
			p.answering.Add(1)
			go func() {
				defer p.answering.Done()
				r.run(actx)
			}()
		}
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
func (p *Pager) SetConfig(cfg Config) error {
	old := p.state()
	cfg.People = slices.Clone(cfg.People) // the pager keeps pointers into it
	st := &state{cfg: cfg, byPhone: map[string]*configs.Person{}, public: cfg.public(), validity: cfg.Twilio.SMSValidity.Duration}
	for i := range st.cfg.People {
		if ph := st.cfg.People[i].Phone; ph != "" {
			st.byPhone[ph] = &st.cfg.People[i]
		}
	}
	tw := cfg.Twilio
	if tw.AccountSID != "" || tw.Simulator {
		sid, token := tw.AccountSID, tw.AuthToken.Reveal()
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
		if old != nil && old.tw.same(sid, token, tw.From, base) && old.tw.skipFor == tw.SkipFor.Duration && old.tw.window == tw.DeliveryWindow.Duration {
			st.tw = old.tw
		} else {
			st.tw = newTwilioAPI(sid, token, tw.From, base, p.opts.APITimeout)
			st.tw.skipFor, st.tw.window = tw.SkipFor.Duration, tw.DeliveryWindow.Duration // before anyone else sees it
		}
		st.provs = append(st.provs, st.tw)
	}
	for _, pc := range cfg.Providers {
		pv := provider{name: pc.Name, kind: pc.Kind, account: pc.Account(), token: pc.AuthToken.Reveal(), from: pc.From,
			base: pc.Base(), skipFor: pc.SkipFor.Duration, window: pc.DeliveryWindow.Duration}
		pv.key = pv.token
		if pc.Kind == configs.KindSignalWire {
			pv.key = pc.SigningKey.Reveal()
		}
		if _, err := url.Parse(pv.base); err != nil {
			return fmt.Errorf("pager: provider %q api_base %q: %w", pc.Name, pv.base, err)
		}
		var reuse *twilioAPI
		if old != nil {
			for _, o := range old.provs {
				if o.sameAs(pv) {
					reuse = o
				}
			}
		}
		if reuse == nil {
			reuse = newProvider(pv, p.opts.APITimeout)
		}
		st.provs = append(st.provs, reuse)
	}
	if st.tw == nil && len(st.provs) > 0 {
		st.tw = st.provs[0]
	}
	if len(st.provs) > 0 && st.public == "" {
		p.log.Warn("no [server] public_url: Twilio cannot reach the webhooks; delivery reports, replies and key presses will be lost")
	}
	st.mail = newMailer(cfg.SMTP, p.opts.APITimeout)
	st.tg = newTelegramBot(cfg.Telegram, st, p.opts.APITimeout)
	p.st.Store(st)
	p.telegramStart(st)
	if old != nil {
		for _, o := range old.provs {
			if !slices.Contains(st.provs, o) {
				o.close()
			}
		}
	}
	return nil
}

// provider is the provider called name, or nil.
func (st *state) provider(name string) *twilioAPI {
	for _, pr := range st.provs {
		if pr.name == name {
			return pr
		}
	}
	return nil
}

// StopAnswers ends what turns a push app's answers into acks without a
// webhook (Pushover receipts found acknowledged by polling) and waits for
// it: like the HTTP server's Shutdown for webhooks, call it before the
// engine stops. Close does it too.
func (p *Pager) StopAnswers() {
	p.stopAnswers()
	p.answering.Wait()
}

// Close stops background work (outage notices, hang-ups) and waits for it.
func (p *Pager) Close() error {
	p.StopAnswers()
	p.cancel()
	p.wg.Wait()
	if st := p.state(); st != nil {
		for _, pr := range st.provs {
			pr.close()
		}
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
	if per := st.cfg.person(name); per != nil {
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
	if in.Kind != escalation.KindPage {
		// Acks from the web page or the API make the engine send the
		// "acked by" notices under the request's context, which ends as
		// soon as the handler has answered: these must outlive it.
		var cancel context.CancelFunc
		ctx, cancel = p.detach(ctx, noticeTimeout)
		defer cancel()
	}
	st := p.state()
	err := p.send(ctx, st, in.Channel, &outgoing{in: in, told: true})
	if err != nil && in.Channel == configs.SMS && in.Kind != escalation.KindPage && in.Email != "" && st.mail != nil {
		// The engine falls back only for pages; a notice ("acked by
		// alice") that cannot go by SMS goes by mail rather than not at all.
		p.log.Warn("notice by SMS failed; sending it by email", "person", in.Person, "err", explain(err))
		err = p.send(ctx, st, configs.Email, &outgoing{in: in, told: true})
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
		if in.Kind == escalation.KindPage && vendorWide(err) {
			return &escalation.Later{Err: wrapped}
		}
		return wrapped
	}
	return nil
}

// Cancel hangs up the calls still ringing (or talking) for an incident
// that was just acked, resolved or snoozed (escalation.Notifier). Like a
// notice it outlives the request that acked: a call must not keep
// ringing because the web handler already answered.
func (p *Pager) Cancel(ctx context.Context, incident int64) error {
	ctx, cancel := p.detach(ctx, noticeTimeout)
	defer cancel()
	st := p.state()
	for _, ch := range p.chans {
		if d, ok := ch.(dismisser); ok {
			d.dismiss(ctx, st, incident)
		}
	}
	sids := p.calls.forIncident(incident)
	if len(sids) == 0 || len(st.provs) == 0 {
		return nil
	}
	p.hangUpAll(ctx, st, sids, fmt.Sprintf("incident %d no longer needs paging", incident))
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
