package configs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const pushoverBase = `[server]
data_dir = "/tmp/foghorn-test"
[twilio]
simulator = true
from = "+15005550006"
[self_check]
canaries = ["127.0.0.1"]
[escalation]
default_policy = "ops"
[pushover]
token_file = "po-token"
[[person]]
name = "alice"
phone = "+4915112345671"
  [person.pushover]
  user_key_file = "alice-key"
[[person]]
name = "bob"
phone = "+4915112345672"
[[rotation]]
name = "ops"
members = ["alice", "bob"]
handoff = "0 9 * * MON"
start = 2026-01-05T09:00:00
[[policy]]
name = "ops"
  [[policy.step]]
  who = ["alice"]
  channels = ["sms", "voice", "pushover"]
`

func pushoverDir(t *testing.T) string {
	dir := t.TempDir()
	for f, v := range map[string]string{"po-token": "azGDORePK8gMaC0QOYAMyEEuzJnyUi", "alice-key": "uQiRzpo4DXghDmr9QzzfQu27cmVRsG"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(v+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestPushoverConfigDefaultsAndSecrets(t *testing.T) {
	c, err := Parse("t.toml", pushoverDir(t), []byte(pushoverBase), func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	po := c.Pushover
	if po == nil || po.APIBase != DefaultPushoverAPIBase || po.Retry.Duration != DefaultPushoverRetry || po.Expire.Duration != DefaultPushoverExpire {
		t.Fatalf("defaults: %+v", po)
	}
	if po.Token.Reveal() != "azGDORePK8gMaC0QOYAMyEEuzJnyUi" || c.People[0].Pushover.UserKey.Reveal() != "uQiRzpo4DXghDmr9QzzfQu27cmVRsG" {
		t.Fatal("secrets not read from their files")
	}
	// From the environment instead.
	env := map[string]string{"FOGHORN_PUSHOVER_TOKEN": "azGDORePK8gMaC0QOYAMyEEuzJnyUj", "FOGHORN_PUSHOVER_USER_KEY_ALICE": "uQiRzpo4DXghDmr9QzzfQu27cmVRsH"}
	text := strings.NewReplacer(`token_file = "po-token"`, ``, `user_key_file = "alice-key"`, ``).Replace(pushoverBase)
	c, err = Parse("t.toml", t.TempDir(), []byte(text), func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if c.Pushover.Token.Reveal() != env["FOGHORN_PUSHOVER_TOKEN"] || c.People[0].Pushover.UserKey.Reveal() != env["FOGHORN_PUSHOVER_USER_KEY_ALICE"] {
		t.Fatal("secrets not read from the environment")
	}
}

// TestPushoverStepWithoutAKeyIsRefused: like "sms" without a phone, a
// step naming "pushover" for someone with no user key would page nobody
// there; Pushover's own bounds are named when retry or expire leave them.
func TestPushoverStepWithoutAKeyIsRefused(t *testing.T) {
	for _, tc := range []struct{ name, old, new, want string }{
		{"a person without a key", `who = ["alice"]`, `who = ["rotation:ops"]`,
			`t.toml:29: policy "ops" step 1 channels: "bob" has no Pushover user key for the "pushover" channel; fix: add [person.pushover] with user_key_file to bob, or drop "pushover" from the step`},
		{"no [pushover]", "[pushover]\ntoken_file = \"po-token\"\n", "",
			`t.toml:27: policy "ops" step 1 channels: "pushover" needs [pushover], but it is not configured; fix: add a [pushover] section with token_file, or drop "pushover" from the step`},
		{"retry below 30s", `token_file = "po-token"`, "token_file = \"po-token\"\nretry = \"10s\"",
			`t.toml:12: pushover retry: 10s is below Pushover's minimum of 30s between repeats; fix: use at least "30s"`},
		{"expire above 3h", `token_file = "po-token"`, "token_file = \"po-token\"\nexpire = \"4h\"",
			`t.toml:12: pushover expire: 4h0m0s is outside the range retry (1m0s) to 3h; fix: use between retry and "3h" (Pushover's maximum)`},
		{"no token", `token_file = "po-token"`, ``,
			`pushover token_file: no application token: Pushover refuses every message without one; fix: set token_file`},
		{"a token written inline", `token_file = "po-token"`, `token = "azGDORePK8gMaC0QOYAMyEEuzJnyUi"`,
			`secrets go in token_file or FOGHORN_PUSHOVER_TOKEN, not in the config`},
		{"a key file without a key", `user_key_file = "alice-key"`, `user_key_file = "po-token-missing"`,
			`file "po-token-missing" does not exist`},
		{"a bad device", `user_key_file = "alice-key"`, "user_key_file = \"alice-key\"\n  device = \"my phone\"",
			`"my phone" is not a Pushover device name`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			text := strings.Replace(pushoverBase, tc.old, tc.new, 1)
			_, err := Parse("t.toml", pushoverDir(t), []byte(text), func(string) string { return "" })
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("want a problem with\n%s\ngot:\n%v", tc.want, err)
			}
		})
	}
}
