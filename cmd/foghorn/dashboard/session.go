package dashboard

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"sync"
	"time"
)

// maxAge caps a session however often it is used, so a stolen cookie does
// not live for ever.
const maxAge = 30 * 24 * time.Hour

// session is one logged-in browser. The map is keyed by a hash of the
// cookie, so what sits in memory cannot be replayed as a cookie.
type session struct {
	person  string
	csrf    string // the token every form of this session must carry
	hashFP  string // fingerprint of the password hash at login: a new password ends the session
	created time.Time
	seen    time.Time
	flash   string // one message for the next page ("#3 acked")
}

type sessions struct {
	mu  sync.Mutex
	m   map[string]*session
	ttl time.Duration
}

func newSessions(ttl time.Duration) *sessions {
	return &sessions{m: map[string]*session{}, ttl: ttl}
}

// newToken is 256 random bits, URL-safe.
func newToken() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails: crypto/rand panics instead
	return base64.RawURLEncoding.EncodeToString(b)
}

func key(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// create starts a session for person and returns its cookie value.
func (s *sessions) create(person, hashFP string, now time.Time) (string, session) {
	tok := newToken()
	ss := &session{person: person, csrf: newToken(), hashFP: hashFP, created: now, seen: now}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.prune(now)
	s.m[key(tok)] = ss
	return tok, *ss
}

func (s *sessions) live(ss *session, now time.Time) bool {
	return now.Sub(ss.seen) < s.ttl && now.Sub(ss.created) < maxAge
}

// get returns a copy of the session for token and marks it used.
func (s *sessions) get(token string, now time.Time) (session, bool) {
	if token == "" {
		return session{}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ss, ok := s.m[key(token)]
	if !ok {
		return session{}, false
	}
	if !s.live(ss, now) {
		delete(s.m, key(token))
		return session{}, false
	}
	ss.seen = now
	return *ss, true
}

// drop ends the session for token.
func (s *sessions) drop(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, key(token))
}

// setFlash leaves msg for the session's next page.
func (s *sessions) setFlash(token, msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ss, ok := s.m[key(token)]; ok {
		ss.flash = msg
	}
}

// popFlash takes the session's message, once.
func (s *sessions) popFlash(token string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss, ok := s.m[key(token)]
	if !ok {
		return ""
	}
	msg := ss.flash
	ss.flash = ""
	return msg
}

// prune drops expired sessions; it runs on every login, which is often
// enough to keep the map as small as the set of people's browsers.
func (s *sessions) prune(now time.Time) {
	for k, ss := range s.m {
		if !s.live(ss, now) {
			delete(s.m, k)
		}
	}
}

// Cookie names. The __Host- prefix (https only) makes the browser refuse
// the cookie unless it is Secure, for this host only and path "/", so a
// sibling subdomain cannot plant or shadow it.
func cookieName(secure bool) string {
	if secure {
		return "__Host-foghorn"
	}
	return "foghorn"
}

func loginCookieName(secure bool) string {
	if secure {
		return "__Host-foghorn-login"
	}
	return "foghorn-login"
}

// secure reports whether cookies must be Secure: the public URL is https,
// or this request came over TLS.
func (d *Dashboard) secure(r *http.Request) bool {
	u := d.o.Config().PublicURL
	return r.TLS != nil || len(u) >= 8 && u[:8] == "https://"
}

func (d *Dashboard) setCookie(w http.ResponseWriter, r *http.Request, name, value string, age time.Duration) {
	c := &http.Cookie{
		Name: name, Value: value, Path: "/",
		HttpOnly: true, Secure: d.secure(r), SameSite: http.SameSiteStrictMode,
	}
	if age < 0 {
		c.MaxAge = -1
	} else {
		c.MaxAge = int(age.Seconds())
	}
	http.SetCookie(w, c)
}

func cookie(r *http.Request, name string) string {
	c, err := r.Cookie(name)
	if err != nil {
		return ""
	}
	return c.Value
}
