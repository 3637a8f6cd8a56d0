package configs

import (
	"strings"
	"testing"
)

// API acts are recorded under the token's name, so [power] allow may name
// a token, and a token may not share a name with a person or with the
// [server] token: the audit trail must say who acted without doubt.
func TestPowerAllowNamesPeopleAndTokens(t *testing.T) {
	sum := strings.Repeat("ab", 32)
	tok := func(name, role string) string {
		return "[[api_token]]\nname = " + quote(name) + "\nsha256 = " + quote(sum) + "\nrole = " + quote(role) + "\n"
	}
	cases := []struct {
		name string
		add  string
		want []string // "" for a valid config
	}{
		{name: "a person and a responder token", add: "[power]\nenabled = true\nallow = [\"alice\", \"ops-script\"]\n" + tok("ops-script", "responder")},
		{
			name: "a token named like a person",
			add:  tok("alice", "responder"),
			want: []string{`t.toml:+2: api_token "alice" name: the same name as a [[person]]: the audit trail could not tell this token's acts from alice's; fix: give the token a name of its own, e.g. "alice-script" (the audit trail records API acts under the token's name)`},
		},
		{
			name: "a token named api",
			add:  tok("api", "responder"),
			want: []string{`t.toml:+2: api_token "api" name: "api" is how the audit trail names the [server] api_token; fix: give the token a name of its own, e.g. "ops-script"`},
		},
		{
			name: "allow names the shared server token",
			add:  "[power]\nenabled = true\nallow = [\"api\"]\n",
			want: []string{`t.toml:+3: power allow: "api" is the [server] api_token, which is shared and names nobody: power by API needs a named [[api_token]]; fix: make a token for the script (foghorn token NAME) and list that name`},
		},
		{
			name: "allow names a viewer token",
			add:  "[power]\nenabled = true\nallow = [\"grafana\"]\n" + tok("grafana", "viewer"),
			want: []string{`t.toml:+3: power allow: api_token "grafana" is a viewer: it cannot act; fix: give the token role = "responder", or take it out of allow`},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("t.toml", t.TempDir(), []byte(base+tc.add), noEnv)
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted, want:\n%s", strings.Join(tc.want, "\n"))
			}
			var want []string
			for _, w := range tc.want {
				want = append(want, expand(w))
			}
			if got := err.Error(); got != strings.Join(want, "\n") {
				t.Errorf("problems:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
			}
		})
	}
}
