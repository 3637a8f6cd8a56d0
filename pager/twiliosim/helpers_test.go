package twiliosim

import (
	"foghorn/clock"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	twilio "github.com/twilio/twilio-go"
	"github.com/twilio/twilio-go/client"
)

const (
	testSID   = "AC0123456789abcdef0123456789abcdef"
	testToken = "testtoken0123456789"
	foghornNr = "+15005550006"
	alice     = "+15551230001"
	bob       = "+15551230002"
)

// newSim starts a simulator on loopback and closes it when the test ends.
func newSim(t *testing.T, opts Options) (*Sim, string) {
	t.Helper()
	if opts.AccountSID == "" {
		opts.AccountSID, opts.AuthToken = testSID, testToken
	}
	sim := New(opts)
	base, err := sim.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	return sim, base
}

// rest builds twilio-go's client the way foghorn's pager does: its own
// http.Client whose transport sends everything to the simulator.
func rest(t *testing.T, base, sid, token string, timeout time.Duration) *twilio.RestClient {
	t.Helper()
	hc := &http.Client{Transport: Transport(base), Timeout: timeout}
	t.Cleanup(hc.CloseIdleConnections)
	c := &client.Client{Credentials: client.NewCredentials(sid, token), HTTPClient: hc}
	c.SetAccountSid(sid)
	return twilio.NewRestClientWithParams(twilio.ClientParams{Client: c})
}

// hit is one webhook the receiver got.
type hit struct {
	Path  string
	Form  url.Values
	Valid bool // X-Twilio-Signature checked by twilio-go's RequestValidator
}

// receiver plays foghorn's webhook side: it records every request, checks
// its signature with twilio-go, and answers TwiML where a test asks.
type receiver struct {
	URL    string
	token  string
	mu     sync.Mutex
	hits   []hit
	answer map[string]func(url.Values) string // path → response body
}

func newReceiver(t *testing.T, token string) *receiver {
	t.Helper()
	rc := &receiver{token: token, answer: map[string]func(url.Values) string{}}
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	rc.URL = srv.URL
	return rc
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	form, _ := url.ParseQuery(string(body))
	full := "http://" + r.Host + r.URL.RequestURI()
	params := map[string]string{}
	for k, v := range form {
		params[k] = v[0]
	}
	if r.Method == http.MethodGet {
		form = r.URL.Query()
	}
	sig := r.Header.Get("X-Twilio-Signature")
	v := client.NewRequestValidator(rc.token)
	valid := v.Validate(full, params, sig)
	if r.Method == http.MethodPost {
		valid = valid && v.ValidateBody(full, body, sig)
	}
	rc.mu.Lock()
	rc.hits = append(rc.hits, hit{Path: r.URL.Path, Form: form, Valid: valid})
	f := rc.answer[r.URL.Path]
	rc.mu.Unlock()
	if f != nil {
		w.Header().Set("Content-Type", "text/xml")
		io.WriteString(w, f(form))
	}
}

func (rc *receiver) on(path string, f func(url.Values) string) {
	rc.mu.Lock()
	rc.answer[path] = f
	rc.mu.Unlock()
}

// got returns the hits on path so far.
func (rc *receiver) got(path string) []hit {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var out []hit
	for _, h := range rc.hits {
		if h.Path == path {
			out = append(out, h)
		}
	}
	return out
}

// waitHits waits until path has had n hits and returns them.
func (rc *receiver) waitHits(t *testing.T, path string, n int) []hit {
	t.Helper()
	waitFor(t, func() bool { return len(rc.got(path)) >= n }, "%d hits on %s", n, path)
	hs := rc.got(path)
	for i, h := range hs {
		if !h.Valid {
			t.Errorf("%s hit %d (%v): X-Twilio-Signature does not validate with twilio-go", path, i, h.Form)
		}
	}
	return hs
}

// field lists one form field across hits.
func field(hs []hit, name string) []string {
	var out []string
	for _, h := range hs {
		out = append(out, h.Form.Get(name))
	}
	return out
}

func waitFor(t *testing.T, cond func() bool, format string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for "+format, args...)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// newFakeClock is the shared fake clock, stopped at a fixed night.
func newFakeClock() *clock.Fake {
	return clock.NewFake(time.Date(2026, 3, 1, 3, 0, 0, 0, time.UTC))
}
