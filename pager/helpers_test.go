package pager

import (
	"bufio"
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"net/textproto"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"foghorn/clock"
	"foghorn/configs"
	"foghorn/escalation"
	"foghorn/pager/twiliosim"
	"foghorn/store"
)

// Monday 2026-03-02 09:00 UTC: nobody's quiet hours.
var monday = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

const (
	testToken = "7e57a0ce0123456789abcdef01234567" // the shape of a real token: check-config refuses others
	alicePh   = "+15550100001"
	bobPh     = "+15550100002"
	carolPh   = "+15550100003"
	strangerP = "+15550199999"
)

// testConfig is the pager's part of cfg, built as cmd builds it
// (cmd/foghorn/wire_pager.go): the simulator's default credentials when
// none are set, and the listen address as the public URL of a simulator.
func testConfig(cfg *configs.Config) Config {
	c := Config{People: cfg.People, Twilio: cfg.Twilio, Providers: cfg.Providers, SMTP: cfg.SMTP, PublicURL: strings.TrimSuffix(cfg.Server.PublicURL, "/")}
	c.Ntfy = cfg.Ntfy
	if c.Twilio.Simulator {
		if c.Twilio.AccountSID == "" {
			c.Twilio.AccountSID = twiliosim.DefaultAccountSID
		}
		if c.Twilio.AuthToken.Empty() {
			c.Twilio.AuthToken = configs.NewSecret(twiliosim.DefaultAuthToken)
		}
		if host, port, err := net.SplitHostPort(cfg.Server.Listen); c.PublicURL == "" && err == nil {
			if host == "" || host == "0.0.0.0" || host == "::" {
				host = "127.0.0.1"
			}
			c.PublicURL = "http://" + net.JoinHostPort(host, port)
		}
	}
	return c
}

// simOptions are the simulator options that match c (cmd's
// simulatorOptions).
func simOptions(c Config) twiliosim.Options {
	o := twiliosim.Options{AccountSID: c.Twilio.AccountSID, AuthToken: c.Twilio.AuthToken.Reveal(), Number: c.Twilio.From, PublicURL: c.PublicURL}
	if c.PublicURL != "" {
		o.InboundSMSURL = c.PublicURL + SMSPath
	}
	return o
}

// people is the config every test shares; a test appends its policy.
const people = `
[server]
listen = "127.0.0.1:8080"
public_url = "%s"

[twilio]
simulator = true
account_sid = "AC0123456789abcdef0123456789abcdef"
from = "+15005550006"
sms_per_15m = %d
calls_per_15m = %d
skip_for = "1m" # with a [[provider]] (providers_test.go): shorter than iOS's 3 minutes

[smtp]
host = "127.0.0.1"
port = %d
from = "foghorn@example.net"

[escalation]
default_policy = "ops"
max_per_hour = 1000

[[person]]
name = "alice"
phone = "+15550100001"
email = "alice@example.net"
timezone = "Europe/Berlin"

[[person]]
name = "bob"
phone = "+15550100002"
email = "bob@example.net"

[[person]]
name = "carol"
phone = "+15550100003"
role = "viewer"

[[rotation]]
name = "ops"
members = ["alice", "bob"]
handoff = "0 9 * * MON"
start = 2026-01-05T09:00:00
`

// smsFirst pages alice by SMS, then by voice; step 2 calls bob.
const smsFirst = `
[[policy]]
name = "ops"
  [[policy.step]]
  who = ["alice"]
  channels = ["sms"]
  fallback = ["email"]
  repeat = 1
  interval = "10m"
  [[policy.step]]
  who = ["bob"]
  channels = ["voice"]
  fallback = ["sms"]
  delay = "5m"
  until_ack = true
  interval = "10m"
`

// world is foghorn's pager, the real escalation engine over a real SQLite
// store, the Twilio simulator and an SMTP server, all on loopback.
type world struct {
	t    testing.TB
	sim  *twiliosim.Sim
	p    *Pager
	eng  *escalation.Engine
	db   *store.DB
	clk  *clock.Fake
	mail *smtpServer
	cfg  *configs.Config
	url  string // foghorn's webhook base
}

type worldOpt struct {
	smsLimit, callLimit int
	opts                Options
}

