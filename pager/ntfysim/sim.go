// Package ntfysim is a stand-in ntfy server for tests: a real HTTP server
// that speaks ntfy's publishing API as https://docs.ntfy.sh/publish/
// describes it and as the ntfy server (heckel.io/ntfy/server) answers —
// JSON to the root or a body to /<topic> with X-Title, X-Priority,
// X-Tags, X-Click and X-Actions; Bearer and Basic access tokens with its
// 401 and 403 bodies; its 429 when a visitor's burst is used up; its
// error JSON {"code":42901,"http":429,"error":"..."} — plus fault
// injection in the spirit of twiliosim (500s, a request held after it was
// accepted). The subscriber's side is there too: GET /<topic>/json?poll=1,
// Messages, and Press, which performs an action button's HTTP request
// exactly as the phone app does.
package ntfysim

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"foghorn/pager/internal/simhttp"
	"io"
	"math/big"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Options configure a Sim; the zero value is an open server (anyone may
// publish and read, as on ntfy.sh's public topics) without limits.
type Options struct {
	// Tokens may publish to and read every topic. With Tokens or Users
	// set, anonymous requests are refused with 403, as by a server with
	// auth-default-access "deny-all".
	Tokens []string
	// ReadOnly tokens authenticate but may not publish (403).
	ReadOnly []string
	// Users are Basic-auth users (name → password) with write access.
	Users map[string]string
	// Burst is how many requests a visitor (token, user or address) may
	// make at once; each Refill gives one back. 0: no limit. ntfy's own
	// defaults are 60 and 5s.
	Burst  int
	Refill time.Duration
	// Client performs Press; nil is a 15 s timeout like the app's.
	Client *http.Client
}

// Fault makes publishing misbehave; the zero value is healthy. Status is
// that of a failed publish (500 by default; 502, 429, 401...), AcceptHang
// the share of publishes carried out (the message is on the topic) and
// then never answered, and Hang holds every publish unanswered, published
// or not.
type Fault = simhttp.Fault

// Message is one message on a topic, as ntfy returns and streams it.
type Message struct {
	ID       string   `json:"id"`
	Time     int64    `json:"time"`
	Expires  int64    `json:"expires,omitempty"`
	Event    string   `json:"event"`
	Topic    string   `json:"topic"`
	Title    string   `json:"title,omitempty"`
	Message  string   `json:"message,omitempty"`
	Priority int      `json:"priority,omitempty"`
	Tags     []string `json:"tags,omitempty"`
	Click    string   `json:"click,omitempty"`
	Actions  []Action `json:"actions,omitempty"`

	// Auth is who published it ("token:tk_...", "user:phil" or
	// "anonymous"), and Cleared whether an action with clear=true
	// succeeded on it; neither is part of ntfy's JSON.
	Auth    string `json:"-"`
	Cleared bool   `json:"-"`
}

// Action is one button.
type Action struct {
	ID      string            `json:"id"`
	Action  string            `json:"action"`
	Label   string            `json:"label"`
	Clear   bool              `json:"clear"`
	URL     string            `json:"url,omitempty"`
	Method  string            `json:"method,omitempty"`
	Headers map[string]string `json:"headers,omitempty"`
	Body    string            `json:"body,omitempty"`
}

// Request is one publish as the server saw it, answered or not.
type Request struct {
	Method, Path, Auth string
	Status             int // 0 while held
}

// Sim is a running stand-in. Create it with New, serve it with Start,
// and Close it.
type Sim struct {
	opts   Options
	client *http.Client
	mux    *http.ServeMux

	srv    *simhttp.Server
	faults simhttp.Faults

	mu       sync.Mutex
	topics   map[string][]*Message
	requests []Request
	buckets  map[string]*bucket
}

type bucket struct {
	left int
	at   time.Time
}

// New returns a Sim that is not serving yet.
func New(opts Options) *Sim {
	s := &Sim{opts: opts, client: opts.Client, topics: map[string][]*Message{}, buckets: map[string]*bucket{}}
	if s.client == nil {
		s.client = &http.Client{Timeout: 15 * time.Second}
	}
	if s.opts.Refill <= 0 {
		s.opts.Refill = 5 * time.Second
	}
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("POST /{$}", s.publishJSON)
	s.mux.HandleFunc("PUT /{$}", s.publishJSON)
	s.mux.HandleFunc("POST /{topic}", s.publishTopic)
	s.mux.HandleFunc("PUT /{topic}", s.publishTopic)
	s.mux.HandleFunc("GET /{topic}/json", s.poll)
	s.srv = simhttp.NewServer("ntfysim", s.mux, nil)
	return s
}

// Start listens on addr ("127.0.0.1:0" picks a port) and returns the
// server's base URL, for [ntfy] server.
func (s *Sim) Start(addr string) (string, error) { return s.srv.Start(addr) }

// URL is the base URL Start returned.
func (s *Sim) URL() string { return s.srv.URL() }

// Close releases held requests and stops the server.
func (s *Sim) Close() error { return s.srv.Close() }

// SetFault replaces the fault in force; SetFault(Fault{}) heals.
func (s *Sim) SetFault(f Fault) { s.faults.Set(f) }

// Messages lists the messages on topic, oldest first.
func (s *Sim) Messages(topic string) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Message, 0, len(s.topics[topic]))
	for _, m := range s.topics[topic] {
		out = append(out, *m)
	}
	return out
}

