package pager

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"foghorn/configs"
	"foghorn/escalation"
)

// SMS and voice go through the first provider that is not being skipped
// ([twilio], then the [[provider]] entries in order). A provider that
// fails for everyone on a send (5xx, 429, a timeout, no connection,
// refused credentials) is skipped for its skip_for, and the same send
// goes on through the next one at once: no backoff per page while a
// provider is known bad. So is one whose SMS go without a delivery report
// for its delivery_window OutageAfter times in a row (a provider that
// accepts and then drops everything). When the skip ends the first
// provider is tried first again. Each switch is logged ("provider
// switch"), counted, and announced once per outage through the other
// channels; the vendor-wide "SMS and voice down" of health.go comes only
// when every provider fails.
//
// With a single provider there is nothing to switch to: health.go's
// retries and outage tracking are the whole story, as before.

// repeatWindow is iOS's "Repeated Calls" window: a second call from the
// same number within it rings through Do Not Disturb. A person's calls
// stick to the provider (the caller ID) of their last call for that long.
const repeatWindow = 3 * time.Minute

func init() {
	families["provider_switches"] = family{"foghorn_pager_provider_switches_total",
		"Times SMS and voice moved from one provider to another (failing, or back once it works).", []string{"from", "to"}}
}

var providerDownDesc = prometheus.NewDesc("foghorn_pager_provider_down",
	"1 while an SMS and voice provider is skipped as failing.", []string{"provider"}, nil)

// routes is the providers' health: who is skipped until when, a person's
// last call, and the SMS waiting for a delivery report.
type routes struct {
	mu      sync.Mutex
	s       map[string]*provState
	sticky  map[string]stick     // person → provider of their last call
	pending map[int64]pendingSMS // notification → the SMS awaiting its report
}

type provState struct {
	down      bool      // failing since since; set until a send through it succeeds
	since     time.Time // when it began failing
	skipUntil time.Time
	why       string
	misses    int // SMS in a row without a delivery report in time
}

type stick struct {
	provider string
	at       time.Time
}

type pendingSMS struct {
	provider string
	at       time.Time
}

func newRoutes() *routes {
	return &routes{s: map[string]*provState{}, sticky: map[string]stick{}, pending: map[int64]pendingSMS{}}
}

func (r *routes) get(name string) *provState {
	s := r.s[name]
	if s == nil {
		s = &provState{}
		r.s[name] = s
	}
	return s
}

// isDown reports whether the provider is failing now (for the gauge).
func (r *routes) isDown(name string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.get(name).down
}

// order is the providers to try for a send, best first: those not being
// skipped, in config order, with a person's last call's provider first
// for a call (the same caller ID within repeatWindow); when every one is
// skipped, all of them, so the one attempt notices a recovery.
func (p *Pager) order(st *state, person string, voice bool) []*twilioAPI {
	if len(st.provs) < 2 {
		return st.provs
	}
	now := p.clock.Now()
	p.sweep(st, now)
	r := p.routes
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*twilioAPI
	for _, pr := range st.provs {
		if !now.Before(r.get(pr.name).skipUntil) {
			out = append(out, pr)
		}
	}
	if len(out) == 0 {
		return st.provs
	}
	if sk, ok := r.sticky[person]; voice && ok && now.Sub(sk.at) < repeatWindow {
		for i, pr := range out {
			if pr.name == sk.provider && i > 0 {
				out = append([]*twilioAPI{pr}, append(out[:i:i], out[i+1:]...)...)
				break
			}
		}
	}
	return out
}

// via sends through the providers in order until one takes it: a
// failure for everyone skips that provider and goes on to the next in the
// same send; any other answer (taken, or refused for this number only)
// ends the send. It returns the provider that answered last.
func (p *Pager) via(ctx context.Context, st *state, in escalation.Intent, voice bool, fn func(*twilioAPI) (string, error)) (string, *twilioAPI, error) {
	cands := p.order(st, in.Person, voice)
	if len(cands) == 0 {
		return "", nil, permanent("no SMS and voice provider is configured ([twilio] or [[provider]])")
	}
	var failed []*twilioAPI
	var err error
	for i, pr := range cands {
		var id string
		id, err = fn(pr)
		if err == nil || !vendorWide(err) || len(st.provs) < 2 {
			p.providerWorks(st, pr, failed)
			if err == nil && voice {
				p.routes.mu.Lock()
				p.routes.sticky[in.Person] = stick{pr.name, p.clock.Now()}
				p.routes.mu.Unlock()
			}
			return id, pr, err
		}
		next := ""
		if i+1 < len(cands) {
			next = cands[i+1].name
		}
		if p.providerFails(pr, explainVia(pr, err), next) {
			failed = append(failed, pr)
		}
		if ctx.Err() != nil {
			break
		}
	}
	return "", nil, err
}

