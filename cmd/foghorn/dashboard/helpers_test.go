package dashboard

import (
	"bytes"
	"context"
	"fmt"
	fclock "foghorn/clock"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"foghorn/configs"
	"foghorn/escalation"
	"foghorn/store"
)

// Passwords of the test people. Their hashes use bcrypt's lowest cost so
// the race detector does not make every login take seconds.
const (
	alicePW  = "correct horse battery"
	victorPW = "viewer staple 42"
)

var hashes = sync.OnceValue(func() [2]string {
	a, _ := bcrypt.GenerateFromPassword([]byte(alicePW), bcrypt.MinCost)
	v, _ := bcrypt.GenerateFromPassword([]byte(victorPW), bcrypt.MinCost)
	return [2]string{string(a), string(v)}
})

// siteConfig is a small site: a router pair, a web server and two
// people, alice who acts and victor who only looks.
func siteConfig(publicURL string) string {
	h := hashes()
	return fmt.Sprintf(`
[server]
listen = "127.0.0.1:0"
public_url = %q
[twilio]
simulator = true
from = "+15005550006"
[self_check]
canaries = ["127.0.0.1"]
[escalation]
default_policy = "ops"
ack_timeout = "2h"

[[person]]
name = "alice"
phone = "+4915112345671"
timezone = "Europe/Berlin"
role = "responder"
password_hash = %q

[[person]]
name = "victor"
phone = "+4915112345672"
role = "viewer"
password_hash = %q

[[person]]
name = "bob"
phone = "+4915112345673"

[[rotation]]
name = "ops"
members = ["alice", "bob"]
handoff = "0 9 * * MON"
timezone = "Europe/Berlin"
start = 2026-01-05T09:00:00

[[policy]]
name = "ops"
  [[policy.step]]
  who = ["rotation:ops"]
  channels = ["sms", "voice"]
  repeat = 3
  interval = "5m"
  [[policy.step]]
  who = ["bob"]
  channels = ["voice"]
  delay = "15m"

[[target]]
name = "rt1"
kind = "tcp"
address = "127.0.0.1:9"
group = "routers"
labels = { site = "fra1" }

[[target]]
name = "rt2"
kind = "tcp"
address = "127.0.0.1:9"
group = "routers"
labels = { site = "fra1" }

[[target]]
name = "web"
kind = "http"
address = "http://127.0.0.1:9/"

[[group]]
name = "routers"
min_up = 1
`, publicURL, h[0], h[1])
}

// recorder is the notifier: it keeps every intent the engine hands out,
// standing in for the phones.
type recorder struct {
	mu  sync.Mutex
	got []escalation.Intent
}

func (r *recorder) Notify(ctx context.Context, in escalation.Intent) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, in)
	return nil
}

// Cancel is kept as a "cancel" intent.
func (r *recorder) Cancel(ctx context.Context, incident int64) error {
	return r.Notify(ctx, escalation.Intent{Incident: incident, Kind: "cancel"})
}

func (r *recorder) kinds(incident int64) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, in := range r.got {
		if in.Incident == incident {
			out = append(out, string(in.Kind)+" "+string(in.Channel)+" "+in.Person)
		}
	}
	return out
}

// board is the daemon's live target view as the lead's adapter hands it
// over: plain data.
type board struct {
	mu      sync.Mutex
	targets []Target
	health  Health
}

func (b *board) Targets() []Target {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]Target(nil), b.targets...)
}

func (b *board) Health() Health {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.health
}

// logBuf collects the dashboard's log lines for assertions.
type logBuf struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// env is a running dashboard over the real engine and a real store,
// behind a real HTTP server on loopback, with rt1 down and its incident
// open and paged.
type env struct {
	t     *testing.T
	cfg   atomic.Pointer[configs.Config]
	eng   *escalation.Engine
	db    *store.DB
	rec   *recorder
	board *board
	dash  *Dashboard
	srv   *httptest.Server
	logs  *logBuf
	clock *fclock.Fake // the dashboard's, so the rate limit's window can pass; the engine keeps real time
	inc   *escalation.Incident
}

