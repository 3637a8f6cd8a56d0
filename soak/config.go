package main

import (
	"fmt"
	"strings"
)

const (
	accountSID = "AC5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a"
	authToken  = "0123456789abcdef0123456789abcdef" // the shape of a real token: 32 hex
	apiToken   = "soak-api-token-0123456789abcdef"
	fromNumber = "+15005550006"
	alicePhone = "+15550100001"
	bobPhone   = "+15550100002"
	alicePass  = "soak-password-alice"
)

// pairs are the critical part of the site: two router pairs, each a group
// of two with min_up 1 (one down is a warning, both is critical), probed
// every pairInterval like the example's routers. Their targets are the
// peer's last four.
var pairs = []string{"pairA", "pairB"}

func pairMember(p, k int) string { return fmt.Sprintf("%s-r%d", strings.ToLower(pairs[p]), k+1) }

// config is the soak's foghorn.toml. Limits are the defaults (the
// example's: sms_per_15m 5, calls_per_15m 3, max_per_hour 20), so the
// warnings the background targets page compete with the criticals for
// them. The policy is the example's shape (SMS then call, repeats, a
// second step that escalates until ack) with its times scaled to minutes,
// so escalation happens within a soak. reload adds a target, the change a
// SIGHUP applies mid-run.
func config(o options, listen, public, data, simBase, peer, hash string, reload bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, `[server]
listen = %q
public_url = %q
data_dir = %q
[twilio]
account_sid = %q
from = %q
api_base = %q
machine_detection = true
[self_check]
kind = "tcp"
canaries = [%q]
interval = "10s"
timeout = "3s"
[escalation]
default_policy = "ops"
[[person]]
name = "alice"
phone = %q
password_hash = %q
[[person]]
name = "bob"
phone = %q
`, listen, public, data, accountSID, fromNumber, simBase, peer, alicePhone, hash, bobPhone)
	for _, name := range []string{"ops", "net"} {
		fmt.Fprintf(&b, `[[policy]]
name = %q
loop_from = 2
  [[policy.step]]
  who = ["alice"]
  channels = ["sms", "voice"]
  repeat = 2
  interval = "2m"
  min_severity = "warning"
  [[policy.step]]
  who = ["bob", "alice"]
  channels = ["voice", "sms"]
  delay = "3m"
  until_ack = true
  interval = "2m"
`, name)
	}
	for i := range o.targets {
		fmt.Fprintf(&b, "[[target]]\nname = \"t%04d\"\nkind = \"http\"\naddress = \"http://%s/t/%d\"\ninterval = %q\ntimeout = \"2s\"\nrise = 1\nfall = 2\nseverity = \"warning\"\npolicy = \"ops\"\n",
			i, peer, i, o.interval.String())
	}
	for p, g := range pairs {
		for k := range 2 {
			fmt.Fprintf(&b, "[[target]]\nname = %q\nkind = \"http\"\naddress = \"http://%s/t/%d\"\ninterval = %q\ntimeout = \"2s\"\nrise = 1\nfall = 2\ngroup = %q\npolicy = \"net\"\n",
				pairMember(p, k), peer, o.targets+2*p+k, o.pairInterval.String(), g)
		}
		fmt.Fprintf(&b, "[[group]]\nname = %q\nmin_up = 1\nseverity = \"critical\"\npolicy = \"net\"\n", g)
	}
	if reload {
		fmt.Fprintf(&b, "[[target]]\nname = \"added-by-reload\"\nkind = \"http\"\naddress = \"http://%s/t/0\"\ninterval = \"30s\"\ntimeout = \"2s\"\nseverity = \"warning\"\n", peer)
	}
	return b.String()
}
