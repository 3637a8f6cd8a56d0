package pager

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/twilio/twilio-go/client"
	"github.com/twilio/twilio-go/twiml"

	"foghorn/configs"
	"foghorn/escalation"
)

// maxWebhookBody bounds a webhook's form: Twilio's are a few hundred bytes
// (an SMS body is at most 1600 characters).
const maxWebhookBody = 64 << 10

// Replies to SMS that are not commands are limited per number, so an
// auto-responder ("I'm driving") and foghorn cannot text each other for ever.
const errorRepliesPer15m = 3

// Routes mounts the Twilio webhooks on mux (POST only):
//
//	/twilio/sms           inbound SMS (the number's "A message comes in")
//	/twilio/sms/status    message status callbacks (?n=notification)
//	/twilio/voice/status  call status callbacks (?n=notification)
//	/twilio/voice/gather  the key pressed on a call
//	/pushover/callback    an emergency receipt acknowledged (pushover.go)
//
// Every request must carry a valid X-Twilio-Signature computed over
// [server] public_url + the path and query; anything else gets 403, a log
// line, and changes nothing. Beside them, /links/ack takes the signed
// one-use action links of the push apps (links.go), which carry their
// own MAC instead.
func (p *Pager) Routes(mux *http.ServeMux) {
	mux.Handle("POST "+SMSPath, p.webhook("sms", p.inboundSMS))
	mux.Handle("POST "+SMSStatusPath, p.webhook("sms_status", p.smsStatus))
	mux.Handle("POST "+VoiceStatusPath, p.webhook("voice_status", p.voiceStatus))
	mux.Handle("POST "+GatherPath, p.webhook("gather", p.gather))
	mux.HandleFunc("POST "+TelegramPath, p.telegramWebhook) // telegram.go: Telegram's own secret header, not Twilio's signature
	p.linkRoutes(mux)                                       // links.go
	if ch, ok := p.channel(configs.Pushover).(*pushoverChannel); ok {
		mux.HandleFunc("POST "+PushoverCallbackPath, ch.callback) // pushover.go: unsigned, a hint only
	}
}

// Handler is a mux with only the Routes.
func (p *Pager) Handler() http.Handler {
	mux := http.NewServeMux()
	p.Routes(mux)
	return mux
}

// httpError is a webhook refused with a 4xx.
type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &httpError{status: http.StatusBadRequest, msg: fmt.Sprintf(format, args...)}
}

type handler func(w http.ResponseWriter, r *http.Request, st *state, eng Engine) error

// webhook checks what every Twilio request must be, then runs h.
func (p *Pager) webhook(route string, h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				// Never expected (the handlers are fuzzed); if it happens,
				// answer 500 and say so loudly rather than drop the connection.
				p.log.Error("BUG: Twilio webhook panicked", "route", route, "panic", v)
				p.stats.add("webhooks", route, "panic")
				http.Error(w, "internal error", http.StatusInternalServerError)
			}
		}()
		refuse := func(status int, result, why string, args ...any) {
			p.stats.add("webhooks", route, result)
			p.log.Warn("Twilio webhook refused: "+why, append([]any{"route", route, "remote", r.RemoteAddr, "status", status}, args...)...)
			http.Error(w, http.StatusText(status), status)
		}
		st := p.state()
		if len(st.provs) == 0 {
			refuse(http.StatusServiceUnavailable, "unavailable", "Twilio is not configured")
			return
		}
		if r.Header.Get("X-Twilio-Signature") == "" && r.Header.Get("X-SignalWire-Signature") == "" {
			refuse(http.StatusForbidden, "forbidden", "no X-Twilio-Signature")
			return
		}
		signers, err := st.signers(route, r.URL.Query())
		if err != nil {
			refuse(http.StatusForbidden, "forbidden", err.Error())
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxWebhookBody)
		if err := r.ParseForm(); err != nil {
			refuse(http.StatusBadRequest, "bad_request", "unreadable form", "err", err)
			return
		}
		full := st.signedURL(r)
		params := make(map[string]string, len(r.PostForm))
		for k, vs := range r.PostForm {
			if len(vs) > 0 {
				params[k] = vs[0] // what twilio-go's validator signs; handlers read the first value too
			}
		}
		if !signedBy(r, signers, full, params) {
			p.badSignature(route, st, full)
			names := make([]string, len(signers))
			for i, pr := range signers {
				names[i] = pr.name
			}
			refuse(http.StatusForbidden, "forbidden", "bad X-Twilio-Signature (wrong auth token, or public_url is not the URL Twilio calls)",
				"url", full, "providers", names)
			return
		}
		eng := p.engine()
		if eng == nil {
			refuse(http.StatusServiceUnavailable, "unavailable", "no escalation engine yet")
			return
		}
		if err := h(w, r, st, eng); err != nil {
			var he *httpError
			if errors.As(err, &he) {
				refuse(he.status, "bad_request", he.msg)
				return
			}
			p.stats.add("webhooks", route, "error")
			p.log.Error("Twilio webhook failed", "route", route, "err", err)
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		p.stats.add("webhooks", route, "ok")
	})
}

