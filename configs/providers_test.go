package configs

import (
	"strings"
	"testing"
)

// sw is a valid SignalWire [[provider]]; its secrets come from swEnv.
const sw = `[[provider]]
name = "signalwire"
kind = "signalwire"
project_id = "0b5a1f3c-6d2e-4a7b-9c8d-1e2f3a4b5c6d"
space = "example"
from = "+14155550199"
`

func swEnv(k string) string {
	switch k {
	case "FOGHORN_PROVIDER_SIGNALWIRE_TOKEN":
		return "PT0123456789abcdef"
	case "FOGHORN_PROVIDER_SIGNALWIRE_SIGNING_KEY":
		return "PSK0123456789abcdef"
	}
	return ""
}

func TestProviderIsLoaded(t *testing.T) {
	c, err := Parse("t.toml", t.TempDir(), []byte(base+sw), swEnv)
	if err != nil {
		t.Fatal(err)
	}
	p := c.Providers[0]
	if p.Base() != "https://example.signalwire.com/api/laml" || p.Account() != "0b5a1f3c-6d2e-4a7b-9c8d-1e2f3a4b5c6d" ||
		p.AuthToken.Reveal() != "PT0123456789abcdef" || p.SigningKey.Reveal() != "PSK0123456789abcdef" ||
		p.SkipFor.Duration != DefaultSkipFor || p.DeliveryWindow.Duration != DefaultDeliveryWindow {
		t.Errorf("provider: %+v (base %s)", p, p.Base())
	}
	if got := strings.Join(c.CallerIDs(), " "); got != "+15005550006 +14155550199" {
		t.Errorf("caller IDs %s", got)
	}
	if c.Twilio.SkipFor.Duration != DefaultSkipFor {
		t.Errorf("[twilio] skip_for %s", c.Twilio.SkipFor.Duration)
	}
}

// TestBrokenProviders: check-config refuses a [[provider]] that cannot
// work, each problem with its line and the fix.
func TestBrokenProviders(t *testing.T) {
	cases := []struct {
		name, edit string // edit replaces the line of the same key in sw, or is appended
		env        func(string) string
		want       string // in the problems
	}{
		{"no kind", `kind = ""`, swEnv, `provider "signalwire" kind: missing; fix: add kind = "signalwire" or kind = "twilio"`},
		{"unknown kind", `kind = "vonage"`, swEnv, `unknown provider kind "vonage"; fix: use "signalwire" or "twilio"`},
		{"bad name", `name = "Signal Wire"`, swEnv, `name "Signal Wire": it goes into webhook URLs and metrics labels; fix: use lower-case letters, digits and '-'`},
		{"named twilio", `name = "twilio"`, swEnv, `"twilio" is [twilio]'s name in logs, metrics and webhooks`},
		{"project id not a uuid", `project_id = "AC0123"`, swEnv, `"AC0123" is not a SignalWire project ID; fix: copy the Project ID from the SignalWire dashboard`},
		{"space as a URL", `space = "https://example.signalwire.com"`, swEnv, `is not a SignalWire space name; fix: write "example"`},
		{"no space", `space = ""`, swEnv, `provider "signalwire" space: missing: the API lives at https://SPACE.signalwire.com`},
		{"from not E.164", `from = "0415 555 0199"`, swEnv, `"0415 555 0199" is not an E.164 phone number`},
		{"same number as twilio", `from = "+15005550006"`, swEnv, `+15005550006 is also [twilio]'s number`},
		{"no token", "", func(k string) string {
			if strings.HasSuffix(k, "_TOKEN") {
				return ""
			}
			return swEnv(k)
		}, `no API token: neither auth_token_file nor FOGHORN_PROVIDER_SIGNALWIRE_TOKEN gives it; fix: set auth_token_file = "/etc/foghorn/signalwire-token" or export FOGHORN_PROVIDER_SIGNALWIRE_TOKEN`},
		{"no signing key", "", func(k string) string {
			if strings.HasSuffix(k, "_SIGNING_KEY") {
				return ""
			}
			return swEnv(k)
		}, `no Signing Key: SignalWire signs its webhooks with it`},
		{"token with a dash", "", func(k string) string {
			if strings.HasSuffix(k, "_TOKEN") {
				return "PT-0123"
			}
			return swEnv(k)
		}, `twilio-go refuses such a token before sending (error 21224)`},
		{"skip_for too short", `skip_for = "10ms"`, swEnv, `provider "signalwire" skip_for: 10ms is out of range; fix: pick between "1s" and "24h"`},
		{"delivery_window too short", `delivery_window = "1s"`, swEnv, `1s is out of range; fix: pick between "10s" and "1h"`},
		{"twilio kind with signalwire keys", "kind = \"twilio\"\naccount_sid = \"AC0123456789abcdef0123456789abcdef\"", swEnv, `project_id, space and signing_key_file are SignalWire's`},
		{"inline token", `auth_token = "PT0123"`, swEnv, `secrets go in auth_token_file or FOGHORN_PROVIDER_<NAME>_TOKEN, not in the config`},
		{"unknown key", `region = "eu"`, swEnv, `unknown key "region"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src := sw
			if tc.edit != "" {
				for _, l := range strings.Split(tc.edit, "\n") {
					k := strings.SplitN(l, " = ", 2)[0]
					if i := strings.Index(src, "\n"+k+" = "); i >= 0 {
						j := i + 1 + strings.Index(src[i+1:], "\n")
						src = src[:i+1] + l + src[j:]
					} else {
						src += l + "\n"
					}
				}
			}
			_, err := Parse("t.toml", t.TempDir(), []byte(base+src), tc.env)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("problems:\n%v\nwant one with: %s", err, tc.want)
			}
		})
	}
}

// TestSMSStepWithOnlyAProvider: a step's sms needs some provider, [twilio]
// or a [[provider]]; either will do.
func TestSMSStepWithOnlyAProvider(t *testing.T) {
	src := strings.Replace(base, "[twilio]\nsimulator = true\nfrom = \"+15005550006\"\n", "", 1) + sw
	src = strings.Replace(src, `  who = ["alice"]`, "  who = [\"alice\"]\n  channels = [\"sms\"]", 1)
	if _, err := Parse("t.toml", t.TempDir(), []byte(src), swEnv); err != nil {
		t.Fatal(err)
	}
}
