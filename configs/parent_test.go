package configs

import (
	"strings"
	"testing"
)

// pair is two routers in a group "routers", appended to base (lines +1
// to +12).
const pair = "[[target]]\nname = \"rt1\"\nkind = \"icmp\"\naddress = \"10.0.0.1\"\ngroup = \"routers\"\n" +
	"[[target]]\nname = \"rt2\"\nkind = \"icmp\"\naddress = \"10.0.0.2\"\ngroup = \"routers\"\n" +
	"[[group]]\nname = \"routers\"\n"

// web is a target behind parent, appended after pair (lines +13 to +17).
func web(parent string) string {
	return "[[target]]\nname = \"web\"\nkind = \"tcp\"\naddress = \"10.0.0.5:80\"\nparent = \"" + parent + "\"\n"
}

func TestParentMayBeAGroup(t *testing.T) {
	cfg, err := Parse("t.toml", t.TempDir(), []byte(base+pair+web("routers")), noEnv)
	if err != nil {
		t.Fatalf("a router pair as parent refused:\n%v", err)
	}
	if p := cfg.Target("web").Parent; p != "routers" {
		t.Fatalf("parent %q", p)
	}
}

func TestParentProblemsSayTheFix(t *testing.T) {
	cases := []struct {
		name, add string
		want      []string
	}{
		{
			name: "misspelt group",
			add:  pair + web("router"),
			want: []string{`t.toml:+17: target "web" parent: unknown target or group "router"; fix: did you mean "routers"?`},
		},
		{
			name: "a router behind its own pair",
			add:  strings.Replace(pair, "group = \"routers\"\n", "group = \"routers\"\nparent = \"routers\"\n", 1),
			want: []string{`t.toml:+6: target "rt1" parent: parents loop: rt1 -> routers -> rt1; fix: break the loop: the top of a chain (the router nearest foghorn) has no parent; a group's members are never behind the group itself (routers)`},
		},
		{
			name: "a router behind a host behind the pair",
			add:  strings.Replace(pair, "group = \"routers\"\n", "group = \"routers\"\nparent = \"web\"\n", 1) + web("routers"),
			want: []string{`t.toml:+6: target "rt1" parent: parents loop: rt1 -> web -> routers -> rt1; fix: break the loop: the top of a chain (the router nearest foghorn) has no parent; a group's members are never behind the group itself (routers)`},
		},
		{
			name: "a name both a target and a group",
			add:  pair + "[[target]]\nname = \"routers\"\nkind = \"icmp\"\naddress = \"10.0.0.3\"\n" + web("routers"),
			want: []string{`t.toml:+21: target "web" parent: "routers" is both a target and a group; fix: rename the [[target]] or the [[group]]: a parent must name one of them`},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("t.toml", t.TempDir(), []byte(base+tc.add), noEnv)
			if err == nil {
				t.Fatalf("config accepted, want:\n%s", strings.Join(tc.want, "\n"))
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
