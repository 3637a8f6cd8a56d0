package pager

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"math/big"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"foghorn/configs"
	"foghorn/escalation"
	"foghorn/ipmi"
)

// Power is what the pager needs of the power guard; *ipmi.Guard is one.
// Check answers whether a request would pass now (a refusal is an
// *ipmi.Refusal that explains itself); Execute checks again and does it.
type Power interface {
	Check(ctx context.Context, req ipmi.Request) error
	Execute(ctx context.Context, req ipmi.Request) (ipmi.Outcome, error)
}

// PowerOptions are what the pager needs for power besides the guard.
type PowerOptions struct {
	// Audit records what the guard does not see: codes sent, confirmations
	// refused or cancelled, automated policy steps. *store.DB is one. The
	// guard records the power actions themselves.
	Audit ipmi.Recorder
	// State tells what is known of a target ("up", "down", anything else
	// for not known), for the confirmation text ("pve1 is in hypervisors
	// (3/3 up)"). Nil leaves the counts out.
	State func(target string) string
}

// Confirmation codes: 4 digits, never with a leading zero (a phone may
// drop it), from crypto/rand.
const (
	codeDigits = 4
	// statusWait is how long the webhook waits for a status read before
	// answering "working on it" and sending the state by SMS later: well
	// within Twilio's 15 s webhook timeout.
	statusWait = 5 * time.Second
	// powerTimeout bounds one power action with its read-back.
	powerTimeout = 2 * time.Minute
	// tellTimeout bounds sending an outcome, even at shutdown.
	tellTimeout = 30 * time.Second
	// stepMemory is how long an automated step is remembered in memory;
	// the audit trail remembers it for good.
	stepMemory = 24 * time.Hour
)

// powerState is the pager's part of power: the guard, the confirmation
// codes waiting, and the automated steps done. Codes live in memory only:
// a restart forgets them, and a forgotten code can only fail to confirm
// (the safe direction); the person asks again.
type powerState struct {
	mu      sync.Mutex
	guard   Power
	opts    PowerOptions
	pending map[string]*pending // by phone number
	steps   map[int64]*stepRun  // by incident
}

// pending is a power action waiting for its confirmation code.
type pending struct {
	code    string
	req     ipmi.Request
	what    string // "CYCLE pve1", "CYCLE pve1 FORCE"
	host    string
	expires time.Time
}

// SetPower lets people ask for BMC power actions by SMS through g, and
// lets PowerSteps act for policy steps; nil turns both off ("power
// actions are not enabled on this foghorn").
func (p *Pager) SetPower(g Power, o PowerOptions) {
	if gg, ok := g.(*ipmi.Guard); ok && gg == nil {
		g = nil
	}
	p.power.mu.Lock()
	defer p.power.mu.Unlock()
	p.power.guard, p.power.opts = g, o
	if g == nil {
		p.power.pending = nil
	}
}

func (p *Pager) powerGuard() (Power, PowerOptions) {
	p.power.mu.Lock()
	defer p.power.mu.Unlock()
	return p.power.guard, p.power.opts
}

const powerOff = "Power actions are not enabled on this foghorn."

// audit records an event, best effort: the reply must still go out.
func (p *Pager) audit(ctx context.Context, kind, subject, actor, detail string) error {
	_, o := p.powerGuard()
	if o.Audit == nil {
		return nil
	}
	err := o.Audit.Event(context.WithoutCancel(ctx), kind, subject, actor, detail)
	if err != nil {
		p.log.Error("cannot write the audit trail", "kind", kind, "subject", subject, "err", err)
	}
	return err
}

// readOnlyCommand reports whether a viewer may send cmd.
func readOnlyCommand(cmd Command) bool {
	return readOnly(cmd.Verb) || (cmd.Verb == VerbPower && cmd.Action == ipmi.Status)
}

func verbOf(a ipmi.Action) string {
	if a == ipmi.Status {
		return "POWER"
	}
	return strings.ToUpper(string(a))
}

