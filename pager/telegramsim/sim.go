// Package telegramsim stands in for the Telegram Bot API
// (https://core.telegram.org/bots/api): a real HTTP server answering
// /bot<TOKEN>/METHOD for the methods foghorn uses (getMe, sendMessage,
// editMessageText, editMessageReplyMarkup, answerCallbackQuery,
// setWebhook, deleteWebhook, getWebhookInfo, getUpdates), with Telegram's
// parameters (a JSON body, a form, or the query string), its answers
// ({"ok":true,"result":...}) and its errors ({"ok":false,"error_code":401,
// "description":"Unauthorized"}, 400 "Bad Request: chat not found", 429
// with parameters.retry_after, 409 getUpdates while a webhook is set).
//
// People are played from Go: Press presses an inline button as Telegram
// delivers it, a callback_query update POSTed to the webhook with the
// X-Telegram-Bot-Api-Secret-Token header, or queued for getUpdates when
// no webhook is set; Messages shows each chat's messages with their edits.
//
// It is for loopback tests and demos only.
package telegramsim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"foghorn/pager/internal/simhttp"
)

// DefaultToken is the bot token when Options sets none.
const DefaultToken = "123456789:AAsimulatedbottoken0123456789abcdef"

// Options configure a Sim.
type Options struct {
	Token string // the bot's token; DefaultToken if empty
	// Chats are the private chats that exist: people who sent /start to
	// the bot (a bot cannot write first). sendMessage to any other chat
	// is refused with 400 "chat not found", as Telegram does.
	Chats []int64
	// MaxPoll caps a getUpdates long poll (Telegram allows 50 s); default
	// the request's timeout.
	MaxPoll time.Duration
	Client  *http.Client // for webhook deliveries; nil: 10 s timeout
}

// Button is an inline keyboard button.
type Button struct {
	Text         string `json:"text"`
	CallbackData string `json:"callback_data,omitempty"`
	URL          string `json:"url,omitempty"`
}

// Message is a message the bot sent, as its chat shows it now.
type Message struct {
	ID      int64
	Chat    int64
	Text    string
	Buttons [][]Button // the inline keyboard; nil once removed
	Edits   []string   // earlier texts, oldest first
	Sent    time.Time
	Edited  time.Time
}

// Answer is an answerCallbackQuery call.
type Answer struct {
	QueryID string
	Text    string
	Alert   bool
	At      time.Time
}

// Fault makes the API misbehave. The zero value is healthy.
type Fault struct {
	Status     int  // HTTP status of a failed request: 500 (default), 429, 502...
	Next       int  // fail the next Next requests (all of them with Hang)
	RetryAfter int  // with 429: parameters.retry_after in seconds (default 1)
	Hang       bool // hold each request until the client gives up
	// AcceptHang carries the next Next sendMessage requests out (the
	// message appears in the chat) and then never answers them.
	AcceptHang bool
	// Method, when set, limits the fault to that method ("getUpdates").
	Method string
}

// Sim is a running stand-in. Create it with New, Start it, Close it.
type Sim struct {
	opts   Options
	client *http.Client
	srv    *simhttp.Server

	mu       sync.Mutex
	chats    map[int64]bool
	messages map[int64][]*Message
	nextMsg  int64
	webhook  string
	secret   string
	updates  []json.RawMessage // queued for getUpdates, ids ascending
	ids      []int64           // their update_ids
	nextUpd  int64
	sentUpd  map[int64]json.RawMessage // every update made, for Replay
	queries  map[string]bool           // callback query id -> answered
	answers  []Answer
	calls    []string
	fault    Fault
	wake     chan struct{} // closed when an update is queued
}

// New makes a stand-in; Start serves it.
func New(o Options) *Sim {
	if o.Token == "" {
		o.Token = DefaultToken
	}
	c := o.Client
	if c == nil {
		c = &http.Client{Timeout: 10 * time.Second}
	}
	s := &Sim{opts: o, client: c, chats: map[int64]bool{}, messages: map[int64][]*Message{},
		nextMsg: 100, nextUpd: 500000, sentUpd: map[int64]json.RawMessage{}, queries: map[string]bool{}, wake: make(chan struct{})}
	s.srv = simhttp.NewServer("telegramsim", s, nil)
	for _, id := range o.Chats {
		s.chats[id] = true
	}
	return s
}

// Start listens on addr ("127.0.0.1:0") and returns the API base URL, the
// [telegram] api_base to use.
func (s *Sim) Start(addr string) (string, error) { return s.srv.Start(addr) }

// URL is the API base URL once started.
func (s *Sim) URL() string { return s.srv.URL() }