func newWorld(t testing.TB, policy string, wo ...worldOpt) *world {
	t.Helper()
	o := worldOpt{smsLimit: 50, callLimit: 50}
	if len(wo) > 0 {
		o = wo[0]
		if o.smsLimit == 0 {
			o.smsLimit = 50
		}
		if o.callLimit == 0 {
			o.callLimit = 50
		}
	}
	w := &world{t: t, clk: clock.NewFake(monday)}
	w.mail = newSMTP(t)

	var h atomic.Value // http.Handler, set once the pager exists
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if hh, ok := h.Load().(http.Handler); ok {
			hh.ServeHTTP(rw, r)
			return
		}
		http.Error(rw, "not ready", http.StatusServiceUnavailable)
	}))
	w.url = srv.URL

	text := fmt.Sprintf(people, srv.URL, o.smsLimit, o.callLimit, w.mail.port) + policy
	env := func(k string) string {
		if k == "FOGHORN_TWILIO_AUTH_TOKEN" {
			return testToken
		}
		return ""
	}
	cfg, err := configs.Parse("test.toml", t.TempDir(), []byte(text), env)
	if err != nil {
		t.Fatal(err)
	}
	w.cfg = cfg

	simOpts := simOptions(testConfig(cfg))
	if simOpts.AuthToken != testToken || simOpts.InboundSMSURL != srv.URL+SMSPath {
		t.Fatalf("SimulatorOptions = %+v", simOpts)
	}
	w.sim = twiliosim.New(simOpts)
	base, err := w.sim.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}

	opts := o.opts
	opts.APIBase = base
	opts.Clock = w.clk
	if opts.RetryBase == 0 {
		opts.RetryBase = 5 * time.Millisecond
	}
	if opts.APITimeout == 0 {
		opts.APITimeout = 2 * time.Second
	}
	if opts.Log == nil {
		opts.Log = testLogger(t)
	}
	w.p, err = New(testConfig(cfg), nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	w.db, err = store.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	w.eng = escalation.New(w.db, engineConfig(cfg), w.p, escalation.Options{Clock: w.clk, Log: opts.Log, Gap: -1})
	w.p.SetEngine(w.eng)
	h.Store(w.p.Handler())
	// In this order: no more webhooks (the simulator, then foghorn's
	// server waits for handlers in flight), then the engine's sends, then
	// the pager and the store.
	t.Cleanup(func() {
		w.sim.Close()
		srv.Close()
		w.eng.Stop()
		w.eng.Wait()
		w.p.Close()
		w.db.Close()
	})
	return w
}

// testLogger logs to the test with -v and FOGHORN_TEST_LOG=1, else nowhere.
func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("FOGHORN_TEST_LOG") == "" {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

// step runs what is due now in the engine and waits for the sends. It
// polls rather than calling Engine.Wait: webhooks may make the engine
// send concurrently, and a WaitGroup must not be waited on while others Add.
func (w *world) step() {
	w.t.Helper()
	if _, err := w.eng.Step(context.Background()); err != nil {
		w.t.Fatal(err)
	}
	eventually(w.t, "sends handed to the pager are done", func() bool {
		var n int
		w.db.QueryRow(`SELECT count(*) FROM notifications WHERE state = 'claimed'`).Scan(&n)
		return n == 0
	})
}

// advance moves the clock and runs what became due.
func (w *world) advance(d time.Duration) {
	w.t.Helper()
	w.clk.Add(d)
	w.step()
}

func (w *world) fire(key string) *escalation.Incident {
	w.t.Helper()
	inc, err := w.eng.Handle(context.Background(), escalation.Alert{Key: key, Firing: true, Severity: "critical",
		Summary: "router pair DOWN (rt1, rt2)", Detail: "both unreachable by ICMP", Source: "probe"})
	if err != nil {
		w.t.Fatal(err)
	}
	return inc
}

func (w *world) incident(id int64) *escalation.Incident {
	w.t.Helper()
	inc, err := w.eng.Get(context.Background(), id)
	if err != nil {
		w.t.Fatal(err)
	}
	return inc
}

// notes lists notifications as "kind channel person state".
func (w *world) notes() []string {
	w.t.Helper()
	rows, err := w.db.Query(`SELECT kind, channel, person, state FROM notifications ORDER BY id`)
	if err != nil {
		w.t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var k, c, p, s string
		rows.Scan(&k, &c, &p, &s)
		out = append(out, strings.Join([]string{k, c, p, s}, " "))
	}
	return out
}

func (w *world) hasNote(want string) bool {
	for _, n := range w.notes() {
		if n == want {
			return true
		}
	}
	return false
}

// eventually polls cond until it holds or 5 s pass.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for: %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// messagesTo lists the bodies of SMS sent to phone.
func (w *world) messagesTo(phone string) []string {
	var out []string
	for _, m := range w.sim.Messages() {
		if m.To == phone && m.Direction != "inbound" {
			out = append(out, m.Body)
		}
	}
	return out
}

func (w *world) callsTo(phone string) []twiliosim.Call {
	var out []twiliosim.Call
	for _, c := range w.sim.Calls() {
		if c.To == phone {
			out = append(out, c)
		}
	}
	return out
}

func anyContains(list []string, sub string) bool {
	for _, s := range list {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// smtpServer is the smallest SMTP server net/smtp's client will talk to:
// EHLO, MAIL, RCPT, DATA, QUIT, no TLS and no auth. Go has no SMTP server
// package, so the test has its own.
type smtpServer struct {
	port  int
	ln    net.Listener
	mu    sync.Mutex
	mails []gotMail
	wg    sync.WaitGroup
}

type gotMail struct {
	From string
	To   []string
	Data string
}

func newSMTP(t testing.TB) *smtpServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &smtpServer{ln: ln, port: ln.Addr().(*net.TCPAddr).Port}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.serve(c)
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); s.wg.Wait() })
	return s
}

