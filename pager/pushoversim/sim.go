// Package pushoversim stands in for Pushover (https://pushover.net/api) in
// tests and demos: a real HTTP server with the parts of its API foghorn
// uses — POST /1/messages.json, GET /1/receipts/RECEIPT.json and POST
// /1/receipts/RECEIPT/cancel.json — with Pushover's validation, its error
// bodies ({"status":0,"errors":[…],"request":…} with a 4xx), its monthly
// limit (429 and the X-Limit-App-* headers) and emergency receipts that
// "repeat" every retry until acknowledged, cancelled or expired. A test
// plays the phone with Acknowledge, which POSTs the callback URL as
// Pushover does. Faults make it fail (5xx, 429) or hang, also after it
// accepted a message.
//
// It is for loopback tests: it has no control API over HTTP at all.
package pushoversim

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"foghorn/clock"
	"foghorn/pager/internal/simhttp"
)

// Options configure a Sim.
type Options struct {
	// Token is the application's API token the API accepts.
	Token string
	// MonthlyLimit is the application's messages per month; 0: 10000,
	// Pushover's free allowance.
	MonthlyLimit int
	Clock        clock.Clock  // nil: real time
	Logger       *slog.Logger // nil discards
	Client       *http.Client // for callbacks; nil: a 10 s timeout
}

// Message is a message as the API took it.
type Message struct {
	Request  string    `json:"request"`
	Receipt  string    `json:"receipt,omitempty"` // emergency (priority 2) only
	User     string    `json:"user"`
	Device   string    `json:"device,omitempty"`
	Title    string    `json:"title"`
	Message  string    `json:"message"`
	Priority int       `json:"priority"`
	Retry    int       `json:"retry,omitempty"`  // seconds
	Expire   int       `json:"expire,omitempty"` // seconds
	Callback string    `json:"callback,omitempty"`
	Tags     []string  `json:"tags,omitempty"`
	URL      string    `json:"url,omitempty"`
	URLTitle string    `json:"url_title,omitempty"`
	Created  time.Time `json:"created"`

	// Emergency receipts: when it was acknowledged and by whom, or
	// cancelled; how often the phone showed it (the first delivery and
	// every repeat until one of those, or expiry).
	AckedAt     time.Time   `json:"acked_at,omitzero"`
	AckedBy     string      `json:"acked_by,omitempty"`
	CancelledAt time.Time   `json:"cancelled_at,omitzero"`
	Deliveries  int         `json:"deliveries"`
	Expired     bool        `json:"expired"`
	CalledBack  time.Time   `json:"called_back,omitzero"`
	Polls       []time.Time `json:"polls,omitempty"` // GETs of the receipt
}

// Fault makes the API misbehave; the zero value is healthy.
type Fault struct {
	Status int  // status of failed requests: 500 (default), 503, 429...
	Next   int  // fail the next Next requests
	Hang   bool // hold every request until the client gives up
	// AcceptHang carries out the next messages.json requests — the phone
	// gets it — and then holds the answer until the client gives up.
	AcceptHang int
}

// Sim is a running stand-in. Create it with New, Start it, Close it.
type Sim struct {
	opts   Options
	log    *slog.Logger
	clock  clock.Clock
	client *http.Client
	mux    *http.ServeMux
	srv    *simhttp.Server
	faults simhttp.Faults // Status, Next and Hang

	mu         sync.Mutex
	users      map[string][]string // user key -> devices
	msgs       []*Message
	byRcpt     map[string]*Message
	used       int
	acceptHang int // Fault.AcceptHang still to come
}

// New makes a stand-in that accepts opts.Token.
func New(opts Options) *Sim {
	if opts.MonthlyLimit == 0 {
		opts.MonthlyLimit = 10000
	}
	s := &Sim{opts: opts, log: opts.Logger, clock: clock.Or(opts.Clock), client: opts.Client,
		users: map[string][]string{}, byRcpt: map[string]*Message{}}
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if s.client == nil {
		s.client = &http.Client{Timeout: 10 * time.Second}
	}
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("POST /1/messages.json", s.messages)
	s.mux.HandleFunc("GET /1/receipts/{file}", s.receipt)
	// One pattern for both: {receipt}/cancel.json and
	// cancel_by_tag/{tag}.json would overlap in ServeMux.
	s.mux.HandleFunc("POST /1/receipts/{receipt}/{action}", s.cancelReceipt)
	s.srv = simhttp.NewServer("pushoversim", s.mux, nil)
	return s
}

// AddUser makes key a valid user key, with these device names.
func (s *Sim) AddUser(key string, devices ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users[key] = devices
}

