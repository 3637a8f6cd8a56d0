package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// ciToken is the example's [[api_token]] "ci-deploy", whose hash the
// test puts in the config in place of the example's made-up one.
const ciToken = "ci-deploy-token-0123456789abcdef"

func withCIToken(s string) string {
	return regexp.MustCompile(`(?m)^sha256 = "8d1f7a0c[0-9a-f]+"`).ReplaceAllString(s, fmt.Sprintf("sha256 = %q", sha(ciToken)))
}

// apiCall is one JSON API request with a bearer token and extra headers.
func apiCall(t *testing.T, base, tok, method, path string, body any, hdr ...string) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, base+path, rd)
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// openIncident raises an Alertmanager alert and returns its incident id.
func openIncident(t *testing.T, x *exampleSite, fp, summary string) int64 {
	t.Helper()
	x.alert(t, "firing", fp, "critical", summary)
	var id int64
	until(t, 10*time.Second, "the incident for "+fp, func() bool {
		_, body := apiCall(t, x.base, ciToken, "GET", "/api/v1/incidents", nil)
		var incs []struct {
			ID      int64
			Summary string
		}
		json.Unmarshal([]byte(body), &incs)
		for _, inc := range incs {
			if inc.Summary == summary {
				id = inc.ID
			}
		}
		return id != 0
	})
	return id
}

func runCLI(t *testing.T, env []string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), exitCode(err)
}

