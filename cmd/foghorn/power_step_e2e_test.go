package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"foghorn/ipmi/simtest"
)

// An automated power step through the binary announces only what the
// guard decided. pve1 was cycled by alice a moment ago, and
// per_host_per_hour is 1; then pve1 goes down and its policy step has
// power = "cycle". The guard refuses, so the page never says "CYCLE pve1
// now", and the SMS that follows says why, that automation will not try
// again, and what alice can do. The BMC sees
// only alice's cycle.
func TestAutomatedPowerStepPageSaysWhatTheGuardDecidedThroughTheBinary(t *testing.T) {
	simtest.Require(t)
	bmc := simtest.Start(t)
	s := newSite(t)
	pass := filepath.Join(t.TempDir(), "bmc-password")
	if err := os.WriteFile(pass, []byte(simtest.Password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// pve1 answers on TCP until the listener closes.
	host, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := host.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	r := startPaging(t, s.URL, fmt.Sprintf(`  [[policy.step]]
  who = ["alice"]
  channels = ["sms"]
  power = "cycle"
[power]
enabled = true
automated = true
allow = ["alice"]
per_host_per_hour = 1
per_site_per_hour = 10
[[target]]
name = "pve1"
kind = "tcp"
address = %q
interval = "1s"
timeout = "500ms"
rise = 1
fall = 1
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
`, host.Addr().String(), bmc.Host, simtest.User, pass, bmc.Port))

	text := func(body string) string {
		t.Helper()
		before := len(r.messages(t, "outbound-reply"))
		resp := r.do(t, "POST", r.sim+"/sim/sms", map[string]string{"From": alicePhone, "Body": body})
		resp.Body.Close()
		replies := r.messages(t, "outbound-reply")
		if resp.StatusCode != 200 || len(replies) <= before {
			t.Fatalf("SMS %q: %s, no reply", body, resp.Status)
		}
		return replies[len(replies)-1]
	}
	code := regexp.MustCompile(`Reply CONFIRM (\d{4}) `).FindStringSubmatch(text("CYCLE pve1"))
	if code == nil {
		t.Fatal("no code for CYCLE pve1")
	}
	text("CONFIRM " + code[1])
	until(t, 20*time.Second, "alice's cycle", func() bool {
		return slices.ContainsFunc(r.messages(t, "outbound-api"), func(b string) bool { return strings.HasPrefix(b, "pve1 cycled: ") })
	})

	host.Close() // pve1 goes down: the incident, its power step
	page := regexp.MustCompile(`^\[CRIT\] #\d+ pve1 `)
	var got string
	until(t, 30*time.Second, "the page of pve1", func() bool {
		for _, b := range r.messages(t, "outbound-api") {
			if page.MatchString(b) {
				got = b
				return true
			}
		}
		return false
	})
	// The page says what the guard decided (never dropped to fit a
	// segment), and never announces what the guard refused.
	if strings.Contains(got, "CYCLE pve1 now") || !strings.Contains(got, "Automated step: CYCLE pve1 refused (per_host_per_hour); why by SMS") {
		t.Fatalf("the page should say the guard refused the step: %q", got)
	}
	why := regexp.MustCompile(`^#\d+ automated step: CYCLE pve1 not done: refused: pve1 had 1 power actions in the last hour \(per_host_per_hour = 1\); next possible at \d\d:\d\d UTC, or raise the limit\. Automation will not try again for this incident; reply CYCLE pve1 to ask for it yourself\.$`)
	until(t, 20*time.Second, "why, by SMS", func() bool {
		return slices.ContainsFunc(r.messages(t, "outbound-api"), why.MatchString)
	})
	if got := bmc.Actions(); !slices.Equal(got, []string{"power 0", "power 1"}) {
		t.Fatalf("the BMC was asked %v; want only alice's cycle", got)
	}
}
