package configs

import (
	"strings"
	"testing"
	"time"
)

// TestServerRetention: [server] retention defaults to 90 days, takes
// days ("365d") or a Go duration, and a bad or too short value is
// reported at its line with the fix.
func TestServerRetention(t *testing.T) {
	base := func(extra string) []byte {
		return []byte("[server]\ndata_dir = \"/tmp/x\"\n" + extra + "\n" + `[self_check]
canaries = ["127.0.0.1"]
[escalation]
default_policy = "ops"
[twilio]
simulator = true
from = "+15005550006"
[[person]]
name = "alice"
phone = "+4915112345671"
[[policy]]
name = "ops"
  [[policy.step]]
  who = ["alice"]
[[target]]
name = "web"
kind = "tcp"
address = "127.0.0.1:80"
`)
	}
	cfg, err := Parse("t.toml", t.TempDir(), base(""), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Server.Retention.Duration != 90*24*time.Hour {
		t.Errorf("default retention %s, want 90 days", cfg.Server.Retention.Duration)
	}
	for in, want := range map[string]time.Duration{`"365d"`: 365 * 24 * time.Hour, `"2160h"`: 90 * 24 * time.Hour, `"36h"`: 36 * time.Hour} {
		cfg, err := Parse("t.toml", t.TempDir(), base("retention = "+in), noEnv)
		if err != nil {
			t.Fatalf("retention = %s: %v", in, err)
		}
		if cfg.Server.Retention.Duration != want {
			t.Errorf("retention = %s: %s, want %s", in, cfg.Server.Retention.Duration, want)
		}
	}
	for in, want := range map[string]string{
		`"3 months"`: `t.toml:3: server retention: "3 months" is not a retention period; fix: write a number of days like "90d"`,
		`"-5d"`:      `t.toml:3: server retention: "-5d" is not a retention period`,
		`"2h"`:       `t.toml:3: server retention: "2h" is shorter than a day`,
	} {
		_, err := Parse("t.toml", t.TempDir(), base("retention = "+in), noEnv)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("retention = %s: %v\nwant it to say %q", in, err, want)
		}
	}
}