// signers are the providers whose key may have signed a webhook: for a
// status callback, the one its URL names (&p=NAME, set by the provider's
// own send; none is [twilio], for calls placed before providers had
// names); for an inbound SMS or a key press, any configured provider (the
// SMS comes to whichever number the person replied to; the Gather URL is
// rendered before the provider is picked).
func (st *state) signers(route string, q url.Values) ([]*twilioAPI, error) {
	if route != "sms_status" && route != "voice_status" {
		return st.provs, nil
	}
	name := q.Get("p")
	if name == "" {
		return st.provs[:1], nil
	}
	if pr := st.provider(name); pr != nil {
		return []*twilioAPI{pr}, nil
	}
	return nil, fmt.Errorf("unknown provider %q in the callback URL (not in [twilio] or [[provider]])", name)
}

// signedBy reports whether one of the providers signed the request, each
// with its own key in its own header: SignalWire signs in
// X-SignalWire-Signature (and its SDKs also read X-Twilio-Signature), by
// Twilio's algorithm keyed by the Signing Key, so twilio-go's validator
// checks both.
func signedBy(r *http.Request, provs []*twilioAPI, full string, params map[string]string) bool {
	for _, pr := range provs {
		if pr.key == "" {
			continue
		}
		v := client.NewRequestValidator(pr.key)
		headers := []string{"X-Twilio-Signature"}
		if pr.kind == configs.KindSignalWire {
			headers = []string{"X-SignalWire-Signature", "X-Twilio-Signature"}
		}
		for _, h := range headers {
			if sig := r.Header.Get(h); sig != "" && v.Validate(full, params, sig) {
				return true
			}
		}
	}
	return false
}

// signedURL is the URL Twilio signed: the public URL's origin and the
// request's path and query as received. A public_url with a path
// ("https://example.net/foghorn") works whether or not a proxy in front
// strips that path.
func (st *state) signedURL(r *http.Request) string {
	uri := r.RequestURI
	if uri == "" || !strings.HasPrefix(uri, "/") {
		uri = r.URL.RequestURI()
	}
	u, err := url.Parse(st.public)
	if err != nil || u.Host == "" {
		return st.public + uri
	}
	prefix := strings.TrimSuffix(u.Path, "/")
	if prefix != "" && !strings.HasPrefix(uri, prefix+"/") {
		return u.Scheme + "://" + u.Host + prefix + uri
	}
	return u.Scheme + "://" + u.Host + uri
}

func writeTwiML(w http.ResponseWriter, doc string) {
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.Write([]byte(doc))
}

// reply answers an inbound SMS with text (none if empty).
func reply(w http.ResponseWriter, text string) error {
	var verbs []twiml.Element
	if text != "" {
		verbs = append(verbs, &twiml.MessagingMessage{Body: text})
	}
	doc, err := twiml.Messages(verbs)
	if err != nil {
		return fmt.Errorf("reply TwiML: %w", err)
	}
	writeTwiML(w, doc)
	return nil
}