// Start listens on addr ("127.0.0.1:0") and returns the base URL for
// [pushover] api_base.
func (s *Sim) Start(addr string) (string, error) { return s.srv.Start(addr) }

// Close stops serving; hung requests end.
func (s *Sim) Close() error {
	s.srv.Close()
	return nil
}

// SetFault replaces the fault in force.
func (s *Sim) SetFault(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.Set(simhttp.Fault{Status: f.Status, Next: f.Next, Hang: f.Hang})
	s.acceptHang = f.AcceptHang
}

// Messages are copies of every message taken, oldest first.
func (s *Sim) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now()
	out := make([]Message, len(s.msgs))
	for i, m := range s.msgs {
		s.update(m, now)
		out[i] = *m
		out[i].Polls = append([]time.Time(nil), m.Polls...)
	}
	return out
}

// Receipt is the message of an emergency receipt.
func (s *Sim) Receipt(receipt string) (Message, bool) {
	for _, m := range s.Messages() {
		if m.Receipt == receipt {
			return m, true
		}
	}
	return Message{}, false
}

// Acknowledge is the person acknowledging the emergency notification on
// their phone: the receipt is acknowledged by its own user, and the
// callback URL, if any, gets Pushover's POST. It returns once the callback
// was answered (its status), or 0 without a callback URL.
func (s *Sim) Acknowledge(receipt string) (int, error) { return s.AcknowledgeAs(receipt, "") }

// AcknowledgeAs is Acknowledge by another user key (a member of a group,
// or another person sharing the application); "" is the receipt's user.
func (s *Sim) AcknowledgeAs(receipt, user string) (int, error) {
	s.mu.Lock()
	m := s.byRcpt[receipt]
	if m == nil {
		s.mu.Unlock()
		return 0, fmt.Errorf("pushoversim: no receipt %q", receipt)
	}
	now := s.clock.Now()
	s.update(m, now)
	if !m.AckedAt.IsZero() || !m.CancelledAt.IsZero() || m.Expired {
		s.mu.Unlock()
		return 0, fmt.Errorf("pushoversim: receipt %s can no longer be acknowledged (acked, cancelled or expired)", receipt)
	}
	if user == "" {
		user = m.User
	}
	m.AckedAt, m.AckedBy = now, user
	device := m.Device
	if device == "" {
		device = "iphone"
	}
	cb := m.Callback
	s.mu.Unlock()
	if cb == "" {
		return 0, nil
	}
	f := url.Values{"receipt": {receipt}, "acknowledged": {"1"}, "acknowledged_at": {strconv.FormatInt(now.Unix(), 10)},
		"acknowledged_by": {user}, "acknowledged_by_device": {device}}
	return s.post(cb, f, func() {
		s.mu.Lock()
		m.CalledBack = s.clock.Now()
		s.mu.Unlock()
	})
}

// post sends f to a callback URL as Pushover does; ok runs on a 2xx.
func (s *Sim) post(u string, f url.Values, ok func()) (int, error) {
	req, err := http.NewRequestWithContext(s.srv.Context(), http.MethodPost, u, strings.NewReader(f.Encode()))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := s.client.Do(req)
	if err != nil {
		s.log.Warn("pushoversim: callback failed", "url", u, "err", err)
		return 0, err
	}
	resp.Body.Close()
	if resp.StatusCode/100 == 2 {
		ok()
	}
	return resp.StatusCode, nil
}

// update brings m's repeats and expiry up to now.
func (s *Sim) update(m *Message, now time.Time) {
	if m.Priority != 2 {
		m.Deliveries = 1
		return
	}
	end := m.Created.Add(time.Duration(m.Expire) * time.Second)
	if !m.AckedAt.IsZero() && m.AckedAt.Before(end) {
		end = m.AckedAt
	}
	if !m.CancelledAt.IsZero() && m.CancelledAt.Before(end) {
		end = m.CancelledAt
	}
	if now.Before(end) {
		end = now
	}
	m.Deliveries = 1 + int(end.Sub(m.Created)/(time.Duration(m.Retry)*time.Second))
	m.Expired = m.AckedAt.IsZero() && m.CancelledAt.IsZero() && !now.Before(m.Created.Add(time.Duration(m.Expire)*time.Second))
}

func id(n int) string {
	const chars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := make([]byte, n)
	rand.Read(b)
	for i := range b {
		b[i] = chars[int(b[i])%len(chars)]
	}
	return string(b)
}

