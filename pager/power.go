package pager

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"foghorn/configs"
	"foghorn/escalation"
	"foghorn/power"
)

// Power is what the pager needs of the power desk; *power.Desk is one.
// The pager parses the commands and words the answers; the desk decides,
// holds the codes and writes the audit trail.
type Power interface {
	// Resolve says what a name as typed stands for.
	Resolve(name string) power.Target
	// Offer checks req and holds a one-time code for phone; a refusal is
	// a *power.Refusal that explains itself.
	Offer(ctx context.Context, req power.Request, phone string) (power.Offer, error)
	// Confirm takes a code; a failure is a *power.CodeError.
	Confirm(ctx context.Context, phone, by, code, via string) (power.Offer, error)
	// Held is the offer waiting for phone's code, if one is good.
	Held(phone string) (power.Offer, bool)
	// Cancel voids phone's code; ok when one was still good.
	Cancel(ctx context.Context, phone, by string) (power.Offer, bool)
	// Execute checks again and does it.
	Execute(ctx context.Context, req power.Request) (power.Outcome, error)
	// StepOf says where an incident's automated step stands.
	StepOf(incident int64) (power.StepStatus, <-chan struct{}, bool)
}

const (
	// statusWait is how long the webhook waits for a status read before
	// answering "working on it" and sending the state by SMS later: well
	// within Twilio's 15 s webhook timeout.
	statusWait = 5 * time.Second
	// powerTimeout bounds one power action with its read-back.
	powerTimeout = 2 * time.Minute
	// tellTimeout bounds sending an outcome, even at shutdown.
	tellTimeout = 30 * time.Second
	// stepMemory is how long the pager remembers who it told of an
	// incident's automated step.
	stepMemory = 24 * time.Hour
)

// powerState is the pager's part of power: the desk, and who was told
// of each incident's automated step.
type powerState struct {
	mu    sync.Mutex
	desk  Power
	steps map[int64]*stepTold // by incident
}

// SetPower lets people ask for BMC power actions by SMS through g, and
// lets the pages of automated policy steps say what came of them; nil
// turns both off ("power actions are not enabled on this foghorn").
func (p *Pager) SetPower(g Power) {
	if d, ok := g.(*power.Desk); ok && d == nil {
		g = nil
	}
	p.power.mu.Lock()
	defer p.power.mu.Unlock()
	p.power.desk = g
}

func (p *Pager) powerDesk() Power {
	p.power.mu.Lock()
	defer p.power.mu.Unlock()
	return p.power.desk
}

const powerOff = "Power actions are not enabled on this foghorn."

// readOnlyCommand reports whether a viewer may send cmd.
func readOnlyCommand(cmd Command) bool {
	return readOnly(cmd.Verb) || (cmd.Verb == VerbPower && cmd.Action == configs.PowerStatus)
}

func verbOf(a configs.PowerAction) string {
	if a == configs.PowerStatus {
		return "POWER"
	}
	return strings.ToUpper(string(a))
}

// whatOf is a request as the person would send it: "CYCLE pve1 FORCE".
func whatOf(req power.Request, host string) string {
	s := verbOf(req.Action) + " " + host
	if req.Force {
		s += " FORCE"
	}
	return s
}

// refusalText is a refusal as an SMS says it: the guard's sentence, and
// the command that would go past it where one would.
func refusalText(ref *power.Refusal, req power.Request, typed string) string {
	msg := ref.Msg
	if ref.Forceable && !req.Force {
		msg = strings.TrimRight(msg, ". ") + fmt.Sprintf(": reply %s %s FORCE", verbOf(req.Action), typed)
	}
	return msg
}

// powerCommand answers "CYCLE pve1" and the like: a status is read at
// once; an action the guard would allow gets a one-time code to confirm
// from the same phone; a refusal says why.
func (p *Pager) powerCommand(ctx context.Context, person *configs.Person, cmd Command) string {
	g := p.powerDesk()
	if g == nil {
		return powerOff
	}
	t := g.Resolve(cmd.Target)
	req := power.Request{Target: t.Name, Action: cmd.Action, By: person.Name, Force: cmd.Force, Via: "sms"}
	what := whatOf(req, t.Host)
	if cmd.Action == configs.PowerStatus {
		return p.runPower(contactOf(person), req, what, t.Host, statusWait)
	}
	off, err := g.Offer(ctx, req, person.Phone)
	if err != nil {
		var ref *power.Refusal
		if errors.As(err, &ref) {
			return refusalText(ref, req, cmd.Target)
		}
		p.log.Error("power request failed", "person", person.Name, "target", t.Name, "err", err)
		return "Sorry, foghorn could not check that power action or make a confirmation code (internal error); nothing was done."
	}
	var b strings.Builder
	b.WriteString(what)
	if off.BMC != "" {
		fmt.Fprintf(&b, " (BMC %s)", off.BMC)
	}
	fmt.Fprintf(&b, ": %s.", actionWords(cmd.Action, cmd.Force))
	b.WriteString(siteWords(off.Standing))
	fmt.Fprintf(&b, " Reply CONFIRM %s within %s.", off.Code, humanWait(off.Valid))
	return b.String()
}