// Close stops the server and every long poll.
func (s *Sim) Close() error { return s.srv.Close() }

// AddChat makes a private chat exist (its user sent /start).
func (s *Sim) AddChat(id int64) {
	s.mu.Lock()
	s.chats[id] = true
	s.mu.Unlock()
}

// SetFault replaces the fault in force; SetFault(Fault{}) heals.
func (s *Sim) SetFault(f Fault) {
	f.Status = simhttp.FailStatus(f.Status)
	s.mu.Lock()
	s.fault = f
	s.mu.Unlock()
}

// Webhook is the webhook URL and secret token set, "" when none.
func (s *Sim) Webhook() (url, secret string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.webhook, s.secret
}

// Calls lists the methods called, in order.
func (s *Sim) Calls() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.calls...)
}

// Messages are the bot's messages in chat, oldest first.
func (s *Sim) Messages(chat int64) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Message
	for _, m := range s.messages[chat] {
		c := *m
		c.Edits = append([]string(nil), m.Edits...)
		c.Buttons = cloneButtons(m.Buttons)
		out = append(out, c)
	}
	return out
}

// Answers are the answerCallbackQuery calls so far.
func (s *Sim) Answers() []Answer {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Answer(nil), s.answers...)
}

// Answer is the answer to the callback query id, if it was answered.
func (s *Sim) Answer(id string) (Answer, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range s.answers {
		if a.QueryID == id {
			return a, true
		}
	}
	return Answer{}, false
}

// Delivery is what came of one update: its id and callback query id, and
// with a webhook, the HTTP status foghorn answered (0 when queued for
// getUpdates).
type Delivery struct {
	UpdateID int64
	QueryID  string
	Status   int
}

// Press presses the button whose text starts with button ("Ack",
// "Escalate", "Snooze") under message messageID, as the user fromID in
// the chat chatID: a callback_query with the button's callback_data. The
// message is looked up in chatID, or else in any chat, so a test can
// forge a press of someone else's button from another chat or user.
func (s *Sim) Press(chatID, fromID, messageID int64, button string) (Delivery, error) {
	s.mu.Lock()
	m := s.find(chatID, messageID)
	if m == nil {
		s.mu.Unlock()
		return Delivery{}, fmt.Errorf("telegramsim: no message %d", messageID)
	}
	var data string
	for _, row := range m.Buttons {
		for _, b := range row {
			if data == "" && strings.HasPrefix(strings.ToLower(b.Text), strings.ToLower(button)) {
				data = b.CallbackData
			}
		}
	}
	text := m.Text
	s.mu.Unlock()
	if data == "" {
		return Delivery{}, fmt.Errorf("telegramsim: message %d has no button %q", messageID, button)
	}
	return s.PressData(chatID, fromID, messageID, text, data)
}

// PressData delivers a callback_query with any data, as a client that
// crafts its own would.
func (s *Sim) PressData(chatID, fromID, messageID int64, text, data string) (Delivery, error) {
	s.mu.Lock()
	qid := strconv.FormatInt(fromID, 10) + "-" + strconv.FormatInt(s.nextUpd, 36)
	s.queries[qid] = false
	s.mu.Unlock()
	cq := map[string]any{
		"id":            qid,
		"from":          user(fromID),
		"chat_instance": strconv.FormatInt(chatID*7919, 10),
		"data":          data,
		"message": map[string]any{
			"message_id": messageID, "date": time.Now().Unix(), "text": text,
			"chat": map[string]any{"id": chatID, "type": chatType(chatID)},
			"from": map[string]any{"id": s.botID(), "is_bot": true, "first_name": "foghorn"},
		},
	}
	d, err := s.deliver(map[string]any{"callback_query": cq})
	d.QueryID = qid
	return d, err
}

// SendText delivers a text message from the user fromID in their
// private chat, as when they write to the bot.
func (s *Sim) SendText(fromID int64, text string) (Delivery, error) {
	s.AddChat(fromID)
	s.mu.Lock()
	s.nextMsg++
	id := s.nextMsg
	s.mu.Unlock()
	return s.deliver(map[string]any{"message": map[string]any{
		"message_id": id, "date": time.Now().Unix(), "text": text, "from": user(fromID),
		"chat": map[string]any{"id": fromID, "type": "private"},
	}})
}

// Replay delivers update updateID again, unchanged: a webhook retried, or
// an attacker who recorded one.
func (s *Sim) Replay(updateID int64) (Delivery, error) {
	s.mu.Lock()
	raw, ok := s.sentUpd[updateID]
	s.mu.Unlock()
	if !ok {
		return Delivery{}, fmt.Errorf("telegramsim: no update %d", updateID)
	}
	return s.post(updateID, raw)
}

