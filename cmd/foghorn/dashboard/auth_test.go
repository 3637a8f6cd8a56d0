package dashboard

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

func TestLogin(t *testing.T) {
	e := newEnv(t, "")
	c := e.client("")

	if r := c.get("/"); r.code != http.StatusSeeOther || r.h.Get("Location") != "/login?next=%2F" {
		t.Fatalf("GET / logged out: %d %q, want 303 to the login page", r.code, r.h.Get("Location"))
	}
	r := c.login("alice", "wrong password")
	if r.code != http.StatusUnauthorized {
		t.Fatalf("wrong password: %d, want 401", r.code)
	}
	r.has(t, "Wrong name or password.", `value="alice"`)
	if r := c.login("mallory", alicePW); r.code != http.StatusUnauthorized {
		t.Fatalf("unknown name: %d, want 401", r.code)
	}
	if r := c.login("bob", "anything at all"); r.code != http.StatusUnauthorized {
		t.Fatalf("person without a password_hash: %d, want 401", r.code)
	}
	logs := e.logs.String()
	for _, want := range []string{"reason=\"wrong password\"", "reason=\"no such person\"", "name=mallory", "no password_hash"} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
	if strings.Contains(logs, "wrong password\"") && strings.Contains(logs, alicePW) {
		t.Error("a password reached the log")
	}

	r = c.login("alice", alicePW)
	if r.code != http.StatusSeeOther || r.h.Get("Location") != "/" {
		t.Fatalf("right password: %d %q, want 303 to /", r.code, r.h.Get("Location"))
	}
	r = c.get("/")
	if r.code != http.StatusOK {
		t.Fatalf("GET / logged in: %d", r.code)
	}
	r.has(t, "alice · responder", "rt1", "DOWN", "#1", "rt1 DOWN: connection refused", "Ack #1", "routers", "fra1")
	if logs := e.logs.String(); !strings.Contains(logs, "msg=login") || !strings.Contains(logs, "person=alice role=responder") {
		t.Error("a login is not logged")
	}
	// Logged in, the login page sends you on.
	if r := c.get("/login?next=/incidents/1"); r.code != http.StatusSeeOther || r.h.Get("Location") != "/incidents/1" {
		t.Errorf("GET /login while logged in: %d %q", r.code, r.h.Get("Location"))
	}
}

func TestLoginNeedsItsToken(t *testing.T) {
	e := newEnv(t, "")
	c := e.client("")
	c.get("/login")
	r := c.post("/login", url.Values{"name": {"alice"}, "password": {alicePW}})
	if r.code != http.StatusForbidden {
		t.Fatalf("login without the form's token: %d, want 403", r.code)
	}
	// A token from another browser does not do either.
	other := e.client("")
	other.get("/login")
	r = c.post("/login", url.Values{"csrf": {other.csr}, "name": {"alice"}, "password": {alicePW}})
	if r.code != http.StatusForbidden {
		t.Fatalf("login with another browser's token: %d, want 403", r.code)
	}
}

func TestLoginRateLimit(t *testing.T) {
	e := newEnv(t, "")

	// Per address: five failures, whatever the names, close the door.
	c := e.client("192.0.2.7")
	for i := range 5 {
		if r := c.login("alice", "guess "+string(rune('a'+i))); r.code != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d, want 401", i+1, r.code)
		}
	}
	r := c.login("victor", victorPW)
	if r.code != http.StatusTooManyRequests {
		t.Fatalf("6th try from the same address: %d, want 429", r.code)
	}
	r.has(t, "Try again in 15 min")
	if r.h.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	if !strings.Contains(e.logs.String(), "login refused: too many failures") {
		t.Error("a refused login is not logged")
	}

	// Per name: failures from many addresses still count against alice.
	e.clock.Add(15*time.Minute + time.Second)
	for i := range 5 {
		ip := "198.51.100." + string(rune('1'+i))
		if r := e.client(ip).login("alice", "spray"); r.code != http.StatusUnauthorized {
			t.Fatalf("spray %d: %d, want 401", i+1, r.code)
		}
	}
	fresh := e.client("203.0.113.9")
	if r := fresh.login("alice", alicePW); r.code != http.StatusTooManyRequests {
		t.Fatalf("alice from a new address after 5 failures: %d, want 429", r.code)
	}
	if r := e.client("203.0.113.9").login("victor", victorPW); r.code != http.StatusSeeOther {
		t.Fatalf("victor from that address: %d, want 303", r.code)
	}

	// The window passes; alice may log in again.
	e.clock.Add(10 * time.Minute)
	r = fresh.login("alice", alicePW)
	if r.code != http.StatusTooManyRequests {
		t.Fatalf("alice 10 min later: %d, want still 429", r.code)
	}
	r.has(t, "Try again in 5 min")
	e.clock.Add(5*time.Minute + time.Second)
	if r := fresh.login("alice", alicePW); r.code != http.StatusSeeOther {
		t.Fatalf("alice after the window: %d, want 303", r.code)
	}
}

