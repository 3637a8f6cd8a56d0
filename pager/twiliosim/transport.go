package twiliosim

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// Transport returns a RoundTripper that sends every request to baseURL (the
// simulator's, from Start or an httptest server) whatever host it names, so
// twilio-go, which always builds https://api.twilio.com/... URLs, talks to
// the simulator unchanged. twilio-go takes the HTTP client through its
// client.Client; note that NewRestClientWithParams does not set the account
// SID when given a Client, so set it yourself:
//
//	c := &client.Client{
//		Credentials: client.NewCredentials(sid, token),
//		HTTPClient:  &http.Client{Transport: twiliosim.Transport(base), Timeout: 10 * time.Second},
//	}
//	c.SetAccountSid(sid)
//	rest := twilio.NewRestClientWithParams(twilio.ClientParams{Client: c})
//
// The returned RoundTripper has its own connection pool; http.Client's
// CloseIdleConnections reaches it.
func Transport(baseURL string) http.RoundTripper {
	u, err := url.Parse(baseURL)
	if err == nil && (u.Host == "" || (u.Scheme != "http" && u.Scheme != "https")) {
		err = fmt.Errorf("want http://host:port, got %q", baseURL)
	}
	if err != nil {
		err = fmt.Errorf("twiliosim: transport base URL: %w", err)
	}
	next := newTransport()
	next.Proxy = nil // the simulator is always reached directly
	return &rewriter{base: u, err: err, next: next}
}

// newTransport is a private copy of the default transport, so that closing
// its idle connections touches nobody else's.
func newTransport() *http.Transport {
	if t, ok := http.DefaultTransport.(*http.Transport); ok {
		return t.Clone()
	}
	return &http.Transport{}
}

type rewriter struct {
	base *url.URL
	err  error
	next *http.Transport
}

func (t *rewriter) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, t.err
	}
	r := req.Clone(req.Context()) // a RoundTripper must not change the caller's request
	r.URL.Scheme, r.URL.Host, r.Host = t.base.Scheme, t.base.Host, ""
	if p := strings.TrimSuffix(t.base.Path, "/"); p != "" {
		r.URL.Path, r.URL.RawPath = p+r.URL.Path, ""
	}
	return t.next.RoundTrip(r)
}

func (t *rewriter) CloseIdleConnections() { t.next.CloseIdleConnections() }
