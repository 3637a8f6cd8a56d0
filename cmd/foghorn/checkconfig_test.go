package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestCheckConfigListsEveryProblemOfABrokenExampleAtItsLine breaks a copy
// of configs/example.toml the ways a new user does (a number for a group, a
// string for channels, labels as a string, an inline secret, a misspelt
// table, a day name cron does not know, a name used twice, a secret file
// others can read) and checks that check-config names each at its own
// file:line, in words, with nothing hidden and nothing following on.
func TestCheckConfigListsEveryProblemOfABrokenExampleAtItsLine(t *testing.T) {
	raw, err := os.ReadFile("../../configs/example.toml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, f := range []string{"twilio-token.example", "bmc-password.example", "heartbeat-token.example"} {
		b, err := os.ReadFile(filepath.Join("../../configs", f))
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, f), string(b))
	}
	if err := os.Chmod(filepath.Join(dir, "bmc-password.example"), 0o644); err != nil {
		t.Fatal(err)
	}
	src := string(raw)
	// edit replaces the n-th (1-based) occurrence of old and marks the
	// line for want.
	edit := func(old, new string, n int) {
		t.Helper()
		i := -1
		for k := 0; k < n; k++ {
			j := strings.Index(src[i+1:], old)
			if j < 0 {
				t.Fatalf("example.toml no longer has %q (#%d); update this test", old, n)
			}
			i += 1 + j
		}
		src = src[:i] + new + src[i+len(old):]
	}
	edit(`group = "routers"`, `group = 5`, 1)                                   // rt1
	edit(`labels = { role = "router", site = "fra1" }`, `labels = "router"`, 2) // rt2
	edit(`channels = ["sms", "voice"]`, `channels = "sms"`, 1)                  // policy ops step 1
	edit(`auth_token_file = "twilio-token.example"`, `auth_token = "0123456789abcdef0123456789abcdef"`, 1)
	edit("[escalation]\n", "[escalaton]\n", 1)
	edit(`handoff = "0 9 * * MON"`, `handoff = "0 9 * * MONDAY"`, 1)
	src += "\n[[target]]\nname = \"dns1\"\nkind = \"icmp\"\naddress = \"192.0.2.53\"\n"
	path := filepath.Join(dir, "foghorn.toml")
	writeFile(t, path, src)

	lineOf := func(s string, n int) int {
		t.Helper()
		seen := 0
		for i, l := range strings.Split(src, "\n") {
			if strings.HasPrefix(strings.TrimSpace(l), s) {
				if seen++; seen == n {
					return i + 1
				}
			}
		}
		t.Fatalf("no line %q (#%d)", s, n)
		return 0
	}
	at := func(s string, n int) string { return path + ":" + strconv.Itoa(lineOf(s, n)) + ": " }
	bmc := func(n int, name string) string {
		return at(`password_file = "bmc-password.example"`, n) + `target "` + name + `" ipmi password_file: warning: "bmc-password.example" can be read by every user on this machine (mode 0644); fix: chmod 600 ` +
			filepath.Join(dir, "bmc-password.example") + ` (and chown it to the user foghorn runs as)`
	}
	want := []string{
		at(`auth_token = `, 1) + `twilio auth_token: secrets go in auth_token_file or FOGHORN_TWILIO_AUTH_TOKEN, not in the config; fix: delete this line; write the secret into the file auth_token_file names (mode 0600, owned by the user foghorn runs as) or export FOGHORN_TWILIO_AUTH_TOKEN`,
		at(`[escalaton]`, 1) + `unknown table [escalaton]; fix: did you mean [escalation]?`,
		at(`handoff = `, 1) + `rotation "ops" handoff: bad schedule "0 9 * * MONDAY": the day-of-week field "MONDAY" must be 0-6 or SUN-SAT (or *, a range 1-5, a list 1,3,5, a step */2); fix: use five fields "minute hour day-of-month month day-of-week", e.g. "0 9 * * MON", or @daily/@weekly`,
		at(`channels = "sms"`, 1) + `policy "ops" step 1 channels: must be a list of strings, not the string "sms"; fix: write a list, even of one: channels = ["sms"]`,
		at(`group = 5`, 1) + `target "rt1" group: must be a string in double quotes, not the number 5; fix: write group = "5"`,
		at(`labels = "router"`, 1) + `target "rt2" labels: must be a table of strings, not the string "router"; fix: write labels = {role = "router"}`,
		bmc(1, "pve1-bmc"), bmc(2, "pve2-bmc"), bmc(3, "pve3-bmc"),
		at(`name = "dns1"`, 2) + `target "dns1": duplicate name: the target at line ` + strconv.Itoa(lineOf(`name = "dns1"`, 1)) + ` has it too; fix: give each target a name of its own`,
		path + `: 7 problem(s) and 3 warning(s); nothing was started`,
	}
	out, code := runFor(t, 30*time.Second, "check-config", path)
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	if got := strings.TrimSpace(out); got != strings.Join(want, "\n") {
		t.Errorf("check-config said:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
	}
	if regexp.MustCompile(`cannot read TOML|incompatible types|strconv|Atoi| #\d`).MatchString(out) {
		t.Errorf("decoder or parser jargon in:\n%s", out)
	}
}

// TestRunLogsAWorldReadableSecretFile: the warning check-config prints is
// also in run's log, and foghorn starts anyway.
func TestRunLogsAWorldReadableSecretFile(t *testing.T) {
	dir := t.TempDir()
	tok := filepath.Join(dir, "api-token")
	writeFile(t, tok, "0123456789abcdef0123456789abcdef\n")
	if err := os.Chmod(tok, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := strings.Replace(siteConfig(filepath.Join(dir, "data"), neverProbed), "[self_check]", "api_token_file = \"api-token\"\n[self_check]", 1)
	path := filepath.Join(dir, "foghorn.toml")
	writeFile(t, path, cfg)
	p := start(t, "run", "-config", path, "-log-format", "json")
	p.wait(t, 0, "config warning", map[string]string{
		"problem": path + `:4: server api_token_file: warning: "api-token" can be read by every user on this machine (mode 0644); fix: chmod 600 ` + tok + ` (and chown it to the user foghorn runs as)`,
	})
}
