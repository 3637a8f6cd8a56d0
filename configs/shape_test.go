package configs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runBroken parses base (with replace applied) plus add and compares every
// problem line with want ("t.toml:+N:" counts from the end of base).
func runBroken(t *testing.T, replace [2]string, add string, want []string) {
	t.Helper()
	src := base
	if replace[0] != "" {
		if !strings.Contains(src, replace[0]) {
			t.Fatalf("bad test: %q not in base", replace[0])
		}
		src = strings.Replace(src, replace[0], replace[1], 1)
	}
	src += add
	_, err := Parse("t.toml", t.TempDir(), []byte(src), noEnv)
	if err == nil {
		t.Fatalf("config accepted, want:\n%s", strings.Join(want, "\n"))
	}
	var exp []string
	for _, w := range want {
		exp = append(exp, expand(w))
	}
	if got := err.Error(); got != strings.Join(exp, "\n") {
		t.Errorf("problems:\n%s\nwant:\n%s", got, strings.Join(exp, "\n"))
	}
}

const twoRouters = `[[target]]
name = "rt1"
kind = "tcp"
address = "10.0.0.1:22"
group = 5
[[target]]
name = "rt2"
kind = "tcp"
address = "10.0.0.2:22"
group = "routers"
[[group]]
name = "routers"
members = ["rt1", "rt2"]
`

// TestTypeErrorsAreReportedAtTheirOwnLineInWordsWithEveryOtherProblem: a
// value of the wrong type is reported where it is written, naming the
// target or step, in words, and does not hide any other problem.
func TestTypeErrorsAreReportedAtTheirOwnLineInWordsWithEveryOtherProblem(t *testing.T) {
	cases := []struct {
		name    string
		add     string
		replace [2]string
		want    []string
	}{
		{
			name: "a number for group in the first of two targets",
			add:  twoRouters,
			want: []string{`t.toml:+5: target "rt1" group: must be a string in double quotes, not the number 5; fix: write group = "5"`},
		},
		{
			name: "a string for channels in step 1 of two",
			add:  "[[policy]]\nname = \"night\"\n  [[policy.step]]\n  who = [\"alice\"]\n  channels = \"sms, voice\"\n  [[policy.step]]\n  who = [\"alice\"]\n  channels = [\"sms\"]\n  delay = \"5m\"\n",
			want: []string{`t.toml:+5: policy "night" step 1 channels: must be a list of strings, not the string "sms, voice"; fix: write a list, even of one: channels = ["sms", "voice"]`},
		},
		{
			name: "type errors with other problems, each at its line",
			add: "[[target]]\nname = \"web\"\nkind = \"tcp\"\naddress = \"10.0.0.1:80\"\nrise = \"two\"\nintervall = \"10s\"\n" +
				"[[target]]\nname = \"db\"\nkind = \"tcp\"\naddress = \"10.0.0.2:5432\"\nfall = \"3\"\ninterval = 30\n" +
				"[[person]]\nname = \"bob\"\nphone = \"0151 1234 5672\"\n",
			want: []string{
				`t.toml:+5: target "web" rise: must be a whole number, not the string "two"; fix: write a whole number without quotes, e.g. rise = 3`,
				`t.toml:+6: target "web": unknown key "intervall"; fix: did you mean "interval"?`,
				`t.toml:+11: target "db" fall: must be a whole number, not the string "3"; fix: write fall = 3, without quotes`,
				`t.toml:+12: target "db" interval: must be a duration in double quotes, such as "30s", not the number 30; fix: write interval = "30s" (with a unit: ms, s, m or h)`,
				`t.toml:+15: person "bob" phone: "0151 1234 5672" is not an E.164 phone number; fix: write the number in E.164 form: +, country code, number, no spaces or dashes, e.g. "+4915112345678"`,
			},
		},
		{
			name:    "a string for a flag and a table for a string",
			replace: [2]string{"simulator = true", "simulator = \"true\"\napi_base = {url = \"x\"}"},
			want: []string{
				`t.toml:5: twilio simulator: must be true or false, not the string "true"; fix: write simulator = true, without quotes`,
				`t.toml:6: twilio api_base: must be a string in double quotes, not a table; fix: write api_base = "..."`,
			},
		},
		{
			name: "a list with one item of the wrong type",
			add:  "[[target]]\nname = \"web\"\nkind = \"http\"\naddress = \"http://10.0.0.1/\"\n  [target.http]\n  status = [200, \"204\"]\n",
			want: []string{`t.toml:+6: target "web" http status: item 2 must be a whole number, not the string "204"; fix: write every item as a whole number, e.g. status = [200, 204]`},
		},
		{
			name: "a string where a table goes",
			add:  "[[target]]\nname = \"web\"\nkind = \"http\"\naddress = \"http://10.0.0.1/\"\nhttp = \"yes\"\n",
			want: []string{`t.toml:+5: target "web" http: must be a table [target.http], not the string "yes"; fix: write it as a table: a line [target.http] followed by its keys (see configs/example.toml)`},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { runBroken(t, tc.replace, tc.add, tc.want) })
	}
}

