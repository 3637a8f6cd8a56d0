package pager

import (
	"context"
	"strings"
	"testing"
	"time"

	"foghorn/configs"
	"foghorn/pager/twiliosim"
)

// How twilio-go reports credentials it will not send, and how Twilio (the
// simulator) reports credentials it refuses: both are "channel down" at
// once, not a failure for one number.
func TestRefusedCredentialsAreChannelDown(t *testing.T) {
	const sid = "AC0123456789abcdef0123456789abcdef"
	sim := twiliosim.New(twiliosim.Options{AccountSID: sid, AuthToken: testToken, Number: "+15005550006"})
	base, err := sim.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })

	send := func(token string) error {
		tw := newTwilioAPI(sid, token, "+15005550006", base, 5*time.Second)
		defer tw.close()
		_, err := tw.sms(context.Background(), alicePh, "test", "", time.Minute)
		return err
	}
	for _, c := range []struct {
		name, token string
		reaches     bool   // the request reached Twilio
		code        string // in the explanation
	}{
		{"a trailing dash (twilio-go refuses it: 21224)", testToken + "-", false, "21224"},
		{"a trailing space", testToken + " ", false, "21224"},
		{"a token of the right shape Twilio refuses (401, 20003)", strings.Repeat("0", 32), true, "20003"},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := len(sim.Events())
			err := send(c.token)
			if err == nil {
				t.Fatal("sent")
			}
			if !credentialRefused(err) || retryable(err) {
				t.Errorf("credentialRefused=%v retryable=%v for %v", credentialRefused(err), retryable(err), err)
			}
			if reached := len(sim.Events()) > before; reached != c.reaches {
				t.Errorf("request reached the simulator: %v, want %v", reached, c.reaches)
			}
			if why := explainRefusal(err); !strings.Contains(why, c.code) || !strings.Contains(why, "auth token") {
				t.Errorf("explanation %q lacks %s or the auth token", why, c.code)
			}
			if strings.Contains(explainRefusal(err), testToken) {
				t.Errorf("the explanation shows the token")
			}
		})
	}
	if err := send(testToken); err != nil {
		t.Fatalf("the right token: %v", err)
	}

	// One refusal is enough for the pager to call Twilio down.
	cfg, err := configs.Parse("t.toml", t.TempDir(), []byte(`[server]
public_url = "https://foghorn.example.net"
[twilio]
account_sid = "`+sid+`"
from = "+15005550006"
`), func(k string) string {
		if k == "FOGHORN_TWILIO_AUTH_TOKEN" {
			return testToken
		}
		return ""
	})
	if err != nil {
		t.Fatal(err)
	}
	p, err := New(testConfig(cfg), nil, Options{APIBase: base})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	p.noteSend(vendorTwilio, send(testToken+"-"))
	v := p.Vendors()
	if !v[0].Down || v[0].Name != "twilio" || !strings.Contains(v[0].LastError, "21224") {
		t.Fatalf("after one refusal: %+v", v[0])
	}
	if p.Stats().Counts["outages/twilio"] != 1 {
		t.Errorf("outages counted: %v", p.Stats().Counts)
	}
	p.noteSend(vendorTwilio, nil)
	if v := p.Vendors(); v[0].Down {
		t.Errorf("a send that went out did not end the outage: %+v", v[0])
	}
}
