package pager

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"foghorn/configs"
	"foghorn/pager/twiliosim"
)

// Twilio's published example (twilio-go's validator test): token 12345,
// https://mycompany.com/myapp.php?foo=1&bar=2 and these parameters give
// vOEb5UThFn24KEfnOFLQY2AE5FY=. The pager must rebuild that URL from its
// public_url and the request, with or without a proxy path in between.
func TestSignatureOverPublicURL(t *testing.T) {
	params := url.Values{"Digits": {"1234"}, "CallSid": {"CA1234567890ABCDE"}, "To": {"+18005551212"},
		"Caller": {"+14158675309"}, "From": {"+14158675309"}, "ReasonConferenceEnded": {"test"}, "Reason": {"Participant"}}
	const sig = "vOEb5UThFn24KEfnOFLQY2AE5FY="
	for _, c := range []struct {
		public, target string
		ok             bool
	}{
		{"https://mycompany.com", "/myapp.php?foo=1&bar=2", true},
		{"https://mycompany.com/", "/myapp.php?foo=1&bar=2", true},
		{"https://mycompany.com:443", "/myapp.php?foo=1&bar=2", true},
		{"https://mycompany.com", "/myapp.php?bar=2&foo=1", false}, // query order is signed
		{"https://mycompany.com", "/myapp.php?foo=1", false},
		{"http://mycompany.com", "/myapp.php?foo=1&bar=2", false},
		{"https://mycompany.com/myapp.php", "/myapp.php?foo=1&bar=2", false}, // would be /myapp.php/myapp.php
	} {
		text := `
[server]
public_url = "` + c.public + `"
[twilio]
account_sid = "AC0123456789abcdef0123456789abcdef"
from = "+15005550006"
`
		cfg, err := configs.Parse("t.toml", t.TempDir(), []byte(text), func(k string) string {
			if k == "FOGHORN_TWILIO_AUTH_TOKEN" {
				return testToken
			}
			return ""
		})
		if err != nil {
			t.Fatal(err)
		}
		// Twilio's example token has not the shape of a real one, which
		// the config refuses: it is set past the config.
		cfg.Twilio.AuthToken = configs.NewSecret("12345")
		p, err := New(testConfig(cfg), nil, Options{})
		if err != nil {
			t.Fatal(err)
		}
		reached := false
		h := p.webhook("test", func(w http.ResponseWriter, r *http.Request, st *state, eng Engine) error {
			reached = true
			return nil
		})
		req := httptest.NewRequest(http.MethodPost, c.target, strings.NewReader(params.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Twilio-Signature", sig)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		// No engine is set: a valid signature gets as far as 503.
		if got := rec.Code == http.StatusServiceUnavailable; got != c.ok || reached {
			t.Errorf("public %s, request %s: HTTP %d, want valid=%v", c.public, c.target, rec.Code, c.ok)
		}
		p.Close()
	}
}

func TestSignedURLBehindAProxy(t *testing.T) {
	st := &state{public: "https://example.net/foghorn"}
	for target, want := range map[string]string{
		"/foghorn/twilio/sms?n=1": "https://example.net/foghorn/twilio/sms?n=1", // proxy passes the path on
		"/twilio/sms?n=1":         "https://example.net/foghorn/twilio/sms?n=1", // proxy strips it
	} {
		if got := st.signedURL(httptest.NewRequest(http.MethodPost, target, nil)); got != want {
			t.Errorf("%s: %s, want %s", target, got, want)
		}
	}
}

// FuzzWebhooks throws arbitrary requests at the four webhooks, signed
// (so they reach the handlers) or not, against the real engine and
// simulator. Nothing may panic, and nothing may answer 5xx.
func FuzzWebhooks(f *testing.F) {
	w := newWorld(f, smsFirst)
	inc := w.fire("group:routers")
	w.step()
	seeds := []struct {
		route       uint8
		query, body string
	}{
		{0, "", "From=%2B15550100001&Body=ACK"},
		{0, "", "From=%2B15550100001&Body=42R"},
		{0, "", "From=%2B15550100002&Body=SNOOZE+1+30m"},
		{0, "", "From=%2B15550199999&Body=1"},
		{0, "", "Body=1"},
		{1, "n=1", "MessageStatus=undelivered&ErrorCode=30003"},
		{1, "n=1", "MessageStatus=delivered"},
		{1, "n=-5", "SmsStatus=failed"},
		{2, "n=1", "CallSid=CA1&CallStatus=in-progress&AnsweredBy=machine_start"},
		{2, "n=1", "CallStatus=failed&ErrorCode=abc"},
		{3, "i=1&n=1&p=alice&r=0&s=0", "Digits=3&CallSid=CA1"},
		{3, "i=1&n=1&p=alice&r=4&s=0", "Digits=%2A%23"},
		{3, "i=99&n=1&p=nobody&r=0&s=9", "Digits=2"},
		{3, "i=1&n=1&p=alice&r=0&s=0&p=bob", "Digits=1"},
		{1, "%zz", "a=%zz"},
	}
	for _, s := range seeds {
		f.Add(s.route, s.query, s.body, true)
	}
	f.Add(uint8(0), "", "From=%2B15550100001&Body=ACK", false)
	_ = inc
	paths := []string{SMSPath, SMSStatusPath, VoiceStatusPath, GatherPath}
	h := w.p.Handler()
	f.Fuzz(func(t *testing.T, route uint8, query, body string, sign bool) {
		path := paths[int(route)%len(paths)]
		req, err := http.NewRequest(http.MethodPost, "http://foghorn"+path, strings.NewReader(body))
		if err != nil {
			t.Skip()
		}
		req.URL.RawQuery = query
		req.RequestURI = path
		if query != "" {
			req.RequestURI += "?" + query
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if sign {
			form, _ := url.ParseQuery(body)
			first := url.Values{}
			for k, vs := range form {
				first.Set(k, vs[0])
			}
			req.Header.Set("X-Twilio-Signature", twiliosim.Sign(testToken, w.url+req.RequestURI, first))
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			b, _ := io.ReadAll(rec.Body)
			t.Fatalf("%s?%s %q: HTTP %d %s", path, query, body, rec.Code, b)
		}
		if !sign && rec.Code != http.StatusForbidden {
			t.Fatalf("unsigned %s?%s %q: HTTP %d", path, query, body, rec.Code)
		}
	})
}