func (s *smtpServer) serve(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	tp := textproto.NewConn(c)
	tp.PrintfLine("220 test ESMTP")
	var m gotMail
	for {
		line, err := tp.ReadLine()
		if err != nil {
			return
		}
		verb := strings.ToUpper(strings.SplitN(line, " ", 2)[0])
		switch verb {
		case "EHLO", "HELO":
			tp.PrintfLine("250-test\r\n250 8BITMIME")
		case "MAIL":
			m = gotMail{From: strings.TrimPrefix(line[5:], "FROM:")}
			tp.PrintfLine("250 ok")
		case "RCPT":
			m.To = append(m.To, strings.Trim(strings.TrimPrefix(line[5:], "TO:"), "<>"))
			tp.PrintfLine("250 ok")
		case "DATA":
			tp.PrintfLine("354 go ahead")
			b, err := io.ReadAll(bufio.NewReader(tp.DotReader()))
			if err != nil {
				return
			}
			m.Data = string(b)
			s.mu.Lock()
			s.mails = append(s.mails, m)
			s.mu.Unlock()
			tp.PrintfLine("250 queued")
		case "RSET", "NOOP":
			tp.PrintfLine("250 ok")
		case "QUIT":
			tp.PrintfLine("221 bye")
			return
		default:
			tp.PrintfLine("502 not implemented")
		}
	}
}

func (s *smtpServer) got() []gotMail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]gotMail(nil), s.mails...)
}

// mailTo lists the messages to addr, decoded as "Subject: ...\n\nbody".
func (s *smtpServer) mailTo(addr string) []string {
	var out []string
	for _, m := range s.got() {
		for _, to := range m.To {
			if to != addr {
				continue
			}
			msg, err := mail.ReadMessage(strings.NewReader(m.Data))
			if err != nil {
				out = append(out, "unreadable: "+err.Error())
				continue
			}
			subject, _ := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
			body, _ := io.ReadAll(quotedprintable.NewReader(msg.Body))
			out = append(out, "Subject: "+subject+"\n\n"+string(body))
		}
	}
	return out
}

// post sends a webhook to foghorn as Twilio would, signed with token (no
// signature if token is empty), and returns the status and body.
func (w *world) post(path string, form url.Values, token string) (int, string) {
	w.t.Helper()
	full := w.url + path
	req, err := http.NewRequest(http.MethodPost, full, strings.NewReader(form.Encode()))
	if err != nil {
		w.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if token != "" {
		req.Header.Set("X-Twilio-Signature", twiliosim.Sign(token, full, form))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// text sends an SMS from phone to foghorn and returns its reply.
func (w *world) text(phone, body string) string {
	w.t.Helper()
	code, resp := w.post(SMSPath, url.Values{"From": {phone}, "To": {"+15005550006"}, "Body": {body},
		"MessageSid": {"SM0123"}, "AccountSid": {w.cfg.Twilio.AccountSID}}, testToken)
	if code != http.StatusOK {
		w.t.Fatalf("SMS %q from %s: HTTP %d %s", body, phone, code, resp)
	}
	return strings.Join(twimlMessages(w.t, resp), " | ")
}

// twimlMessages reads the <Message>s of a messaging TwiML answer.
func twimlMessages(t testing.TB, doc string) []string {
	t.Helper()
	var r struct {
		XMLName  xml.Name `xml:"Response"`
		Messages []string `xml:"Message"`
	}
	if err := xml.Unmarshal([]byte(doc), &r); err != nil {
		t.Fatalf("reply is not TwiML: %v: %q", err, doc)
	}
	return r.Messages
}

// engineConfig is the engine's part of c, as cmd builds it.
func engineConfig(c *configs.Config) escalation.Config {
	return escalation.Config{People: c.People, Rotations: c.Rotations, Policies: c.Policies, Maintenance: c.Maintenance,
		Escalation: c.Escalation, PageValidity: c.Twilio.SMSValidity.Duration}
}