// PostWebhook posts body to the webhook with secret as the header ("" for
// none): a forgery, as anyone who knows the URL can send.
func (s *Sim) PostWebhook(body []byte, secret string) (int, error) {
	s.mu.Lock()
	hook := s.webhook
	s.mu.Unlock()
	if hook == "" {
		return 0, errors.New("telegramsim: no webhook set")
	}
	req, _ := http.NewRequestWithContext(s.srv.Context(), "POST", hook, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if secret != "" {
		req.Header.Set("X-Telegram-Bot-Api-Secret-Token", secret)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

func (s *Sim) deliver(u map[string]any) (Delivery, error) {
	s.mu.Lock()
	s.nextUpd++
	id := s.nextUpd
	u["update_id"] = id
	raw, _ := json.Marshal(u)
	s.sentUpd[id] = raw
	s.mu.Unlock()
	return s.post(id, raw)
}

// post sends one update the way Telegram would now: to the webhook, or
// into the getUpdates queue.
func (s *Sim) post(id int64, raw json.RawMessage) (Delivery, error) {
	s.mu.Lock()
	hook, secret := s.webhook, s.secret
	if hook == "" {
		s.updates = append(s.updates, raw)
		s.ids = append(s.ids, id)
		close(s.wake)
		s.wake = make(chan struct{})
		s.mu.Unlock()
		return Delivery{UpdateID: id}, nil
	}
	s.mu.Unlock()
	req, _ := http.NewRequestWithContext(s.srv.Context(), "POST", hook, bytes.NewReader(raw))
	req.Header.Set("Content-Type", "application/json")
	if secret != "" {
		req.Header.Set("X-Telegram-Bot-Api-Secret-Token", secret)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return Delivery{UpdateID: id}, fmt.Errorf("telegramsim: webhook: %w", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return Delivery{UpdateID: id, Status: resp.StatusCode}, nil
}

func (s *Sim) find(chat, id int64) *Message {
	for _, m := range s.messages[chat] {
		if m.ID == id {
			return m
		}
	}
	for _, ms := range s.messages {
		for _, m := range ms {
			if m.ID == id {
				return m
			}
		}
	}
	return nil
}

func (s *Sim) botID() int64 {
	id, _ := strconv.ParseInt(strings.SplitN(s.opts.Token, ":", 2)[0], 10, 64)
	return id
}

func user(id int64) map[string]any {
	return map[string]any{"id": id, "is_bot": false, "first_name": "user" + strconv.FormatInt(id, 10)}
}

func chatType(id int64) string {
	if id < 0 {
		return "group"
	}
	return "private"
}

func cloneButtons(b [][]Button) [][]Button {
	if b == nil {
		return nil
	}
	out := make([][]Button, len(b))
	for i := range b {
		out[i] = append([]Button(nil), b[i]...)
	}
	return out
}

// apiError is a Bot API error answer.
type apiError struct {
	code       int
	desc       string
	retryAfter int
}

func fail(code int, desc string) *apiError { return &apiError{code: code, desc: desc} }

func badRequest(desc string) *apiError { return fail(400, "Bad Request: "+desc) }

func write(w http.ResponseWriter, result any, e *apiError) {
	w.Header().Set("Content-Type", "application/json")
	if e != nil {
		body := map[string]any{"ok": false, "error_code": e.code, "description": e.desc}
		if e.retryAfter > 0 {
			body["parameters"] = map[string]any{"retry_after": e.retryAfter}
		}
		w.WriteHeader(e.code)
		json.NewEncoder(w).Encode(body)
		return
	}
	json.NewEncoder(w).Encode(map[string]any{"ok": true, "result": result})
}

// ServeHTTP answers /bot<TOKEN>/METHOD.
func (s *Sim) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, "/bot")
	token, method, ok2 := strings.Cut(rest, "/")
	if !ok || !ok2 || method == "" {
		write(w, nil, fail(404, "Not Found"))
		return
	}
	if token != s.opts.Token {
		write(w, nil, fail(401, "Unauthorized"))
		return
	}
	params, err := readParams(r)
	if err != nil {
		write(w, nil, badRequest(err.Error()))
		return
	}
	s.mu.Lock()
	s.calls = append(s.calls, method)
	f := &s.fault
	var status, retry int
	hang, acceptHang := false, false
	if f.Next > 0 && (f.Method == "" || f.Method == method) {
		switch {
		case f.AcceptHang:
			if method == "sendMessage" {
				f.Next--
				acceptHang = true
			}
		case f.Hang:
			f.Next--
			hang = true
		default:
			f.Next--
			status, retry = f.Status, f.RetryAfter
		}
	}
	s.mu.Unlock()
	if hang {
		s.srv.Hold(r)
		return
	}
	if status != 0 {
		e := fail(status, http.StatusText(status))
		switch {
		case status == 429:
			e.retryAfter = max(retry, 1)
			e.desc = fmt.Sprintf("Too Many Requests: retry after %d", e.retryAfter)
		case status >= 500:
			e.desc = "Internal Server Error"
		}
		write(w, nil, e)
		return
	}
	result, e := s.call(r.Context(), method, params)
	if acceptHang && e == nil {
		s.srv.Hold(r)
		return
	}
	write(w, result, e)
}

// params are a request's parameters, each as raw JSON (a number, a
// string, an object) whatever way it came.
type params map[string]json.RawMessage

func readParams(r *http.Request) (params, error) {
	p := params{}
	for k, vs := range r.URL.Query() {
		p.setString(k, vs[0])
	}
	if r.Body == nil {
		return p, nil
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return p, nil
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch ct {
	case "application/json":
		var m map[string]json.RawMessage
		if err := json.Unmarshal(body, &m); err != nil {
			return nil, errors.New("can't parse JSON: " + err.Error())
		}
		for k, v := range m {
			p[k] = v
		}
	case "application/x-www-form-urlencoded":
		f, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, err
		}
		for k, vs := range f {
			p.setString(k, vs[0])
		}
	default:
		return nil, fmt.Errorf("unsupported Content-Type %q", ct)
	}
	return p, nil
}

func (p params) setString(k, v string) {
	b, _ := json.Marshal(v)
	p[k] = b
}

// str reads a string parameter (a JSON string, or any JSON as its text).
func (p params) str(k string) string {
	raw, ok := p[k]
	if !ok {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(raw)
}

// int reads an integer parameter, given as a JSON number or a string.
func (p params) int(k string) (int64, bool) {
	s := p.str(k)
	if s == "" {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// markup reads reply_markup: an object in a JSON body, or JSON text in a
// form, as Telegram takes either.
func (p params) markup() ([][]Button, bool, *apiError) {
	raw, ok := p["reply_markup"]
	if !ok {
		return nil, false, nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		raw = json.RawMessage(s)
	}
	var m struct {
		Inline *[][]Button `json:"inline_keyboard"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, true, badRequest("can't parse reply keyboard markup JSON object")
	}
	if m.Inline == nil {
		return nil, true, nil
	}
	for _, row := range *m.Inline {
		for _, b := range row {
			if b.Text == "" {
				return nil, true, badRequest("can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard")
			}
			if len(b.CallbackData) > 64 || (b.CallbackData == "" && b.URL == "") {
				return nil, true, badRequest("BUTTON_DATA_INVALID")
			}
		}
	}
	return *m.Inline, true, nil
}

func (s *Sim) call(ctx context.Context, method string, p params) (any, *apiError) {
	switch method {
	case "getMe":
		return map[string]any{"id": s.botID(), "is_bot": true, "first_name": "foghorn", "username": "foghorn_sim_bot"}, nil
	case "sendMessage":
		return s.sendMessage(p)
	case "editMessageText", "editMessageReplyMarkup":
		return s.edit(method, p)
	case "answerCallbackQuery":
		return s.answer(p)
	case "setWebhook":
		return s.setWebhook(p)
	case "deleteWebhook":
		s.mu.Lock()
		s.webhook, s.secret = "", ""
		if p.str("drop_pending_updates") == "true" {
			s.updates, s.ids = nil, nil
		}
		s.mu.Unlock()
		return true, nil
	case "getWebhookInfo":
		s.mu.Lock()
		defer s.mu.Unlock()
		return map[string]any{"url": s.webhook, "has_custom_certificate": false, "pending_update_count": len(s.updates)}, nil
	case "getUpdates":
		return s.getUpdates(ctx, p)
	}
	return nil, fail(404, "Not Found")
}

func (s *Sim) sendMessage(p params) (any, *apiError) {
	chat, ok := p.int("chat_id")
	if !ok {
		if p.str("chat_id") == "" {
			return nil, badRequest("chat_id is empty")
		}
		return nil, badRequest("chat not found")
	}
	text := p.str("text")
	switch {
	case strings.TrimSpace(text) == "":
		return nil, badRequest("message text is empty")
	case len([]rune(text)) > 4096:
		return nil, badRequest("message is too long")
	}
	buttons, _, e := p.markup()
	if e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.chats[chat] {
		return nil, badRequest("chat not found")
	}
	s.nextMsg++
	m := &Message{ID: s.nextMsg, Chat: chat, Text: text, Buttons: buttons, Sent: time.Now()}
	s.messages[chat] = append(s.messages[chat], m)
	return messageJSON(m, s.botID()), nil
}

func (s *Sim) edit(method string, p params) (any, *apiError) {
	chat, ok1 := p.int("chat_id")
	id, ok2 := p.int("message_id")
	if !ok1 || !ok2 {
		return nil, badRequest("message identifier is not specified")
	}
	buttons, set, e := p.markup()
	if e != nil {
		return nil, e
	}
	text := p.str("text")
	if method == "editMessageText" && strings.TrimSpace(text) == "" {
		return nil, badRequest("message text is empty")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var m *Message
	for _, x := range s.messages[chat] {
		if x.ID == id {
			m = x
		}
	}
	if m == nil {
		return nil, badRequest("message to edit not found")
	}
	if method == "editMessageReplyMarkup" {
		text = m.Text
	}
	if text == m.Text && fmt.Sprint(buttons) == fmt.Sprint(m.Buttons) {
		return nil, badRequest("message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message")
	}
	if text != m.Text {
		m.Edits = append(m.Edits, m.Text)
		m.Text = text
	}
	// Without reply_markup an edit removes the inline keyboard, as
	// Telegram's does.
	m.Buttons = nil
	if set {
		m.Buttons = buttons
	}
	m.Edited = time.Now()
	return messageJSON(m, s.botID()), nil
}

func (s *Sim) answer(p params) (any, *apiError) {
	id := p.str("callback_query_id")
	s.mu.Lock()
	defer s.mu.Unlock()
	done, known := s.queries[id]
	if !known || done {
		return nil, badRequest("query is too old and response timeout expired or query ID is invalid")
	}
	s.queries[id] = true
	s.answers = append(s.answers, Answer{QueryID: id, Text: p.str("text"), Alert: p.str("show_alert") == "true", At: time.Now()})
	return true, nil
}

func (s *Sim) setWebhook(p params) (any, *apiError) {
	u := p.str("url")
	secret := p.str("secret_token")
	if secret != "" && !validSecret(secret) {
		return nil, badRequest("secret token contains unallowed characters")
	}
	if u != "" {
		pu, err := url.Parse(u)
		if err != nil || (pu.Scheme != "https" && pu.Scheme != "http") || pu.Host == "" {
			return nil, badRequest("bad webhook: Failed to resolve host: Name or service not known")
		}
	}
	s.mu.Lock()
	s.webhook, s.secret = u, secret
	s.mu.Unlock()
	return true, nil
}

func validSecret(s string) bool {
	if len(s) > 256 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

func (s *Sim) getUpdates(ctx context.Context, p params) (any, *apiError) {
	offset, _ := p.int("offset")
	timeout, _ := p.int("timeout")
	wait := time.Duration(timeout) * time.Second
	if s.opts.MaxPoll > 0 {
		wait = min(wait, s.opts.MaxPoll)
	}
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		if s.webhook != "" {
			s.mu.Unlock()
			return nil, fail(409, "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first")
		}
		// An offset confirms every update below it: they are gone.
		if offset != 0 {
			i := 0
			for i < len(s.ids) && s.ids[i] < offset {
				i++
			}
			s.updates, s.ids = s.updates[i:], s.ids[i:]
		}
		if len(s.updates) > 0 || wait <= 0 {
			out := append([]json.RawMessage{}, s.updates...)
			s.mu.Unlock()
			return out, nil
		}
		wake := s.wake
		s.mu.Unlock()
		select {
		case <-wake:
		case <-deadline.C:
			return []json.RawMessage{}, nil
		case <-ctx.Done():
			return []json.RawMessage{}, nil
		case <-s.srv.Context().Done():
			return []json.RawMessage{}, nil
		}
	}
}

func messageJSON(m *Message, bot int64) map[string]any {
	out := map[string]any{
		"message_id": m.ID, "date": m.Sent.Unix(), "text": m.Text,
		"chat": map[string]any{"id": m.Chat, "type": chatType(m.Chat)},
		"from": map[string]any{"id": bot, "is_bot": true, "first_name": "foghorn"},
	}
	if m.Buttons != nil {
		out["reply_markup"] = map[string]any{"inline_keyboard": m.Buttons}
	}
	if !m.Edited.IsZero() {
		out["edit_date"] = m.Edited.Unix()
	}
	return out
}
