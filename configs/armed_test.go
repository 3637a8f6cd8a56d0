package configs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The problems of a config that would watch nothing or page nobody, word
// for word: they are what a user reads at start, on SIGHUP and from
// check-config. They have no line (they are about what is missing), so
// they come first.
const (
	noTarget = `t.toml: target: none: foghorn would watch nothing; fix: add a [[target]] for each router, host or service to watch (see configs/example.toml); ` +
		`for a foghorn that only pages Alertmanager's alerts, give the intake a token ([server] api_token_file, FOGHORN_API_TOKEN or an [[api_token]] with role "responder") and set [escalation] default_policy`
	noPerson = `t.toml: person: none: nobody could be paged; fix: add a [[person]] with a name and a phone in E.164 form, e.g. phone = "+4915112345678" (see configs/example.toml)`
	noPolicy = `t.toml: policy: none: no escalation policy says whom to page; fix: add a [[policy]] with a [[policy.step]] whose who names a person or a rotation with members, e.g. who = ["alice"], and set [escalation] default_policy to it`
)

// armedTarget is one target for base, which has none.
const armedTarget = "[[target]]\nname = \"rt1\"\nkind = \"icmp\"\naddress = \"10.0.0.1\"\n"

func TestUnarmedConfigsAreRefused(t *testing.T) {
	cases := []struct {
		name, src string
		env       map[string]string
		want      []string // nil: accepted
	}{
		{name: "empty file", src: "", want: []string{noTarget, noPerson, noPolicy}},
		{name: "comments only", src: "# foghorn\n# nothing yet\n", want: []string{noTarget, noPerson, noPolicy}},
		{name: "server only", src: "[server]\nlisten = \"127.0.0.1:8080\"\ndata_dir = \"/tmp/foghorn-test\"\n", want: []string{noTarget, noPerson, noPolicy}},
		{name: "people and policy, no target", src: base, want: []string{noTarget}},
		{
			name: "targets but nobody to page",
			src:  "[self_check]\ncanaries = [\"127.0.0.1\"]\n" + armedTarget,
			want: []string{
				noPerson, noPolicy,
				`t.toml:3: target "rt1" policy: no policy: nobody would be paged when it fails; fix: set policy = "..." on the target, or default_policy under [escalation]`,
			},
		},
		{
			name: "a person but no policy",
			src:  "[self_check]\ncanaries = [\"127.0.0.1\"]\n[[person]]\nname = \"alice\"\nphone = \"+4915112345671\"\n" + armedTarget,
			want: []string{
				noPolicy,
				`t.toml:6: target "rt1" policy: no policy: nobody would be paged when it fails; fix: set policy = "..." on the target, or default_policy under [escalation]`,
			},
		},
		{name: "the base with a target", src: base + armedTarget},
		{
			name: "a rotation with members reaches a person",
			src: strings.Replace(base, `who = ["alice"]`, `who = ["rotation:ops"]`, 1) +
				"[[rotation]]\nname = \"ops\"\nmembers = [\"alice\"]\n" + armedTarget,
		},
		// Alertmanager only: no targets, but alerts reach the intake (a
		// responder token) and have a policy (default_policy).
		{name: "alertmanager only, api token from the environment", src: base, env: map[string]string{"FOGHORN_API_TOKEN": "0123456789abcdef0123"}},
		{name: "alertmanager only, an [[api_token]]", src: base + "[[api_token]]\nname = \"am\"\nsha256 = \"" + strings.Repeat("ab", 32) + "\"\n"},
		{name: "alertmanager only with a viewer token cannot send alerts", src: base + "[[api_token]]\nname = \"grafana\"\nsha256 = \"" + strings.Repeat("ab", 32) + "\"\nrole = \"viewer\"\n", want: []string{noTarget}},
		{
			name: "alertmanager only without default_policy",
			src:  strings.Replace(base, "default_policy = \"ops\"\n", "", 1),
			env:  map[string]string{"FOGHORN_API_TOKEN": "0123456789abcdef0123"},
			want: []string{noTarget},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := func(k string) string { return tc.env[k] }
			_, err := ParseArmed("t.toml", t.TempDir(), []byte(tc.src), env)
			switch {
			case tc.want == nil && err != nil:
				t.Fatalf("refused:\n%v", err)
			case tc.want == nil:
				return
			case err == nil:
				t.Fatalf("accepted, want:\n%s", strings.Join(tc.want, "\n"))
			}
			if got, want := err.Error(), strings.Join(tc.want, "\n"); got != want {
				t.Errorf("problems:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

// Parse and Load read fragments (foghorn oncall, the packages' tests): only
// what runs is held to being armed.
func TestFragmentsStillParse(t *testing.T) {
	for _, src := range []string{"", "[server]\n", base} {
		if _, err := Parse("t.toml", t.TempDir(), []byte(src), noEnv); err != nil {
			t.Errorf("%q: %v", src, err)
		}
	}
}

const tokenFix = "fix: put the Auth Token from the Twilio console (Account > API keys & tokens) in the file, alone on one line"

// A token file as editors and copy-paste leave it: surrounding whitespace
// is no part of any secret; anything else that cannot be a Twilio auth
// token is refused, naming the file and never showing the token.
func TestTwilioTokenShape(t *testing.T) {
	const good = "5ec7e70c3a9f4b21d8e6a0b4c2f19d37"
	withFile := strings.Replace(base, "simulator = true\n",
		"account_sid = \"AC0123456789abcdef0123456789abcdef\"\nauth_token_file = \"tok\"\n", 1)
	withFileLine := "t.toml:6: twilio auth_token_file: file \"tok\" does not hold a Twilio auth token (32 hex digits, 0-9 and a-f): "
	cases := []struct {
		name, src, file string
		env             string // FOGHORN_TWILIO_AUTH_TOKEN
		want            string // "" accepted
	}{
		{name: "a clean token", src: withFile, file: good},
		{name: "a final newline", src: withFile, file: good + "\n"},
		{name: "a trailing space", src: withFile, file: good + " \n"},
		{name: "CRLF and a tab", src: withFile, file: "\t" + good + "\r\n"},
		{name: "a trailing dash", src: withFile, file: good + "-\n",
			want: withFileLine + "it is 33 characters long, and character 33 is not a hex digit; " + tokenFix},
		{name: "a dash inside", src: withFile, file: good[:16] + "-" + good[17:],
			want: withFileLine + "character 17 is not a hex digit; " + tokenFix},
		{name: "too short", src: withFile, file: good[:31],
			want: withFileLine + "it is 31 characters long; " + tokenFix},
		{name: "upper case", src: withFile, file: strings.ToUpper(good),
			want: withFileLine + "character 2 is not a hex digit; " + tokenFix},
		{name: "a label pasted along", src: withFile, file: "AUTH_TOKEN=" + good,
			want: withFileLine + "it is 43 characters long, and character 1 is not a hex digit; " + tokenFix},
		{name: "from the environment", src: strings.Replace(base, "simulator = true\n", "account_sid = \"AC0123456789abcdef0123456789abcdef\"\n", 1),
			env: "token-" + good,
			want: "t.toml:4: twilio auth token: FOGHORN_TWILIO_AUTH_TOKEN does not hold a Twilio auth token (32 hex digits, 0-9 and a-f): " +
				"it is 38 characters long, and character 1 is not a hex digit; fix: export FOGHORN_TWILIO_AUTH_TOKEN with the Auth Token from the Twilio console (Account > API keys & tokens), nothing else"},
		{name: "from the environment, trailing newline", src: strings.Replace(base, "simulator = true\n", "account_sid = \"AC0123456789abcdef0123456789abcdef\"\n", 1),
			env: good + "\n"},
		// The simulator uses its own default token when none is given; one
		// that is given must have the shape, as it would with Twilio.
		{name: "simulator without a token", src: base},
		{name: "simulator with a bad token", src: strings.Replace(base, "simulator = true\n", "simulator = true\nauth_token_file = \"tok\"\n", 1),
			file: "simtoken", want: "t.toml:6: twilio auth_token_file: file \"tok\" does not hold a Twilio auth token (32 hex digits, 0-9 and a-f): " +
				"it is 8 characters long, and character 1 is not a hex digit; " + tokenFix},
		{name: "account SID with a trailing space", src: strings.Replace(withFile, "abcdef\"\nauth", "abcdef \"\nauth", 1), file: good,
			want: `t.toml:5: twilio account_sid: "AC0123456789abcdef0123456789abcdef " is not a Twilio account SID; fix: copy the Account SID from the Twilio console: AC followed by 32 hex digits`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if tc.file != "" {
				if err := os.WriteFile(filepath.Join(dir, "tok"), []byte(tc.file), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			cfg, err := Parse("t.toml", dir, []byte(tc.src), func(k string) string {
				if k == "FOGHORN_TWILIO_AUTH_TOKEN" {
					return tc.env
				}
				return ""
			})
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused:\n%v", err)
				}
				if v := cfg.Twilio.AuthToken.Reveal(); v != "" && v != good {
					t.Errorf("token read as %q, want it trimmed", v)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted, want:\n%s", tc.want)
			}
			if got := err.Error(); got != tc.want {
				t.Errorf("problems:\n%s\nwant:\n%s", got, tc.want)
			}
			if strings.Contains(err.Error(), good[:8]) || strings.Contains(err.Error(), strings.ToUpper(good[:8])) {
				t.Errorf("the problem shows the token: %v", err)
			}
		})
	}
}
