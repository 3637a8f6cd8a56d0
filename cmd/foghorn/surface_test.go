package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"foghorn/store"
)

// Issue 13, points 10-13: what foghorn's HTTP surface and data dir give
// away, against the real binary.

const (
	surfaceAPIToken = "surface-api-token-0123456789"
	surfaceHBToken  = "surface-heartbeat-token-42"
)

// surfaceSite is a config with one web target that is up and one
// heartbeat target, the API token and the heartbeat token from the env.
func surfaceSite(t *testing.T, data string) (cfgPath string, env []string) {
	t.Helper()
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	t.Cleanup(web.Close)
	cfgPath = filepath.Join(t.TempDir(), "foghorn.toml")
	writeFile(t, cfgPath, siteConfig(data, httpTarget("web", web.URL),
		"[[target]]\nname = \"hb\"\nkind = \"heartbeat\"\ninterval = \"1m\"\n"))
	return cfgPath, []string{"FOGHORN_API_TOKEN=" + surfaceAPIToken, "FOGHORN_HEARTBEAT_TOKEN_HB=" + surfaceHBToken}
}

// get fetches base+path from the source address src (a loopback address
// other than 127.0.0.1 is another client), with tok as the bearer token.
func get(t *testing.T, src, url, tok string) (int, http.Header, string) {
	t.Helper()
	d := &net.Dialer{Timeout: 5 * time.Second}
	if src != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(src)}
	}
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}}
	req, _ := http.NewRequest("GET", url, nil)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func TestStatusTextNeedsTheAPIToken(t *testing.T) {
	cfgPath, env := surfaceSite(t, filepath.Join(t.TempDir(), "data"))
	const pw = "correct horse battery"
	hash, _ := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	b, _ := os.ReadFile(cfgPath)
	writeFile(t, cfgPath, strings.Replace(string(b), "phone = \"+4915112345671\"\n", fmt.Sprintf("phone = \"+4915112345671\"\npassword_hash = %q\n", hash), 1))
	p := startEnv(t, env, "run", "-config", cfgPath, "-log-format", "json")
	running, n := p.wait(t, 0, "foghorn running", nil)
	base := "http://" + running["listen"].(string)
	p.wait(t, n, "target up", map[string]string{"target": "web"})

	code, _, body := get(t, "", base+"/status.txt", "")
	if code != http.StatusUnauthorized || strings.Contains(body, "web") || strings.Contains(body, "127.0.0.1") {
		t.Errorf("/status.txt without a token: %d\n%s", code, body)
	}
	if code, _, body := get(t, "", base+"/status.txt", "wrong-token-0123456789"); code != http.StatusUnauthorized {
		t.Errorf("/status.txt with a wrong token: %d\n%s", code, body)
	}
	code, _, body = get(t, "", base+"/status.txt", surfaceAPIToken)
	if code != http.StatusOK || !strings.Contains(body, "web") {
		t.Errorf("/status.txt with the API token: %d\n%s", code, body)
	}

	// A person logged in to the dashboard opens it in the browser.
	jar, _ := cookiejar.New(nil)
	web := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	resp, err := web.Get(base + "/login")
	if err != nil {
		t.Fatal(err)
	}
	login, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(string(login))
	if m == nil {
		t.Fatal("no csrf token on the login page")
	}
	if resp, err = web.PostForm(base+"/login", url.Values{"csrf": {m[1]}, "name": {"alice"}, "password": {pw}, "next": {"/"}}); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp, err = web.Get(base + "/status.txt"); err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(page), "web") {
		t.Errorf("/status.txt with a dashboard session: %d\n%s", resp.StatusCode, page)
	}
}

func TestHeartbeatRefusalsAreLimitedPerSourceAndAlike(t *testing.T) {
	cfgPath, env := surfaceSite(t, filepath.Join(t.TempDir(), "data"))
	p := startEnv(t, env, "run", "-config", cfgPath, "-log-format", "json")
	running, n := p.wait(t, 0, "foghorn running", nil)
	base := "http://" + running["listen"].(string)

	// An unknown target and a wrong token get the same answer, byte for
	// byte, so the answer tells no target name.
	c1, h1, b1 := get(t, "127.0.0.3", base+"/heartbeat/nosuch/"+surfaceHBToken, "")
	c2, h2, b2 := get(t, "127.0.0.3", base+"/heartbeat/hb/"+surfaceHBToken+"x", "")
	if c1 != c2 || b1 != b2 || h1.Get("Content-Type") != h2.Get("Content-Type") || c1 != http.StatusForbidden {
		t.Errorf("unknown target: %d %q; wrong token: %d %q; want the same 403", c1, b1, c2, b2)
	}

	// A flood of wrong tokens from one source: after the burst, 429, and
	// then even its right token is answered 429 (guessing learns nothing).
	var last int
	for i := 0; i < 30 && last != http.StatusTooManyRequests; i++ {
		last, _, _ = get(t, "127.0.0.2", base+"/heartbeat/hb/guess-"+time.Now().Format("150405.000000"), "")
	}
	if last != http.StatusTooManyRequests {
		t.Fatalf("30 wrong pushes from one source: last answer %d, want 429", last)
	}
	code, hdr, _ := get(t, "127.0.0.2", base+"/heartbeat/hb/"+surfaceHBToken, "")
	if code != http.StatusTooManyRequests || hdr.Get("Retry-After") == "" {
		t.Errorf("right push from the limited source: %d (Retry-After %q), want 429 with Retry-After", code, hdr.Get("Retry-After"))
	}
	// Another source's right push still works.
	if code, _, body := get(t, "127.0.0.1", base+"/heartbeat/hb/"+surfaceHBToken, ""); code != http.StatusNoContent {
		t.Errorf("right push from another source: %d %s", code, body)
	}
	p.wait(t, n, "heartbeat pushes from this address refused for a while: too many wrong ones", map[string]string{"remote": "127.0.0.2"})
}

