package configs

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// base is a valid config; each broken case appends to it (or replaces a
// part of it), and its expected problem gives lines as "+N", counted from
// the end of base.
const base = `[server]
public_url = "https://foghorn.example.net"
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
`

var baseLines = strings.Count(base, "\n")

func sprint(format string, a ...any) string { return fmt.Sprintf(format, a...) }

var plusRE = regexp.MustCompile(`t\.toml:\+(\d+):`)

// expand turns "t.toml:+3:" into the absolute line.
func expand(s string) string {
	return plusRE.ReplaceAllStringFunc(s, func(m string) string {
		n, _ := strconv.Atoi(plusRE.FindStringSubmatch(m)[1])
		return "t.toml:" + strconv.Itoa(baseLines+n) + ":"
	})
}

func TestBrokenConfigs(t *testing.T) {
	cases := []struct {
		name    string
		add     string    // appended to base
		replace [2]string // optional replacement in base first
		want    []string  // every problem, in order
	}{
		{
			name: "toml syntax error",
			add:  "[[target]]\nname = \"web\nkind = \"http\"\n",
			want: []string{`t.toml:+2: target.name: cannot read TOML: strings cannot contain newlines; fix: correct the syntax at that line (strings in double quotes, durations as strings like "30s", one [[target]] header per target)`},
		},
		{
			name: "wrong value type",
			add:  "[[target]]\nname = \"web\"\nkind = \"tcp\"\naddress = \"10.0.0.1:80\"\nrise = \"two\"\n",
			want: []string{`t.toml:+5: target "web" rise: must be a whole number, not the string "two"; fix: write a whole number without quotes, e.g. rise = 3`},
		},
		{
			name: "unknown key with suggestion",
			add:  "[[target]]\nname = \"web\"\nkind = \"tcp\"\naddress = \"10.0.0.1:80\"\nintervall = \"10s\"\n",
			want: []string{`t.toml:+5: target "web": unknown key "intervall"; fix: did you mean "interval"?`},
		},
		{
			name: "unknown key in the second of two targets",
			add:  "[[target]]\nname = \"a\"\nkind = \"tcp\"\naddress = \"10.0.0.1:80\"\n[[target]]\nname = \"b\"\nkind = \"tcp\"\naddress = \"10.0.0.2:80\"\ntimout = \"1s\"\n",
			want: []string{`t.toml:+9: target "b": unknown key "timout"; fix: did you mean "timeout"?`},
		},
		{
			name: "unknown table",
			add:  "[pager]\nretries = 3\n",
			want: []string{`t.toml:+1: unknown table [pager]; fix: did you mean [power]?`},
		},
		{
			name: "phone not E.164",
			add:  "[[person]]\nname = \"bob\"\nphone = \"0151 1234 5672\"\n",
			want: []string{`t.toml:+3: person "bob" phone: "0151 1234 5672" is not an E.164 phone number; fix: write the number in E.164 form: +, country code, number, no spaces or dashes, e.g. "+4915112345678"`},
		},
		{
			name: "phone with spaces gets the exact fix",
			add:  "[[person]]\nname = \"bob\"\nphone = \"+49 151 1234-5672\"\n",
			want: []string{`t.toml:+3: person "bob" phone: "+49 151 1234-5672" is not an E.164 phone number; fix: write it without spaces or punctuation: "+4915112345672"`},
		},
		{
			name: "two people share a phone",
			add:  "[[person]]\nname = \"bob\"\nphone = \"+4915112345671\"\n",
			want: []string{`t.toml:+3: person "bob" phone: +4915112345671 is also "alice"'s number; fix: give each person their own number: SMS replies are matched to people by number`},
		},
		{
			name: "duplicate person",
			add:  "[[person]]\nname = \"alice\"\nphone = \"+4915112345672\"\n",
			want: []string{`t.toml:+2: person "alice": duplicate name: the person at line 12 has it too; fix: give each person a name of their own`},
		},
		{
			name: "bad duration",
			add:  "[[target]]\nname = \"web\"\nkind = \"tcp\"\naddress = \"10.0.0.1:80\"\ninterval = \"5 minutes\"\n",
			want: []string{`t.toml:+5: target "web" interval: "5 minutes" is not a valid duration; fix: write a duration like "30s", "5m" or "1h30m" (units: ms, s, m, h)`},
		},
		{
			name: "timeout not below interval",
			add:  "[[target]]\nname = \"web\"\nkind = \"tcp\"\naddress = \"10.0.0.1:80\"\ninterval = \"5s\"\ntimeout = \"10s\"\n",
			want: []string{`t.toml:+6: target "web" timeout: 10s is not shorter than interval 5s: probes would overlap; fix: make timeout shorter than interval, e.g. timeout = "2.5s"`},
		},
		{
			name: "bad cron in rotation",
			add:  "[[rotation]]\nname = \"ops\"\nmembers = [\"alice\"]\nhandoff = \"every monday\"\n",
			want: []string{`t.toml:+4: rotation "ops" handoff: bad schedule "every monday": it has 2 field(s), a schedule has five: minute hour day-of-month month day-of-week; fix: use five fields "minute hour day-of-month month day-of-week", e.g. "0 9 * * MON", or @daily/@weekly`},
		},
		{
			name: "rotation member unknown",
			add:  "[[rotation]]\nname = \"ops\"\nmembers = [\"alice\", \"bobb\"]\nhandoff = \"0 9 * * MON\"\n",
			want: []string{`t.toml:+3: rotation "ops" members: unknown person "bobb"; fix: add a [[person]] with that name, or fix the spelling`},
		},
		{
			name: "unknown time zone",
			add:  "[[rotation]]\nname = \"ops\"\nmembers = [\"alice\"]\ntimezone = \"Europe/Berlinn\"\n",
			want: []string{`t.toml:+4: rotation "ops" timezone: unknown time zone "Europe/Berlinn"; fix: use an IANA zone name such as "Europe/Berlin", "America/New_York" or "UTC"`},
		},
		{
			name: "step names unknown rotation",
			add:  "[[policy]]\nname = \"night\"\n  [[policy.step]]\n  who = [\"rotation:nights\"]\n",
			want: []string{`t.toml:+4: policy "night" step 1 who: unknown rotation "nights"; fix: add a [[rotation]] with that name, or fix the spelling`},
		},
		{
			name: "step with unknown channel",
			add:  "[[policy]]\nname = \"p2\"\n  [[policy.step]]\n  who = [\"alice\"]\n  channels = [\"pager\"]\n",
			want: []string{`t.toml:+5: policy "p2" step 1 channels: unknown channel "pager"; fix: use one of "sms", "voice", "email", "ntfy", "pushover" or "telegram"`},
		},
		{
			name: "email channel without smtp",
			add:  "[[policy]]\nname = \"p2\"\n  [[policy.step]]\n  who = [\"alice\"]\n  channels = [\"email\"]\n",
			want: []string{`t.toml:+5: policy "p2" step 1 channels: "email" needs [smtp], but it is not configured; fix: configure [smtp] host and from`},
		},
		{
			name: "repeat until ack without interval",
			add:  "[[policy]]\nname = \"p2\"\n  [[policy.step]]\n  who = [\"alice\"]\n  until_ack = true\n",
			want: []string{`t.toml:+3: policy "p2" step 1 interval: repeating needs an interval of at least 30s between rounds (got 0s); fix: set interval to at least "30s", e.g. interval = "5m"`},
		},
		{
			name: "policy loops to a missing step",
			add:  "[[policy]]\nname = \"p2\"\nloop_from = 3\n  [[policy.step]]\n  who = [\"alice\"]\n",
			want: []string{`t.toml:+3: policy "p2" loop_from: step 3 does not exist (the policy has 1); fix: use a step number from 1 to the number of steps, or 0 to keep repeating the last step`},
		},
		{
			name: "policy without steps",
			add:  "[[policy]]\nname = \"empty\"\n",
			want: []string{`t.toml:+1: policy "empty": has no steps: it would page nobody; fix: add at least one [[policy.step]] with who and channels`},
		},
		{
			name: "unknown kind with suggestion",
			add:  "[[target]]\nname = \"web\"\nkind = \"htp\"\naddress = \"http://10.0.0.1/\"\n",
			want: []string{`t.toml:+3: target "web" kind: unknown kind "htp"; fix: did you mean "http"?`},
		},
		{
			name: "missing address",
			add:  "[[target]]\nname = \"web\"\nkind = \"http\"\n",
			want: []string{`t.toml:+1: target "web" address: missing: foghorn does not know where to probe; fix: write a URL, e.g. address = "https://www.example.net/health"`},
		},
		{
			name: "tcp address without port",
			add:  "[[target]]\nname = \"ssh\"\nkind = \"tcp\"\naddress = \"10.0.0.1\"\n",
			want: []string{`t.toml:+4: target "ssh" address: "10.0.0.1" is not a valid address for kind "tcp"; fix: write host:port, e.g. address = "10.0.0.5:22"`},
		},
		{
			name: "unknown parent",
			add:  "[[target]]\nname = \"web\"\nkind = \"tcp\"\naddress = \"10.0.0.1:80\"\nparent = \"rt9\"\n",
			want: []string{`t.toml:+5: target "web" parent: unknown target or group "rt9"; fix: name the [[target]] or the [[group]] (a router pair) it is reached through, or fix the spelling`},
		},
		{
			name: "parent cycle",
			add: "[[target]]\nname = \"a\"\nkind = \"tcp\"\naddress = \"10.0.0.1:80\"\nparent = \"c\"\n" +
				"[[target]]\nname = \"b\"\nkind = \"tcp\"\naddress = \"10.0.0.2:80\"\nparent = \"a\"\n" +
				"[[target]]\nname = \"c\"\nkind = \"tcp\"\naddress = \"10.0.0.3:80\"\nparent = \"b\"\n",
			want: []string{`t.toml:+5: target "a" parent: parents loop: a -> c -> b -> a; fix: break the loop: the top of a chain (the router nearest foghorn) has no parent`},
		},
		{
			name: "own parent",
			add:  "[[target]]\nname = \"a\"\nkind = \"tcp\"\naddress = \"10.0.0.1:80\"\nparent = \"a\"\n",
			want: []string{`t.toml:+5: target "a" parent: a target cannot be its own parent; fix: name the router or switch this target is reached through`},
		},
		{
			name: "duplicate target",
			add:  "[[target]]\nname = \"a\"\nkind = \"icmp\"\naddress = \"10.0.0.1\"\n[[target]]\nname = \"a\"\nkind = \"icmp\"\naddress = \"10.0.0.2\"\n",
			want: []string{sprint(`t.toml:+6: target "a": duplicate name: the target at line %d has it too; fix: give each target a name of its own`, baseLines+2)},
		},
		{
			name: "unknown policy on target",
			add:  "[[target]]\nname = \"a\"\nkind = \"icmp\"\naddress = \"10.0.0.1\"\npolicy = \"opps\"\n",
			want: []string{`t.toml:+5: target "a" policy: unknown policy "opps"; fix: name one of the [[policy]] entries`},
		},
		{
			name:    "no policy anywhere",
			replace: [2]string{"default_policy = \"ops\"\n", ""},
			add:     "[[target]]\nname = \"a\"\nkind = \"icmp\"\naddress = \"10.0.0.1\"\n",
			want:    []string{`t.toml:+0: target "a" policy: no policy: nobody would be paged when it fails; fix: set policy = "..." on the target, or default_policy under [escalation]`},
		},
		{
			name: "group min_up impossible",
			add:  "[[target]]\nname = \"rt1\"\nkind = \"icmp\"\naddress = \"10.0.0.1\"\ngroup = \"routers\"\n[[group]]\nname = \"routers\"\nmin_up = 2\n",
			want: []string{`t.toml:+8: group "routers" min_up: 2 is impossible with 1 members: the group could never be up; fix: use a number from 1 to 1`},
		},
		{
			name: "group member unknown",
			add:  "[[group]]\nname = \"routers\"\nmembers = [\"rt1\"]\n",
			want: []string{`t.toml:+3: group "routers" members: unknown target "rt1"; fix: name a [[target]], or fix the spelling`},
		},
		{
			name: "bad selector",
			add:  "[[group]]\nname = \"hv\"\nselector = ['role=\"hv']\n",
			want: []string{`t.toml:+3: group "hv" selector: matcher 1 "role=\"hv": matcher value contains unescaped double quote: "hv; fix: write a matcher like 'role="hypervisor"', 'name=~"pve[0-9]+"' or 'site!="lab"'`},
		},
		{
			name: "unknown group on target",
			add:  "[[target]]\nname = \"a\"\nkind = \"icmp\"\naddress = \"10.0.0.1\"\ngroup = \"routerz\"\n",
			want: []string{`t.toml:+5: target "a" group: unknown group "routerz"; fix: add a [[group]] with that name, or fix the spelling`},
		},
		{
			name: "options of another kind",
			add:  "[[target]]\nname = \"a\"\nkind = \"tcp\"\naddress = \"10.0.0.1:80\"\n  [target.http]\n  status = [200]\n",
			want: []string{`t.toml:+5: target "a": has [target.http] options but its kind is "tcp"; fix: remove [target.http], or set kind = "http"`},
		},
		{
			name: "bad http status and regex",
			add:  "[[target]]\nname = \"a\"\nkind = \"http\"\naddress = \"http://10.0.0.1/\"\n  [target.http]\n  status = [700]\n  body_regex = 'ok('\n",
			want: []string{
				`t.toml:+6: target "a" http status: 700 is not an HTTP status; fix: use HTTP status codes from 100 to 599, e.g. status = [200, 204]`,
				"t.toml:+7: target \"a\" http body_regex: bad regular expression: error parsing regexp: missing closing ): `ok(`; fix: fix the regular expression (Go RE2 syntax; in TOML use '...' literal strings to avoid escaping)",
			},
		},
		{
			name: "snmp check asserting nothing",
			add:  "[[target]]\nname = \"sw\"\nkind = \"snmp\"\naddress = \"10.0.0.1\"\n  [[target.snmp.check]]\n  oid = \"1.3.6.1.2.1.1.3.0\"\n",
			want: []string{`t.toml:+5: target "sw" snmp check 1: asserts nothing: reachability alone is not a check; fix: add equals = "1" or min/max, e.g. max = 90`},
		},
		{
			name: "ipmi without user and bad interface",
			add:  "[[target]]\nname = \"bmc\"\nkind = \"ipmi\"\naddress = \"10.0.0.9\"\n  [target.ipmi]\n  interface = \"lanplus2\"\n",
			want: []string{
				`t.toml:+5: target "bmc" ipmi username: missing; fix: set username = "..." (a BMC user with operator rights for power actions)`,
				`t.toml:+6: target "bmc" ipmi interface: unknown interface "lanplus2"; fix: use "lanplus" (IPMI 2.0) or "lan" (IPMI 1.5)`,
			},
		},
		{
			name: "bmc link to a non-ipmi target",
			add:  "[[target]]\nname = \"a\"\nkind = \"icmp\"\naddress = \"10.0.0.1\"\nbmc = \"a\"\n",
			want: []string{`t.toml:+5: target "a" bmc: "a" is not an ipmi target; fix: name the target of kind "ipmi" that reads this host's BMC`},
		},
		{
			name: "heartbeat without token",
			add:  "[[target]]\nname = \"backup\"\nkind = \"heartbeat\"\ninterval = \"1h\"\n",
			want: []string{`t.toml:+3: target "backup": a heartbeat target needs a secret token, so nobody else can push for it; fix: set token_file under [target.heartbeat] or export FOGHORN_HEARTBEAT_TOKEN_BACKUP (a long random string, e.g. from ` + "`openssl rand -hex 16`" + `)`},
		},
		{
			name: "secret file missing",
			add:  "[[target]]\nname = \"bmc\"\nkind = \"ipmi\"\naddress = \"10.0.0.9\"\n  [target.ipmi]\n  username = \"admin\"\n  password_file = \"nope.txt\"\n",
			want: []string{`t.toml:+7: target "bmc" ipmi password_file: file "nope.txt" does not exist; fix: create the file with the secret on one line, or fix the path (relative paths start at the config's folder)`},
		},
		{
			name:    "twilio account without token or public url",
			replace: [2]string{"simulator = true\n", "account_sid = \"AC0123456789abcdef0123456789abcdef\"\n"},
			want:    []string{`t.toml:5: twilio: no auth token: account_sid is set but neither auth_token_file nor FOGHORN_TWILIO_AUTH_TOKEN gives the token; fix: set auth_token_file = "/etc/foghorn/twilio-token" or export FOGHORN_TWILIO_AUTH_TOKEN`},
		},
		{
			name:    "bad account sid",
			replace: [2]string{"simulator = true\n", "simulator = true\naccount_sid = \"12345\"\n"},
			want:    []string{`t.toml:6: twilio account_sid: "12345" is not a Twilio account SID; fix: copy the Account SID from the Twilio console: AC followed by 32 hex digits`},
		},
		{
			name:    "sms channel without twilio",
			replace: [2]string{"simulator = true\nfrom = \"+15005550006\"\n", ""},
			want:    []string{`t.toml:14: policy "ops" step 1 channels: "sms" needs Twilio, but [twilio] is not configured; fix: configure [twilio] (account_sid, auth token, from), or set simulator = true to try foghorn`},
		},
		{
			name:    "targets without canaries",
			replace: [2]string{"canaries = [\"127.0.0.1\"]\n", ""},
			add:     "[[target]]\nname = \"a\"\nkind = \"icmp\"\naddress = \"10.0.0.1\"\n",
			want:    []string{`t.toml:7: self_check canaries: missing: without canaries foghorn cannot tell its own network outage from your site's and would page everyone; fix: add two or three addresses outside your site, e.g. canaries = ["9.9.9.9", "1.1.1.1", "8.8.8.8"]`},
		},
		{
			name:    "bad listen address",
			replace: [2]string{"[server]\n", "[server]\nlisten = \"8080\"\n"},
			want:    []string{`t.toml:2: server listen: "8080" is not a host:port address; fix: write host:port, e.g. "127.0.0.1:8080" or ":8080"`},
		},
		{
			name: "maintenance with bad cron, no duration, bad matcher",
			add:  "[[maintenance]]\nname = \"sunday\"\nschedule = \"0 3 * * SUNDAY\"\nmatchers = ['role=~\"(\"']\n",
			want: []string{
				`t.toml:+1: maintenance "sunday" duration: missing or zero; fix: set how long it lasts, e.g. duration = "2h"`,
				`t.toml:+3: maintenance "sunday" schedule: bad schedule "0 3 * * SUNDAY": the day-of-week field "SUNDAY" must be 0-6 or SUN-SAT (or *, a range 1-5, a list 1,3,5, a step */2); fix: use five fields "minute hour day-of-month month day-of-week", e.g. "0 9 * * MON", or @daily/@weekly`,
				"t.toml:+4: maintenance \"sunday\" matchers: matcher 1 \"role=~\\\"(\\\"\": error parsing regexp: missing closing ): `^(?:()$`; fix: write a matcher like 'role=\"hypervisor\"', 'name=~\"pve[0-9]+\"' or 'site!=\"lab\"'",
			},
		},
		{
			name: "power enabled for an unknown person",
			add:  "[power]\nenabled = true\nallow = [\"mallory\"]\n",
			want: []string{`t.toml:+3: power allow: unknown person or api_token "mallory"; fix: list names from the [[person]] and [[api_token]] entries`},
		},
		{
			name: "quiet hours and role",
			add:  "[[person]]\nname = \"bob\"\nphone = \"+4915112345672\"\nquiet_hours = \"10pm-7am\"\nrole = \"admin\"\n",
			want: []string{
				`t.toml:+4: person "bob" quiet_hours: "10pm-7am" is not a time range; fix: write "HH:MM-HH:MM" in 24-hour time, e.g. "22:30-07:00"`,
				`t.toml:+5: person "bob" role: unknown role "admin"; fix: use "responder" (can ack and act) or "viewer" (read only)`,
			},
		},
		{
			name: "command plugin missing",
			add:  "[[target]]\nname = \"disk\"\nkind = \"command\"\n  [target.command]\n  argv = [\"/usr/lib/nagios/plugins/check_nothing_here\"]\n",
			want: []string{`t.toml:+5: target "disk" command argv: "/usr/lib/nagios/plugins/check_nothing_here" is not an executable file on this machine; fix: install the plugin (Debian: monitoring-plugins-basic) or fix the path`},
		},
		{
			name: "name with spaces",
			add:  "[[target]]\nname = \"web server\"\nkind = \"icmp\"\naddress = \"10.0.0.1\"\n",
			want: []string{`t.toml:+2: target "web server": name "web server" has characters that do not work in SMS commands and URLs; fix: use letters, digits, '-', '_' and '.', starting with a letter or digit`},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src := base
			if tc.replace[0] != "" {
				if !strings.Contains(src, tc.replace[0]) {
					t.Fatalf("bad test: %q not in base", tc.replace[0])
				}
				src = strings.Replace(src, tc.replace[0], tc.replace[1], 1)
			}
			src += tc.add
			_, err := Parse("t.toml", t.TempDir(), []byte(src), noEnv)
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
	if len(cases) < 25 {
		t.Fatalf("only %d broken configs", len(cases))
	}
}

func TestBaseIsValid(t *testing.T) {
	if _, err := Parse("t.toml", t.TempDir(), []byte(base), noEnv); err != nil {
		t.Fatal(err)
	}
}
