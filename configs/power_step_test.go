package configs

import (
	"strings"
	"testing"
)

// A policy step may power-cycle by itself only when [power] says so, and
// only with cycle or reset; every refusal names the step's line.
func TestPolicyStepPower(t *testing.T) {
	const head = `[twilio]
simulator = true
from = "+15005550006"
[escalation]
default_policy = "ops"
[[person]]
name = "alice"
phone = "+4915112345671"
`
	const policy = `[[policy]]
name = "ops"
  [[policy.step]]
  who = ["alice"]
  [[policy.step]]
  who = ["alice"]
  delay = "10m"
  power = "%s"
`
	const powerLine = 16 // the power key's line, counted from 1
	for _, c := range []struct {
		power, section string
		want           string // "" for valid
	}{
		{"cycle", "[power]\nenabled = true\nallow = [\"alice\"]\nautomated = true\n", ""},
		{"reset", "[power]\nenabled = true\nallow = [\"alice\"]\nautomated = true\n", ""},
		{"cycle", "[power]\nenabled = true\nallow = [\"alice\"]\n",
			`t.toml:16: policy "ops" step 2 power: automated power actions are off ([power] automated = false); fix: set [power] enabled = true and automated = true`},
		{"cycle", "",
			`t.toml:16: policy "ops" step 2 power: power actions are off ([power] enabled = false)`},
		{"off", "[power]\nenabled = true\nallow = [\"alice\"]\nautomated = true\n",
			`t.toml:16: policy "ops" step 2 power: unknown automated power action "off"; fix: use "cycle" or "reset"`},
	} {
		src := head + strings.Replace(policy, "%s", c.power, 1) + c.section
		if got := strings.Count(strings.Split(src, `power = "`)[0], "\n") + 1; got != powerLine {
			t.Fatalf("test setup: power is on line %d", got)
		}
		cfg, err := Parse("t.toml", t.TempDir(), []byte(src), noEnv)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("power = %q with %q: %v", c.power, c.section, err)
		case c.want == "" && cfg.Policies[0].Steps[1].Power != c.power:
			t.Errorf("power = %q read as %q", c.power, cfg.Policies[0].Steps[1].Power)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("power = %q with %q:\n got  %v\n want %s...", c.power, c.section, err, c.want)
		}
	}
}
