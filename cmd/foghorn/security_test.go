package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Security, black-box against the real binary. The webhook side is tested
// in pager: signatures in pager/pager_test.go TestForgedSignatureRejected
// (no signature, wrong token, signed for another URL, body changed after
// signing, forged key press and delivery report), TestMalformedWebhooks,
// pager/webhooks_test.go TestSignatureOverPublicURL and
// TestSignedURLBehindAProxy, FuzzWebhooks; senders in
// TestUnknownNumberIgnored and, through the binary,
// pager_e2e_test.go TestPageAckBySMSReplyAndBadSenders.

// secrets are the values a config may hold; none may ever be printed.
var secrets = map[string]string{
	"twilio auth token":   "7f3a9c1e5b2d4411aa0c6e2d9b4f1357", // the shape of a real one: 32 hex
	"api token":           "apiSecret-0d9e8f7a6b5c4d3e2f1a",
	"ipmi password":       "ipmiSecret-81c2d3e4f5",
	"heartbeat token":     "hbSecret-55aa66bb77cc88dd",
	"smtp password":       "smtpSecret-123abc456def",
	"snmp community":      "snmpSecret-community9z",
	"viewer api token":    "viewerSecret-4b3c2d1e0f9a8b7c",
	"dashboard password?": "", // hashes only in configs: nothing to leak
}

// leaks lists the secrets found in out, by what they are.
func leaks(out string) []string {
	var found []string
	for what, s := range secrets {
		if s == "" {
			continue
		}
		// The whole value, or a telling part of it (a truncated or
		// wrapped print is still a leak).
		if strings.Contains(out, s) || strings.Contains(out, s[3:len(s)-3]) {
			found = append(found, what)
		}
	}
	slices.Sort(found)
	return found
}

func closedPort(t *testing.T, network string) int {
	t.Helper()
	if network == "udp" {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).Port
	}
	return freePort(t)
}