// powerCommand answers "CYCLE pve1" and the like: a status is read at
// once; an action the guard would allow gets a one-time code to confirm
// from the same phone; a refusal says why.
func (p *Pager) powerCommand(ctx context.Context, person *configs.Person, cmd Command) string {
	g, o := p.powerGuard()
	if g == nil {
		return powerOff
	}
	cfg := p.state().cfg
	name := canonicalTarget(cfg, cmd.Target)
	req := ipmi.Request{Target: name, Action: cmd.Action, By: person.Name, Force: cmd.Force, Via: "sms"}
	host, bmc := resolveHost(cfg, name)
	what := verbOf(cmd.Action) + " " + host
	if cmd.Force {
		what += " FORCE"
	}
	if cmd.Action == ipmi.Status {
		return p.runPower(contactOf(person), req, what, host, statusWait)
	}
	if err := g.Check(ctx, req); err != nil {
		var ref *ipmi.Refusal
		if !errors.As(err, &ref) {
			p.log.Error("power check failed", "person", person.Name, "target", name, "err", err)
			return "Sorry, foghorn could not check that power action (internal error); nothing was done."
		}
		msg := ref.Msg
		if ref.Forceable && !cmd.Force {
			msg = strings.TrimRight(msg, ". ") + fmt.Sprintf(": reply %s %s FORCE", verbOf(cmd.Action), cmd.Target)
		}
		return msg
	}
	code, err := newCode()
	if err != nil {
		p.log.Error("cannot make a confirmation code", "err", err)
		return "Sorry, foghorn could not make a confirmation code (internal error); nothing was done."
	}
	timeout := cfg.Power.ConfirmTimeout.Duration
	if timeout <= 0 {
		timeout = 5 * time.Minute
	}
	p.power.mu.Lock()
	if p.power.pending == nil {
		p.power.pending = map[string]*pending{}
	}
	now := p.clock.Now()
	for ph, pd := range p.power.pending {
		if now.After(pd.expires) {
			delete(p.power.pending, ph)
		}
	}
	p.power.pending[person.Phone] = &pending{code: code, req: req, what: what, host: host, expires: now.Add(timeout)}
	p.power.mu.Unlock()
	p.audit(ctx, "power.requested", host, person.Name, fmt.Sprintf("%s via sms: confirmation code sent to %s, valid %s", what, person.Phone, humanWait(timeout)))

	var b strings.Builder
	b.WriteString(what)
	if bmc != "" {
		fmt.Fprintf(&b, " (BMC %s)", bmc)
	}
	fmt.Fprintf(&b, ": %s.", actionWords(cmd.Action, cmd.Force))
	b.WriteString(siteWords(cfg, host, o.State))
	fmt.Fprintf(&b, " Reply CONFIRM %s within %s.", code, humanWait(timeout))
	return b.String()
}

// confirmCommand runs the action a code was sent for, if the code is
// right, in time, and from the phone it was sent to. Any failure voids
// the request: one guess per code.
func (p *Pager) confirmCommand(ctx context.Context, person *configs.Person, cmd Command) string {
	g, _ := p.powerGuard()
	if g == nil {
		return powerOff
	}
	now := p.clock.Now()
	p.power.mu.Lock()
	pd := p.power.pending[person.Phone]
	delete(p.power.pending, person.Phone)
	p.power.mu.Unlock()
	refused := func(subject, why, reply string) string {
		p.audit(ctx, "power.confirm_refused", subject, person.Name, why+" (from "+person.Phone+" via sms)")
		p.log.Warn("power confirmation refused", "person", person.Name, "why", why)
		return reply
	}
	switch {
	case pd == nil || pd.req.By != person.Name:
		return refused("power", "CONFIRM with no code pending for this phone",
			"Nothing to confirm: no power action is waiting for a code from this phone (a code works once, from the phone it was sent to, and a restart of foghorn forgets it). Nothing was done.")
	case now.After(pd.expires):
		return refused(pd.host, pd.what+": code expired",
			fmt.Sprintf("That code has expired: %s was not done. Send %s again for a new code.", pd.what, pd.what))
	case subtle.ConstantTimeCompare([]byte(cmd.Code), []byte(pd.code)) != 1:
		return refused(pd.host, pd.what+": wrong code",
			fmt.Sprintf("Wrong code: %s was not done, and that code is void now. Send %s again for a new code.", pd.what, pd.what))
	}
	p.audit(ctx, "power.confirmed", pd.host, person.Name, pd.what+" via sms: code confirmed")
	return p.runPower(contactOf(person), pd.req, pd.what, pd.host, 0)
}

