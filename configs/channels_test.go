package configs

import (
	"strings"
	"testing"
)

const channelsBase = `[server]
data_dir = "/tmp/foghorn-test"
[twilio]
simulator = true
from = "+15005550006"
[self_check]
canaries = ["127.0.0.1"]
[escalation]
default_policy = "ops"
[[person]]
name = "alice"
phone = "+4915112345671"
[[policy]]
name = "ops"
  [[policy.step]]
  who = ["alice"]
[[policy]]
name = "disks"
  [[policy.step]]
  who = ["alice"]
  channels = ["sms", "voice"]
  fallback = ["email", "pager"]
[[target]]
name = "nas"
kind = "tcp"
address = "127.0.0.1:22"
severity = "warning"
policy = "disks"
`

// TestVoiceThatCanNeverRing: a step whose voice can never ring because of
// voice_min_severity is a problem check-config names, with the fix; so
// are unknown fallback channels and one that needs what is not configured.
func TestVoiceThatCanNeverRing(t *testing.T) {
	_, err := Parse("t.toml", t.TempDir(), []byte(channelsBase), func(string) string { return "" })
	if err == nil {
		t.Fatal("accepted")
	}
	got := err.Error()
	for _, want := range []string{
		`t.toml:21: policy "disks" step 1 channels: voice can never ring: the targets and groups paged by this policy are at most "warning", and [escalation] voice_min_severity is "critical"; fix: set [escalation] voice_min_severity = "warning", or drop "voice" from the step`,
		`t.toml:22: policy "disks" step 1 fallback: "email" needs [smtp], but it is not configured; fix: configure [smtp] host and from`,
		`t.toml:22: policy "disks" step 1 fallback: unknown channel "pager"; fix: use one of "sms", "voice", "email", "ntfy", "pushover" or "telegram"`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing problem:\n%s\ngot:\n%s", want, got)
		}
	}
	ok := strings.Replace(channelsBase, `[escalation]`, "[escalation]\nvoice_min_severity = \"warning\"", 1)
	ok = strings.Replace(ok, `  fallback = ["email", "pager"]`, "", 1)
	if _, err := Parse("t.toml", t.TempDir(), []byte(ok), func(string) string { return "" }); err != nil {
		t.Fatalf("voice_min_severity = warning lets the warning policy ring, yet: %v", err)
	}
}

// TestICMPCanaryWithPort: an ICMP canary written as host:port, or an
// address that is not one, could never answer; check-config says so.
func TestICMPCanaryWithPort(t *testing.T) {
	for text, want := range map[string]string{
		`canaries = ["9.9.9.9:53"]`: `t.toml:7: self_check canaries: "9.9.9.9:53" has a port, but ICMP has none: the canary could never answer; fix: write the address alone, e.g. "9.9.9.9", or set kind = "tcp" to connect to host:port`,
		`canaries = ["999.1.1.1"]`:  `t.toml:7: self_check canaries: "999.1.1.1" is not an IP address; fix: write an IPv4 or IPv6 address, e.g. "9.9.9.9", or a host name`,
	} {
		cfg := strings.Replace(channelsBase, `canaries = ["127.0.0.1"]`, text, 1)
		_, err := Parse("t.toml", t.TempDir(), []byte(cfg), func(string) string { return "" })
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: want\n%s\ngot\n%v", text, want, err)
		}
	}
	for _, ok := range []string{`canaries = ["::1", "127.0.0.1", "dns.quad9.net"]`} {
		cfg := strings.Replace(channelsBase, `canaries = ["127.0.0.1"]`, ok, 1)
		cfg = strings.Replace(cfg, `[escalation]`, "[escalation]\nvoice_min_severity = \"warning\"", 1)
		cfg = strings.Replace(cfg, `  fallback = ["email", "pager"]`, "", 1)
		if _, err := Parse("t.toml", t.TempDir(), []byte(cfg), func(string) string { return "" }); err != nil {
			t.Errorf("%s refused: %v", ok, err)
		}
	}
}
