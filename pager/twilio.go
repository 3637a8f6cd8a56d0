package pager

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/twilio/twilio-go/client"
	api "github.com/twilio/twilio-go/rest/api/v2010"

	"foghorn/configs"
	"foghorn/failpoint"
)

// twilioAPI is one SMS and voice provider — [twilio], or a [[provider]]
// of kind "twilio" or "signalwire" — through twilio-go: the Messages and
// Calls API. twilio-go has no base-URL option and sends every request with
// context.Background(), so each call gets a throwaway client.Client whose
// transport carries the call's context (with its timeout) and, for a
// simulator, a proxy or SignalWire, rewrites api.twilio.com to the
// configured api_base (transport.go). The connection pool (rt) is shared
// by all of them.
type twilioAPI struct {
	sid, token, from, base string
	rt                     http.RoundTripper
	timeout                time.Duration

	// name is the provider's name in logs, metrics, webhook URLs (&p=)
	// and twilio_sids.provider: "twilio" for [twilio].
	name string
	kind string // configs.KindTwilio or configs.KindSignalWire
	// key signs the provider's webhooks: a Twilio account's auth token,
	// SignalWire's Signing Key.
	key string
	// account is the account the provider knows us by: sid for Twilio,
	// the project ID (a UUID) for SignalWire, where sid is a stand-in
	// twilio-go accepts (transport.go).
	account         string
	skipFor, window time.Duration
}

// provider is what SetConfig builds one twilioAPI from.
type provider struct {
	name, kind, account, token, key, from, base string
	skipFor, window                             time.Duration
}

func newTwilioAPI(sid, token, from, base string, timeout time.Duration) *twilioAPI {
	return newProvider(provider{name: vendorTwilio, kind: configs.KindTwilio, account: sid, token: token, key: token, from: from, base: base}, timeout)
}

func newProvider(pv provider, timeout time.Duration) *twilioAPI {
	var rt http.RoundTripper
	if strings.TrimSuffix(pv.base, "/") == configs.DefaultAPIBase {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = 16
		rt = t
	} else {
		rt = baseTransport(pv.base) // transport.go: rewrites the host of any request to base
	}
	sid := pv.account
	if pv.kind == configs.KindSignalWire {
		sid = lamlSID(pv.account)
		rt = &laml{stand: sid, project: pv.account, token: pv.token, next: rt}
	}
	return &twilioAPI{sid: sid, token: pv.token, from: pv.from, base: pv.base, rt: rt, timeout: timeout,
		name: pv.name, kind: pv.kind, key: pv.key, account: pv.account, skipFor: pv.skipFor, window: pv.window}
}

// same reports whether a reloaded config can keep this client (and its
// warm connections).
func (t *twilioAPI) same(sid, token, from, base string) bool {
	return t != nil && t.sid == sid && t.token == token && t.from == from && t.base == base
}

// sameAs is same for a provider of the new config.
func (t *twilioAPI) sameAs(pv provider) bool {
	return t != nil && t.name == pv.name && t.kind == pv.kind && t.account == pv.account && t.token == pv.token &&
		t.key == pv.key && t.from == pv.from && t.base == pv.base && t.skipFor == pv.skipFor && t.window == pv.window
}

func (t *twilioAPI) close() {
	if c, ok := t.rt.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// ctxTransport sends every request under ctx: twilio-go builds its requests
// with context.Background(), so this is how a page's context and timeout
// reach the wire.
type ctxTransport struct {
	ctx  context.Context
	next http.RoundTripper
}

func (c ctxTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return c.next.RoundTrip(r.WithContext(c.ctx))
}

// service is an API client bound to ctx. Its requests end when ctx does;
// callers cancel ctx only after twilio-go has read the answer, which it
// does before returning.
func (t *twilioAPI) service(ctx context.Context) *api.ApiService {
	c := &client.Client{
		Credentials: client.NewCredentials(t.sid, t.token),
		HTTPClient: &http.Client{
			Transport:     ctxTransport{ctx: ctx, next: t.rt},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
	c.SetAccountSid(t.sid)
	return api.NewApiServiceWithClient(c)
}

// sms sends one message; callback gets its status changes and validity
// makes Twilio drop it if it could not be delivered in time.
func (t *twilioAPI) sms(ctx context.Context, to, body, callback string, validity time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()
	p := &api.CreateMessageParams{}
	p.SetTo(to).SetFrom(t.from).SetBody(body)
	if callback != "" {
		p.SetStatusCallback(t.callback(callback))
	}
	if s := int(validity / time.Second); s > 0 {
		p.SetValidityPeriod(min(max(s, 1), 14400))
	}
	m, err := t.service(ctx).CreateMessage(p)
	if err != nil {
		return "", err
	}
	failpoint.Hit("pager.after-api")
	return deref(m.Sid), nil
}

// callSpec is one outgoing call.
type callSpec struct {
	to, twiml, callback string
	ring                time.Duration // how long to let it ring
	amd                 bool          // answering machine detection
}

// callEvents are the status callbacks asked of every call: all of them, so
// the pager knows a call is ringing (it can be cancelled) or was answered
// by a machine (it is hung up at once).
var callEvents = []string{"initiated", "ringing", "answered", "completed"}

func (t *twilioAPI) call(ctx context.Context, c callSpec) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()
	p := &api.CreateCallParams{}
	p.SetTo(c.to).SetFrom(t.from).SetTwiml(c.twiml).SetTimeLimit(600)
	if c.callback != "" {
		p.SetStatusCallback(t.callback(c.callback)).SetStatusCallbackMethod(http.MethodPost).SetStatusCallbackEvent(callEvents)
	}
	if s := int(c.ring / time.Second); s > 0 {
		p.SetTimeout(s)
	}
	if c.amd {
		p.SetMachineDetection("Enable")
	}
	call, err := t.service(ctx).CreateCall(p)
	if err != nil {
		return "", err
	}
	failpoint.Hit("pager.after-api")
	return deref(call.Sid), nil
}

// hangUp ends a call: "completed" hangs up a call in progress and cancels
// one still queued or ringing, where "canceled" would not touch a call
// already answered.
func (t *twilioAPI) hangUp(ctx context.Context, sid string) error {
	ctx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()
	p := &api.UpdateCallParams{}
	p.SetStatus("completed")
	_, err := t.service(ctx).UpdateCall(sid, p)
	return err
}

// callback is a status callback URL that names the provider (&p=NAME), so
// its signature is checked with that provider's key.
func (t *twilioAPI) callback(u string) string {
	sep := "?"
	if strings.Contains(u, "?") {
		sep = "&"
	}
	return u + sep + "p=" + url.QueryEscape(t.name)
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