// explainVia is explain with the provider's name for what is not Twilio's.
func explainVia(pr *twilioAPI, err error) string {
	if pr.name == vendorTwilio {
		return explain(err)
	}
	return pr.name + ": " + explain(err)
}

// providerFails skips pr for its skip_for and logs the switch to next. It
// reports whether this began pr's outage (to be announced once the send
// went out another way).
func (p *Pager) providerFails(pr *twilioAPI, why, next string) (began bool) {
	now := p.clock.Now()
	r := p.routes
	r.mu.Lock()
	s := r.get(pr.name)
	skip := pr.skipFor
	if skip <= 0 {
		skip = configs.DefaultSkipFor
	}
	s.skipUntil, s.why = now.Add(skip), why
	if !s.down {
		s.down, s.since, began = true, now, true
	}
	r.mu.Unlock()
	if next != "" {
		p.stats.add("provider_switches", pr.name, next)
		p.log.Warn("provider switch", "from", pr.name, "to", next, "why", why, "skip_for", skip)
	} else {
		p.log.Warn("provider failing, and no other provider left to try", "provider", pr.name, "why", why, "skip_for", skip)
	}
	return began
}

// providerWorks notes that pr answered: it ends pr's outage (the switch
// back is logged, counted and announced) and announces the outages that
// began in this send, now that the page went out through pr.
func (p *Pager) providerWorks(st *state, pr *twilioAPI, failed []*twilioAPI) {
	if len(st.provs) < 2 {
		return
	}
	now := p.clock.Now()
	r := p.routes
	r.mu.Lock()
	s := r.get(pr.name)
	was, since := s.down, s.since
	s.down, s.skipUntil, s.misses = false, time.Time{}, 0
	var from string
	if was {
		// What carried the pages meanwhile: the first provider still
		// failing-free after pr.
		for _, o := range st.provs {
			if o != pr && !r.get(o.name).down {
				from = o.name
				break
			}
		}
	}
	r.mu.Unlock()
	if was {
		if from == "" {
			from = "none"
		}
		p.stats.add("provider_switches", from, pr.name)
		p.log.Warn("provider switch", "from", from, "to", pr.name, "why", pr.name+" works again", "was_down_for", now.Sub(since).Round(time.Second))
		p.background(func(ctx context.Context) {
			p.announceProvider(ctx, pr.name, pr.name, fmt.Sprintf("foghorn: %s works again", title(pr.name)),
				fmt.Sprintf("%s works again (it was failing for %s): pages go out through %s again.", title(pr.name), now.Sub(since).Round(time.Second), pr.name))
		})
	}
	for _, f := range failed {
		r.mu.Lock()
		fs := r.get(f.name)
		at, why := fs.since, fs.why
		r.mu.Unlock()
		name, to := f.name, pr.name
		p.background(func(ctx context.Context) {
			p.announceProvider(ctx, name, to, fmt.Sprintf("foghorn: %s failing - pages go out through %s", title(name), to),
				fmt.Sprintf("%s failing since %s UTC - pages go out through %s (last error: %s).", title(name), at.UTC().Format("15:04"), to, why))
		})
	}
}

// providerNames lists the providers, "twilio, signalwire".
func providerNames(st *state) string {
	names := make([]string, len(st.provs))
	for i, pr := range st.provs {
		names[i] = pr.name
	}
	return strings.Join(names, ", ")
}

// title is a provider's name as a sentence starts with it.
func title(name string) string {
	if name == vendorTwilio {
		return "Twilio"
	}
	if name == "" || name[0] < 'a' || name[0] > 'z' {
		return name
	}
	return string(name[0]-'a'+'A') + name[1:]
}