func sha(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// secretConfig is a config that uses every kind of secret, each from the
// environment or a *_file.
func secretConfig(t *testing.T, dir string, port int, site string, viewer bool) string {
	writeFile(t, filepath.Join(dir, "twilio-token"), secrets["twilio auth token"]+"\n")
	tokens := ""
	if viewer {
		tokens = fmt.Sprintf("[[api_token]]\nname = \"grafana\"\nsha256 = %q\nrole = \"viewer\"\n", sha(secrets["viewer api token"]))
	}
	return fmt.Sprintf(`[server]
listen = "127.0.0.1:%d"
public_url = "http://127.0.0.1:%d"
data_dir = %q
[twilio]
simulator = true
account_sid = "AC0123456789abcdef0123456789abcdef"
auth_token_file = "twilio-token"
from = "+15005550006"
[smtp]
host = "127.0.0.1"
port = %d
username = "foghorn"
from = "foghorn@example.net"
[self_check]
kind = "tcp"
canaries = ["127.0.0.1:%d"]
[escalation]
default_policy = "ops"
%s[[person]]
name = "alice"
phone = "+4915112345671"
email = "alice@example.net"
[[policy]]
name = "ops"
  [[policy.step]]
  who = ["alice"]
  channels = ["email", "sms"]
[[target]]
name = "web"
kind = "http"
address = %q
interval = "1s"
timeout = "500ms"
rise = 1
fall = 1
[[target]]
name = "hb"
kind = "heartbeat"
interval = "2s"
  [target.heartbeat]
  grace = "1s"
[[target]]
name = "bmc1"
kind = "ipmi"
address = "127.0.0.1"
interval = "2s"
timeout = "1s"
  [target.ipmi]
  username = "admin"
  port = %d
[[target]]
name = "sw1"
kind = "snmp"
address = "127.0.0.1:%d"
interval = "2s"
timeout = "1s"
  [target.snmp]
  version = "2c"
  [[target.snmp.check]]
  name = "uptime"
  oid = "1.3.6.1.2.1.1.3.0"
  min = 0.0
`, port, port, filepath.Join(dir, "data"), closedPort(t, "tcp"), port, tokens, site,
		closedPort(t, "udp"), closedPort(t, "udp"))
}

var secretEnv = []string{
	"FOGHORN_API_TOKEN=" + secrets["api token"],
	"FOGHORN_IPMI_PASSWORD=" + secrets["ipmi password"],
	"FOGHORN_HEARTBEAT_TOKEN_HB=" + secrets["heartbeat token"],
	"FOGHORN_SMTP_PASSWORD=" + secrets["smtp password"],
	"FOGHORN_SNMP_COMMUNITY=" + secrets["snmp community"],
}

// Run foghorn with every kind of secret, at debug level, through pages,
// failed sends, heartbeats (right and wrong), API calls (right and wrong
// tokens), reloads (good and refused) and a stop; and check-config, good
// and broken. No secret may appear anywhere in what it prints or serves.
func TestNoSecretInLogsOrCheckConfig(t *testing.T) {
	site := newSite(t)
	dir := t.TempDir()
	port := freePort(t)
	cfgPath := filepath.Join(dir, "foghorn.toml")
	good := secretConfig(t, dir, port, site.URL, true)
	writeFile(t, cfgPath, good)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)

	check := func(args ...string) string {
		cmd := exec.Command(bin, append([]string{"check-config"}, args...)...)
		cmd.Env = append(os.Environ(), secretEnv...)
		out, _ := cmd.CombinedOutput()
		return string(out)
	}
	var printed strings.Builder
	out := check(cfgPath)
	if !strings.Contains(out, "ok: 4 targets") {
		t.Fatalf("check-config of the secret config: %s", out)
	}
	printed.WriteString(out)
	broken := filepath.Join(dir, "broken.toml")
	writeFile(t, broken, good+"[[target]]\nname = \"bad\"\nkind = \"tcp\"\naddress = \"nowhere\"\n[[person]]\nname = \"eve\"\nphone = \"12\"\n")
	out = check(broken)
	if !strings.Contains(out, "problem(s)") {
		t.Fatalf("check-config of a broken config: %s", out)
	}
	printed.WriteString(out)

	p := startEnv(t, secretEnv, "run", "-config", cfgPath, "-log-format", "json", "-log-level", "debug")
	_, n := p.wait(t, 0, "foghorn running", nil)
	call := func(method, path, tok string) (int, string) {
		req, _ := http.NewRequest(method, base+path, strings.NewReader("{}"))
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	// Heartbeats: the right token, then a wrong one.
	if code, _ := call("GET", "/heartbeat/hb/"+secrets["heartbeat token"], ""); code != http.StatusNoContent {
		t.Errorf("heartbeat push with the right token: %d", code)
	}
	if code, _ := call("GET", "/heartbeat/hb/"+secrets["heartbeat token"]+"x", ""); code != http.StatusForbidden {
		t.Errorf("heartbeat push with a wrong token: %d", code)
	}
	// A page: email fails (nothing listens), SMS goes out.
	site.down.Store(true)
	p.wait(t, n, "SMS sent", map[string]string{"person": "alice", "kind": "page"})
	for _, tok := range []string{"", "wrong", secrets["api token"] + "0", secrets["viewer api token"]} {
		if code, _ := call("POST", "/api/v1/incidents/1/ack", tok); code == http.StatusOK {
			t.Errorf("ack with token %q succeeded", tok)
		}
	}
	if code, body := call("POST", "/api/v1/incidents/1/ack", secrets["api token"]); code != http.StatusOK {
		t.Errorf("ack with the API token: %d %s", code, body)
	}
	for _, path := range []string{"/metrics", "/status.txt", "/api/v1/status", "/api/v1/incidents", "/api/v1/oncall", "/healthz"} {
		_, body := call("GET", path, secrets["viewer api token"])
		printed.WriteString(body)
	}
	// Reloads: the same config, then a broken one (refused, every problem
	// listed).
	n = p.count()
	p.cmd.Process.Signal(syscall.SIGHUP)
	p.wait(t, n, "config reloaded", nil)
	writeFile(t, cfgPath, good+"[[target]]\nname = \"x\"\nkind = \"ssh\"\naddress = \"127.0.0.1:22\"\n")
	p.cmd.Process.Signal(syscall.SIGHUP)
	p.wait(t, n, "config reload refused; the running config stays in force", nil)
	// Let the failing IPMI and SNMP probes and the mail retries log a while.
	time.Sleep(3 * time.Second)
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		t.Fatal("no exit within 15s of SIGTERM")
	}
	p.mu.Lock()
	log := strings.Join(p.raw, "\n")
	p.mu.Unlock()
	for _, want := range []string{`"level":"DEBUG"`, "heartbeat push refused", "api request refused", "bmc1", "sw1", "email"} {
		if !strings.Contains(log, want) {
			t.Errorf("the log lacks %q: the run did not exercise what it should", want)
		}
	}
	printed.WriteString(log)
	if found := leaks(printed.String()); len(found) > 0 {
		t.Fatalf("printed or served: %s", strings.Join(found, ", "))
	}
}

