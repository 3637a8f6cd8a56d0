package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"foghorn/ipmi/simtest"
	"foghorn/store"
)

// bin is the real foghorn binary, built once for these tests.
var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "foghorn-bin-")
	if err != nil {
		panic(err)
	}
	bin = filepath.Join(dir, "foghorn")
	out, err := exec.Command("go", "build", "-race", "-o", bin, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build foghorn: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func writeFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

func siteConfig(dataDir string, targets ...string) string {
	s := fmt.Sprintf(`[server]
listen = "127.0.0.1:0"
data_dir = %q
[self_check]
canaries = ["127.0.0.1"]
[escalation]
default_policy = "ops"
[twilio]
simulator = true
from = "+15005550006"
[[person]]
name = "alice"
phone = "+4915112345671"
[[policy]]
name = "ops"
  [[policy.step]]
  who = ["alice"]
`, dataDir)
	for _, t := range targets {
		s += t
	}
	return s
}

func httpTarget(name, url string) string {
	return fmt.Sprintf("[[target]]\nname = %q\nkind = \"http\"\naddress = %q\ninterval = \"1s\"\ntimeout = \"500ms\"\nrise = 1\n", name, url)
}

// proc is a running foghorn whose JSON log lines the test can wait for.
type proc struct {
	cmd   *exec.Cmd
	mu    sync.Mutex
	lines []map[string]any
	raw   []string
	done  chan error
}

func start(t *testing.T, args ...string) *proc { return startEnv(t, nil, args...) }

func startEnv(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	return startCmd(t, exec.Command(bin, args...), env)
}

// startCmd starts cmd (the binary, or a shell that execs it) with env
// added, and collects its log lines.
func startCmd(t *testing.T, cmd *exec.Cmd, env []string) *proc {
	t.Helper()
	p := &proc{cmd: cmd, done: make(chan error, 1)}
	p.cmd.Env = append(os.Environ(), env...)
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20) // a storm's log lines can be long
		for sc.Scan() {
			var m map[string]any
			json.Unmarshal(sc.Bytes(), &m)
			p.mu.Lock()
			p.lines = append(p.lines, m)
			p.raw = append(p.raw, sc.Text())
			p.mu.Unlock()
		}
		p.done <- p.cmd.Wait()
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
	})
	return p
}

// wait returns the first log line at or after index from with msg and the
// given attributes, failing the test after a deadline.
func (p *proc) wait(t *testing.T, from int, msg string, attrs map[string]string) (map[string]any, int) {
	t.Helper()
	return p.waitWithin(t, 15*time.Second, from, msg, attrs)
}

// waitWithin is wait with its own deadline, for what the example's own
// intervals make slow (a 30 s probe interval, rise 2).
func (p *proc) waitWithin(t *testing.T, d time.Duration, from int, msg string, attrs map[string]string) (map[string]any, int) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		p.mu.Lock()
		for i := from; i < len(p.lines); i++ {
			m := p.lines[i]
			if m == nil || m["msg"] != msg {
				continue
			}
			ok := true
			for k, v := range attrs {
				if fmt.Sprint(m[k]) != v {
					ok = false
				}
			}
			if ok {
				p.mu.Unlock()
				return m, i + 1
			}
		}
		p.mu.Unlock()
		time.Sleep(20 * time.Millisecond)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	t.Fatalf("no log line %q %v within %s; log:\n%s", msg, attrs, d, strings.Join(p.raw, "\n"))
	return nil, 0
}

func (p *proc) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.lines)
}

type status struct {
	Targets []struct {
		Target, State, Status string
		At                    time.Time
	}
}