// announceProvider tells everyone of a provider switch, once, through the
// first channel that reaches them and is not a call: email or a push app
// first, else SMS, which goes through the provider now used (to).
func (p *Pager) announceProvider(ctx context.Context, about, to, subject, text string) {
	st := p.state()
	told := 0
	for _, person := range st.cfg.People {
		in := escalation.Intent{Kind: escalation.KindNotice, Person: person.Name, Phone: person.Phone, Email: person.Email}
		var tried []configs.Channel
		for _, ch := range p.announceOrder() {
			m := &outgoing{in: in, subject: subject, text: text, once: true}
			if ch.name() != configs.Email {
				m.text = cut(clean(text), gsmSegment)
			}
			if ch.ready(st, m) != nil {
				continue
			}
			tried = append(tried, ch.name())
			if _, err := p.deliver(ctx, st, ch, m); err != nil {
				continue
			}
			told++
			break
		}
		if len(tried) > 0 && told == 0 {
			p.log.Warn("could not tell about the provider switch", "provider", about, "person", person.Name, "tried", tried)
		}
	}
	p.log.Info("provider switch announced", "provider", about, "to", to, "people", told)
}

// announceOrder is the channels an announcement tries: everything but
// SMS and voice first, then SMS.
func (p *Pager) announceOrder() []channel {
	var out []channel
	for _, ch := range p.chans {
		if ch.vendor() != vendorTwilio {
			out = append(out, ch)
		}
	}
	if ch := p.channel(configs.SMS); ch != nil {
		out = append(out, ch)
	}
	return out
}

// awaitReport notes an SMS sent through pr whose delivery report is due
// within pr's delivery window.
func (p *Pager) awaitReport(st *state, n int64, pr *twilioAPI) {
	if len(st.provs) < 2 || n <= 0 || pr == nil {
		return
	}
	p.routes.mu.Lock()
	p.routes.pending[n] = pendingSMS{pr.name, p.clock.Now()}
	p.routes.mu.Unlock()
}

// reported notes an SMS's delivery report (delivered, or failed for that
// number): its provider delivers.
func (p *Pager) reported(n int64) {
	r := p.routes
	r.mu.Lock()
	defer r.mu.Unlock()
	if ps, ok := r.pending[n]; ok {
		delete(r.pending, n)
		r.get(ps.provider).misses = 0
	}
}

// sweep counts the SMS whose report did not come within their provider's
// window; OutageAfter of them in a row skip the provider.
func (p *Pager) sweep(st *state, now time.Time) {
	r := p.routes
	var hit []*twilioAPI
	r.mu.Lock()
	for n, ps := range r.pending {
		pr := st.provider(ps.provider)
		if pr == nil {
			delete(r.pending, n)
			continue
		}
		w := pr.window
		if w <= 0 {
			w = configs.DefaultDeliveryWindow
		}
		if now.Sub(ps.at) < w {
			continue
		}
		delete(r.pending, n)
		s := r.get(pr.name)
		s.misses++
		if s.misses >= p.opts.OutageAfter && now.After(s.skipUntil) {
			s.misses = 0
			hit = append(hit, pr)
		}
	}
	r.mu.Unlock()
	for _, pr := range hit {
		why := fmt.Sprintf("%d SMS in a row without a delivery report within %s", p.opts.OutageAfter, pr.window)
		next := ""
		for _, o := range st.provs {
			if o != pr && !p.routes.isDown(o.name) {
				next = o.name
				break
			}
		}
		if p.providerFails(pr, why, next) && next != "" {
			name, at := pr.name, now
			p.background(func(ctx context.Context) {
				p.announceProvider(ctx, name, next, fmt.Sprintf("foghorn: %s failing - pages go out through %s", title(name), next),
					fmt.Sprintf("%s failing since %s UTC - pages go out through %s (%s).", title(name), at.UTC().Format("15:04"), next, why))
			})
		}
	}
}

// collectProviders adds the providers' gauge to a Collect.
func (p *Pager) collectProviders(ch chan<- prometheus.Metric) {
	st := p.state()
	if st == nil || len(st.provs) < 2 {
		return
	}
	for _, pr := range st.provs {
		d := 0.0
		if p.routes.isDown(pr.name) {
			d = 1
		}
		ch <- prometheus.MustNewConstMetric(providerDownDesc, prometheus.GaugeValue, d, pr.name)
	}
}
