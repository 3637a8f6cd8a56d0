package pager

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/twilio/twilio-go/twiml"

	"foghorn/configs"
	"foghorn/escalation"
)

// voiceChannel places calls through Twilio's Calls API: a page's call
// plays the summary and a menu (voice.go's webhooks take the key), a
// notice's just says it.
type voiceChannel struct{ p *Pager }

func (voiceChannel) name() configs.Channel { return configs.Voice }
func (voiceChannel) vendor() string        { return vendorTwilio }

func (voiceChannel) limit(st *state) (int, string) { return st.cfg.Twilio.CallsPer15m, "calls_per_15m" }

func (c voiceChannel) ready(st *state, m *outgoing) error {
	if m == nil {
		return twilioReady(st, escalation.Intent{Phone: "-"})
	}
	if err := twilioReady(st, m.in); err != nil {
		return err
	}
	if m.text == "" {
		doc, err := c.p.callTwiML(st, m.in)
		if err != nil {
			return err
		}
		m.text = doc
		if st.public != "" && m.in.ID > 0 {
			m.callback = st.public + VoiceStatusPath + "?n=" + strconv.FormatInt(m.in.ID, 10)
		}
	}
	return nil
}

// send places the call through the first provider that takes it; a
// person's calls stay with the provider of their last one for a while
// (providers.go: the same caller ID rings through iOS's Do Not Disturb).
func (c voiceChannel) send(ctx context.Context, st *state, m *outgoing) (string, error) {
	sid, pr, err := c.p.via(ctx, st, m.in, true, func(pr *twilioAPI) (string, error) {
		if m.in.ID > 0 {
			c.p.calls.via(m.in.ID, pr.name)
		}
		return pr.call(ctx, callSpec{to: m.in.Phone, twiml: m.text, callback: m.callback, ring: c.p.opts.Ring, amd: st.cfg.Twilio.MachineDetection})
	})
	if pr != nil {
		m.provider = pr.name
	}
	return sid, err
}

// before registers the call before the request: its status callbacks may
// arrive before the API's answer, and a cancel may come in between.
func (c voiceChannel) before(m *outgoing) {
	if m.in.ID > 0 {
		c.p.calls.add(&liveCall{n: m.in.ID, incident: m.in.Incident, person: m.in.Person, placed: c.p.clock.Now()})
	}
}

func (c voiceChannel) after(ctx context.Context, st *state, m *outgoing, sid string, err error) {
	in := m.in
	if err != nil {
		c.p.calls.remove(in.ID)
		return
	}
	c.p.remember(ctx, in, sid, m.provider)
	c.p.log.Info("call placed", "notification", in.ID, "incident", in.Incident, "person", in.Person, "sid", sid, "provider", m.provider)
	if in.ID > 0 && c.p.calls.placed(in.ID, sid) {
		c.p.hangUpAll(ctx, st, []placedCall{{sid, m.provider}}, "incident acked while the call was being placed")
	}
}

// maxMenus bounds how often one call plays the menu (wrong keys, "hear it
// again"): a pocket dial must not keep a line open for ever.
const maxMenus = 5

// callRef is what a call's Gather action URL carries, signed by Twilio
// along with the URL: which notification, incident, step and person the
// call is about, and how often the menu was played. It survives restarts
// and needs no table.
type callRef struct {
	n        int64
	incident int64
	step     int
	person   string
	round    int
}

func (c callRef) url(public string) string {
	q := url.Values{}
	q.Set("n", strconv.FormatInt(c.n, 10))
	q.Set("i", strconv.FormatInt(c.incident, 10))
	q.Set("s", strconv.Itoa(c.step))
	q.Set("p", c.person)
	q.Set("r", strconv.Itoa(c.round))
	return public + GatherPath + "?" + q.Encode()
}

func parseRef(q url.Values) (callRef, error) {
	var c callRef
	var err error
	if c.n, err = strconv.ParseInt(q.Get("n"), 10, 64); err != nil || c.n <= 0 {
		return c, fmt.Errorf("bad notification %q", q.Get("n"))
	}
	if c.incident, err = strconv.ParseInt(q.Get("i"), 10, 64); err != nil || c.incident <= 0 {
		return c, fmt.Errorf("bad incident %q", q.Get("i"))
	}
	if c.step, err = strconv.Atoi(q.Get("s")); err != nil || c.step < 0 {
		return c, fmt.Errorf("bad step %q", q.Get("s"))
	}
	if c.round, err = strconv.Atoi(q.Get("r")); err != nil || c.round < 0 {
		return c, fmt.Errorf("bad round %q", q.Get("r"))
	}
	if c.person = q.Get("p"); c.person == "" {
		return c, errors.New("no person")
	}
	return c, nil
}

