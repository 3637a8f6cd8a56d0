package telegramsim

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func start(t *testing.T, o Options) (*Sim, string) {
	t.Helper()
	s := New(o)
	base, err := s.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, base
}

func post(t *testing.T, u, ct, body string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Post(u, ct, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: not JSON: %s", u, b)
	}
	return resp.StatusCode, m
}

// TestBotAPIAnswers: the stand-in answers as the Bot API does: a wrong
// token, an unknown chat, a rate limit, getUpdates while a webhook is
// set, an edit that changes nothing; JSON and form parameters alike.
func TestBotAPIAnswers(t *testing.T) {
	s, base := start(t, Options{Chats: []int64{42}})
	bot := base + "/bot" + DefaultToken
	for _, c := range []struct {
		name, url, ct, body string
		code                int
		desc                string
	}{
		{"wrong token", base + "/bot1:nope/getMe", "application/json", `{}`, 401, "Unauthorized"},
		{"unknown method", bot + "/launchRockets", "application/json", `{}`, 404, "Not Found"},
		{"chat not found", bot + "/sendMessage", "application/json", `{"chat_id": 7, "text": "hi"}`, 400, "Bad Request: chat not found"},
		{"empty text", bot + "/sendMessage", "application/x-www-form-urlencoded", "chat_id=42&text=", 400, "Bad Request: message text is empty"},
		{"long button data", bot + "/sendMessage", "application/json",
			`{"chat_id": 42, "text": "x", "reply_markup": {"inline_keyboard": [[{"text": "a", "callback_data": "` + strings.Repeat("x", 65) + `"}]]}}`, 400, "Bad Request: BUTTON_DATA_INVALID"},
		{"unknown query", bot + "/answerCallbackQuery", "application/json", `{"callback_query_id": "zz"}`, 400,
			"Bad Request: query is too old and response timeout expired or query ID is invalid"},
	} {
		code, m := post(t, c.url, c.ct, c.body)
		if code != c.code || m["ok"] != false || m["error_code"] != float64(c.code) || m["description"] != c.desc {
			t.Errorf("%s: %d %v", c.name, code, m)
		}
	}

	// A form with reply_markup as JSON text, as Telegram takes it.
	form := url.Values{"chat_id": {"42"}, "text": {"page"}, "reply_markup": {`{"inline_keyboard":[[{"text":"Ack #1","callback_data":"ack:1"}]]}`}}
	code, m := post(t, bot+"/sendMessage", "application/x-www-form-urlencoded", form.Encode())
	if code != 200 || m["ok"] != true {
		t.Fatalf("sendMessage: %d %v", code, m)
	}
	id := int64(m["result"].(map[string]any)["message_id"].(float64))
	edit := `{"chat_id": 42, "message_id": ` + jsonInt(id) + `, "text": "page"}`
	if code, _ := post(t, bot+"/editMessageText", "application/json", edit); code != 200 {
		t.Fatalf("edit removing the buttons: %d", code)
	}
	if code, m := post(t, bot+"/editMessageText", "application/json", edit); code != 400 || !strings.HasPrefix(m["description"].(string), "Bad Request: message is not modified") {
		t.Errorf("the same edit again: %d %v", code, m)
	}
	if ms := s.Messages(42); len(ms) != 1 || ms[0].Buttons != nil {
		t.Errorf("messages: %+v", ms)
	}

	s.SetFault(Fault{Status: 429, Next: 1, RetryAfter: 3})
	code, m = post(t, bot+"/getMe", "application/json", `{}`)
	if code != 429 || m["description"] != "Too Many Requests: retry after 3" || m["parameters"].(map[string]any)["retry_after"] != float64(3) {
		t.Errorf("429: %d %v", code, m)
	}

	if code, _ := post(t, bot+"/setWebhook", "application/json", `{"url": "https://example.net/telegram/webhook", "secret_token": "bad token!"}`); code != 400 {
		t.Errorf("a secret with a space: %d", code)
	}
	post(t, bot+"/setWebhook", "application/json", `{"url": "https://example.net/telegram/webhook", "secret_token": "s3cret"}`)
	if code, m := post(t, bot+"/getUpdates", "application/json", `{}`); code != 409 || !strings.Contains(m["description"].(string), "use deleteWebhook") {
		t.Errorf("getUpdates with a webhook: %d %v", code, m)
	}
}

// TestGetUpdatesLongPollAndOffset: a press waiting for getUpdates is
// handed out until an offset past it confirms it; a long poll returns as
// soon as one comes.
func TestGetUpdatesLongPollAndOffset(t *testing.T) {
	s, base := start(t, Options{Chats: []int64{42}})
	bot := base + "/bot" + DefaultToken
	_, m := post(t, bot+"/sendMessage", "application/json", `{"chat_id": 42, "text": "p", "reply_markup": {"inline_keyboard": [[{"text": "Ack #1", "callback_data": "ack:9"}]]}}`)
	id := int64(m["result"].(map[string]any)["message_id"].(float64))
	go func() {
		time.Sleep(200 * time.Millisecond)
		s.Press(42, 42, id, "Ack")
	}()
	start := time.Now()
	_, m = post(t, bot+"/getUpdates", "application/json", `{"timeout": 20}`)
	ups := m["result"].([]any)
	if len(ups) != 1 || time.Since(start) > 5*time.Second {
		t.Fatalf("long poll: %v after %s", m, time.Since(start))
	}
	u := ups[0].(map[string]any)
	if u["callback_query"].(map[string]any)["data"] != "ack:9" {
		t.Errorf("update: %v", u)
	}
	next := int64(u["update_id"].(float64)) + 1
	_, m = post(t, bot+"/getUpdates", "application/json", `{"offset": `+jsonInt(next)+`}`)
	if len(m["result"].([]any)) != 0 {
		t.Errorf("confirmed update handed out again: %v", m)
	}
}

func jsonInt(n int64) string { b, _ := json.Marshal(n); return string(b) }