// Issue 12, point 2: an API act is recorded under the name of the token
// that authenticated it, whatever X-Foghorn-User or -as say; power by API
// needs the token itself in [power] allow.
func TestAPIActsUnderTheTokensName(t *testing.T) {
	x := newExample(t, withCIToken)
	p := x.run(t)
	id := openIncident(t, x, "db1-disk", "db1 disk full")

	// The header names alice; the token is ci-deploy's: ci-deploy acked.
	if code, body := apiCall(t, x.base, ciToken, "POST", fmt.Sprintf("/api/v1/incidents/%d/ack", id), nil, "X-Foghorn-User", "alice"); code != 200 {
		t.Fatalf("ack: %d %s", code, body)
	}
	_, body := apiCall(t, x.base, ciToken, "GET", "/api/v1/incidents", nil)
	if !strings.Contains(body, `"acked_by":"ci-deploy"`) {
		t.Errorf("the ack is not under the token's name:\n%s", body)
	}

	// alice may power hosts, ci-deploy may not: a header naming alice
	// changes nothing, and neither does it on the shared [server] token.
	dry := powerRequest{Target: "pve1", Action: "on", DryRun: true}
	code, body := apiCall(t, x.base, ciToken, "POST", "/api/v1/power", dry, "X-Foghorn-User", "alice")
	if code != http.StatusForbidden || !strings.Contains(body, "ci-deploy may not ask for power actions") {
		t.Errorf("power by a token not in [power] allow, claiming alice: %d %s", code, body)
	}
	code, body = apiCall(t, x.base, e2eToken, "POST", "/api/v1/power", dry, "X-Foghorn-User", "alice")
	if code != http.StatusForbidden || !strings.Contains(body, "api may not ask for power actions") {
		t.Errorf("power by the shared [server] token, claiming alice: %d %s", code, body)
	}

	// -as on the CLI is a note beside the act, never its actor.
	env := []string{"FOGHORN_API_TOKEN=" + ciToken}
	if out, code := runCLI(t, env, "resolve", "-url", x.base, "-as", "alice", fmt.Sprint(id)); code != 0 {
		t.Fatalf("resolve -as alice: %d %s", code, out)
	}
	_, body = apiCall(t, x.base, ciToken, "GET", "/api/v1/audit?who=ci-deploy&target=am:db1-disk", nil)
	var acts []struct{ Kind, Actor, Detail string }
	json.Unmarshal([]byte(body), &acts)
	var got []string
	for _, a := range acts {
		got = append(got, a.Kind+" by "+a.Actor+": "+a.Detail)
	}
	want := []string{"incident.resolve by ci-deploy: via api; note: alice", "incident.ack by ci-deploy: via api; note: says alice"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("the incident's acts:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// Listed in [power] allow by its name, the token may.
	writeFile(t, x.path, strings.Replace(x.text, `allow = ["alice", "bob"]`, `allow = ["alice", "bob", "ci-deploy"]`, 1))
	n := p.count()
	p.cmd.Process.Signal(syscall.SIGHUP)
	p.wait(t, n, "config reloaded", nil)
	if code, body := apiCall(t, x.base, ciToken, "POST", "/api/v1/power", dry); code != 200 || !strings.Contains(body, "allowed") {
		t.Errorf("power by a token in [power] allow: %d %s", code, body)
	}
	// The ignored header is said in the log.
	p.wait(t, 0, "X-Foghorn-User ignored: API acts are recorded under the token's name", map[string]string{"token": "ci-deploy", "header": "alice"})
}

// Issue 12, point 5: the audit trail is readable without sqlite3 — by the
// API, by `foghorn audit` from the store itself whether foghorn runs or
// not, and on the dashboard — with every power attempt, the acts on
// incidents, silences, overrides and config reloads.
func TestAuditTrailWithoutSqlite(t *testing.T) {
	const pw = "correct horse battery"
	hash, _ := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	x := newExample(t, withCIToken, func(s string) string {
		return strings.Replace(s, `# password_hash = "$2a$10$..."`, fmt.Sprintf("password_hash = %q", hash), 1)
	})
	p := x.run(t)
	id := openIncident(t, x, "db1-disk", "db1 disk full")
	env := []string{"FOGHORN_API_TOKEN=" + ciToken}
	for _, args := range [][]string{
		{"snooze", fmt.Sprint(id), "30m"},
		{"escalate", fmt.Sprint(id)},
		{"silence", "pve2", "2h"},
		{"override", "alice", "bob", "2030-01-01T00:00:00Z"},
	} {
		if out, code := runCLI(t, env, append([]string{args[0], "-url", x.base}, args[1:]...)...); code != 0 {
			t.Fatalf("%s: %d %s", args[0], code, out)
		}
	}
	if code, body := apiCall(t, x.base, ciToken, "POST", "/api/v1/power", powerRequest{Target: "pve1", Action: "cycle"}); code != http.StatusForbidden {
		t.Fatalf("cycle by a token not allowed: %d %s", code, body)
	}
	n := p.count()
	p.cmd.Process.Signal(syscall.SIGHUP)
	p.wait(t, n, "config reloaded", nil)

	wantAll := []string{
		`power\.refused +pve1 +ci-deploy +refused: ci-deploy may not ask for power actions`,
		`incident\.snooze +#1 am:db1-disk +ci-deploy +for 30m`,
		`incident\.escalate +#1 am:db1-disk +ci-deploy +step 1 -> 2`,
		`silence\.add +silence:1 +ci-deploy +\[name="pve2"\] until`,
		`override\.add +alice +ci-deploy +bob covers alice until 2030-01-01T00:00:00Z`,
		`config\.reload +\S+ +sighup +\d+ targets`,
	}
	check := func(what, out string, want []string, not ...string) {
		t.Helper()
		for _, w := range want {
			if !regexp.MustCompile(w).MatchString(out) {
				t.Errorf("%s lacks %s:\n%s", what, w, out)
			}
		}
		for _, w := range not {
			if strings.Contains(out, w) {
				t.Errorf("%s has %q:\n%s", what, w, out)
			}
		}
	}

	// From anywhere, through the API.
	out, code := runCLI(t, env, "audit", "-url", x.base, "-since", "1h")
	if code != 0 {
		t.Fatalf("audit -url: %d %s", code, out)
	}
	check("audit -url", out, wantAll)
	out, _ = runCLI(t, env, "audit", "-url", x.base, "-target", "pve1")
	check("audit -url -target pve1", out, wantAll[:1], "incident.", "silence.add", "config.reload")
	out, _ = runCLI(t, env, "audit", "-url", x.base, "-who", "sighup")
	check("audit -url -who sighup", out, wantAll[5:], "ci-deploy")
	if code, body := apiCall(t, x.base, ciToken, "GET", "/api/v1/audit?since="+url.QueryEscape(time.Now().Add(time.Hour).Format(time.RFC3339)), nil); code != 200 || body != "[]\n" {
		t.Errorf("audit since an hour from now: %d %q, want an empty list", code, body)
	}
	if code, body := apiCall(t, x.base, "wrong-token", "GET", "/api/v1/audit", nil); code != http.StatusUnauthorized {
		t.Errorf("audit with a wrong token: %d %s", code, body)
	}

	// On the VPS, from the store, beside the running foghorn.
	out, code = runCLI(t, nil, "audit", "-config", x.path)
	if code != 0 {
		t.Fatalf("audit -config while foghorn runs: %d %s", code, out)
	}
	check("audit -config (running)", out, wantAll)

	// On the dashboard, for a person logged in.
	jar, _ := cookiejar.New(nil)
	web := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	get := func(path string) string {
		resp, err := web.Get(x.base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(get("/login"))
	if m == nil {
		t.Fatal("no csrf token on the login page")
	}
	resp, err := web.PostForm(x.base+"/login", url.Values{"csrf": {m[1]}, "name": {"alice"}, "password": {pw}, "next": {"/"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	page := get("/audit?since=1h")
	check("the dashboard's audit page", page, []string{"power REFUSED", "refused: ci-deploy may not ask for power actions", "snoozed", "escalated",
		"silence added", "override added", "config reloaded", `<span class="actor">ci-deploy</span>`, `<span class="actor">sighup</span>`})
	page = get("/audit?since=1h&target=pve1")
	check("the dashboard's audit page for pve1", page, []string{"power REFUSED"}, "snoozed", "config reloaded")

	// And when foghorn is down.
	p.cmd.Process.Signal(syscall.SIGTERM)
	<-p.done
	out, code = runCLI(t, nil, "audit", "-config", x.path, "-since", "1h")
	if code != 0 {
		t.Fatalf("audit -config with foghorn stopped: %d %s", code, out)
	}
	check("audit -config (stopped)", out, append(wantAll, `stop +\S+ +foghorn`))
	out, _ = runCLI(t, nil, "audit", "-config", x.path, "-who", "ci-deploy", "-target", "am:db1-disk")
	check("audit -config -who ci-deploy -target am:db1-disk", out, wantAll[1:3], "power.", "silence.add", "config.")
}
