package configs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const ntfyBase = `[server]
data_dir = "/tmp/foghorn-test"
public_url = "https://foghorn.example.net"
[twilio]
account_sid = "AC0123456789abcdef0123456789abcdef"
from = "+15005550006"
[self_check]
canaries = ["127.0.0.1"]
[escalation]
default_policy = "ops"
[ntfy]
token_file = "ntfy-token"
[[person]]
name = "alice"
phone = "+4915112345671"
  [person.ntfy]
  topic_file = "alice-topic"
[[person]]
name = "bob"
phone = "+4915112345672"
[[rotation]]
name = "ops"
members = ["alice", "bob"]
handoff = "0 9 * * MON"
[[policy]]
name = "ops"
  [[policy.step]]
  who = ["rotation:ops"]
  channels = ["sms", "ntfy"]
`

func parseNtfy(t *testing.T, text string, files map[string]string) (*Config, error) {
	t.Helper()
	dir := t.TempDir()
	for name, v := range map[string]string{"ntfy-token": "tk_0123456789abcdef0123456789ab", "alice-topic": "foghorn-alice-0c9f1e22d4"} {
		if _, set := files[name]; !set {
			os.WriteFile(filepath.Join(dir, name), []byte(v+"\n"), 0o600)
		}
	}
	for name, v := range files {
		if v != "" {
			os.WriteFile(filepath.Join(dir, name), []byte(v), 0o600)
		}
	}
	env := func(k string) string {
		if k == "FOGHORN_TWILIO_AUTH_TOKEN" {
			return "0123456789abcdef0123456789abcdef"
		}
		return ""
	}
	return Parse("t.toml", dir, []byte(text), env)
}

// TestNtfyStepNeedsEachPersonsTopic: a step with "ntfy" that reaches a
// person without a topic is refused, like "sms" without a phone; with
// the topic it loads, with the defaults and the secrets read.
func TestNtfyStepNeedsEachPersonsTopic(t *testing.T) {
	_, err := parseNtfy(t, ntfyBase, nil)
	want := `t.toml:28: policy "ops" step 1 who: "bob" has no ntfy topic for the "ntfy" channel; fix: add [person.ntfy] with topic_file under "bob"'s [[person]], or drop "ntfy" from the step`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("want\n%s\ngot\n%v", want, err)
	}
	ok := strings.Replace(ntfyBase, `members = ["alice", "bob"]`, `members = ["alice"]`, 1)
	cfg, err := parseNtfy(t, ok, nil)
	if err != nil {
		t.Fatal(err)
	}
	n := cfg.Ntfy
	if n.Server != DefaultNtfyServer || n.LinkTTL.Duration != DefaultLinkTTL || n.Token.Reveal() != "tk_0123456789abcdef0123456789ab" {
		t.Fatalf("ntfy %+v", n)
	}
	if got := cfg.People[0].Ntfy.Topic.Reveal(); got != "foghorn-alice-0c9f1e22d4" {
		t.Fatalf("topic %q", got)
	}
}

func TestNtfyProblemsNameTheFix(t *testing.T) {
	one := func(s string) string {
		return strings.Replace(s, `members = ["alice", "bob"]`, `members = ["alice"]`, 1)
	}
	for name, c := range map[string]struct {
		text  string
		files map[string]string
		want  string
	}{
		"no public_url": {strings.Replace(one(ntfyBase), `public_url = "https://foghorn.example.net"`, "", 1), nil,
			`server public_url: missing: a step pages by ntfy, and its Ack button must call foghorn back`},
		"topic inline": {strings.Replace(one(ntfyBase), `topic_file = "alice-topic"`, `topic = "foghorn-alice-0c9f1e22d4"`, 1), nil,
			`secrets go in topic_file or FOGHORN_NTFY_TOPIC_<PERSON>, not in the config`},
		"no topic_file": {strings.Replace(one(ntfyBase), `topic_file = "alice-topic"`, "", 1), nil,
			`person "alice" ntfy topic_file: missing: the topic the person's ntfy app subscribes to`},
		"bad topic": {one(ntfyBase), map[string]string{"alice-topic": "my topic/1\n"},
			`person "alice" ntfy topic_file: the topic is not a valid ntfy topic name (10 characters)`},
		"missing topic file": {one(ntfyBase), map[string]string{"alice-topic": ""},
			`person "alice" ntfy topic_file: file "alice-topic" does not exist`},
		"bad server": {strings.Replace(one(ntfyBase), `token_file = "ntfy-token"`, "token_file = \"ntfy-token\"\nserver = \"ntfy.sh\"", 1), nil,
			`ntfy server: "ntfy.sh" is not an http(s) URL`},
		"link_ttl": {strings.Replace(one(ntfyBase), `token_file = "ntfy-token"`, "token_file = \"ntfy-token\"\nlink_ttl = \"7d\"", 1), nil,
			`"7d" is not a valid duration`},
		"link_ttl range": {strings.Replace(one(ntfyBase), `token_file = "ntfy-token"`, "token_file = \"ntfy-token\"\nlink_ttl = \"72h\"", 1), nil,
			`ntfy link_ttl: 72h0m0s is outside 1m..24h`},
	} {
		_, err := parseNtfy(t, c.text, c.files)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: want %q, got\n%v", name, c.want, err)
		}
		if err != nil && strings.Contains(err.Error(), "foghorn-alice-0c9f1e22d4") {
			t.Errorf("%s: the topic was printed: %v", name, err)
		}
	}
}

// A short topic with no token on a public server is readable by whoever
// guesses it: loaded, with a warning.
func TestNtfyShortUnprotectedTopicWarns(t *testing.T) {
	text := strings.Replace(strings.Replace(ntfyBase, `members = ["alice", "bob"]`, `members = ["alice"]`, 1), `token_file = "ntfy-token"`, "", 1)
	cfg, err := parseNtfy(t, text, map[string]string{"alice-topic": "alerts\n"})
	if err != nil {
		t.Fatal(err)
	}
	if w := cfg.Warnings.Error(); !strings.Contains(w, "the topic is 6 characters and no access token protects it") {
		t.Fatalf("warnings %q", w)
	}
}