// confirmCommand runs the action a code was sent for, if the code is
// right, in time, and from the phone it was sent to. Any failure voids
// the request: one guess per code.
func (p *Pager) confirmCommand(ctx context.Context, person *configs.Person, cmd Command) string {
	g := p.powerDesk()
	if g == nil {
		return powerOff
	}
	off, err := g.Confirm(ctx, person.Phone, person.Name, cmd.Code, "sms")
	var ce *power.CodeError
	switch {
	case errors.As(err, &ce) && ce.Why == "expired":
		what := whatOf(ce.Offer.Request, ce.Offer.Host)
		return fmt.Sprintf("That code has expired: %s was not done. Send %s again for a new code.", what, what)
	case errors.As(err, &ce) && ce.Why == "wrong":
		what := whatOf(ce.Offer.Request, ce.Offer.Host)
		return fmt.Sprintf("Wrong code: %s was not done, and that code is void now. Send %s again for a new code.", what, what)
	case err != nil:
		return "Nothing to confirm: no power action is waiting for a code from this phone (a code works once, from the phone it was sent to, and a restart of foghorn forgets it). Nothing was done."
	}
	return p.runPower(contactOf(person), off.Request, whatOf(off.Request, off.Host), off.Host, 0)
}

// beforeCommand runs before any SMS command from person. A confirmation
// code waits for CONFIRM and nothing else: any other message cancels it
// (note says so, to add to the reply). The exception is the code sent
// alone ("4821" reads as "ack incident 4821"): hint tells to say CONFIRM.
func (p *Pager) beforeCommand(ctx context.Context, person *configs.Person, cmd Command, parseErr error) (hint, note string) {
	if parseErr == nil && cmd.Verb == VerbConfirm {
		return "", ""
	}
	g := p.powerDesk()
	if g == nil {
		return "", ""
	}
	if parseErr == nil && cmd.Verb == VerbAck && cmd.Short > 0 {
		if off, ok := g.Held(person.Phone); ok && subtle.ConstantTimeCompare([]byte(strconv.Itoa(cmd.Short)), []byte(off.Code)) == 1 {
			return fmt.Sprintf("To confirm %s, reply CONFIRM %s (a number alone acks an incident). Nothing was done yet.", whatOf(off.Request, off.Host), off.Code), ""
		}
	}
	off, ok := g.Cancel(ctx, person.Phone, person.Name)
	if !ok {
		return "", ""
	}
	return "", fmt.Sprintf("(%s cancelled: nothing was done.)", whatOf(off.Request, off.Host))
}

// contact is who hears the outcome of a power action.
type contact struct{ name, phone, email string }

func contactOf(p *configs.Person) contact { return contact{p.Name, p.Phone, p.Email} }

// runPower executes req in the background. If it ends within wait, its
// outcome is the reply; otherwise the reply says "working on it" and the
// outcome follows by SMS (a webhook must answer Twilio quickly).
func (p *Pager) runPower(to contact, req power.Request, what, host string, wait time.Duration) string {
	g := p.powerDesk()
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
func outcomeText(req power.Request, what, host string, out power.Outcome, err error) string {
	var ref *power.Refusal
	switch {
	case errors.As(err, &ref) && req.Automated:
		return what + " not done: " + ref.Msg
	case errors.As(err, &ref):
		return what + " not done: " + refusalText(ref, req, host)
	case err != nil:
		return what + " failed: " + err.Error()
	case req.Action == configs.PowerStatus:
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
	in := escalation.Intent{Kind: escalation.KindPower, Channel: configs.SMS, Person: to.name, Phone: to.phone, Email: to.email, Text: text}
	err := p.powerSMS(ctx, st, in)
	if err != nil && to.email != "" && st.mail != nil {
		p.log.Warn("power outcome by SMS failed; sending it by email", "person", to.name, "err", explain(err))
		err = p.send(ctx, st, configs.Email, &outgoing{in: in, told: true})
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
	return p.send(ctx, st, configs.SMS, &outgoing{in: in, text: cut(clean(in.Text), maxSMSChars)})
}

// codeRE finds a confirmation code in a reply, to keep it out of logs.
var codeRE = regexp.MustCompile(`CONFIRM \d+`)

func redactCode(s string) string { return codeRE.ReplaceAllString(s, "CONFIRM ****") }

// actionWords say what an action will do to the machine.
func actionWords(a configs.PowerAction, force bool) string {
	var s string
	switch a {
	case configs.PowerCycle:
		s = "power off, then on"
	case configs.PowerReset:
		s = "hard reset (no clean shutdown)"
	case configs.PowerOff:
		s = "power off at once (no clean shutdown)"
	case configs.PowerOn:
		s = "power on"
	case configs.PowerSoft:
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
func siteWords(st power.Standing) string {
	var s string
	if st.HostDown {
		s = fmt.Sprintf(" %s is DOWN now.", st.Host)
	}
	var groups []string
	for _, gr := range st.Groups {
		in := fmt.Sprintf("%d/%d up", gr.Up, gr.Of)
		if gr.Need > 0 {
			in += fmt.Sprintf(", quorum %d", gr.Need)
		}
		groups = append(groups, fmt.Sprintf("%s (%s)", gr.Name, in))
	}
	if len(groups) > 0 {
		s += fmt.Sprintf(" %s is in %s.", st.Host, strings.Join(groups, " and "))
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
