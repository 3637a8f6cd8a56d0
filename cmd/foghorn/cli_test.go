package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// runSplit runs the real binary with env added (FOGHORN_URL and
// FOGHORN_API_TOKEN cleared first, so the caller's shell cannot steer it)
// and returns its stdout, stderr and exit code.
func runSplit(t *testing.T, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), append([]string{"FOGHORN_URL=", "FOGHORN_API_TOKEN="}, env...)...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	return o.String(), e.String(), exitCode(err)
}

// helpCases is every subcommand with the usage line its -h must print
// (its arguments included) and a flag its help must list, "" for none.
var helpCases = []struct{ name, usage, flag string }{
	{"run", "usage: foghorn run -config FILE", "-log-format"},
	{"demo", "usage: foghorn demo [-data-dir DIR]", "-story"},
	{"check-config", "usage: foghorn check-config FILE", ""},
	{"oncall", "usage: foghorn oncall -config FILE", "-next"},
	{"passwd", "usage: foghorn passwd", ""},
	{"token", "usage: foghorn token NAME [viewer|responder|lease]", ""},
	{"cluster-key", "usage: foghorn cluster-key FILE", ""},
	{"vcard", "usage: foghorn vcard [-config FILE] PERSON", "-config"},
	{"audit", "usage: foghorn audit [-config FILE | -data-dir DIR | -url URL]", "-since WHEN"},
	{"status", "usage: foghorn status [-url URL | -config FILE]", "-url URL"},
	{"ack", "usage: foghorn ack [-url URL | -config FILE] [-as NOTE] ID", "-as NOTE"},
	{"resolve", "usage: foghorn resolve [-url URL | -config FILE] [-as NOTE] ID", "-config FILE"},
	{"escalate", "usage: foghorn escalate [-url URL | -config FILE] [-as NOTE] ID", "-config FILE"},
	{"snooze", "usage: foghorn snooze [-url URL | -config FILE] [-as NOTE] ID DURATION", "-config FILE"},
	{"silence", "usage: foghorn silence [-url URL | -config FILE] [-as NOTE] TARGET|MATCHER... DURATION", "-config FILE"},
	{"override", "usage: foghorn override [-url URL | -config FILE] [-as NOTE] ABSENT COVER UNTIL", "-config FILE"},
	{"power", "usage: foghorn power [-url URL | -config FILE] [-as NOTE] TARGET status|on|off|soft|reset|cycle [force] [dry-run]", "-config FILE"},
	{"test-page", "usage: foghorn test-page [-url URL | -config FILE] PERSON [WAIT]", "-url URL"},
	{"lease", "usage: foghorn lease [-url URL | -config FILE] HOST -for 20m", "-wait DURATION"},
	{"version", "usage: foghorn version", ""},
	{"help", "usage: foghorn help [COMMAND]", ""},
}

func TestEverySubcommandsHelpFlagPrintsItsUsageAndExitsZero(t *testing.T) {
	for _, c := range helpCases {
		hs := []string{"-h"}
		if c.name == "ack" {
			hs = append(hs, "-help", "--help")
		}
		for _, h := range hs {
			out, errOut, code := runSplit(t, nil, c.name, h)
			if code != 0 || !strings.HasPrefix(out, c.usage) || errOut != "" {
				t.Errorf("foghorn %s %s: exit %d, want 0 and %q first on stdout\nstdout:\n%s\nstderr:\n%s", c.name, h, code, c.usage, out, errOut)
				continue
			}
			if c.flag != "" && !strings.Contains(out, "\n  "+c.flag) {
				t.Errorf("foghorn %s %s does not list flag %s:\n%s", c.name, h, c.flag, out)
			}
		}
	}
	// A wrong number of arguments or an unknown flag is still a mistake:
	// the usage on stderr, exit 2.
	for _, args := range [][]string{{"ack"}, {"ack", "1", "2"}, {"status", "extra"}, {"passwd", "extra"}, {"check-config"}, {"ack", "-frob", "1"}} {
		out, errOut, code := runSplit(t, nil, args...)
		if code != 2 || out != "" || !strings.Contains(errOut, "usage: foghorn "+args[0]) {
			t.Errorf("foghorn %s: exit %d, want 2 with the usage on stderr\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, out, errOut)
		}
	}
}

func TestHelpCommandShowsThatCommandsHelp(t *testing.T) {
	for _, c := range helpCases {
		out, errOut, code := runSplit(t, nil, "help", c.name)
		own := out
		if c.name == "ack" || c.name == "audit" { // the rest were run with -h above
			own, _, _ = runSplit(t, nil, c.name, "-h")
		}
		if code != 0 || !strings.HasPrefix(out, c.usage) || out != own {
			t.Errorf("foghorn help %s: exit %d, want 0 and what `foghorn %s -h` prints\nstdout:\n%s\nstderr:\n%s", c.name, code, c.name, out, errOut)
		}
	}
	out, errOut, code := runSplit(t, nil, "help", "frobnicate")
	if code != 2 || out != "" || !strings.Contains(errOut, `no command "frobnicate"`) || !strings.Contains(errOut, "ack, audit, check-config") {
		t.Errorf("foghorn help frobnicate: exit %d, want 2 and the list of commands on stderr\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if out, _, code = runSplit(t, nil, "help"); code != 0 || !strings.Contains(out, "foghorn help COMMAND") {
		t.Errorf("foghorn help: exit %d, want 0 and the overview:\n%s", code, out)
	}
}

// fakeAPI answers like foghorn's API and records what it was asked.
type fakeAPI struct {
	mu   sync.Mutex
	reqs []string
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.reqs = append(f.reqs, r.Method+" "+r.URL.Path+" "+r.Header.Get("Authorization"))
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if r.Method == "GET" {
		fmt.Fprint(w, "[]")
		return
	}
	json.NewEncoder(w).Encode(map[string]any{"id": 1, "short": 1, "state": "acknowledged", "summary": "web DOWN", "acked_by": "api"})
}

func (f *fakeAPI) asked() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.reqs...)
}

