package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"foghorn/ipmi/simtest"
)

// A power cycle by SMS through the binary: the wiring of the guard into
// the pager. alice texts CYCLE pve1 from her (simulated) phone, gets a
// code, confirms it, and the BMC simulator sees off, then on; the outcome
// comes by SMS.
func TestPowerCycleBySMSThroughTheBinary(t *testing.T) {
	simtest.Require(t)
	bmc := simtest.Start(t)
	s := newSite(t)
	pass := filepath.Join(t.TempDir(), "bmc-password")
	if err := os.WriteFile(pass, []byte(simtest.Password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := startPaging(t, s.URL, fmt.Sprintf(`  [[policy.step]]
  who = ["alice"]
  channels = ["sms"]
[power]
enabled = true
allow = ["alice"]
[[target]]
name = "pve1"
kind = "tcp"
address = %q
bmc = "pve1-bmc"
[[target]]
name = "pve1-bmc"
kind = "ipmi"
address = %q
timeout = "2s"
  [target.ipmi]
  username = %q
  password_file = %q
  port = %d
`, strings.TrimPrefix(s.URL, "http://"), bmc.Host, simtest.User, pass, bmc.Port))

	text := func(body string) string {
		t.Helper()
		before := len(r.messages(t, "outbound-reply"))
		resp := r.do(t, "POST", r.sim+"/sim/sms", map[string]string{"From": alicePhone, "Body": body})
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("SMS %q: %s", body, resp.Status)
		}
		replies := r.messages(t, "outbound-reply")
		if len(replies) <= before {
			t.Fatalf("no reply to %q", body)
		}
		return replies[len(replies)-1]
	}
	offer := text("CYCLE pve1")
	m := regexp.MustCompile(`^CYCLE pve1 \(BMC pve1-bmc\): power off, then on\. Reply CONFIRM (\d{4}) within 5 min\.$`).FindStringSubmatch(offer)
	if m == nil {
		t.Fatalf("offer %q", offer)
	}
	if got := text("CONFIRM " + m[1]); got != "Working on it: CYCLE pve1. The result follows by SMS." {
		t.Fatalf("confirm: %q", got)
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		sent := r.messages(t, "outbound-api")
		if slices.ContainsFunc(sent, func(b string) bool { return strings.HasPrefix(b, "pve1 cycled: off, then on after ") }) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no outcome SMS; sent: %q", sent)
		}
	}
	if got := bmc.Actions(); !slices.Equal(got, []string{"power 0", "power 1"}) {
		t.Fatalf("the BMC was asked %v", got)
	}
}

// messages lists the bodies of the simulator's messages to alice in one
// direction, oldest first.
func (r *pagerRun) messages(t *testing.T, direction string) []string {
	t.Helper()
	resp := r.do(t, "GET", r.sim+"/sim/log", nil)
	defer resp.Body.Close()
	var log struct {
		Messages []struct{ Direction, To, Body string }
	}
	if err := json.NewDecoder(resp.Body).Decode(&log); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range log.Messages {
		if m.To == alicePhone && m.Direction == direction {
			out = append(out, m.Body)
		}
	}
	return out
}