func newEnv(t *testing.T, publicURL string) *env {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	db, err := store.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := configs.Parse("t.toml", t.TempDir(), []byte(siteConfig(publicURL)), func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, db: db, rec: &recorder{}, logs: &logBuf{}, clock: fclock.NewFake(time.Now())}
	e.cfg.Store(cfg)
	log := slog.New(slog.NewTextHandler(e.logs, nil))
	e.eng = escalation.New(db, engineConfig(cfg), e.rec, escalation.Options{Log: log})
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.eng.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		db.Close()
	})

	now := time.Now()
	e.board = &board{
		targets: []Target{
			{Name: "rt1", Kind: "tcp", State: "down", Since: now.Add(-3 * time.Minute), Status: "CRITICAL", Msg: "connection refused", At: now.Add(-5 * time.Second), Latency: 2 * time.Millisecond},
			{Name: "rt2", Kind: "tcp", State: "up", Since: now.Add(-time.Hour), Status: "OK", Msg: "connected", At: now.Add(-3 * time.Second), Latency: 4 * time.Millisecond},
			{Name: "web", Kind: "http", State: "up", Since: now.Add(-time.Hour), Status: "OK", Msg: "HTTP 200", At: now.Add(-7 * time.Second), Latency: 31 * time.Millisecond},
		},
		health: Health{
			Version: "test", Started: now.Add(-26 * time.Hour), LastCanary: now.Add(-20 * time.Second),
			Blind:    []Window{{Start: now.Add(-5 * time.Hour), End: now.Add(-5*time.Hour + 7*time.Minute)}},
			Channels: []Channel{{Name: "sms", Sent: 12}, {Name: "voice", Sent: 3, Failed: 1, LastError: "busy", LastFailure: now.Add(-2 * time.Hour)}},
			Reloaded: now.Add(-90 * time.Minute),
		},
	}
	e.dash, err = New(Options{
		Engine: e.eng, Source: e.board, Config: func() *Config { return narrow(e.cfg.Load()) }, Log: log, Clock: e.clock,
		// Tests speak for several addresses from one loopback socket.
		ClientIP: func(r *http.Request) string {
			if ip := r.Header.Get("X-Test-IP"); ip != "" {
				return ip
			}
			return remoteIP(r)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		at := now.Add(time.Duration(i-30) * 10 * time.Second)
		e.dash.Record("rt1", i < 26, time.Duration(2+i%5)*time.Millisecond, at)
		e.dash.Record("rt2", true, time.Duration(3+i%3)*time.Millisecond, at)
		e.dash.Record("web", true, time.Duration(20+i%13)*time.Millisecond, at)
	}
	mux := http.NewServeMux()
	e.dash.Routes(mux)
	e.srv = httptest.NewServer(mux)
	t.Cleanup(e.srv.Close)

	// rt1 is down: its incident opens and the first step pages.
	if _, err := e.eng.Handle(ctx, escalation.Alert{Key: "target:rt1", Firing: true, Severity: "critical",
		Summary: "rt1 DOWN: connection refused", Detail: "tcp 127.0.0.1:9: connection refused\nchildren: none",
		Labels: cfg.Target("rt1").LabelSet(), Source: "probe"}); err != nil {
		t.Fatal(err)
	}
	e.inc = e.waitIncident(func(inc *escalation.Incident) bool { return len(e.rec.kinds(inc.ID)) > 0 }, "to be paged")
	return e
}

// waitIncident polls the engine until ok holds for the incident.
func (e *env) waitIncident(ok func(*escalation.Incident) bool, what string) *escalation.Incident {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		incs, err := e.eng.Open(context.Background())
		if err != nil {
			e.t.Fatal(err)
		}
		if len(incs) > 0 && ok(&incs[0]) {
			return &incs[0]
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("incident never came %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (e *env) get(id int64) *escalation.Incident {
	e.t.Helper()
	inc, err := e.eng.Get(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return inc
}

func (e *env) timeline(id int64) string {
	e.t.Helper()
	tl, err := e.eng.Timeline(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	var b strings.Builder
	for _, en := range tl {
		fmt.Fprintf(&b, "%s %s %s\n", en.Kind, en.Actor, en.Detail)
	}
	return b.String()
}

// client is one browser: its own cookies, redirects not followed so each
// response can be looked at.
type client struct {
	t   *testing.T
	e   *env
	c   *http.Client
	ip  string
	csr string // the session's CSRF token, from the last page
}

func (e *env) client(ip string) *client {
	jar, _ := cookiejar.New(nil)
	return &client{t: e.t, e: e, ip: ip, c: &http.Client{
		Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

type resp struct {
	code int
	body string
	h    http.Header
}

func (c *client) do(req *http.Request) resp {
	c.t.Helper()
	if c.ip != "" {
		req.Header.Set("X-Test-IP", c.ip)
	}
	res, err := c.c.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if m := csrfRE.FindStringSubmatch(string(b)); m != nil {
		c.csr = m[1]
	}
	return resp{code: res.StatusCode, body: string(b), h: res.Header}
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (c *client) get(path string) resp {
	c.t.Helper()
	req, _ := http.NewRequest("GET", c.e.srv.URL+path, nil)
	return c.do(req)
}

// post sends a form; hdr adds headers ("Origin", ...).
func (c *client) post(path string, form url.Values, hdr ...string) resp {
	c.t.Helper()
	req, _ := http.NewRequest("POST", c.e.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return c.do(req)
}

// login fetches the form (for its token) and posts name and password.
func (c *client) login(name, pw string) resp {
	c.t.Helper()
	if r := c.get("/login"); r.code != http.StatusOK {
		c.t.Fatalf("GET /login: %d", r.code)
	}
	return c.post("/login", url.Values{"csrf": {c.csr}, "name": {name}, "password": {pw}, "next": {"/"}})
}

// mustLogin logs in and loads the overview, which sets the session token.
func (c *client) mustLogin(name, pw string) {
	c.t.Helper()
	if r := c.login(name, pw); r.code != http.StatusSeeOther {
		c.t.Fatalf("login %s: %d, want 303\n%s", name, r.code, r.body)
	}
	if r := c.get("/"); r.code != http.StatusOK {
		c.t.Fatalf("GET / after login: %d", r.code)
	}
}

func (r resp) has(t *testing.T, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(r.body, w) {
			t.Errorf("page lacks %q:\n%s", w, r.body)
		}
	}
}

// narrow is the dashboard's part of cfg, as cmd builds it.
func narrow(cfg *configs.Config) *Config {
	dc := &Config{PublicURL: cfg.Server.PublicURL, People: cfg.People, Targets: cfg.Targets, Groups: cfg.Groups,
		Maintenance: cfg.Maintenance, PowerEnabled: cfg.Power.Enabled, AllowForce: cfg.Power.AllowForce}
	for _, t := range cfg.APITokens {
		dc.Tokens = append(dc.Tokens, t.Name)
	}
	return dc
}

// engineConfig is the engine's part of c, as cmd builds it.
func engineConfig(c *configs.Config) escalation.Config {
	return escalation.Config{People: c.People, Rotations: c.Rotations, Policies: c.Policies, Maintenance: c.Maintenance,
		Escalation: c.Escalation, PageValidity: c.Twilio.SMSValidity.Duration}
}