// inboundSMS runs an SMS command from a configured person. Texts from
// other numbers are ignored with a log line and no reply: a reply would
// confirm to a stranger that this number pages someone, cost money, and
// could loop with an auto-responder.
func (p *Pager) inboundSMS(w http.ResponseWriter, r *http.Request, st *state, eng Engine) error {
	f := r.PostForm
	from, body := f.Get("From"), f.Get("Body")
	if from == "" {
		return badRequest("inbound SMS: no From")
	}
	if p.replayed(r.Context(), f.Get("MessageSid"), from) { // replay.go
		return reply(w, "")
	}
	person := st.byPhone[from]
	if person == nil {
		p.log.Warn("SMS from an unknown number ignored (only configured people's numbers may send commands)",
			"from", from, "chars", len(body))
		p.stats.add("sms_commands", "unknown_number")
		return reply(w, "")
	}
	cmd, err := Parse(body)
	hint, note := p.beforeCommand(r.Context(), person, cmd, err)
	if hint != "" {
		return reply(w, hint)
	}
	var text string
	switch {
	case err != nil:
		var pe *ParseError
		if !errors.As(err, &pe) {
			return err
		}
		text = pe.Reply
		if ok, _ := p.limits.take("reply:"+from, errorRepliesPer15m, p.clock.Now()); !ok {
			p.log.Warn("SMS not understood; not replying again so soon (auto-responder?)", "person", person.Name, "body", cut(clean(body), 60))
			return reply(w, "")
		}
		p.stats.add("sms_commands", "not_understood")
		p.log.Info("SMS not understood", "person", person.Name, "body", cut(clean(body), 60))
	case person.Role == "viewer" && !readOnlyCommand(cmd):
		text = "You are a viewer in foghorn's config: STATUS, ONCALL, POWER <host> (state) and HELP only."
		p.log.Warn("SMS command refused: the person is a viewer", "person", person.Name, "verb", cmd.Verb)
	default:
		ctx := context.WithoutCancel(r.Context()) // the engine sends on in the background
		text = p.execute(ctx, eng, person, configs.SMS, cmd)
		p.stats.add("sms_commands", cmd.Verb)
		p.log.Info("SMS command", "person", person.Name, "verb", cmd.Verb, "incident", cmd.Short, "reply", redactCode(text))
	}
	if note != "" && text != "" {
		text += " " + note
	}
	return reply(w, text)
}

func readOnly(verb string) bool {
	switch verb {
	case VerbStatus, VerbOnCall, VerbHelp, VerbOptIn, VerbOptOut:
		return true
	}
	return false
}

// smsStatus follows a message: delivered, or undelivered/failed with
// Twilio's error code (a permanent failure falls back to the step's next
// channel in the engine).
func (p *Pager) smsStatus(w http.ResponseWriter, r *http.Request, st *state, eng Engine) error {
	n, err := strconv.ParseInt(r.URL.Query().Get("n"), 10, 64)
	if err != nil || n <= 0 {
		return badRequest("sms status: bad notification %q", r.URL.Query().Get("n"))
	}
	f := r.PostForm
	status := f.Get("MessageStatus")
	if status == "" {
		status = f.Get("SmsStatus")
	}
	if status == "" {
		return badRequest("sms status: no MessageStatus")
	}
	ctx := context.WithoutCancel(r.Context())
	switch status {
	case "delivered":
		p.reported(n) // providers.go: the provider delivers
		p.report(ctx, eng, n, escalation.Delivered, "sms delivered")
	case "undelivered", "failed":
		p.reported(n)
		why := "sms " + status
		if code, err := strconv.Atoi(f.Get("ErrorCode")); err == nil && code > 0 {
			why += ": error " + codeText(code)
		}
		p.report(ctx, eng, n, escalation.Failed, why)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// report tells the engine a notification's outcome, once.
func (p *Pager) report(ctx context.Context, eng Answers, n int64, o escalation.Outcome, detail string) {
	if !p.calls.once(n, p.clock.Now()) {
		return
	}
	// A callback may overtake the API's answer (the simulator on loopback
	// does): that is fine, the engine's "sent" mark never replaces a
	// delivery report.
	p.stats.add("reports", string(o))
	if err := eng.Report(ctx, n, o, detail); err != nil {
		if errors.Is(err, escalation.ErrNotFound) || strings.Contains(err.Error(), "no rows") {
			p.log.Warn("delivery report for an unknown notification (another foghorn's number, or a wiped store?)", "notification", n, "outcome", o)
			return
		}
		p.log.Error("cannot record delivery outcome", "notification", n, "outcome", o, "err", err)
		return
	}
	p.log.Info("delivery outcome", "notification", n, "outcome", o, "detail", detail)
}