// route is one /api/v1 pattern as registered on the mux.
type route struct{ method, path string }

// apiRoutes reads every pattern under /api/v1/ that this package registers
// on a mux, from the source, so a route added later is covered without
// editing this test.
func apiRoutes(t *testing.T) []route {
	t.Helper()
	fset := token.NewFileSet()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	var out []route
	pattern := regexp.MustCompile(`^([A-Z]+) (/api/v1/\S*)$`)
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			c, ok := n.(*ast.CallExpr)
			if !ok || len(c.Args) < 2 {
				return true
			}
			sel, ok := c.Fun.(*ast.SelectorExpr)
			if !ok || (sel.Sel.Name != "HandleFunc" && sel.Sel.Name != "Handle") {
				return true
			}
			lit, ok := c.Args[0].(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			s, _ := strconv.Unquote(lit.Value)
			if strings.Contains(s, "/api/") && !pattern.MatchString(s) {
				t.Errorf("%s: API route %q has no method: it would take writes by GET", fset.Position(lit.Pos()), s)
			}
			if m := pattern.FindStringSubmatch(s); m != nil {
				out = append(out, route{m[1], m[2]})
			}
			return true
		})
	}
	if len(out) < 5 {
		t.Fatalf("found only %d /api/v1 routes in the source: %v", len(out), out)
	}
	return out
}

var wildcard = regexp.MustCompile(`\{([a-z]+)\.*\}`)

func (r route) url(base string) string {
	return base + wildcard.ReplaceAllStringFunc(r.path, func(w string) string {
		switch strings.Trim(w, "{}.") {
		case "id":
			return "1"
		case "action":
			return "ack"
		}
		return "x"
	})
}

// Every /api/v1 route refuses a request without the token (and with a
// wrong one); every write route refuses a viewer token, and, with no token
// configured at all, refuses everyone.
func TestEveryAPIWriteRouteNeedsTheToken(t *testing.T) {
	routes := apiRoutes(t)
	site := newSite(t)
	site.down.Store(true) // so there is an incident to act on
	dir := t.TempDir()
	port := freePort(t)
	cfgPath := filepath.Join(dir, "foghorn.toml")
	writeFile(t, cfgPath, secretConfig(t, dir, port, site.URL, true))
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	do := func(r route, tok string) int {
		req, _ := http.NewRequest(r.method, r.url(base), strings.NewReader("{}"))
		req.Header.Set("Content-Type", "application/json")
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}

	p := startEnv(t, secretEnv, "run", "-config", cfgPath, "-log-format", "json")
	p.wait(t, 0, "foghorn running", nil)
	writes := 0
	for _, r := range routes {
		write := r.method != http.MethodGet && r.method != http.MethodHead
		cases := []struct {
			who, tok string
			want     int
		}{
			{"no token", "", http.StatusUnauthorized},
			{"a wrong token", "not-the-token-0123456789", http.StatusUnauthorized},
			{"the token with a byte changed", secrets["api token"][:len(secrets["api token"])-1] + "X", http.StatusUnauthorized},
			{"a bearer of nothing", " ", http.StatusUnauthorized},
		}
		if write {
			writes++
			cases = append(cases, struct {
				who, tok string
				want     int
			}{"a viewer token", secrets["viewer api token"], http.StatusForbidden})
		}
		for _, c := range cases {
			if got := do(r, c.tok); got != c.want {
				t.Errorf("%s %s with %s: HTTP %d, want %d", r.method, r.path, c.who, got, c.want)
			}
		}
	}
	if writes < 4 {
		t.Fatalf("only %d write routes found: %v", writes, routes)
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	<-p.done

	// No token configured at all: the API is read-only for everyone.
	env := slices.DeleteFunc(slices.Clone(secretEnv), func(s string) bool { return strings.HasPrefix(s, "FOGHORN_API_TOKEN=") })
	writeFile(t, cfgPath, secretConfig(t, dir, port, site.URL, false))
	p = startEnv(t, env, "run", "-config", cfgPath, "-log-format", "json")
	if _, n := p.wait(t, 0, "foghorn running", nil); n == 0 {
		t.Fatal("not running")
	}
	for _, r := range routes {
		if r.method == http.MethodGet {
			continue
		}
		for _, tok := range []string{"", secrets["api token"]} {
			if got := do(r, tok); got != http.StatusForbidden {
				t.Errorf("no token configured: %s %s with %q: HTTP %d, want 403", r.method, r.path, tok, got)
			}
		}
	}
}
