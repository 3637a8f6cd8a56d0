package configs

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func noEnv(string) string { return "" }

func TestExampleAndDemoAreValid(t *testing.T) {
	cfg, err := LoadArmed("example.toml")
	if err != nil {
		t.Fatalf("example.toml:\n%v", err)
	}
	if got := len(cfg.Targets); got != 14 {
		t.Errorf("example has %d targets, want 14", got)
	}
	hv := cfg.Group("hypervisors")
	if hv == nil || strings.Join(hv.Resolved, ",") != "pve1,pve2,pve3" || hv.MinUp != 2 {
		t.Errorf("hypervisors group = %+v, want pve1..3 with min_up 2", hv)
	}
	if r := cfg.Group("routers"); strings.Join(r.Resolved, ",") != "rt1,rt2" {
		t.Errorf("routers resolved to %v", r.Resolved)
	}
	if cfg.Twilio.AuthToken.Reveal() != "0123456789abcdef0123456789abcdef" {
		t.Errorf("auth token not read from auth_token_file")
	}
	if d := cfg.Target("pve2").Interval.Duration; d != DefaultInterval {
		t.Errorf("pve2 interval default = %s", d)
	}
	if d := cfg.Target("pve2-bmc").Interval.Duration.String(); d != "1m0s" {
		t.Errorf("ipmi interval default = %s, want 1m0s", d)
	}

	demo, err := ParseArmed("demo.toml", t.TempDir(), DemoTOML, noEnv)
	if err != nil {
		t.Fatalf("demo.toml:\n%v", err)
	}
	if !demo.Twilio.Simulator || demo.Demo.Listen == "" {
		t.Errorf("demo must use the simulator and serve its own targets: %+v %+v", demo.Twilio, demo.Demo)
	}
	for _, tg := range demo.Targets {
		if !strings.Contains(tg.Address, "127.0.0.1") {
			t.Errorf("demo target %s is not on loopback: %s", tg.Name, tg.Address)
		}
	}
}

func TestSecretsAreNeverPrinted(t *testing.T) {
	dir := t.TempDir()
	tok := "5ec7e70c3a9f4b21d8e6a0b4c2f19d37"
	os.WriteFile(filepath.Join(dir, "tok"), []byte(tok+"\n"), 0o600)
	src := strings.Replace(base, "simulator = true", `account_sid = "AC0123456789abcdef0123456789abcdef"
auth_token_file = "tok"`, 1) + "\n[server.bogus]\n"
	_, err := Parse("t.toml", dir, []byte(src), noEnv)
	if err == nil || strings.Contains(err.Error(), tok) {
		t.Fatalf("want a problem that does not contain the token, got %v", err)
	}
	cfg, err := Parse("t.toml", dir, []byte(strings.Replace(base, "simulator = true", `account_sid = "AC0123456789abcdef0123456789abcdef"
auth_token_file = "tok"`, 1)), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Twilio.AuthToken.Reveal() != tok {
		t.Fatalf("token = %q", cfg.Twilio.AuthToken.Reveal())
	}
	for _, s := range []string{
		cfg.Twilio.AuthToken.String(),
		strings.Join([]string{sprint("%v", cfg.Twilio), sprint("%+v", cfg.Twilio), sprint("%#v", cfg.Twilio), sprint("%s", cfg.Twilio.AuthToken)}, " "),
	} {
		if strings.Contains(s, tok) {
			t.Errorf("secret printed: %s", s)
		}
	}
	envCfg, err := Parse("t.toml", dir, []byte(strings.Replace(base, "simulator = true", `account_sid = "AC0123456789abcdef0123456789abcdef"`, 1)),
		func(k string) string {
			if k == "FOGHORN_TWILIO_AUTH_TOKEN" {
				return "fe00fe00fe00fe00fe00fe00fe00fe00\n"
			}
			return ""
		})
	if err != nil || envCfg.Twilio.AuthToken.Reveal() != "fe00fe00fe00fe00fe00fe00fe00fe00" {
		t.Fatalf("token from env: %v %v", err, envCfg)
	}
}

func TestProblemsAreErrors(t *testing.T) {
	_, err := Parse("t.toml", "/", []byte(base+"\n[[target]]\nname = \"x\"\n"), noEnv)
	var ps Problems
	if !errors.As(err, &ps) || len(ps) == 0 {
		t.Fatalf("want Problems, got %T %v", err, err)
	}
}