func getStatus(t *testing.T, base string) status {
	t.Helper()
	resp, err := http.Get(base + "/api/v1/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var s status
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestReloadRefusesBadConfigAndKeepsRunning(t *testing.T) {
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	defer site.Close()
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	cfgPath := filepath.Join(dir, "foghorn.toml")
	writeFile(t, cfgPath, siteConfig(data, httpTarget("web", site.URL)))

	p := start(t, "run", "-config", cfgPath, "-log-format", "json")
	running, n := p.wait(t, 0, "foghorn running", nil)
	base := "http://" + running["listen"].(string)
	_, n = p.wait(t, n, "target up", map[string]string{"target": "web"})

	// A broken config: refused, named precisely, the old one keeps probing.
	writeFile(t, cfgPath, siteConfig(data, httpTarget("web", site.URL), "[[target]]\nname = \"db\"\nkind = \"tcp\"\naddress = \"127.0.0.1:5432\"\ninterval = \"soon\"\n"))
	p.cmd.Process.Signal(syscall.SIGHUP)
	refused, n := p.wait(t, n, "config reload refused; the running config stays in force", nil)
	if got := refused["problems"].(string); !strings.Contains(got, `foghorn.toml:29: target "db" interval: "soon" is not a valid duration`) {
		t.Errorf("refusal does not name the problem: %q", got)
	}
	refusedAt := time.Now()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s := getStatus(t, base)
		if len(s.Targets) != 1 || s.Targets[0].Target != "web" {
			t.Fatalf("targets after refused reload: %+v", s.Targets)
		}
		if s.Targets[0].At.After(refusedAt) && s.Targets[0].State == "up" {
			break // still probing with the old config
		}
		if time.Now().After(deadline) {
			t.Fatalf("web not probed after the refused reload: %+v", s.Targets)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// A good config is applied: the new target starts.
	writeFile(t, cfgPath, siteConfig(data, httpTarget("web", site.URL), httpTarget("web2", site.URL+"/two")))
	p.cmd.Process.Signal(syscall.SIGHUP)
	_, n = p.wait(t, n, "config reloaded", map[string]string{"targets": "2"})
	_, n = p.wait(t, n, "target up", map[string]string{"target": "web2"})

	// Metrics count both reload outcomes.
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`foghorn_config_reloads_total{result="refused"} 1`, `foghorn_config_reloads_total{result="ok"} 2`, `foghorn_target_up{target="web2"} 1`,
		`foghorn_incidents_open{severity="critical",state="triggered"} 0`, "foghorn_engine_lag_seconds 0", "foghorn_blind 0",
		`foghorn_probe_duration_seconds{target="web"}`, `foghorn_probe_status{target="web"} 0`, "foghorn_pager_", "foghorn_icmp_echoes_sent_total"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no exit within 10s of SIGTERM")
	}
	p.wait(t, n, "stopped", nil)

	// The audit trail kept both reloads, and the state of both targets.
	db, err := store.Open(context.Background(), data)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var kinds []string
	rows, err := db.Query(`SELECT kind FROM events ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var k string
		rows.Scan(&k)
		kinds = append(kinds, k)
	}
	rows.Close()
	if got := strings.Join(kinds, ","); got != "start,config.refused,config.reload,stop" {
		t.Errorf("events = %s", got)
	}
	var up int
	db.QueryRow(`SELECT count(*) FROM target_state WHERE state = 'up'`).Scan(&up)
	if up != 2 {
		t.Errorf("target_state rows up = %d, want 2", up)
	}
}

func TestRunRefusesBrokenConfig(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "foghorn.toml")
	writeFile(t, cfgPath, siteConfig(filepath.Join(dir, "data"), "[[target]]\nname = \"x\"\nkind = \"ssh\"\naddress = \"127.0.0.1:25\"\n"))
	out, err := exec.Command(bin, "run", "-config", cfgPath).CombinedOutput()
	if code := exitCode(err); code != 1 {
		t.Fatalf("exit %d, want 1; output:\n%s", code, out)
	}
	want := `foghorn.toml:20: target "x" kind: unknown kind "ssh"; fix: use one of icmp, tcp, http, dns, tls, snmp, command, heartbeat, ipmi`
	if !strings.Contains(string(out), want) {
		t.Fatalf("output lacks %q:\n%s", want, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "data")); !os.IsNotExist(err) {
		t.Errorf("a refused config still created the data dir")
	}
}

func TestCheckConfig(t *testing.T) {
	out, err := exec.Command(bin, "check-config", "../../configs/example.toml").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "ok: 14 targets, 2 groups, 3 people") {
		t.Fatalf("example.toml: %v\n%s", err, out)
	}

	// Every problem at once, exit 1, and never the secret itself.
	dir := t.TempDir()
	const token = "7f3a9c1e5b2d0d0e0a0b1c2d3e4f5a6b" // the shape of a real token: its problem would be another one
	writeFile(t, filepath.Join(dir, "token"), token)
	broken := strings.Replace(siteConfig(dir), "simulator = true", "account_sid = \"AC0123456789abcdef0123456789abcdef\"\nauth_token_file = \"token\"", 1) +
		"[[target]]\nname = \"a\"\nkind = \"tcp\"\naddress = \"10.0.0.1\"\n[[person]]\nname = \"bob\"\nphone = \"555-1234\"\n"
	writeFile(t, filepath.Join(dir, "broken.toml"), broken)
	out, err = exec.Command(bin, "check-config", filepath.Join(dir, "broken.toml")).CombinedOutput()
	if code := exitCode(err); code != 1 {
		t.Fatalf("exit %d, want 1:\n%s", code, out)
	}
	for _, want := range []string{
		`server public_url: missing: Twilio needs it`,
		`target "a" address: "10.0.0.1" is not a valid address for kind "tcp"`,
		`person "bob" phone: "555-1234" is not an E.164 phone number`,
		`3 problem(s); nothing was started`,
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(string(out), token) {
		t.Errorf("check-config printed the secret:\n%s", out)
	}
}

func TestVersionAndUsage(t *testing.T) {
	out, err := exec.Command(bin, "version").Output()
	if err != nil || !strings.HasPrefix(string(out), "foghorn ") {
		t.Fatalf("version: %v %q", err, out)
	}
	out, err = exec.Command(bin, "frobnicate").CombinedOutput()
	if exitCode(err) != 2 || !strings.Contains(string(out), `unknown command "frobnicate"`) {
		t.Fatalf("unknown command: %v %q", err, out)
	}
}

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	return -1
}

func TestAPIAndCLI(t *testing.T) {
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "boom", 500) }))
	defer broken.Close()
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "foghorn.toml")
	writeFile(t, cfgPath, siteConfig(filepath.Join(dir, "data"), httpTarget("web", broken.URL),
		"[[person]]\nname = \"bob\"\nphone = \"+4915112345672\"\n[[rotation]]\nname = \"ops\"\nmembers = [\"alice\", \"bob\"]\nhandoff = \"0 9 * * MON\"\n"))
	const token = "test-token-0123456789abcdef"
	p := start(t, "run", "-config", cfgPath, "-log-format", "json")
	running, n := p.wait(t, 0, "foghorn running", nil)
	base := "http://" + running["listen"].(string)
	p.wait(t, n, "SMS sent", map[string]string{"person": "alice", "kind": "page"})

	cli := func(env []string, args ...string) (string, int) {
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.CombinedOutput()
		return string(out), exitCode(err)
	}
	// No token configured: reading works, acting is refused and says how to enable it.
	out, code := cli(nil, "status", "-url", base)
	if code != 0 || !strings.Contains(out, "#1 (id 1) CRITICAL triggered: web DOWN") || !strings.Contains(out, "step 1: sms to alice") {
		t.Fatalf("status: %d\n%s", code, out)
	}
	out, code = cli(nil, "ack", "-url", base, "1")
	if code != 1 || !strings.Contains(out, "the API is read-only: set [server] api_token_file") {
		t.Fatalf("ack without a configured token: %d %s", code, out)
	}

	// Restart with a token: a wrong one is refused, the right one acts.
	p.cmd.Process.Signal(syscall.SIGTERM)
	<-p.done
	p = startEnv(t, []string{"FOGHORN_API_TOKEN=" + token}, "run", "-config", cfgPath, "-log-format", "json")
	running, _ = p.wait(t, 0, "foghorn running", nil)
	base = "http://" + running["listen"].(string)
	if out, code = cli([]string{"FOGHORN_API_TOKEN=wrong-token-0123456789"}, "ack", "-url", base, "1"); code != 1 || !strings.Contains(out, "missing or wrong bearer token") {
		t.Fatalf("ack with a wrong token: %d %s", code, out)
	}
	good := []string{"FOGHORN_API_TOKEN=" + token}
	if out, code = cli(good, "ack", "-url", base, "-as", "alice", "1"); code != 0 || !strings.Contains(out, "#1 acknowledged") {
		t.Fatalf("ack: %d %s", code, out)
	}
	if out, code = cli(good, "ack", "-url", base, "99"); code != 1 || !strings.Contains(out, "no such incident") {
		t.Fatalf("ack of a missing incident: %d %s", code, out)
	}
	if out, code = cli(good, "silence", "-url", base, "web", "2h"); code != 0 || !strings.Contains(out, `silence #1 on name="web" until`) {
		t.Fatalf("silence: %d %s", code, out)
	}
	if out, code = cli(good, "silence", "-url", base, `name=~"(`, "2h"); code != 1 || !strings.Contains(out, "matcher") {
		t.Fatalf("bad silence: %d %s", code, out)
	}
	if out, code = cli(good, "override", "-url", base, "alice", "nobody", "2030-01-01T00:00:00Z"); code != 1 || !strings.Contains(out, "both must be people") {
		t.Fatalf("bad override: %d %s", code, out)
	}
	if out, code = cli(good, "override", "-url", base, "alice", "bob", "2030-01-01T00:00:00Z"); code != 0 || !strings.Contains(out, "bob covers alice") {
		t.Fatalf("override: %d %s", code, out)
	}
	if out, code = cli(good, "oncall", "-url", base); code != 0 || !strings.Contains(out, "ops (UTC):\n  now  bob (covering alice)") {
		t.Fatalf("oncall from the API, with the override: %d\n%s", code, out)
	}
	if out, code = cli(good, "status", "-url", base); code != 0 || !strings.Contains(out, "incident.ack") || !strings.Contains(out, "alice") {
		t.Fatalf("status after ack: %d\n%s", code, out)
	}
}

// Two foghorns at two providers watch each other: A's outbound heartbeat is
// B's heartbeat target. When A dies, B pages.
func TestTwoFoghornsWatchEachOther(t *testing.T) {
	dir := t.TempDir()
	const token = "a-to-b-heartbeat-token-42"
	bCfg := filepath.Join(dir, "b.toml")
	writeFile(t, bCfg, siteConfig(filepath.Join(dir, "b"),
		"[[target]]\nname = \"foghorn-a\"\nkind = \"heartbeat\"\ninterval = \"2s\"\ntimeout = \"1s\"\nrise = 1\nfall = 1\n  [target.heartbeat]\n  grace = \"1s\"\n"))
	b := startEnv(t, []string{"FOGHORN_HEARTBEAT_TOKEN_FOGHORN_A=" + token}, "run", "-config", bCfg, "-log-format", "json")
	running, nb := b.wait(t, 0, "foghorn running", nil)
	push := "http://" + running["listen"].(string) + "/heartbeat/foghorn-a/" + token

	aCfg := filepath.Join(dir, "a.toml")
	// A watches B's listener: a foghorn that watches nothing is refused.
	bListen := "[[target]]\nname = \"b\"\nkind = \"tcp\"\naddress = \"" + running["listen"].(string) + "\"\n"
	writeFile(t, aCfg, strings.Replace(siteConfig(filepath.Join(dir, "a"), bListen), "[self_check]\n",
		fmt.Sprintf("[self_check]\nheartbeat_url = %q\nheartbeat_interval = \"500ms\"\n", push), 1))
	a := start(t, "run", "-config", aCfg, "-log-format", "json")
	aRunning, _ := a.wait(t, 0, "foghorn running", nil)
	nb = waitUp(t, b, nb, "foghorn-a")

	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		resp, err := http.Get("http://" + aRunning["listen"].(string) + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(body), `foghorn_outbound_heartbeats_total{result="sent"}`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("A reports no heartbeat sent within 10s")
		}
	}

	a.cmd.Process.Kill() // the VPS of A dies
	_, nb = b.wait(t, nb, "target down", map[string]string{"target": "foghorn-a"})
	b.wait(t, nb, "SMS sent", map[string]string{"kind": "page", "person": "alice"})
}

func waitUp(t *testing.T, p *proc, from int, target string) int {
	t.Helper()
	_, n := p.wait(t, from, "target up", map[string]string{"target": target})
	return n
}

// The BMC from end to end, against the real simulator: a SEL event becomes
// an incident whose page says what the BMC saw, and a power cycle goes
// through the seatbelt from the CLI.
func TestBMCThroughTheBinary(t *testing.T) {
	simtest.Require(t)
	sim := simtest.Start(t)
	host := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	defer host.Close()
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "foghorn.toml")
	writeFile(t, cfgPath, siteConfig(filepath.Join(dir, "data"),
		fmt.Sprintf("[[target]]\nname = \"pve1\"\nkind = \"tcp\"\naddress = %q\ninterval = \"2s\"\ntimeout = \"1s\"\nrise = 1\nbmc = \"pve1-bmc\"\n", strings.TrimPrefix(host.URL, "http://")),
		fmt.Sprintf("[[target]]\nname = \"pve1-bmc\"\nkind = \"ipmi\"\naddress = %q\ninterval = \"2s\"\ntimeout = \"1500ms\"\nrise = 1\nfall = 1\nhost = \"pve1\"\n  [target.ipmi]\n  username = %q\n  port = %d\n", sim.Host, simtest.User, sim.Port),
		"[power]\nenabled = true\nallow = [\"alice\", \"ops-script\"]\n",
		fmt.Sprintf("[[api_token]]\nname = \"ops-script\"\nsha256 = %q\n", sha("ops-script-token-0123456789"))))
	const token = "bmc-test-token-0123456789"
	env := []string{"FOGHORN_API_TOKEN=" + token, "FOGHORN_IPMI_PASSWORD=" + simtest.Password}
	p := startEnv(t, env, "run", "-config", cfgPath, "-log-format", "json")
	running, n := p.wait(t, 0, "foghorn running", nil)
	base := "http://" + running["listen"].(string)
	p.wait(t, n, "target up", map[string]string{"target": "pve1-bmc"})

	sim.Console(simtest.UncorrectableECC)
	var summary string
	for deadline := time.Now().Add(20 * time.Second); summary == ""; time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no incident for the ECC error within 20s")
		}
		req, _ := http.NewRequest("GET", base+"/api/v1/incidents", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var incs []struct{ Summary, Detail string }
		json.NewDecoder(resp.Body).Decode(&incs)
		resp.Body.Close()
		for _, inc := range incs {
			if strings.Contains(inc.Summary+inc.Detail, "ECC") {
				summary = inc.Summary + " | " + inc.Detail
			}
		}
	}
	if !strings.Contains(summary, "Uncorrectable ECC") {
		t.Errorf("the incident does not say what the BMC saw: %s", summary)
	}

	cli := func(args ...string) (string, int) {
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "FOGHORN_API_TOKEN="+token)
		out, err := cmd.CombinedOutput()
		return string(out), exitCode(err)
	}
	// The shared token is "api", not in [power] allow; -as is only a note.
	if out, code := cli("power", "-url", base, "-as", "alice", "pve1", "cycle"); code != 1 || !strings.Contains(out, "api may not") {
		t.Fatalf("a token not in [power] allow: %d %s", code, out)
	}
	cmd := exec.Command(bin, "power", "-url", base, "pve1", "cycle")
	cmd.Env = append(os.Environ(), "FOGHORN_API_TOKEN=ops-script-token-0123456789")
	b, err := cmd.CombinedOutput()
	out, code := string(b), exitCode(err)
	if code != 0 || !strings.Contains(out, "cycled") {
		t.Fatalf("cycle: %d %s", code, out)
	}
	if acts := strings.Join(sim.Actions(), ","); !strings.Contains(acts, "power 0") || !strings.Contains(acts, "power 1") {
		t.Fatalf("the simulator saw no off-then-on: %s", acts)
	}
}