// callTwiML is the inline TwiML a call starts with: for a page, the
// summary and the menu inside one Gather (so a key can be pressed while
// the summary still plays); for anything else, the message alone.
func (p *Pager) callTwiML(st *state, in escalation.Intent) (string, error) {
	if in.Kind != escalation.KindPage {
		return twiml.Voice([]twiml.Element{&twiml.VoiceSay{Message: voiceNotice(in)}, &twiml.VoiceHangup{}})
	}
	say := voiceSummary(in, p.clock.Now(), p.personZone(st, in.Person))
	if st.public == "" || in.ID <= 0 {
		// No webhook to send keys to: say it twice, and how to answer.
		return twiml.Voice([]twiml.Element{
			&twiml.VoiceSay{Message: say + " Reply to the text message to acknowledge."},
			&twiml.VoiceSay{Message: say},
			&twiml.VoiceHangup{},
		})
	}
	ref := callRef{n: in.ID, incident: in.Incident, step: in.Step, person: in.Person}
	return p.menu(st, ref, say)
}

// menu is a Gather that plays say (if any) and the menu, and posts the
// key, or no key, to the Gather action.
func (p *Pager) menu(st *state, ref callRef, say string) (string, error) {
	var inner []twiml.Element
	if say != "" {
		inner = append(inner, &twiml.VoiceSay{Message: say})
	}
	inner = append(inner, &twiml.VoiceSay{Message: voiceMenu})
	return twiml.Voice([]twiml.Element{&twiml.VoiceGather{
		Input:               "dtmf",
		Action:              ref.url(st.public),
		Method:              http.MethodPost,
		NumDigits:           "1",
		Timeout:             strconv.Itoa(max(int(p.opts.KeyWait/time.Second), 1)),
		ActionOnEmptyResult: "true", // no key is an answer too: "not acknowledged"
		InnerElements:       inner,
	}})
}

// goodbye says text and hangs up.
func goodbye(text string) (string, error) {
	return twiml.Voice([]twiml.Element{&twiml.VoiceSay{Message: text}, &twiml.VoiceHangup{}})
}

// machine reports whether answering machine detection says no person
// picked up.
func machine(answeredBy string) bool {
	return strings.HasPrefix(answeredBy, "machine") || answeredBy == "fax"
}

// gather answers the key a person pressed (or did not press) on a call.
func (p *Pager) gather(w http.ResponseWriter, r *http.Request, st *state, eng Engine) error {
	ref, err := parseRef(r.URL.Query())
	if err != nil {
		return badRequest("gather: %v", err)
	}
	ctx := context.WithoutCancel(r.Context())
	f := r.PostForm
	digits, by := strings.TrimSpace(f.Get("Digits")), f.Get("AnsweredBy")
	lg := p.log.With("notification", ref.n, "incident", ref.incident, "person", ref.person, "call", f.Get("CallSid"))

	var doc string
	switch {
	case machine(by):
		p.report(ctx, eng, ref.n, escalation.Unanswered, "voicemail: answered by "+by)
		doc, err = goodbye("Goodbye.")
	case digits == "1":
		p.calls.acting(ref.n)
		inc, aerr := eng.Ack(ctx, ref.incident, ref.person, "voice")
		p.report(ctx, eng, ref.n, escalation.Delivered, "key 1: acknowledge")
		switch {
		case aerr == nil && inc.AckedBy != "" && inc.AckedBy != ref.person:
			doc, err = goodbye(fmt.Sprintf("Incident %d was already acknowledged by %s. Goodbye.", inc.Short, inc.AckedBy))
		case aerr == nil:
			lg.Info("acked by key press")
			doc, err = goodbye(fmt.Sprintf("Acknowledged. Paging for incident %d has stopped. Goodbye.", inc.Short))
		case errors.Is(aerr, escalation.ErrResolved):
			doc, err = goodbye("This incident is already resolved. Goodbye.")
		default:
			lg.Error("ack by key press failed", "err", aerr)
			doc, err = goodbye("Sorry, foghorn could not record that. Please reply to the text message instead. Goodbye.")
		}
	case digits == "2":
		p.calls.acting(ref.n)
		_, eerr := eng.Escalate(ctx, ref.incident, ref.step, ref.person)
		p.report(ctx, eng, ref.n, escalation.Delivered, "key 2: escalate")
		switch {
		case eerr == nil:
			lg.Info("escalated by key press")
			doc, err = goodbye("Escalating to the next person. Goodbye.")
		case errors.Is(eerr, escalation.ErrResolved):
			doc, err = goodbye("This incident is already resolved. Goodbye.")
		default:
			lg.Error("escalate by key press failed", "err", eerr)
			doc, err = goodbye("Sorry, foghorn could not record that. Please reply to the text message instead. Goodbye.")
		}
	case digits == "" || ref.round+1 >= maxMenus:
		why := "answered, but no key pressed"
		if digits != "" {
			why = "answered, but no valid key pressed"
		}
		p.report(ctx, eng, ref.n, escalation.Unanswered, why)
		doc, err = goodbye("No answer recorded. foghorn will call again. Goodbye.")
	case digits == "3":
		ref.round++
		say := ""
		if inc, gerr := eng.Get(ctx, ref.incident); gerr == nil {
			in := escalation.Intent{Short: inc.Short, Severity: inc.Severity, Summary: inc.Summary, Detail: inc.Detail, Since: inc.Opened}
			say = voiceSummary(in, p.clock.Now(), p.personZone(st, ref.person))
		}
		doc, err = p.menu(st, ref, say)
	default:
		ref.round++
		doc, err = p.menu(st, ref, fmt.Sprintf("Sorry, %s is not an option.", spell(digits)))
	}
	if err != nil {
		return fmt.Errorf("gather: TwiML: %w", err)
	}
	writeTwiML(w, doc)
	return nil
}

