package pushoversim

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

const (
	token = "azGDORePK8gMaC0QOYAMyEEuzJnyUi"
	user  = "uQiRzpo4DXghDmr9QzzfQu27cmVRsG"
)

func post(t *testing.T, u string, f url.Values) (int, map[string]any, http.Header) {
	t.Helper()
	resp, err := http.PostForm(u, f)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b map[string]any
	json.NewDecoder(resp.Body).Decode(&b)
	return resp.StatusCode, b, resp.Header
}

// TestAnswersAsPushoverDoes: the published error bodies (status 0, the
// errors, the parameter at fault, a request id) with a 4xx, the monthly
// limit's 429 and headers, and an emergency receipt on success.
func TestAnswersAsPushoverDoes(t *testing.T) {
	s := New(Options{Token: token, MonthlyLimit: 2})
	s.AddUser(user, "iphone")
	base, err := s.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ok := url.Values{"token": {token}, "user": {user}, "message": {"hi"}, "priority": {"2"}, "retry": {"60"}, "expire": {"3600"}}
	with := func(k, v string) url.Values {
		f := url.Values{}
		for kk, vv := range ok {
			f[kk] = vv
		}
		f.Set(k, v)
		return f
	}
	for _, tc := range []struct {
		f            url.Values
		param, value string
		err          string
	}{
		{with("token", "x"), "token", "invalid", "application token is invalid"},
		{with("user", "x"), "user", "invalid", "user identifier is not a valid user"},
		{with("device", "pixel"), "device", "invalid for this user", "device name is not valid for user"},
		{with("retry", "10"), "retry", "invalid", "retry is too small, must be at least 30 seconds"},
		{with("expire", "10801"), "expire", "invalid", "expire is too large"},
		{with("message", ""), "message", "cannot be blank", "message cannot be blank"},
	} {
		status, b, _ := post(t, base+"/1/messages.json", tc.f)
		errs, _ := b["errors"].([]any)
		if status != 400 || b["status"] != float64(0) || b[tc.param] != tc.value || len(errs) != 1 || !strings.Contains(errs[0].(string), tc.err) || b["request"] == "" {
			t.Errorf("%s=%s: %d %v", tc.param, tc.f.Get(tc.param), status, b)
		}
	}
	status, b, h := post(t, base+"/1/messages.json", ok)
	if status != 200 || b["status"] != float64(1) || len(b["receipt"].(string)) != 30 || h.Get("X-Limit-App-Limit") != "2" || h.Get("X-Limit-App-Remaining") != "2" {
		t.Fatalf("emergency message: %d %v %v", status, b, h)
	}
	rcpt := b["receipt"].(string)
	post(t, base+"/1/messages.json", with("priority", "0"))
	if status, b, _ := post(t, base+"/1/messages.json", ok); status != 429 || b["status"] != float64(0) {
		t.Errorf("over the monthly limit: %d %v", status, b)
	}

	resp, err := http.Get(base + "/1/receipts/" + rcpt + ".json?token=" + token)
	if err != nil {
		t.Fatal(err)
	}
	var r map[string]any
	json.NewDecoder(resp.Body).Decode(&r)
	resp.Body.Close()
	if resp.StatusCode != 200 || r["acknowledged"] != float64(0) || r["expired"] != float64(0) {
		t.Errorf("receipt: %d %v", resp.StatusCode, r)
	}
	if status, b, _ := post(t, base+"/1/receipts/nosuchreceipt/cancel.json", url.Values{"token": {token}}); status != 404 || b["receipt"] != "not found" {
		t.Errorf("cancel of an unknown receipt: %d %v", status, b)
	}
	if status, _, _ := post(t, base+"/1/receipts/"+rcpt+"/cancel.json", url.Values{"token": {token}}); status != 200 {
		t.Errorf("cancel: %d", status)
	}
	if m, _ := s.Receipt(rcpt); m.CancelledAt.IsZero() {
		t.Error("not cancelled")
	}
	if _, err := s.Acknowledge(rcpt); err == nil {
		t.Error("a cancelled receipt was acknowledged")
	}
}
