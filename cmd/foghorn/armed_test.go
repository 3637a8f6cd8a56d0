package main

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"foghorn/configs"
	"foghorn/pager/twiliosim"
)

// A foghorn that cannot page anyone must say so: a bad Twilio token is
// refused or raises CHANNEL DOWN, a config that watches nothing is refused
// wherever it is loaded, and /healthz fails while foghorn is not armed.

// exampleToken is the token in configs/twilio-token.example, the one the
// example's simulator takes.
const exampleToken = "0123456789abcdef0123456789abcdef"

const exampleAlice = "+4915112345671" // alice in configs/example.toml

// getHealthz is /healthz's status and body.
func getHealthz(t *testing.T, base string) (int, string) {
	t.Helper()
	resp, err := http.Get(base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// waitHealthz waits until /healthz answers code with a body holding every
// one of want, and returns the body.
func waitHealthz(t *testing.T, base string, d time.Duration, code int, want ...string) string {
	t.Helper()
	var got int
	var body string
	deadline := time.Now().Add(d)
	for {
		got, body = getHealthz(t, base)
		ok := got == code
		for _, w := range want {
			ok = ok && strings.Contains(body, w)
		}
		if ok {
			t.Logf("/healthz: HTTP %d\n%s", got, body)
			return body
		}
		if time.Now().After(deadline) {
			t.Fatalf("/healthz within %s: HTTP %d %q, want %d with %q", d, got, body, code, want)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// testPageTo asks the running foghorn for a test page (an SMS and a call)
// to person, in the background: the API answers only after its wait.
func testPageTo(t *testing.T, base, person string) {
	t.Helper()
	req, err := http.NewRequest("POST", base+"/api/v1/test-page", strings.NewReader(fmt.Sprintf(`{"person": %q, "wait": "1s"}`, person)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+e2eToken)
	go func() {
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
}

func smsTo(sim *twiliosim.Sim, phone string) int {
	n := 0
	for _, m := range sim.Messages() {
		if m.To == phone && m.Direction == "outbound-api" {
			n++
		}
	}
	return n
}

// TestBadTokenIsChannelDown: a token with a stray dash is refused before
// foghorn starts (twilio-go would refuse every request locally, 21224, and
// nothing would reach Twilio); surrounding whitespace is no part of it;
// a token of the right shape that Twilio refuses (401, 20003) is CHANNEL
// DOWN at once — the ERROR, the alarm through email, the metric and
// /healthz — not a WARN per page.
func TestBadTokenIsChannelDown(t *testing.T) {
	tokenFile := func(x *exampleSite) string { return filepath.Join(x.dir, "twilio-token.example") }

	t.Run("a trailing dash is refused", func(t *testing.T) {
		x := newExample(t, quietWorld)
		writeFile(t, tokenFile(x), exampleToken+"-\n")
		const want = `twilio auth_token_file: file "twilio-token.example" does not hold a Twilio auth token (32 hex digits, 0-9 and a-f): ` +
			`it is 33 characters long, and character 33 is not a hex digit; fix: put the Auth Token from the Twilio console (Account > API keys & tokens) in the file, alone on one line`
		out, code := runFor(t, 30*time.Second, "check-config", x.path)
		line := 1 + strings.Count(x.text[:strings.Index(x.text, "auth_token_file =")], "\n")
		if code != 1 || !strings.Contains(out, fmt.Sprintf("%s:%d: %s", x.path, line, want)) || !strings.Contains(out, "1 problem(s)") || !strings.Contains(out, "nothing was started") {
			t.Errorf("check-config: exit %d, want 1 with\n%s\ngot:\n%s", code, want, out)
		}
		out, code = runFor(t, 30*time.Second, "run", "-config", x.path)
		if code != 1 || !strings.Contains(out, want) || !strings.Contains(out, "foghorn: not started") {
			t.Errorf("run: exit %d, want 1 with\n%s\ngot:\n%s", code, want, out)
		}
		if strings.Contains(out, exampleToken) {
			t.Errorf("the token was printed:\n%s", out)
		}
	})

	t.Run("whitespace around the token is trimmed", func(t *testing.T) {
		x := newExample(t, quietWorld)
		writeFile(t, tokenFile(x), "  "+exampleToken+" \t\r\n")
		if out, code := runFor(t, 30*time.Second, "check-config", x.path); code != 0 {
			t.Fatalf("check-config: exit %d:\n%s", code, out)
		}
		p := x.run(t)
		testPageTo(t, x.base, "alice")
		p.wait(t, 0, "SMS sent", map[string]string{"person": "alice", "kind": "page"})
		if n := smsTo(x.sim, exampleAlice); n != 1 {
			t.Errorf("%d SMS to alice reached Twilio, want 1", n)
		}
	})

	t.Run("a token Twilio refuses is channel down", func(t *testing.T) {
		x := newExample(t, quietWorld)
		writeFile(t, tokenFile(x), strings.Repeat("f", 32)+"\n") // the right shape, not the account's
		if out, code := runFor(t, 30*time.Second, "check-config", x.path); code != 0 {
			t.Fatalf("check-config: exit %d:\n%s", code, out)
		}
		p := x.run(t)
		testPageTo(t, x.base, "alice")
		down, n := p.wait(t, 0, "CHANNEL DOWN: every recent send failed; pages by this vendor are not going out", map[string]string{"vendor": "twilio"})
		if down["level"] != "ERROR" || !strings.Contains(fmt.Sprint(down["last_error"]), "20003") {
			t.Errorf("CHANNEL DOWN line: %v", down)
		}
		// The alarm goes out through the other channel: email, whose
		// server (a closed port in this world) cannot take it either.
		p.wait(t, 0, "could not tell about the channel outage", map[string]string{"vendor": "twilio"})
		m := metricsText(t, x.base)
		if v := metric(m, `foghorn_pager_channel_down{vendor="twilio"}`); v != 1 {
			t.Errorf(`foghorn_pager_channel_down{vendor="twilio"} = %v, want 1`, v)
		}
		if v := metric(m, `foghorn_pager_channel_outages_total{vendor="twilio"}`); v != 1 {
			t.Errorf(`foghorn_pager_channel_outages_total{vendor="twilio"} = %v, want 1`, v)
		}
		body := waitHealthz(t, x.base, 30*time.Second, http.StatusServiceUnavailable,
			"not armed", "no channel works", "twilio (sms, voice) down since", "20003", "smtp (email) down since")
		if strings.Contains(body, "ffffffff") {
			t.Errorf("/healthz shows the token:\n%s", body)
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, l := range p.lines[n:] {
			if l != nil && l["msg"] == "SMS sent" {
				t.Errorf("an SMS went out with refused credentials: %v", l)
			}
		}
	})
}

// unarmedConfigs are files that decode to a foghorn watching nothing and
// paging nobody.
func unarmedConfigs(dir string) map[string]string {
	return map[string]string{
		"empty":         "",
		"comments only": "# foghorn config\n# targets and people to come\n",
		"server only":   fmt.Sprintf("[server]\nlisten = \"127.0.0.1:0\"\ndata_dir = %q\n", filepath.Join(dir, "data")),
	}
}

var unarmedProblems = []string{
	`: target: none: foghorn would watch nothing; fix: add a [[target]]`,
	`: person: none: nobody could be paged; fix: add a [[person]]`,
	`: policy: none: no escalation policy says whom to page; fix: add a [[policy]]`,
}

// TestEmptyConfigIsRefused: an empty, comment-only or [server]-only file
// is refused by check-config and at start with what is missing and how to
// add it, and on SIGHUP the running config stays in force.
func TestEmptyConfigIsRefused(t *testing.T) {
	dir := t.TempDir()
	for name, src := range unarmedConfigs(dir) {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".toml")
			writeFile(t, path, src)
			out, code := runFor(t, 30*time.Second, "check-config", path)
			if code != 1 || !strings.Contains(out, "3 problem(s); nothing was started") {
				t.Errorf("check-config: exit %d, want 1:\n%s", code, out)
			}
			for _, want := range unarmedProblems {
				if !strings.Contains(out, path+want) {
					t.Errorf("check-config lacks %q:\n%s", path+want, out)
				}
			}
			out, code = runFor(t, 30*time.Second, "run", "-config", path)
			if code != 1 || !strings.Contains(out, "foghorn: not started") || !strings.Contains(out, unarmedProblems[1]) {
				t.Errorf("run: exit %d, want 1 and the problems:\n%s", code, out)
			}
		})
	}

	t.Run("SIGHUP", func(t *testing.T) {
		x := newExample(t, quietWorld)
		p := x.run(t)
		n := 0
		for name, src := range unarmedConfigs(x.dir) {
			writeFile(t, x.path, src)
			p.cmd.Process.Signal(syscall.SIGHUP)
			var line map[string]any
			line, n = p.wait(t, n, "config reload refused; the running config stays in force", nil)
			for _, want := range unarmedProblems {
				if !strings.Contains(fmt.Sprint(line["problems"]), want) {
					t.Errorf("%s: the refusal lacks %q: %v", name, want, line["problems"])
				}
			}
		}
		if v := metric(metricsText(t, x.base), `foghorn_config_reloads_total{result="refused"}`); v != 3 {
			t.Errorf(`foghorn_config_reloads_total{result="refused"} = %v, want 3`, v)
		}
		// The example is still in force: its rotation, its people.
		req, _ := http.NewRequest("GET", x.base+"/api/v1/oncall", nil)
		req.Header.Set("Authorization", "Bearer "+e2eToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(b), `"ops"`) {
			t.Errorf("the running config is gone: /api/v1/oncall = %s", b)
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, l := range p.lines {
			if l != nil && l["msg"] == "config reloaded" {
				t.Errorf("an unarmed config was applied: %v", l)
			}
		}
	})
}

// TestHealthzSaysWhenNotArmed: /healthz is 200 while foghorn can page and
// 503 with the reason when its store fails or no channel works, and
// 200 again when that ends.
func TestHealthzSaysWhenNotArmed(t *testing.T) {
	t.Run("store failing", func(t *testing.T) {
		x := newExample(t, quietWorld)
		data := filepath.Join(x.dir, "data")
		if err := os.MkdirAll(data, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Mount("tmpfs", data, "tmpfs", 0, "size=4m,mode=0700"); err != nil {
			if os.Getenv("FOGHORN_REQUIRE_PEERS") != "" {
				t.Fatalf("cannot mount a tmpfs for the data dir (the test needs root): %v", err)
			}
			t.Skipf("cannot mount a small tmpfs to fill up (needs root or CAP_SYS_ADMIN): %v", err)
		}
		t.Cleanup(func() { syscall.Unmount(data, syscall.MNT_DETACH) })
		x.run(t)
		waitHealthz(t, x.base, 60*time.Second, http.StatusOK, "ok")

		filler := filepath.Join(data, "filler")
		fill(t, filler)
		waitHealthz(t, x.base, 30*time.Second, http.StatusServiceUnavailable, "not armed", "store failing:", "[server] data_dir")

		if err := os.Remove(filler); err != nil {
			t.Fatal(err)
		}
		waitHealthz(t, x.base, 30*time.Second, http.StatusOK, "ok")
	})

	t.Run("no channel works", func(t *testing.T) {
		x := newExample(t, quietWorld)
		p := x.run(t)
		waitHealthz(t, x.base, 60*time.Second, http.StatusOK, "ok")

		// Twilio answers 500 to everything; the example's mail server is a
		// closed port: the page and the alarm about it both fail.
		x.sim.SetFault(twiliosim.Fault{Status: http.StatusInternalServerError, Rate: 1})
		testPageTo(t, x.base, "alice")
		testPageTo(t, x.base, "bob")
		p.waitWithin(t, 60*time.Second, 0, "CHANNEL DOWN: every recent send failed; pages by this vendor are not going out", map[string]string{"vendor": "twilio"})
		waitHealthz(t, x.base, 30*time.Second, http.StatusServiceUnavailable,
			"not armed", "no channel works", "twilio (sms, voice) down since", "smtp (email) down since")

		// Twilio back: the held pages go out, and email alone being down
		// is a warning, not a disarmed pager.
		x.sim.SetFault(twiliosim.Fault{})
		p.waitWithin(t, 60*time.Second, 0, "channel works again", map[string]string{"vendor": "twilio"})
		waitHealthz(t, x.base, 10*time.Second, http.StatusOK, "ok\n", "warning: smtp (email) down since", "pages go out by twilio (sms, voice) only")
	})
}

// fill writes path until the file system is full, to the last byte.
func fill(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for i := 0; i < 1000; i++ {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			break
		}
	}
	for i := 0; i < 4096; i++ {
		if _, err := f.Write(chunk[:512]); err != nil {
			break
		}
	}
}

// The probe reasons of /healthz, on a clock of the test's own: not probed
// yet, probed, stuck for much longer than the intervals, and none needed
// for a foghorn that pages for Alertmanager only.
func TestHealthzProbeReasons(t *testing.T) {
	cfg, err := configs.Load("../../configs/example.toml")
	if err != nil {
		t.Fatal(err)
	}
	d := &daemon{}
	d.cfg.Store(cfg)
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	if got, want := d.checkProbes(now), "no target probed yet (14 configured): foghorn has not seen the site"; got != want {
		t.Errorf("before any probe: %q, want %q", got, want)
	}
	d.noteProbe(now) // rt1 probed
	if got := d.checkProbes(now.Add(time.Minute)); got != "" {
		t.Errorf("a minute after a probe: %q", got)
	}
	// rt1 and rt2 are due every 10 s (3 s timeout): a minute and more
	// without any result is a stuck scheduler, whatever the daily
	// heartbeat's interval.
	if got, want := d.checkProbes(now.Add(61*time.Second)), "no target probed for 1m1s (the most frequent is due every 13s): the probes are stuck"; got != want {
		t.Errorf("61 s after the last probe: %q, want %q", got, want)
	}
	d.cfg.Store(&configs.Config{})
	if got := d.checkProbes(now.Add(time.Hour)); got != "" {
		t.Errorf("no targets (Alertmanager only): %q", got)
	}
}