// spell reads keys one by one ("star", "pound"), at most a few.
func spell(digits string) string {
	var out []string
	for _, r := range cut(digits, 4) {
		switch {
		case r == '*':
			out = append(out, "star")
		case r == '#':
			out = append(out, "pound")
		case r >= '0' && r <= '9':
			out = append(out, string(r))
		}
	}
	if len(out) == 0 {
		return "that"
	}
	return strings.Join(out, " ")
}

// voiceStatus follows a call: ringing (it can be cancelled), answered by a
// machine (hang up: voicemail is not an ack), and how it ended. Only
// pressing a key counts as reaching the person.
func (p *Pager) voiceStatus(w http.ResponseWriter, r *http.Request, st *state, eng Engine) error {
	n, err := strconv.ParseInt(r.URL.Query().Get("n"), 10, 64)
	if err != nil || n <= 0 {
		return badRequest("voice status: bad notification %q", r.URL.Query().Get("n"))
	}
	f := r.PostForm
	sid, status, by := f.Get("CallSid"), f.Get("CallStatus"), f.Get("AnsweredBy")
	if status == "" {
		return badRequest("voice status: no CallStatus")
	}
	ctx := context.WithoutCancel(r.Context())
	switch status {
	case "queued", "initiated", "ringing":
		p.calls.status(n, sid, status)
	case "in-progress", "answered":
		p.calls.status(n, sid, status)
		if machine(by) {
			p.report(ctx, eng, n, escalation.Unanswered, "voicemail: answered by "+by)
			p.calls.end(n)
			if sid != "" {
				pc := placedCall{sid, r.URL.Query().Get("p")}
				p.background(func(ctx context.Context) { p.hangUpAll(ctx, st, []placedCall{pc}, "answered by a machine") })
			}
		}
	case "completed":
		lc := p.calls.end(n)
		switch {
		case lc != nil && lc.cancel:
			// Hung up by foghorn: the incident was acked meanwhile.
		case machine(by):
			p.report(ctx, eng, n, escalation.Unanswered, "voicemail: answered by "+by)
		default:
			// A key press reports first; getting here first means the
			// person hung up before choosing.
			p.report(ctx, eng, n, escalation.Unanswered, "answered, but hung up before pressing a key")
		}
	case "busy", "no-answer":
		p.calls.end(n)
		p.report(ctx, eng, n, escalation.Unanswered, strings.ReplaceAll(status, "-", " "))
	case "failed":
		p.calls.end(n)
		why := "call failed"
		if code, err := strconv.Atoi(f.Get("ErrorCode")); err == nil && code > 0 {
			why += ": error " + codeText(code)
		}
		p.report(ctx, eng, n, escalation.Failed, why)
	case "canceled":
		p.calls.end(n) // we hung up: acked, resolved or cancelled meanwhile
	default:
		p.log.Debug("unknown call status", "status", status, "notification", n)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