// Requests lists the publishes so far.
func (s *Sim) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Press performs the action labelled label of message id on topic as the
// ntfy app does when it is tapped: an "http" action sends its method
// (POST when none) to its URL with its headers and body; with clear=true a
// 2xx answer clears the notification. It returns the answer's status and
// body.
func (s *Sim) Press(topic, id, label string) (int, string, error) {
	s.mu.Lock()
	var msg *Message
	for _, m := range s.topics[topic] {
		if m.ID == id {
			msg = m
		}
	}
	s.mu.Unlock()
	if msg == nil {
		return 0, "", fmt.Errorf("ntfysim: no message %s on the topic", id)
	}
	var a *Action
	for i := range msg.Actions {
		if msg.Actions[i].Label == label {
			a = &msg.Actions[i]
		}
	}
	if a == nil {
		return 0, "", fmt.Errorf("ntfysim: message %s has no button %q", id, label)
	}
	if a.Action != "http" {
		return 0, "", fmt.Errorf("ntfysim: button %q is a %q action; only http actions make a request", label, a.Action)
	}
	method := a.Method
	if method == "" {
		method = http.MethodPost
	}
	req, err := http.NewRequest(method, a.URL, strings.NewReader(a.Body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("User-Agent", "ntfy/1.16.0 (ntfysim)")
	for k, v := range a.Headers {
		req.Header.Set(k, v)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if a.Clear && resp.StatusCode/100 == 2 {
		s.mu.Lock()
		msg.Cleared = true
		s.mu.Unlock()
	}
	return resp.StatusCode, string(b), nil
}

// errHTTP is ntfy's error JSON.
type errHTTP struct {
	Code    int    `json:"code,omitempty"`
	HTTP    int    `json:"http"`
	Message string `json:"error"`
	Link    string `json:"link,omitempty"`
}

// The errors of ntfy's server/errors.go that a publisher meets.
var (
	errUnauthorized   = errHTTP{40101, 401, "unauthorized", "https://ntfy.sh/docs/publish/#authentication"}
	errForbidden      = errHTTP{40301, 403, "forbidden", "https://ntfy.sh/docs/publish/#authentication"}
	errTooMany        = errHTTP{42901, 429, "limit reached: too many requests, please be nice", "https://ntfy.sh/docs/publish/#limitations"}
	errInternal       = errHTTP{50001, 500, "internal server error", ""}
	errJSONInvalid    = errHTTP{40017, 400, "invalid request: request body must be message JSON", "https://ntfy.sh/docs/publish/#publish-as-json"}
	errTopicInvalid   = errHTTP{40009, 400, "invalid request: topic invalid", ""}
	errPriority       = errHTTP{40007, 400, "invalid priority parameter", "https://ntfy.sh/docs/publish/#message-priority"}
	errActionsInvalid = errHTTP{40018, 400, "invalid request: actions invalid", "https://ntfy.sh/docs/publish/#action-buttons"}
)

func faultError(status int) errHTTP {
	switch status {
	case 401:
		return errUnauthorized
	case 403:
		return errForbidden
	case 429:
		return errTooMany
	case 500:
		return errInternal
	}
	return errHTTP{status * 100, status, strings.ToLower(http.StatusText(status)), ""}
}

func writeErr(w http.ResponseWriter, e errHTTP, detail string) {
	if detail != "" {
		e.Message += ", " + detail
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Access-Control-Allow-Origin", "*")
	w.WriteHeader(e.HTTP)
	b, _ := json.Marshal(e)
	w.Write(append(b, '\n'))
}

var topicRE = regexp.MustCompile(`^[-_A-Za-z0-9]{1,64}$`)

// auth reads the Authorization header: who the visitor is, or the error
// ntfy answers.
func (s *Sim) auth(r *http.Request, write bool) (who string, e *errHTTP) {
	h := r.Header.Get("Authorization")
	protected := len(s.opts.Tokens) > 0 || len(s.opts.Users) > 0 || len(s.opts.ReadOnly) > 0
	if h == "" {
		if protected {
			return "", &errForbidden
		}
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		return "anonymous:" + host, nil
	}
	kind, cred, _ := strings.Cut(h, " ")
	token := ""
	switch strings.ToLower(kind) {
	case "bearer":
		token = strings.TrimSpace(cred)
	case "basic":
		b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(cred))
		if err != nil {
			return "", &errUnauthorized
		}
		user, pass, _ := strings.Cut(string(b), ":")
		if user == "" { // ntfy takes a token as the password of an empty user
			token = pass
			break
		}
		if want, ok := s.opts.Users[user]; ok && want == pass {
			return "user:" + user, nil
		}
		return "", &errUnauthorized
	default:
		return "", &errUnauthorized
	}
	for _, t := range s.opts.Tokens {
		if t == token {
			return "token:" + token, nil
		}
	}
	for _, t := range s.opts.ReadOnly {
		if t == token {
			if write {
				return "", &errForbidden
			}
			return "token:" + token, nil
		}
	}
	return "", &errUnauthorized
}

// limit takes one request from the visitor's bucket.
func (s *Sim) limit(who string) bool {
	if s.opts.Burst <= 0 {
		return true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	b := s.buckets[who]
	if b == nil {
		b = &bucket{left: s.opts.Burst, at: now}
		s.buckets[who] = b
	}
	if n := int(now.Sub(b.at) / s.opts.Refill); n > 0 {
		b.left, b.at = min(b.left+n, s.opts.Burst), b.at.Add(time.Duration(n)*s.opts.Refill)
	}
	if b.left <= 0 {
		return false
	}
	b.left--
	return true
}

// publishJSON is POST / with the message as JSON.
func (s *Sim) publishJSON(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Topic    string   `json:"topic"`
		Title    string   `json:"title"`
		Message  string   `json:"message"`
		Priority int      `json:"priority"`
		Tags     []string `json:"tags"`
		Click    string   `json:"click"`
		Actions  []Action `json:"actions"`
	}
	who, ok := s.gate(w, r)
	if !ok {
		return
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err := json.Unmarshal(body, &in); err != nil {
		s.record(r, who, errJSONInvalid.HTTP)
		writeErr(w, errJSONInvalid, "")
		return
	}
	m := &Message{Topic: in.Topic, Title: in.Title, Message: in.Message, Priority: in.Priority, Tags: in.Tags, Click: in.Click, Actions: in.Actions}
	s.publish(w, r, who, m)
}

// publishTopic is POST or PUT /<topic> with the body as the message and
// the rest in headers (or their query parameter aliases).
func (s *Sim) publishTopic(w http.ResponseWriter, r *http.Request) {
	who, ok := s.gate(w, r)
	if !ok {
		return
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	m := &Message{Topic: r.PathValue("topic"), Message: string(body),
		Title: param(r, "x-title", "title", "t"), Click: param(r, "x-click", "click")}
	if p := param(r, "x-priority", "priority", "prio", "p"); p != "" {
		n, ok := priority(p)
		if !ok {
			s.record(r, who, errPriority.HTTP)
			writeErr(w, errPriority, "")
			return
		}
		m.Priority = n
	}
	if t := param(r, "x-tags", "tags", "tag", "ta"); t != "" {
		for _, tag := range strings.Split(t, ",") {
			if tag = strings.TrimSpace(tag); tag != "" {
				m.Tags = append(m.Tags, tag)
			}
		}
	}
	if a := param(r, "x-actions", "actions", "action"); a != "" {
		acts, err := parseActions(a)
		if err != nil {
			s.record(r, who, errActionsInvalid.HTTP)
			writeErr(w, errActionsInvalid, err.Error())
			return
		}
		m.Actions = acts
	}
	s.publish(w, r, who, m)
}

func param(r *http.Request, names ...string) string {
	for _, n := range names {
		if v := r.Header.Get(n); v != "" {
			return v
		}
	}
	q := r.URL.Query()
	for _, n := range names {
		if v := q.Get(n); v != "" {
			return v
		}
	}
	return ""
}

// priority reads 1-5 or ntfy's words for them.
func priority(s string) (int, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "1", "min":
		return 1, true
	case "2", "low":
		return 2, true
	case "3", "default":
		return 3, true
	case "4", "high":
		return 4, true
	case "5", "max", "urgent":
		return 5, true
	}
	return 0, false
}

// parseActions reads X-Actions: a JSON array, or ntfy's simple format
// ("http, Ack, https://..., method=POST, clear=true; view, ...").
func parseActions(s string) ([]Action, error) {
	s = strings.TrimSpace(s)
	var acts []Action
	if strings.HasPrefix(s, "[") {
		if err := json.Unmarshal([]byte(s), &acts); err != nil {
			return nil, err
		}
		return acts, nil
	}
	for _, part := range strings.Split(s, ";") {
		if strings.TrimSpace(part) == "" {
			continue
		}
		a := Action{Headers: map[string]string{}}
		for i, sec := range strings.Split(part, ",") {
			sec = strings.TrimSpace(sec)
			k, v, kv := strings.Cut(sec, "=")
			if !kv || strings.Contains(k, " ") {
				k, v = "", sec
			}
			k = strings.TrimSpace(strings.ToLower(k))
			v = strings.Trim(strings.TrimSpace(v), `"'`)
			if k == "" {
				switch i {
				case 0:
					k = "action"
				case 1:
					k = "label"
				case 2:
					k = "url"
				default:
					return nil, fmt.Errorf("term '%s' unknown", v)
				}
			}
			switch {
			case k == "action":
				a.Action = v
			case k == "label":
				a.Label = v
			case k == "url":
				a.URL = v
			case k == "method":
				a.Method = v
			case k == "body":
				a.Body = v
			case k == "clear":
				a.Clear = v == "true" || v == "yes" || v == "1"
			case strings.HasPrefix(k, "headers."):
				a.Headers[strings.TrimPrefix(k, "headers.")] = v
			default:
				return nil, fmt.Errorf("key '%s' unknown", k)
			}
		}
		acts = append(acts, a)
	}
	return acts, nil
}

// gate is what ntfy does before it reads a publish: who it is from (or
// the auth error), and the visitor's rate limit.
func (s *Sim) gate(w http.ResponseWriter, r *http.Request) (who string, ok bool) {
	who, e := s.auth(r, true)
	if e != nil {
		s.record(r, "", e.HTTP)
		writeErr(w, *e, "")
		return "", false
	}
	if !s.limit(who) {
		s.record(r, who, 429)
		writeErr(w, errTooMany, "")
		return "", false
	}
	return who, true
}

// publish checks and stores m, and answers it as ntfy does.
func (s *Sim) publish(w http.ResponseWriter, r *http.Request, who string, m *Message) {
	status, hang := s.faults.Decide()
	acceptHang := s.faults.AcceptHang()
	if hang {
		s.record(r, who, 0)
		s.srv.Hold(r)
		return
	}
	if status != 0 {
		s.record(r, who, status)
		writeErr(w, faultError(status), "")
		return
	}
	if !topicRE.MatchString(m.Topic) {
		s.record(r, who, 400)
		writeErr(w, errTopicInvalid, "")
		return
	}
	if m.Priority < 0 || m.Priority > 5 {
		s.record(r, who, 400)
		writeErr(w, errPriority, "")
		return
	}
	if err := checkActions(m.Actions); err != nil {
		s.record(r, who, 400)
		writeErr(w, errActionsInvalid, err.Error())
		return
	}
	if m.Message == "" {
		m.Message = "triggered" // ntfy's default body
	}
	now := time.Now()
	m.ID, m.Time, m.Expires, m.Event, m.Auth = randomID(12), now.Unix(), now.Add(12*time.Hour).Unix(), "message", who
	for i := range m.Actions {
		m.Actions[i].ID = randomID(10)
		m.Actions[i].Action = strings.ToLower(m.Actions[i].Action)
		m.Actions[i].Method = strings.ToUpper(m.Actions[i].Method)
	}
	s.mu.Lock()
	s.topics[m.Topic] = append(s.topics[m.Topic], m)
	s.mu.Unlock()
	if acceptHang {
		s.record(r, who, 0)
		s.srv.Hold(r)
		return
	}
	s.record(r, who, 200)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Access-Control-Allow-Origin", "*")
	b, _ := json.Marshal(m)
	w.Write(append(b, '\n'))
}

// checkActions is ntfy's validation: at most 3, a known action with a
// label, a URL for view and http, no body with GET or HEAD.
func checkActions(acts []Action) error {
	if len(acts) > 3 {
		return errors.New("only 3 actions allowed")
	}
	for _, a := range acts {
		switch strings.ToLower(a.Action) {
		case "view", "http", "broadcast":
		default:
			return fmt.Errorf("action '%s' unknown", a.Action)
		}
		if a.Label == "" {
			return errors.New("parameter 'label' is required")
		}
		if (strings.EqualFold(a.Action, "view") || strings.EqualFold(a.Action, "http")) && a.URL == "" {
			return fmt.Errorf("parameter 'url' is required for action '%s'", a.Action)
		}
		if m := strings.ToUpper(a.Method); (m == "GET" || m == "HEAD") && a.Body != "" {
			return fmt.Errorf("parameter 'body' cannot be set if method is %s", m)
		}
	}
	return nil
}

func (s *Sim) record(r *http.Request, who string, status int) {
	s.mu.Lock()
	s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.Path, Auth: who, Status: status})
	s.mu.Unlock()
}

// poll is GET /<topic>/json?poll=1: the topic's messages as JSON lines.
// Only poll mode is served (a test reads and returns); a stream request
// gets the same lines and ends.
func (s *Sim) poll(w http.ResponseWriter, r *http.Request) {
	if _, e := s.auth(r, false); e != nil {
		writeErr(w, *e, "")
		return
	}
	topic := r.PathValue("topic")
	if !topicRE.MatchString(topic) {
		writeErr(w, errTopicInvalid, "")
		return
	}
	since := r.URL.Query().Get("since")
	var buf bytes.Buffer
	passed := since == "" || since == "all"
	for _, m := range s.Messages(topic) {
		if passed || matchSince(m, since) {
			b, _ := json.Marshal(m)
			buf.Write(append(b, '\n'))
		}
		if m.ID == since {
			passed = true
		}
	}
	w.Header().Set("Content-Type", "application/x-ndjson; charset=utf-8")
	w.Write(buf.Bytes())
}

// matchSince passes m for a since of a Unix time.
func matchSince(m Message, since string) bool {
	t, err := strconv.ParseInt(since, 10, 64)
	return err == nil && m.Time >= t
}

const idChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

func randomID(n int) string {
	b := make([]byte, n)
	for i := range b {
		k, _ := rand.Int(rand.Reader, big.NewInt(int64(len(idChars))))
		b[i] = idChars[k.Int64()]
	}
	return string(b)
}
