package twiliosim

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestSignalWire: with Options.SignalWire the simulator is SignalWire's
// LaML API: /api/laml/2010-04-01 with the project ID and API token as
// Basic auth (Twilio's path answers 404), and its status callbacks are
// signed by the Signing Key in X-SignalWire-Signature, not the token.
func TestSignalWire(t *testing.T) {
	got := make(chan *http.Request, 4)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		got <- r
		w.WriteHeader(http.StatusNoContent)
	}))
	defer hook.Close()
	sim := New(Options{SignalWire: true, AuthToken: "PTswtoken"})
	base, err := sim.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	post := func(path, user, pass string) *http.Response {
		form := url.Values{"To": {"+15550100001"}, "From": {DefaultNumber}, "Body": {"x"}, "StatusCallback": {hook.URL + "/cb?n=1"}}
		req, _ := http.NewRequest("POST", base+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(user, pass)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	laml := "/api/laml/2010-04-01/Accounts/" + DefaultProjectID + "/Messages.json"
	if r := post("/2010-04-01/Accounts/"+DefaultProjectID+"/Messages.json", DefaultProjectID, "PTswtoken"); r.StatusCode != 404 {
		t.Errorf("Twilio's path: %s, want 404", r.Status)
	}
	if r := post(laml, DefaultProjectID, "wrong"); r.StatusCode != 401 {
		t.Errorf("wrong token: %s, want 401", r.Status)
	}
	r := post(laml, DefaultProjectID, "PTswtoken")
	var m struct{ SID, URI string }
	json.NewDecoder(r.Body).Decode(&m)
	if r.StatusCode != 201 || !strings.HasPrefix(m.URI, "/api/laml/2010-04-01/Accounts/"+DefaultProjectID+"/Messages/") {
		t.Fatalf("create: %s %+v", r.Status, m)
	}
	select {
	case cb := <-got:
		u := hook.URL + cb.URL.RequestURI()
		if cb.Header.Get("X-Twilio-Signature") != "" {
			t.Error("SignalWire's callback carries X-Twilio-Signature")
		}
		if sig := cb.Header.Get("X-SignalWire-Signature"); sig != Sign(DefaultSigningKey, u, cb.PostForm) || sig == Sign("PTswtoken", u, cb.PostForm) {
			t.Errorf("callback signature %q is not the Signing Key's", sig)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no status callback")
	}
}
