package ntfysim

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
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

func send(t *testing.T, method, url, body string, hdr ...string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
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

// Publishing by headers to /<topic>, as curl users do: the simple
// X-Actions format, priority words, tags; read back by a subscriber's poll.
func TestPublishByHeadersAndPoll(t *testing.T) {
	s, base := start(t, Options{})
	code, body := send(t, "PUT", base+"/backups", "Backup failed",
		"X-Title", "nas", "X-Priority", "urgent", "X-Tags", "warning,nas",
		"X-Actions", "http, Retry, https://example.net/retry, method=PUT, clear=true; view, Open, https://example.net")
	if code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	var m Message
	json.Unmarshal([]byte(body), &m)
	if m.ID == "" || m.Event != "message" || m.Priority != 5 || len(m.Tags) != 2 || len(m.Actions) != 2 ||
		m.Actions[0].Method != "PUT" || !m.Actions[0].Clear || m.Actions[1].Action != "view" {
		t.Fatalf("message %+v", m)
	}
	_, lines := send(t, "GET", base+"/backups/json?poll=1", "")
	sc := bufio.NewScanner(strings.NewReader(lines))
	n := 0
	for sc.Scan() {
		var got Message
		if err := json.Unmarshal(sc.Bytes(), &got); err != nil || got.ID != m.ID {
			t.Fatalf("poll line %q", sc.Text())
		}
		n++
	}
	if n != 1 || len(s.Messages("backups")) != 1 {
		t.Fatalf("%d lines", n)
	}
}

// Tokens as ntfy checks them: none on a protected server is 403, an
// unknown one 401, a read-only one 403 for publishing; a token is also
// accepted as the password of an empty Basic user.
func TestAuthAnswersAsNtfy(t *testing.T) {
	_, base := start(t, Options{Tokens: []string{"tk_good"}, ReadOnly: []string{"tk_ro"}, Users: map[string]string{"phil": "pw"}})
	msg := `{"topic":"t1","message":"hi"}`
	basic := func(u, p string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(u+":"+p)) }
	for _, c := range []struct {
		auth string
		want int
		code string
	}{
		{"", 403, `"code":40301`},
		{"Bearer tk_bad", 401, `"code":40101`},
		{"Bearer tk_ro", 403, `"code":40301`},
		{"Bearer tk_good", 200, `"event":"message"`},
		{basic("", "tk_good"), 200, `"event":"message"`},
		{basic("phil", "pw"), 200, `"event":"message"`},
		{basic("phil", "nope"), 401, `"code":40101`},
	} {
		var hdr []string
		if c.auth != "" {
			hdr = []string{"Authorization", c.auth}
		}
		code, body := send(t, "POST", base+"/", msg, hdr...)
		if code != c.want || !strings.Contains(body, c.code) {
			t.Errorf("%q: %d %s, want %d %s", c.auth, code, body, c.want, c.code)
		}
	}
}

// Bad messages get ntfy's 400s; a used-up burst its 429; faults their
// status with ntfy's body.
func TestErrorsAnswerAsNtfy(t *testing.T) {
	_, base := start(t, Options{Burst: 2, Refill: 1 << 62})
	for body, want := range map[string]string{
		`{"topic":"a/b"}`: `"code":40009`,
		`not json`:        `"code":40017`,
	} {
		if code, got := send(t, "POST", base+"/", body); code != 400 || !strings.Contains(got, want) {
			t.Errorf("%s: %d %s", body, code, got)
		}
	}
	if code, got := send(t, "POST", base+"/", `{"topic":"t"}`); code != 429 || !strings.Contains(got, `"code":42901`) {
		t.Fatalf("burst: %d %s", code, got)
	}
	s2, base2 := start(t, Options{})
	s2.SetFault(Fault{Status: 502, Next: 1})
	if code, got := send(t, "POST", base2+"/", `{"topic":"t"}`); code != 502 || !strings.Contains(got, `"http":502`) {
		t.Fatalf("fault: %d %s", code, got)
	}
	if code, _ := send(t, "POST", base2+"/", `{"topic":"t","actions":[{"action":"http","label":"x"}]}`); code != 400 {
		t.Fatalf("an http action without a url: %d", code)
	}

}

// Press does what the app does: the button's method, headers and body.
func TestPressPerformsTheAction(t *testing.T) {
	var got *http.Request
	var gotBody string
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got, gotBody = r, string(b)
		io.WriteString(w, "done")
	}))
	defer target.Close()
	s, base := start(t, Options{})
	_, body := send(t, "POST", base+"/", `{"topic":"t","actions":[{"action":"http","label":"Go","url":"`+target.URL+`/x","method":"put","headers":{"X-A":"1"},"body":"b","clear":true}]}`)
	var m Message
	json.Unmarshal([]byte(body), &m)
	code, answer, err := s.Press("t", m.ID, "Go")
	if err != nil || code != 200 || answer != "done" || got.Method != "PUT" || got.Header.Get("X-A") != "1" || gotBody != "b" {
		t.Fatalf("press: %d %q %v; request %v %q", code, answer, err, got, gotBody)
	}
	if !s.Messages("t")[0].Cleared {
		t.Fatal("clear=true and a 2xx clear the notification")
	}
	if _, _, err := s.Press("t", m.ID, "Nope"); err == nil {
		t.Fatal("a button that does not exist was pressed")
	}
}