// beforeCommand runs before any SMS command from person. A confirmation
// code waits for CONFIRM and nothing else: any other message cancels it
// (note says so, to add to the reply). The exception is the code sent
// alone ("4821" reads as "ack incident 4821"): hint tells to say CONFIRM.
func (p *Pager) beforeCommand(ctx context.Context, person *configs.Person, cmd Command, parseErr error) (hint, note string) {
	if parseErr == nil && cmd.Verb == VerbConfirm {
		return "", ""
	}
	now := p.clock.Now()
	p.power.mu.Lock()
	pd := p.power.pending[person.Phone]
	if pd == nil {
		p.power.mu.Unlock()
		return "", ""
	}
	live := !now.After(pd.expires)
	if live && parseErr == nil && cmd.Verb == VerbAck && cmd.Short > 0 &&
		subtle.ConstantTimeCompare([]byte(strconv.Itoa(cmd.Short)), []byte(pd.code)) == 1 {
		p.power.mu.Unlock()
		return fmt.Sprintf("To confirm %s, reply CONFIRM %s (a number alone acks an incident). Nothing was done yet.", pd.what, pd.code), ""
	}
	delete(p.power.pending, person.Phone)
	p.power.mu.Unlock()
	if !live {
		return "", ""
	}
	p.audit(ctx, "power.cancelled", pd.host, person.Name, pd.what+": another message came before CONFIRM")
	return "", fmt.Sprintf("(%s cancelled: nothing was done.)", pd.what)
}

// contact is who hears the outcome of a power action.
type contact struct{ name, phone, email string }

func contactOf(p *configs.Person) contact { return contact{p.Name, p.Phone, p.Email} }

// runPower executes req in the background. If it ends within wait, its
// outcome is the reply; otherwise the reply says "working on it" and the
// outcome follows by SMS (a webhook must answer Twilio quickly).
func (p *Pager) runPower(to contact, req ipmi.Request, what, host string, wait time.Duration) string {
	g, _ := p.powerGuard()
	if g == nil {
		return powerOff
	}
	if p.ctx.Err() != nil {
		return "foghorn is shutting down: " + what + " was not done."
	}
	// 0: running; 1: the webhook answered without it (send it by SMS);
	// 2: it is the webhook's answer.
	var claim atomic.Int32
	res := make(chan string, 1)
	p.background(func(ctx context.Context) {
		actx, cancel := context.WithTimeout(ctx, powerTimeout)
		out, err := g.Execute(actx, req)
		cancel()
		text := outcomeText(req, what, host, out, err)
		if claim.CompareAndSwap(0, 2) {
			res <- text
			return
		}
		p.tell(ctx, to, text)
	})
	if wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case text := <-res:
			return text
		case <-t.C:
		}
	}
	if claim.CompareAndSwap(0, 1) {
		return fmt.Sprintf("Working on it: %s. The result follows by SMS.", what)
	}
	return <-res
}

// outcomeText is what a power action did, for an SMS: "pve1 cycled: off,
// then on after 1.1s; power on".
func outcomeText(req ipmi.Request, what, host string, out ipmi.Outcome, err error) string {
	var ref *ipmi.Refusal
	switch {
	case errors.As(err, &ref):
		return what + " not done: " + ref.Msg
	case err != nil:
		return what + " failed: " + err.Error()
	case req.Action == ipmi.Status:
		return host + ": " + out.Text
	}
	text := host + " " + out.Text
	if !strings.Contains(out.Text, "power on") && !strings.Contains(out.Text, "power off") &&
		!strings.Contains(out.Text, "powered") {
		text += "; power " + onOff(out.After.On)
	}
	if !out.Confirmed {
		text += ". Check with POWER " + host
	}
	return text
}

func onOff(on bool) string {
	if on {
		return "on"
	}
	return "off"
}

// tell sends a power outcome by SMS, or by email if the SMS cannot go.
func (p *Pager) tell(ctx context.Context, to contact, text string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), tellTimeout)
	defer cancel()
	st := p.state()
	in := escalation.Intent{Kind: "power", Channel: "sms", Person: to.name, Phone: to.phone, Email: to.email, Text: text}
	err := p.powerSMS(ctx, st, in)
	if err != nil && to.email != "" && st.mail != nil {
		p.log.Warn("power outcome by SMS failed; sending it by email", "person", to.name, "err", explain(err))
		err = p.sendEmail(ctx, st, in)
	}
	if err != nil {
		p.log.Error("power outcome not delivered", "person", to.name, "text", text, "err", explain(err))
		return
	}
	p.log.Info("power outcome sent", "person", to.name, "text", text)
}

