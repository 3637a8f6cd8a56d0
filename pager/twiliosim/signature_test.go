package twiliosim

import (
	"fmt"
	"net/url"
	"testing"

	"github.com/twilio/twilio-go/client"
)

// Twilio's published example: auth token 12345, this URL and these params.
// Two versions of it circulate. Twilio's security docs use Caller/From
// +12349013030 and get 0/KCTR6DLpKmkAf8muzZqo1nDgQ=; the SDKs' tests (e.g.
// twilio-python) use +14158675309 and get RSOYDt4T1cUTdK1PDd93/VVr8B8=.
// Pairing RSOYD... with +12349013030 is a mix-up: twilio-go's validator
// rejects it. Both genuine pairs are checked here, against Sign and against
// twilio-go.
func TestSignPublishedVectors(t *testing.T) {
	const docURL = "https://mycompany.com/myapp.php?foo=1&bar=2"
	for _, tc := range []struct {
		caller, want string
	}{
		{"+12349013030", "0/KCTR6DLpKmkAf8muzZqo1nDgQ="},
		{"+14158675309", "RSOYDt4T1cUTdK1PDd93/VVr8B8="},
	} {
		params := url.Values{
			"CallSid": {"CA1234567890ABCDE"},
			"Caller":  {tc.caller},
			"Digits":  {"1234"},
			"From":    {tc.caller},
			"To":      {"+18005551212"},
		}
		if got := Sign("12345", docURL, params); got != tc.want {
			t.Errorf("Sign with Caller %s = %q, want %q", tc.caller, got, tc.want)
		}
		v := client.NewRequestValidator("12345")
		if !v.Validate(docURL, first(params), tc.want) {
			t.Errorf("twilio-go rejects the published signature %q for Caller %s", tc.want, tc.caller)
		}
	}
	mixed := first(url.Values{"CallSid": {"CA1234567890ABCDE"}, "Caller": {"+12349013030"},
		"Digits": {"1234"}, "From": {"+12349013030"}, "To": {"+18005551212"}})
	v := client.NewRequestValidator("12345")
	if v.Validate(docURL, mixed, "RSOYDt4T1cUTdK1PDd93/VVr8B8=") {
		t.Error("twilio-go accepts RSOYD... for Caller +12349013030; the note above is wrong")
	}
}

// twilio-go's own test vector (client/request_validator_test.go).
func TestSignTwilioGoVector(t *testing.T) {
	params := url.Values{
		"Digits": {"1234"}, "CallSid": {"CA1234567890ABCDE"}, "To": {"+18005551212"},
		"Caller": {"+14158675309"}, "From": {"+14158675309"},
		"ReasonConferenceEnded": {"test"}, "Reason": {"Participant"},
	}
	const want = "vOEb5UThFn24KEfnOFLQY2AE5FY="
	if got := Sign("12345", "https://mycompany.com/myapp.php?foo=1&bar=2", params); got != want {
		t.Errorf("Sign = %q, want %q", got, want)
	}
}

// Whatever the simulator signs, twilio-go's validator must accept, and must
// refuse once anything changes.
func TestSignAgreesWithTwilioGo(t *testing.T) {
	v := client.NewRequestValidator(testToken)
	for i, tc := range []struct {
		url    string
		params url.Values
	}{
		{"http://127.0.0.1:8080/twilio/sms/status", url.Values{"MessageSid": {"SM1"}, "MessageStatus": {"delivered"}}},
		{"https://foghorn.example/twilio/voice/gather?incident=7&step=2", url.Values{"Digits": {"1"}, "CallSid": {"CA9"}, "Body": {"ACK 7 ünïcode & spaces=+"}}},
		{"http://[::1]:9/x", nil},
	} {
		sig := Sign(testToken, tc.url, tc.params)
		if !v.Validate(tc.url, first(tc.params), sig) {
			t.Errorf("case %d: twilio-go rejects the simulator's signature", i)
		}
		tampered := first(tc.params)
		tampered["Digits"] += "9"
		if v.Validate(tc.url, tampered, sig) {
			t.Errorf("case %d: twilio-go accepts a tampered request", i)
		}
		if v.Validate(tc.url, first(tc.params), Sign("othertoken", tc.url, tc.params)) {
			t.Errorf("case %d: twilio-go accepts a signature made with another token", i)
		}
	}
}

func TestSignRepeatedValuesSortedOnce(t *testing.T) {
	a := Sign("k", "http://x/", url.Values{"E": {"ringing", "answered", "ringing"}})
	b := Sign("k", "http://x/", url.Values{"E": {"answered", "ringing"}})
	if a != b {
		t.Errorf("repeated values: %s != %s; want each distinct value once, sorted", a, b)
	}
	if c := Sign("k", "http://x/", url.Values{"E": {"answered"}}); c == b {
		t.Error("a dropped value does not change the signature")
	}
}

func first(v url.Values) map[string]string {
	out := map[string]string{}
	for k, vs := range v {
		if len(vs) > 0 {
			out[k] = vs[0]
		}
	}
	return out
}

func ExampleSign() {
	fmt.Println(Sign("12345", "https://mycompany.com/myapp.php?foo=1&bar=2", url.Values{
		"CallSid": {"CA1234567890ABCDE"}, "Caller": {"+12349013030"}, "Digits": {"1234"},
		"From": {"+12349013030"}, "To": {"+18005551212"},
	}))
	// Output: 0/KCTR6DLpKmkAf8muzZqo1nDgQ=
}