func TestCookieFlags(t *testing.T) {
	for _, tc := range []struct {
		url, name string
		secure    bool
	}{
		{"", "foghorn", false},
		{"https://foghorn.example.net", "__Host-foghorn", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.url)
			c := e.client("")
			// The jar would keep Secure cookies from plain http; read the header.
			r := c.get("/login")
			tok := c.csr
			req, _ := http.NewRequest("POST", e.srv.URL+"/login", strings.NewReader(url.Values{"csrf": {tok}, "name": {"alice"}, "password": {alicePW}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			for _, ck := range r.h.Values("Set-Cookie") {
				req.Header.Add("Cookie", strings.SplitN(ck, ";", 2)[0])
			}
			res := c.do(req)
			if res.code != http.StatusSeeOther {
				t.Fatalf("login: %d\n%s", res.code, res.body)
			}
			var sess *http.Cookie
			for _, ck := range (&http.Response{Header: res.h}).Cookies() {
				if ck.Name == tc.name {
					sess = ck
				}
			}
			if sess == nil {
				t.Fatalf("no %s cookie in %q", tc.name, res.h.Values("Set-Cookie"))
			}
			if !sess.HttpOnly || sess.SameSite != http.SameSiteStrictMode || sess.Path != "/" || sess.Secure != tc.secure || sess.Domain != "" {
				t.Errorf("session cookie %+v: want HttpOnly, SameSite=Strict, Path=/, Secure=%v, no Domain", sess, tc.secure)
			}
			if len(sess.Value) < 40 {
				t.Errorf("session id %q is too short to be unguessable", sess.Value)
			}
		})
	}
}

func TestLogout(t *testing.T) {
	e := newEnv(t, "")
	c := e.client("")
	c.mustLogin("alice", alicePW)
	u, _ := url.Parse(e.srv.URL)
	old := c.c.Jar.Cookies(u)

	if r := c.post("/logout", url.Values{}); r.code != http.StatusForbidden {
		t.Fatalf("logout without token: %d, want 403", r.code)
	}
	r := c.post("/logout", url.Values{"csrf": {c.csr}})
	if r.code != http.StatusSeeOther || r.h.Get("Location") != "/login" {
		t.Fatalf("logout: %d %q", r.code, r.h.Get("Location"))
	}
	if r := c.get("/"); r.code != http.StatusSeeOther {
		t.Fatalf("GET / after logout: %d, want 303 to login", r.code)
	}
	// The old cookie, replayed, is dead on the server too.
	replay := e.client("")
	replay.c.Jar.SetCookies(u, old)
	if r := replay.get("/"); r.code != http.StatusSeeOther {
		t.Fatalf("replayed session cookie after logout: %d, want 303 to login", r.code)
	}
}

func TestConfigChangesApplyToSessions(t *testing.T) {
	e := newEnv(t, "")
	c := e.client("")
	c.mustLogin("alice", alicePW)

	// A reload that makes alice a viewer takes her buttons away at once.
	cfg := *e.cfg.Load()
	cfg.People = append(cfg.People[:0:0], cfg.People...)
	cfg.People[0].Role = "viewer"
	e.cfg.Store(&cfg)
	r := c.get("/")
	r.has(t, "alice · viewer")
	if strings.Contains(r.body, "Ack #1") {
		t.Error("a viewer is shown the ack button")
	}
	if r := c.post("/incidents/1/ack", url.Values{"csrf": {c.csr}}); r.code != http.StatusForbidden {
		t.Fatalf("ack after demotion: %d, want 403", r.code)
	}

	// A new password ends her sessions.
	h, _ := bcrypt.GenerateFromPassword([]byte("a new password"), bcrypt.MinCost)
	cfg2 := cfg
	cfg2.People = append(cfg.People[:0:0], cfg.People...)
	cfg2.People[0].PasswordHash = string(h)
	e.cfg.Store(&cfg2)
	if r := c.get("/"); r.code != http.StatusSeeOther {
		t.Fatalf("GET / after a password change: %d, want 303 to login", r.code)
	}
}

func TestHashPassword(t *testing.T) {
	t.Parallel() // two hashes at the real cost: seconds under -race
	if _, err := HashPassword("short"); err == nil {
		t.Error("a 5-character password was accepted")
	}
	if _, err := HashPassword(strings.Repeat("x", 73)); err == nil {
		t.Error("a password longer than bcrypt reads was accepted")
	}
	h, err := HashPassword("long enough")
	if err != nil {
		t.Fatal(err)
	}
	if bcrypt.CompareHashAndPassword([]byte(h), []byte("long enough")) != nil {
		t.Error("the hash does not verify its password")
	}
	if c, _ := bcrypt.Cost([]byte(h)); c != hashCost {
		t.Errorf("cost %d, want %d", c, hashCost)
	}
}

func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{
		"":                     "/",
		"/incidents/3":         "/incidents/3",
		"//evil.example/x":     "/",
		"/\\evil.example":      "/",
		"https://evil.example": "/",
		"/login":               "/",
		"javascript:alert(1)":  "/",
		"/?a=b":                "/?a=b",
	} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}