// TestWrongTypedLabelsAreErrors: labels that are not a table of strings
// used to vanish, so a selector silently missed the target.
func TestWrongTypedLabelsAreErrors(t *testing.T) {
	tg := "[[target]]\nname = \"rt1\"\nkind = \"tcp\"\naddress = \"10.0.0.1:22\"\n"
	cases := []struct{ name, labels, want string }{
		{"a string", `labels = "router"`, `t.toml:+5: target "rt1" labels: must be a table of strings, not the string "router"; fix: write labels = {role = "router"}`},
		{"a list of key=value", `labels = ["role=x", "site=fra1"]`, `t.toml:+5: target "rt1" labels: must be a table of strings, not a list; fix: write labels = {role = "x", site = "fra1"}`},
		{"a number inside", `labels = {role = 5}`, `t.toml:+5: target "rt1" labels: the value of "role" must be a string in double quotes, not the number 5; fix: write role = "5"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { runBroken(t, [2]string{}, tg+tc.labels+"\n", []string{tc.want}) })
	}
}

// TestInlineSecretsSayWhereSecretsGo: every secret key written inline is
// refused with its file key and its environment variable, and its value is
// never repeated.
func TestInlineSecretsSayWhereSecretsGo(t *testing.T) {
	const fix = "; fix: delete this line; write the secret into the file %s names (mode 0600, owned by the user foghorn runs as) or export %s"
	line := func(at, key, file, env string) string {
		return sprint("t.toml:%s: %s: secrets go in %s or %s, not in the config"+fix, at, key, file, env, file, env)
	}
	cases := []struct {
		name    string
		add     string
		replace [2]string
		want    []string
	}{
		{name: "twilio auth_token, and no second line for the missing token", replace: [2]string{"simulator = true", "account_sid = \"AC0123456789abcdef0123456789abcdef\"\nauth_token = \"s3cr3t-value\""},
			want: []string{line("6", "twilio auth_token", "auth_token_file", "FOGHORN_TWILIO_AUTH_TOKEN")}},
		{name: "server api_token", replace: [2]string{"[twilio]", "api_token = \"s3cr3t-value\"\n[twilio]"},
			want: []string{line("4", "server api_token", "api_token_file", "FOGHORN_API_TOKEN")}},
		{name: "smtp password", add: "[smtp]\nhost = \"mail.example.net\"\nfrom = \"f@example.net\"\npassword = \"s3cr3t-value\"\n",
			want: []string{line("+4", "smtp password", "password_file", "FOGHORN_SMTP_PASSWORD")}},
		{name: "ipmi password", add: "[[target]]\nname = \"pve1-bmc\"\nkind = \"ipmi\"\naddress = \"10.0.0.11\"\n  [target.ipmi]\n  username = \"foghorn\"\n  password = \"s3cr3t-value\"\n",
			want: []string{line("+7", `target "pve1-bmc" ipmi password`, "password_file", "FOGHORN_IPMI_PASSWORD_PVE1_BMC")}},
		{name: "snmp community and passphrases", add: "[[target]]\nname = \"sw1\"\nkind = \"snmp\"\naddress = \"10.0.0.5\"\n  [target.snmp]\n  community = \"s3cr3t-value\"\n  auth_passphrase = \"s3cr3t-value\"\n  priv_passphrase = \"s3cr3t-value\"\n",
			want: []string{
				line("+6", `target "sw1" snmp community`, "community_file", "FOGHORN_SNMP_COMMUNITY_SW1"),
				line("+7", `target "sw1" snmp auth_passphrase`, "auth_passphrase_file", "FOGHORN_SNMP_AUTH_SW1"),
				line("+8", `target "sw1" snmp priv_passphrase`, "priv_passphrase_file", "FOGHORN_SNMP_PRIV_SW1"),
			}},
		{name: "heartbeat token, and no second line for the missing token", add: "[[target]]\nname = \"backup\"\nkind = \"heartbeat\"\n  [target.heartbeat]\n  token = \"s3cr3t-value\"\n",
			want: []string{line("+5", `target "backup" heartbeat token`, "token_file", "FOGHORN_HEARTBEAT_TOKEN_BACKUP")}},
		{name: "a person's password", replace: [2]string{`phone = "+4915112345671"`, "phone = \"+4915112345671\"\npassword = \"s3cr3t-value\""},
			want: []string{"t.toml:14: person \"alice\" password: a password never goes in the config: only its hash, in password_hash; fix: delete this line; run `foghorn passwd` and paste the password_hash line it prints"}},
		{name: "an api_token's token", add: "[[api_token]]\nname = \"ci\"\ntoken = \"s3cr3t-value\"\n",
			want: []string{
				"t.toml:+1: api_token \"ci\" sha256: not a SHA-256 in hex (64 characters 0-9a-f); fix: paste the line `foghorn token NAME` printed; never the token itself",
				"t.toml:+3: api_token \"ci\" token: a token never goes in the config: only its SHA-256, in sha256; fix: delete this line; run `foghorn token NAME` and paste the sha256 line it prints",
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			runBroken(t, tc.replace, tc.add, tc.want)
			for _, w := range tc.want {
				if strings.Contains(w, "s3cr3t") {
					t.Fatal("bad test: a secret in the expected text")
				}
			}
		})
	}
}

// TestAMisspeltTableIsOneProblem: a typo in a table header is one line,
// not one per key inside it and per thing that then seems missing.
func TestAMisspeltTableIsOneProblem(t *testing.T) {
	tg := "[[target]]\nname = \"web\"\nkind = \"tcp\"\naddress = \"10.0.0.1:80\"\n"
	cases := []struct {
		name    string
		add     string
		replace [2]string
		want    []string
	}{
		{name: "[escalaton]", replace: [2]string{"[escalation]", "[escalaton]"}, add: tg,
			want: []string{`t.toml:9: unknown table [escalaton]; fix: did you mean [escalation]?`}},
		{name: "[escalaton] with a wrong key inside it still reports that key", replace: [2]string{"[escalation]", "[escalaton]\nstorm_windw = \"30s\""}, add: tg,
			want: []string{
				`t.toml:9: unknown table [escalaton]; fix: did you mean [escalation]?`,
				`t.toml:10: escalation: unknown key "storm_windw"; fix: did you mean "storm_window"?`,
			}},
		{name: "[[targt]]", add: "[[targt]]\nname = \"web\"\nkind = \"tcp\"\naddress = \"10.0.0.1:80\"\nrise = 2\n",
			want: []string{`t.toml:+1: unknown table [[targt]]; fix: did you mean [[target]]?`}},
		{name: "[target.htp]", add: tg + "  [target.htp]\n  method = \"GET\"\n  status = [200]\n",
			want: []string{`t.toml:+5: target "web": unknown table [target.htp]; fix: did you mean [target.http]?`}},
		{name: "a table that is no near miss", add: "[pager]\nretries = 3\nbackoff = \"1m\"\n",
			want: []string{`t.toml:+1: unknown table [pager]; fix: did you mean [power]?`}},
		{name: "a near miss of a table already there", add: "[escalaton]\nack_timeout = \"1h\"\n",
			want: []string{`t.toml:+1: unknown table [escalaton]; fix: did you mean [escalation]?`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { runBroken(t, tc.replace, tc.add, tc.want) })
	}
}

// TestScheduleErrorsAreInWords: a bad cron spec says which field is wrong
// and what it takes, never the parser's strconv text.
func TestScheduleErrorsAreInWords(t *testing.T) {
	const fix = `; fix: use five fields "minute hour day-of-month month day-of-week", e.g. "0 9 * * MON", or @daily/@weekly`
	cases := []struct{ spec, want string }{
		{"every monday", `bad schedule "every monday": it has 2 field(s), a schedule has five: minute hour day-of-month month day-of-week`},
		{"0 9 * * MONDAY", `bad schedule "0 9 * * MONDAY": the day-of-week field "MONDAY" must be 0-6 or SUN-SAT (or *, a range 1-5, a list 1,3,5, a step */2)`},
		{"0 25 * * MON", `bad schedule "0 25 * * MON": the hour field "25" must be 0-23 (or *, a range 1-5, a list 1,3,5, a step */2)`},
		{"x 9 * * MON", `bad schedule "x 9 * * MON": the minute field "x" must be 0-59 (or *, a range 1-5, a list 1,3,5, a step */2)`},
		{"0 9 * 13 MON", `bad schedule "0 9 * 13 MON": the month field "13" must be 1-12 or JAN-DEC (or *, a range 1-5, a list 1,3,5, a step */2)`},
		{"@fortnightly", `bad schedule "@fortnightly": @fortnightly is not a shorthand foghorn knows (@yearly, @monthly, @weekly, @daily, @hourly)`},
	}
	for _, tc := range cases {
		t.Run(tc.spec, func(t *testing.T) {
			add := "[[rotation]]\nname = \"ops\"\nmembers = [\"alice\"]\nhandoff = " + quote(tc.spec) + "\n"
			runBroken(t, [2]string{}, add, []string{`t.toml:+4: rotation "ops" handoff: ` + tc.want + fix})
		})
	}
}

// TestDuplicateNamesGiveBothLines: the second of two same-named entries
// says where the first is.
func TestDuplicateNamesGiveBothLines(t *testing.T) {
	add := "[[target]]\nname = \"a\"\nkind = \"icmp\"\naddress = \"10.0.0.1\"\n[[target]]\nname = \"b\"\nkind = \"icmp\"\naddress = \"10.0.0.2\"\n[[target]]\nname = \"a\"\nkind = \"icmp\"\naddress = \"10.0.0.3\"\n"
	runBroken(t, [2]string{}, add, []string{sprint(`t.toml:+10: target "a": duplicate name: the target at line %d has it too; fix: give each target a name of its own`, baseLines+2)})
}

// TestWorldReadableSecretFileWarns: a secret file every user can read is
// a warning (the config still loads); a private one is not.
func TestWorldReadableSecretFileWarns(t *testing.T) {
	dir := t.TempDir()
	tok := filepath.Join(dir, "tok")
	if err := os.WriteFile(tok, []byte("0123456789abcdef0123456789abcdef\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	src := strings.Replace(base, "simulator = true", "simulator = true\nauth_token_file = \"tok\"", 1)
	cfg, err := Parse("t.toml", dir, []byte(src), noEnv)
	if err != nil || len(cfg.Warnings) != 0 {
		t.Fatalf("mode 0600: err %v, warnings %v", err, cfg.Warnings)
	}
	if err := os.Chmod(tok, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err = Parse("t.toml", dir, []byte(src), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	want := `t.toml:6: twilio auth_token_file: warning: "tok" can be read by every user on this machine (mode 0644); fix: chmod 600 ` + tok + ` (and chown it to the user foghorn runs as)`
	if got := cfg.Warnings.Error(); got != want {
		t.Errorf("warnings:\n%s\nwant:\n%s", got, want)
	}
	// With an error too, the warning is in the same list.
	_, err = Parse("t.toml", dir, []byte(src+"[[person]]\nname = \"bob\"\nphone = \"123\"\n"), noEnv)
	if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), `person "bob" phone`) {
		t.Errorf("with an error: %v", err)
	}
}