func TestFlagsAfterArgumentsAreNotIgnored(t *testing.T) {
	api := &fakeAPI{}
	srv := httptest.NewServer(api)
	defer srv.Close()
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "x.toml")
	cfg := strings.Replace(siteConfig(filepath.Join(dir, "data")), `listen = "127.0.0.1:0"`, fmt.Sprintf("listen = %q", strings.TrimPrefix(srv.URL, "http://")), 1)
	writeFile(t, cfgPath, cfg)

	// `foghorn ack 1 -config x` once went to 127.0.0.1:8080, -config unread.
	out, errOut, code := runSplit(t, []string{"FOGHORN_API_TOKEN=tok-0123456789abcdef"}, "ack", "1", "-config", cfgPath)
	if code != 0 || !strings.Contains(out, "#1 acknowledged") {
		t.Fatalf("foghorn ack 1 -config x: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if got := api.asked(); len(got) == 0 || got[len(got)-1] != "POST /api/v1/incidents/1/ack Bearer tok-0123456789abcdef" {
		t.Fatalf("foghorn ack 1 -config x did not ask the foghorn of -config x: %q", got)
	}
	// Flags anywhere among the arguments; after "--" all are arguments.
	if out, errOut, code = runSplit(t, nil, "snooze", "1", "-url", srv.URL, "30m", "-as", "typed on a laptop"); code != 0 {
		t.Fatalf("foghorn snooze 1 -url U 30m -as NOTE: exit %d\n%s%s", code, out, errOut)
	}
	if got := api.asked(); got[len(got)-1] != "POST /api/v1/incidents/1/snooze " {
		t.Fatalf("snooze with interleaved flags asked %q", got)
	}
	if _, errOut, code = runSplit(t, nil, "ack", "-url", srv.URL, "--", "-5"); code != 0 {
		t.Fatalf("foghorn ack -url U -- -5: exit %d\n%s", code, errOut)
	}
	if got := api.asked(); got[len(got)-1] != "POST /api/v1/incidents/-5/ack " {
		t.Fatalf("foghorn ack -url U -- -5 asked %q, want the id -5", got)
	}
	// A flag the command does not have is refused, wherever it stands.
	n := len(api.asked())
	if out, errOut, code = runSplit(t, nil, "ack", "1", "-url", srv.URL, "-confgi", cfgPath); code != 2 || !strings.Contains(errOut, "unknown flag -confgi") || !strings.Contains(errOut, "usage: foghorn ack") {
		t.Fatalf("foghorn ack 1 -url U -confgi x: exit %d, want 2\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if got := api.asked(); len(got) != n {
		t.Fatalf("a refused command still talked to foghorn: %q", got[n:])
	}
}

func TestAckOfAnAckedIncidentSaysWhoHadAcked(t *testing.T) {
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "boom", 500) }))
	defer broken.Close()
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "foghorn.toml")
	const aliceTok, bobTok = "alice-laptop-token-0123456789", "bob-laptop-token-0123456789"
	writeFile(t, cfgPath, siteConfig(filepath.Join(dir, "data"), httpTarget("web", broken.URL),
		fmt.Sprintf("[[api_token]]\nname = \"alice-laptop\"\nsha256 = %q\n", sha(aliceTok)),
		fmt.Sprintf("[[api_token]]\nname = \"bob-laptop\"\nsha256 = %q\n", sha(bobTok))))
	p := start(t, "run", "-config", cfgPath, "-log-format", "json")
	running, n := p.wait(t, 0, "foghorn running", nil)
	base := "http://" + running["listen"].(string)
	p.wait(t, n, "SMS sent", map[string]string{"person": "alice", "kind": "page"})

	first, errOut, code := runSplit(t, []string{"FOGHORN_API_TOKEN=" + aliceTok}, "ack", "-url", base, "1")
	if code != 0 || !strings.Contains(first, "#1 acknowledged") {
		t.Fatalf("first ack: exit %d\nstdout:\n%s\nstderr:\n%s", code, first, errOut)
	}
	out, errOut, code := runSplit(t, []string{"FOGHORN_API_TOKEN=" + bobTok}, "ack", "-url", base, "1")
	if code != 0 || !strings.Contains(out, "#1 was already acked by alice-laptop at ") || !strings.Contains(out, "nothing changed: web DOWN") {
		t.Fatalf("second ack, by someone else: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	// The ack that took it says under which name it was recorded.
	if !strings.Contains(first, "#1 acknowledged by alice-laptop: web DOWN") {
		t.Errorf("first ack does not say whose it is:\n%s", first)
	}
}

// A command missing from subcommands would take no arguments and print an
// empty usage; helpCases must name every one, so the tests above see it.
func TestEveryCommandHasItsHelp(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range helpCases {
		seen[c.name] = true
		if _, ok := subcommands[c.name]; !ok {
			t.Errorf("%s: no entry in subcommands", c.name)
		}
	}
	for _, name := range commandNames() {
		if !seen[name] {
			t.Errorf("subcommands has %s, but helpCases does not test it", name)
		}
	}
}