// powerSMS is sendSMS for a power outcome: the whole text (up to three
// segments; a refusal explains itself at length), no status callback.
func (p *Pager) powerSMS(ctx context.Context, st *state, in escalation.Intent) error {
	_, err := p.deliverSMS(ctx, st, in, cut(clean(in.Text), maxSMSChars), "")
	return err
}

// codeRE finds a confirmation code in a reply, to keep it out of logs.
var codeRE = regexp.MustCompile(`CONFIRM \d+`)

func redactCode(s string) string { return codeRE.ReplaceAllString(s, "CONFIRM ****") }

func newCode() (string, error) {
	lo := int64(1)
	for range codeDigits - 1 {
		lo *= 10
	}
	n, err := rand.Int(rand.Reader, big.NewInt(9*lo))
	if err != nil {
		return "", err
	}
	return strconv.FormatInt(lo+n.Int64(), 10), nil
}

// canonicalTarget is the configured name for what a person typed: phones
// capitalise the first word of a text ("Pve1").
func canonicalTarget(cfg *configs.Config, name string) string {
	if cfg.Target(name) != nil {
		return name
	}
	found := ""
	for _, t := range cfg.Targets {
		if strings.EqualFold(t.Name, name) {
			if found != "" {
				return name // ambiguous: let the guard say it does not know it
			}
			found = t.Name
		}
	}
	if found == "" {
		return name
	}
	return found
}

// resolveHost is the host and BMC target a name stands for, as the guard
// resolves them; bmc is "" when there is none.
func resolveHost(cfg *configs.Config, name string) (host, bmc string) {
	t := cfg.Target(name)
	switch {
	case t == nil:
		return name, ""
	case t.Kind == "ipmi" && t.Host != "":
		return t.Host, t.Name
	case t.Kind == "ipmi":
		return t.Name, t.Name
	}
	return t.Name, t.BMC
}

// actionWords say what an action will do to the machine.
func actionWords(a ipmi.Action, force bool) string {
	var s string
	switch a {
	case ipmi.Cycle:
		s = "power off, then on"
	case ipmi.Reset:
		s = "hard reset (no clean shutdown)"
	case ipmi.Off:
		s = "power off at once (no clean shutdown)"
	case ipmi.On:
		s = "power on"
	case ipmi.Soft:
		s = "ask the OS to shut down; the power then stays off"
	default:
		s = string(a)
	}
	if force {
		s += ", past the quorum guard (FORCE)"
	}
	return s
}

// siteWords say where the host stands: " pve1 is in hypervisors (3/3 up,
// quorum 2)."
func siteWords(cfg *configs.Config, host string, state func(string) string) string {
	var s string
	if state != nil && state(host) == "down" {
		s = fmt.Sprintf(" %s is DOWN now.", host)
	}
	var groups []string
	for _, gr := range cfg.Groups {
		ms := gr.Resolved
		if len(ms) == 0 {
			ms = gr.Members
		}
		if !slices.Contains(ms, host) {
			continue
		}
		var in []string
		if state != nil {
			up := 0
			for _, m := range ms {
				if state(m) == "up" {
					up++
				}
			}
			in = append(in, fmt.Sprintf("%d/%d up", up, len(ms)))
		} else {
			in = append(in, fmt.Sprintf("%d members", len(ms)))
		}
		if gr.Quorum {
			need := gr.MinUp
			if need <= 0 {
				need = len(ms)/2 + 1
			}
			in = append(in, fmt.Sprintf("quorum %d", need))
		}
		groups = append(groups, fmt.Sprintf("%s (%s)", gr.Name, strings.Join(in, ", ")))
	}
	if len(groups) > 0 {
		s += fmt.Sprintf(" %s is in %s.", host, strings.Join(groups, " and "))
	}
	return s
}

// humanWait is a confirmation timeout as an SMS says it: "5 min", "90s".
func humanWait(d time.Duration) string {
	if d >= time.Minute && d%time.Minute == 0 {
		return fmt.Sprintf("%d min", int(d/time.Minute))
	}
	return d.Round(time.Second).String()
}