func TestShortHeartbeatTokenRefusedByCheckConfig(t *testing.T) {
	cfgPath, _ := surfaceSite(t, filepath.Join(t.TempDir(), "data"))
	cmd := exec.Command(bin, "check-config", cfgPath)
	cmd.Env = append(os.Environ(), "FOGHORN_HEARTBEAT_TOKEN_HB=short-token")
	out, err := cmd.CombinedOutput()
	if code := exitCode(err); code != 1 || !strings.Contains(string(out), `target "hb" heartbeat token: the heartbeat token is too short (11 characters; at least 16)`) ||
		!strings.Contains(string(out), "openssl rand") {
		t.Fatalf("check-config with an 11-character heartbeat token: exit %d\n%s", code, out)
	}
}

// startUmask is startEnv with the given umask (through sh, so the test's
// own umask is left alone).
func startUmask(t *testing.T, umask string, env []string, args ...string) *proc {
	t.Helper()
	return startCmd(t, exec.Command("sh", append([]string{"-c", "umask " + umask + " && exec \"$0\" \"$@\"", bin}, args...)...), env)
}

func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Mode().Perm()
}

func TestDataDirAndDatabasePrivateWhateverTheUmask(t *testing.T) {
	data := filepath.Join(t.TempDir(), "var", "data")
	cfgPath, env := surfaceSite(t, data)
	p := startUmask(t, "000", env, "run", "-config", cfgPath, "-log-format", "json")
	_, n := p.wait(t, 0, "foghorn running", nil)
	p.wait(t, n, "target up", map[string]string{"target": "web"}) // a write: the -wal exists
	db := filepath.Join(data, store.File)
	for path, want := range map[string]os.FileMode{data: 0o700, db: 0o600, db + "-wal": 0o600, db + "-shm": 0o600, filepath.Join(data, store.Marker): 0o600} {
		if got := mode(t, path); got != want {
			t.Errorf("%s: mode %04o under umask 000, want %04o", filepath.Base(path), got, want)
		}
	}
}

func TestLooseDataDirReported(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(data, 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chmod(data, 0o755)
	cfgPath, env := surfaceSite(t, data)
	p := startEnv(t, env, "run", "-config", cfgPath, "-log-format", "json")
	running, _ := p.wait(t, 0, "foghorn running", nil)
	p.wait(t, 0, "data dir open to other users", nil)
	base := "http://" + running["listen"].(string)
	_, _, body := get(t, "", base+"/healthz", "")
	if !strings.Contains(body, "warning: data dir "+data+" is mode 0755") || !strings.Contains(body, "chmod 700 "+data) {
		t.Errorf("/healthz does not report the data dir open to others:\n%s", body)
	}
}

func TestDatabaseDeletedWhileRunningIsNoticed(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	cfgPath, env := surfaceSite(t, data)
	p := startEnv(t, env, "run", "-config", cfgPath, "-log-format", "json")
	running, n := p.wait(t, 0, "foghorn running", nil)
	base := "http://" + running["listen"].(string)
	p.wait(t, n, "target up", map[string]string{"target": "web"})
	until(t, 15*time.Second, "/healthz 200 before the deletion", func() bool {
		code, _, _ := get(t, "", base+"/healthz", "")
		return code == http.StatusOK
	})
	if err := os.Remove(filepath.Join(data, store.File)); err != nil {
		t.Fatal(err)
	}
	line, _ := p.wait(t, n, "the database file is gone from under foghorn", nil)
	if line["level"] != "ERROR" || !strings.Contains(line["reason"].(string), "was deleted while foghorn runs") {
		t.Errorf("log line: %v", line)
	}
	var body string
	until(t, 10*time.Second, "/healthz 503 naming the deleted database", func() bool {
		var code int
		code, _, body = get(t, "", base+"/healthz", "")
		return code == http.StatusServiceUnavailable && strings.Contains(body, store.File+" was deleted while foghorn runs")
	})
	t.Logf("/healthz:\n%s", body)
}

func TestMissingDatabaseAfterOneWasCreatedRefusesToStart(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	cfgPath, env := surfaceSite(t, data)
	// A data dir that never had a database: created, and started.
	p := startEnv(t, env, "run", "-config", cfgPath, "-log-format", "json")
	_, n := p.wait(t, 0, "foghorn running", nil)
	p.cmd.Process.Signal(syscall.SIGTERM)
	p.wait(t, n, "stopped", nil)
	<-p.done

	db := filepath.Join(data, store.File)
	for _, f := range []string{db, db + "-wal", db + "-shm"} {
		os.Remove(f)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "run", "-config", cfgPath)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if code := exitCode(err); code != 1 {
		t.Fatalf("start with the database gone: exit %d, want 1\n%s", code, out)
	}
	marker := filepath.Join(data, store.Marker)
	for _, want := range []string{db + " is missing", "page them again as #1", "restore it from your backup", "remove " + marker} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the refusal lacks %q:\n%s", want, out)
		}
	}
	if _, err := os.Stat(db); err == nil {
		t.Error("the refused start created an empty database")
	}
	// Removing the marker is the way to start empty on purpose.
	if err := os.Remove(marker); err != nil {
		t.Fatal(err)
	}
	p = startEnv(t, env, "run", "-config", cfgPath, "-log-format", "json")
	p.wait(t, 0, "foghorn running", nil)
}