func uuid() string {
	var b [16]byte
	rand.Read(b[:])
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// answer writes Pushover's JSON: status 1 on 200, else status 0 with the
// errors and the parameter that was wrong.
func answer(w http.ResponseWriter, status int, body map[string]any) {
	if body == nil {
		body = map[string]any{}
	}
	if status == http.StatusOK {
		body["status"] = 1
	} else {
		body["status"] = 0
	}
	body["request"] = uuid()
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(body)
}

func fail(w http.ResponseWriter, status int, param, value string, errs ...string) {
	b := map[string]any{"errors": errs}
	if param != "" {
		b[param] = value
	}
	answer(w, status, b)
}

// faulted applies the fault to one request; true when it answered.
func (s *Sim) faulted(w http.ResponseWriter, r *http.Request) bool {
	status, hung := s.faults.Inject(r, s.srv)
	switch {
	case hung:
		return true
	case status == http.StatusTooManyRequests:
		fail(w, status, "", "", "application has exceeded its monthly message limit")
		return true
	case status != 0:
		fail(w, status, "", "", "an internal error occurred, please try again later")
		return true
	}
	return false
}

func (s *Sim) tokenOK(w http.ResponseWriter, token string) bool {
	if token == "" || token != s.opts.Token {
		fail(w, http.StatusBadRequest, "token", "invalid", "application token is invalid, see https://pushover.net/api")
		return false
	}
	return true
}

func (s *Sim) messages(w http.ResponseWriter, r *http.Request) {
	if s.faulted(w, r) {
		return
	}
	if err := r.ParseForm(); err != nil {
		fail(w, http.StatusBadRequest, "", "", "cannot read the request")
		return
	}
	f := r.PostForm
	if !s.tokenOK(w, f.Get("token")) {
		return
	}
	s.mu.Lock()
	devices, known := s.users[f.Get("user")]
	used := s.used
	s.mu.Unlock()
	w.Header().Set("X-Limit-App-Limit", strconv.Itoa(s.opts.MonthlyLimit))
	w.Header().Set("X-Limit-App-Remaining", strconv.Itoa(max(s.opts.MonthlyLimit-used, 0)))
	next := s.clock.Now().UTC()
	w.Header().Set("X-Limit-App-Reset", strconv.FormatInt(time.Date(next.Year(), next.Month()+1, 1, 5, 0, 0, 0, time.UTC).Unix(), 10))
	if used >= s.opts.MonthlyLimit {
		fail(w, http.StatusTooManyRequests, "", "", "application has exceeded its monthly message limit")
		return
	}
	if !known {
		fail(w, http.StatusBadRequest, "user", "invalid", "user identifier is not a valid user, group, or subscribed user key, see https://pushover.net/api#identifiers")
		return
	}
	m := &Message{Request: uuid(), User: f.Get("user"), Device: f.Get("device"), Title: f.Get("title"), Message: f.Get("message"),
		Callback: f.Get("callback"), URL: f.Get("url"), URLTitle: f.Get("url_title"), Created: s.clock.Now()}
	if m.Device != "" && !contains(devices, m.Device) {
		fail(w, http.StatusBadRequest, "device", "invalid for this user", "device name is not valid for user")
		return
	}
	switch {
	case strings.TrimSpace(m.Message) == "":
		fail(w, http.StatusBadRequest, "message", "cannot be blank", "message cannot be blank")
		return
	case len([]rune(m.Message)) > 1024:
		fail(w, http.StatusBadRequest, "message", "is too long", "message is too long, must be 1024 characters or less")
		return
	case len([]rune(m.Title)) > 250:
		fail(w, http.StatusBadRequest, "title", "is too long", "title is too long, must be 250 characters or less")
		return
	}
	if p := f.Get("priority"); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < -2 || n > 2 {
			fail(w, http.StatusBadRequest, "priority", "invalid", "priority is invalid, must be -2, -1, 0, 1, or 2")
			return
		}
		m.Priority = n
	}
	if m.Priority == 2 {
		var err error
		if m.Retry, err = strconv.Atoi(f.Get("retry")); err != nil {
			fail(w, http.StatusBadRequest, "retry", "invalid", "retry must be supplied with priority=2")
			return
		}
		if m.Expire, err = strconv.Atoi(f.Get("expire")); err != nil {
			fail(w, http.StatusBadRequest, "expire", "invalid", "expire must be supplied with priority=2")
			return
		}
		if m.Retry < 30 {
			fail(w, http.StatusBadRequest, "retry", "invalid", "retry is too small, must be at least 30 seconds")
			return
		}
		if m.Expire > 10800 {
			fail(w, http.StatusBadRequest, "expire", "invalid", "expire is too large, must be at most 10800 seconds")
			return
		}
		if m.Callback != "" {
			if u, err := url.Parse(m.Callback); err != nil || (u.Scheme != "http" && u.Scheme != "https") {
				fail(w, http.StatusBadRequest, "callback", "invalid", "callback is not a valid URL")
				return
			}
		}
		m.Receipt = id(30)
		if t := f.Get("tags"); t != "" {
			m.Tags = strings.Split(t, ",")
		}
	}
	s.mu.Lock()
	s.used++
	s.msgs = append(s.msgs, m)
	if m.Receipt != "" {
		s.byRcpt[m.Receipt] = m
	}
	hang := s.acceptHang > 0
	if hang {
		s.acceptHang--
	}
	s.mu.Unlock()
	s.log.Info("pushoversim: message", "user", m.User, "priority", m.Priority, "receipt", m.Receipt, "title", m.Title)
	if hang {
		s.srv.Hold(r)
		return
	}
	body := map[string]any{}
	if m.Receipt != "" {
		body["receipt"] = m.Receipt
	}
	answer(w, http.StatusOK, body)
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

// lookup finds a receipt for the receipts API, answering 404 itself.
func (s *Sim) lookup(w http.ResponseWriter, ref string) *Message {
	s.mu.Lock()
	m := s.byRcpt[ref]
	s.mu.Unlock()
	if m == nil {
		fail(w, http.StatusNotFound, "receipt", "not found", "receipt not found; may be invalid or expired")
	}
	return m
}

func (s *Sim) receipt(w http.ResponseWriter, r *http.Request) {
	if s.faulted(w, r) {
		return
	}
	ref, ok := strings.CutSuffix(r.PathValue("file"), ".json")
	if !ok {
		http.NotFound(w, r)
		return
	}
	if !s.tokenOK(w, r.URL.Query().Get("token")) {
		return
	}
	m := s.lookup(w, ref)
	if m == nil {
		return
	}
	s.mu.Lock()
	now := s.clock.Now()
	s.update(m, now)
	m.Polls = append(m.Polls, now)
	b := map[string]any{
		"acknowledged": 0, "acknowledged_at": 0, "acknowledged_by": "", "acknowledged_by_device": "",
		"last_delivered_at": m.Created.Add(time.Duration(m.Deliveries-1) * time.Duration(m.Retry) * time.Second).Unix(),
		"expired":           b2i(m.Expired), "expires_at": m.Created.Add(time.Duration(m.Expire) * time.Second).Unix(),
		"called_back": b2i(!m.CalledBack.IsZero()), "called_back_at": unix(m.CalledBack),
	}
	if !m.AckedAt.IsZero() {
		device := m.Device
		if device == "" {
			device = "iphone"
		}
		b["acknowledged"], b["acknowledged_at"], b["acknowledged_by"], b["acknowledged_by_device"] = 1, m.AckedAt.Unix(), m.AckedBy, device
	}
	s.mu.Unlock()
	answer(w, http.StatusOK, b)
}

func (s *Sim) cancelReceipt(w http.ResponseWriter, r *http.Request) {
	if s.faulted(w, r) {
		return
	}
	if err := r.ParseForm(); err != nil {
		fail(w, http.StatusBadRequest, "", "", "cannot read the request")
		return
	}
	if !s.tokenOK(w, r.PostForm.Get("token")) {
		return
	}
	ref, action := r.PathValue("receipt"), r.PathValue("action")
	if ref == "cancel_by_tag" {
		tag, ok := strings.CutSuffix(action, ".json")
		if !ok {
			http.NotFound(w, r)
			return
		}
		s.mu.Lock()
		now, n := s.clock.Now(), 0
		for _, m := range s.msgs {
			s.update(m, now)
			if m.Priority == 2 && contains(m.Tags, tag) && m.CancelledAt.IsZero() && m.AckedAt.IsZero() && !m.Expired {
				m.CancelledAt = now
				n++
			}
		}
		s.mu.Unlock()
		answer(w, http.StatusOK, map[string]any{"canceled": n})
		return
	}
	if action != "cancel.json" {
		http.NotFound(w, r)
		return
	}
	m := s.lookup(w, ref)
	if m == nil {
		return
	}
	s.mu.Lock()
	now := s.clock.Now()
	s.update(m, now)
	if m.CancelledAt.IsZero() && m.AckedAt.IsZero() && !m.Expired {
		m.CancelledAt = now
	}
	s.mu.Unlock()
	answer(w, http.StatusOK, nil)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func unix(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}
