package pager

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// baseTransport sends every request to base ([twilio] api_base or the
// simulator's URL, from pager.Options.APIBase) whatever host it names:
// twilio-go always builds https://api.twilio.com/... URLs. It has a
// connection pool of its own, which twilioAPI.close empties.
func baseTransport(base string) http.RoundTripper {
	u, err := url.Parse(base)
	if err == nil && (u.Host == "" || (u.Scheme != "http" && u.Scheme != "https")) {
		err = fmt.Errorf("want http://host:port, got %q", base)
	}
	if err != nil {
		err = fmt.Errorf("pager: twilio api_base: %w", err)
	}
	next := http.DefaultTransport.(*http.Transport).Clone()
	next.Proxy = nil // a simulator or stand-in is reached directly
	return &rewriter{base: u, err: err, next: next}
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
	// A list's next page comes as a URI under the API's own prefix
	// (SignalWire's next_page_uri starts /api/laml/...): not twice.
	if p := strings.TrimSuffix(t.base.Path, "/"); p != "" && !strings.HasPrefix(r.URL.Path, p+"/") {
		r.URL.Path, r.URL.RawPath = p+r.URL.Path, ""
	}
	return t.next.RoundTrip(r)
}

func (t *rewriter) CloseIdleConnections() { t.next.CloseIdleConnections() }

// lamlSID is the account SID twilio-go is given for a SignalWire project:
// twilio-go refuses any username but letters and digits before sending
// (error 21222), and a project ID is a UUID with dashes. "AC" and the
// UUID's 32 hex digits pass; laml puts the project back on the wire.
func lamlSID(project string) string { return "AC" + strings.ReplaceAll(project, "-", "") }

// laml turns twilio-go's Twilio requests into SignalWire's LaML API ones:
// the stand-in SID in the path (/2010-04-01/Accounts/AC…/) becomes the
// project ID, and Basic auth is the project ID and the API token. The
// /api/laml prefix comes from api_base (baseTransport). So twilio-go is
// used unchanged for both providers, with no copy of its client.
type laml struct {
	stand, project, token string
	next                  http.RoundTripper
}

func (t *laml) RoundTrip(req *http.Request) (*http.Response, error) {
	r := req.Clone(req.Context())
	r.URL.Path = strings.Replace(r.URL.Path, "/Accounts/"+t.stand+"/", "/Accounts/"+t.project+"/", 1)
	r.URL.RawPath = ""
	r.SetBasicAuth(t.project, t.token)
	return t.next.RoundTrip(r)
}

func (t *laml) CloseIdleConnections() {
	if c, ok := t.next.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}
