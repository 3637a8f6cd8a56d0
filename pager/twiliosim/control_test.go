package twiliosim

import (
	"bytes"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	api "github.com/twilio/twilio-go/rest/api/v2010"
)

// do sends a control request and decodes a JSON answer into out (if given).
func do(t *testing.T, method, u, body string, out any) int {
	t.Helper()
	req, _ := http.NewRequest(method, u, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, u, err, b)
		}
	}
	return resp.StatusCode
}

func TestControlAPI(t *testing.T) {
	rc := newReceiver(t, testToken)
	sim, base := newSim(t, Options{InboundSMSURL: rc.URL + "/twilio/sms", PublicURL: rc.URL})

	if code := do(t, "PUT", base+"/sim/phones/"+alice, `{"call":"busy","replies":["ACK"],"reply_after":"10m"}`, nil); code != 200 {
		t.Fatalf("PUT script: %d", code)
	}
	if code := do(t, "PUT", base+"/sim/phones/"+bob, `{"call":"no_answer"}`, nil); code != 400 {
		t.Errorf("PUT a misspelt behaviour: %d, want 400", code)
	}
	var phones map[string]Script
	do(t, "GET", base+"/sim/phones", "", &phones)
	if sc := phones[alice]; sc.Call != "busy" || sc.ReplyAfter != 10*time.Minute || len(sc.Replies) != 1 {
		t.Errorf("GET /sim/phones = %+v", phones)
	}
	if _, ok := phones[bob]; ok {
		t.Error("a refused script was kept")
	}

	// The person replies by SMS through the control API.
	var m Message
	if code := do(t, "POST", base+"/sim/sms", `{"from":"`+bob+`","body":"ACK 7"}`, &m); code != 200 || m.Body != "ACK 7" {
		t.Errorf("POST /sim/sms: %d %+v", code, m)
	}
	if in := rc.waitHits(t, "/twilio/sms", 1)[0].Form; in.Get("From") != bob || in.Get("Body") != "ACK 7" {
		t.Errorf("inbound = %v", in)
	}

	// Keys on a live call.
	do(t, "PUT", base+"/sim/phones/"+bob, `{"call":"wait"}`, nil)
	ackGather(t, rc)
	placeCall(t, base, bob, menu(t, "Press 1."), rc.URL+"/status", "")
	if code := do(t, "POST", base+"/sim/press", `{"to":"`+alice+`","digits":"1"}`, nil); code != 409 {
		t.Errorf("press on a phone with no call: %d, want 409", code)
	}
	waitFor(t, func() bool { return sim.Calls()[0].Status == "ringing" }, "ringing")
	if code := do(t, "POST", base+"/sim/press", `{"to":"`+bob+`","digits":"1"}`, nil); code != 200 {
		t.Errorf("press: %d", code)
	}
	if g := rc.waitHits(t, "/twilio/voice/gather", 1); g[0].Form.Get("Digits") != "1" {
		t.Errorf("gather = %v", g[0].Form)
	}

	// Faults.
	do(t, "PUT", base+"/sim/fault", `{"status":503,"next":1}`, nil)
	_, err := rest(t, base, testSID, testToken, 5*time.Second).Api.CreateMessage(
		(&api.CreateMessageParams{}).SetTo(alice).SetFrom(foghornNr).SetBody("x"))
	if te := restError(t, err); te.Status != 503 {
		t.Errorf("after PUT /sim/fault: %+v", te)
	}

	// The log, over HTTP.
	rc.waitHits(t, "/status", 1)
	var log struct {
		Messages []Message
		Calls    []Call
		Events   []Event
	}
	do(t, "GET", base+"/sim/log", "", &log)
	if len(log.Messages) != 1 || len(log.Calls) != 1 || len(log.Events) < 6 {
		t.Fatalf("GET /sim/log: %d messages, %d calls, %d events", len(log.Messages), len(log.Calls), len(log.Events))
	}
	var kinds = map[string]int{}
	for _, e := range log.Events {
		kinds[e.Kind]++
	}
	if kinds[KindAPI] != 2 || kinds[KindSMS] != 1 || kinds[KindGather] != 1 || kinds[KindStatus] == 0 {
		t.Errorf("event kinds = %v", kinds)
	}
	if log.Calls[0].Twiml == "" {
		t.Errorf("call log lacks its TwiML: %+v", log.Calls[0])
	}
}

func TestPage(t *testing.T) {
	rc := newReceiver(t, testToken)
	sim, base := newSim(t, Options{InboundSMSURL: rc.URL + "/twilio/sms"})
	sim.SetPhone(alice, Script{Call: "voicemail"})
	sendSMS(t, base, bob, "DOWN <db1> & friends", "")
	waitFor(t, func() bool { return sim.Messages()[0].Status == "delivered" }, "delivery")

	// A form post from the page, as a person in the demo would.
	resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).
		PostForm(base+"/sim/sms", url.Values{"from": {bob}, "body": {"ACK"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Errorf("form post: %d, want 303 back to the page", resp.StatusCode)
	}

	resp, err = http.Get(base + "/sim/")
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	io.Copy(&b, resp.Body)
	resp.Body.Close()
	page := html.UnescapeString(b.String()) // html/template writes + as &#43;
	for _, want := range []string{alice, bob, "voicemail", "DOWN <db1> & friends", "delivered", "ACK", `action="/sim/press"`} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(b.String(), "<db1>") {
		t.Error("page does not escape message bodies")
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("Content-Type %q", ct)
	}
}