// Tokens from `foghorn token`: the config holds only the hash; a viewer
// token reads but cannot act.
func TestHashedAPITokens(t *testing.T) {
	mk := func(args ...string) (block, tok string) {
		cmd := exec.Command(bin, append([]string{"token"}, args...)...)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(errb.String(), "\n")
		return out.String(), lines[1]
	}
	opsBlock, opsTok := mk("ops-script")
	viewBlock, viewTok := mk("grafana", "viewer")
	if strings.Contains(opsBlock, opsTok) {
		t.Fatal("the config block contains the token itself")
	}
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "down", http.StatusServiceUnavailable) }))
	defer site.Close()
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "foghorn.toml")
	writeFile(t, cfgPath, siteConfig(filepath.Join(dir, "data"), httpTarget("web", site.URL), opsBlock, viewBlock))
	p := start(t, "run", "-config", cfgPath, "-log-format", "json")
	running, n := p.wait(t, 0, "foghorn running", nil)
	base := "http://" + running["listen"].(string)
	p.wait(t, n, "SMS sent", map[string]string{"person": "alice", "kind": "page"})

	call := func(tok, method, path string) int {
		req, _ := http.NewRequest(method, base+path, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, c := range []struct {
		tok, method, path string
		want              int
	}{
		{"", "GET", "/api/v1/incidents", 401},
		{"not-a-token", "GET", "/api/v1/incidents", 401},
		{viewTok, "GET", "/api/v1/incidents", 200},
		{viewTok, "POST", "/api/v1/incidents/1/ack", 403},
		{opsTok, "POST", "/api/v1/incidents/1/ack", 200},
	} {
		if got := call(c.tok, c.method, c.path); got != c.want {
			t.Errorf("%s %s with %.8q: %d, want %d", c.method, c.path, c.tok, got, c.want)
		}
	}
	req, _ := http.NewRequest("GET", base+"/api/v1/incidents", nil)
	req.Header.Set("Authorization", "Bearer "+viewTok)
	resp, _ := http.DefaultClient.Do(req)
	var incs []struct {
		AckedBy string `json:"acked_by"`
	}
	json.NewDecoder(resp.Body).Decode(&incs)
	resp.Body.Close()
	if len(incs) != 1 || incs[0].AckedBy != "ops-script" {
		t.Fatalf("the ack is not recorded under the token's name: %+v", incs)
	}
}
