package pager

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/twilio/twilio-go/client"
	api "github.com/twilio/twilio-go/rest/api/v2010"

	"foghorn/configs"
	"foghorn/failpoint"
)

// twilioAPI is the Messages and Calls API through twilio-go. twilio-go has
// no base-URL option and sends every request with context.Background(), so
// each call gets a throwaway client.Client whose transport carries the
// call's context (with its timeout) and, for a simulator or proxy, rewrites
// api.twilio.com to the configured api_base. The connection pool (rt) is
// shared by all of them.
type twilioAPI struct {
	sid, token, from, base string
	rt                     http.RoundTripper
	timeout                time.Duration
}

func newTwilioAPI(sid, token, from, base string, timeout time.Duration) *twilioAPI {
	var rt http.RoundTripper
	if strings.TrimSuffix(base, "/") == configs.DefaultAPIBase {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = 16
		rt = t
	} else {
		rt = baseTransport(base) // transport.go: rewrites the host of any request to base
	}
	return &twilioAPI{sid: sid, token: token, from: from, base: base, rt: rt, timeout: timeout}
}

// same reports whether a reloaded config can keep this client (and its
// warm connections).
func (t *twilioAPI) same(sid, token, from, base string) bool {
	return t != nil && t.sid == sid && t.token == token && t.from == from && t.base == base
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
		p.SetStatusCallback(callback)
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
		p.SetStatusCallback(c.callback).SetStatusCallbackMethod(http.MethodPost).SetStatusCallbackEvent(callEvents)
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

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
