package dashboard

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"

	"foghorn/configs"
)

// hashCost makes one guess cost about a quarter second of CPU: nothing
// for a person logging in, a lot for someone trying a word list.
const hashCost = 12

// HashPassword returns the bcrypt hash to put in a person's password_hash
// (`foghorn passwd` prints it).
func HashPassword(pw string) (string, error) {
	switch {
	case len(pw) < 8:
		return "", fmt.Errorf("password too short: use at least 8 characters")
	case len(pw) > 72:
		return "", fmt.Errorf("password too long: bcrypt uses only the first 72 bytes; use at most 72")
	}
	h, err := bcrypt.GenerateFromPassword([]byte(pw), hashCost)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return string(h), nil
}

// user is the person behind a request, as the config says now: a role
// changed or a person removed by a reload applies to open sessions at once.
type user struct {
	name  string
	role  string
	loc   *time.Location
	token string // the session cookie
	csrf  string
}

func (u *user) responder() bool { return u.role == "responder" }

func fingerprint(hash string) string {
	h := sha256.Sum256([]byte(hash))
	return hex.EncodeToString(h[:8])
}

// current returns the logged-in user of r, if any.
func (d *Dashboard) current(r *http.Request) (*user, bool) {
	tok := cookie(r, cookieName(d.secure(r)))
	ss, ok := d.sessions.get(tok, d.o.Clock.Now())
	if !ok {
		return nil, false
	}
	p := d.o.Config().Person(ss.person)
	if p == nil || p.PasswordHash == "" || fingerprint(p.PasswordHash) != ss.hashFP {
		// Removed from the config, or a new password: log in again.
		d.sessions.drop(tok)
		return nil, false
	}
	loc, err := time.LoadLocation(p.TimeZone)
	if err != nil {
		loc = time.Local
	}
	return &user{name: p.Name, role: p.Role, loc: loc, token: tok, csrf: ss.csrf}, true
}

// page wraps a GET handler that needs a logged-in user of any role.
func (d *Dashboard) page(h func(w http.ResponseWriter, r *http.Request, u *user)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, ok := d.current(r)
		if !ok {
			http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		h(w, r, u)
	})
}

// act wraps a state-changing POST handler: it runs only for a logged-in
// responder whose form carries the session's CSRF token.
func (d *Dashboard) act(h func(w http.ResponseWriter, r *http.Request, u *user)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		u, ok := d.current(r)
		if !ok {
			http.Redirect(w, r, "/login", http.StatusSeeOther)
			return
		}
		if !d.csrfOK(r, u.csrf) {
			d.refuse(w, r, u, http.StatusForbidden, "This form has expired",
				"The page you pressed the button on is out of date, or the request did not come from this dashboard. Nothing was changed. Reload the page and try again.")
			return
		}
		if !u.responder() {
			d.log.Warn("viewer tried to act", "person", u.name, "path", r.URL.Path, "ip", d.o.ClientIP(r))
			d.refuse(w, r, u, http.StatusForbidden, "Read-only: you are a viewer",
				fmt.Sprintf("%s has the viewer role, which can see the dashboard but not act on it. Nothing was changed. "+
					"To ack, resolve or silence, a responder must do it, or the config must give you role = \"responder\".", u.name))
			return
		}
		d.log.Info("dashboard action", "person", u.name, "path", r.URL.Path, "ip", d.o.ClientIP(r))
		h(w, r, u)
	})
}

// loginPage shows the form. Its CSRF token is a double-submit cookie: there
// is no session yet to hold one.
func (d *Dashboard) loginPage(w http.ResponseWriter, r *http.Request) {
	if _, ok := d.current(r); ok {
		http.Redirect(w, r, safeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
		return
	}
	d.renderLogin(w, r, http.StatusOK, "", "")
}

func (d *Dashboard) renderLogin(w http.ResponseWriter, r *http.Request, code int, name, problem string) {
	tok := cookie(r, loginCookieName(d.secure(r)))
	if tok == "" {
		tok = newToken()
		d.setCookie(w, r, loginCookieName(d.secure(r)), tok, time.Hour)
	}
	d.render(w, code, "login", &loginView{
		pageView: pageView{Title: "Log in", CSRF: tok},
		Name:     name, Problem: problem, Next: safeNext(r.FormValue("next")),
	})
}

func (d *Dashboard) loginPost(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := d.xo.Check(r); err != nil || !sameToken(r.PostFormValue(csrfField), cookie(r, loginCookieName(d.secure(r)))) {
		d.log.Warn("login form without a valid csrf token refused", "ip", d.o.ClientIP(r))
		d.setCookie(w, r, loginCookieName(d.secure(r)), "", -1)
		d.refuse(w, r, nil, http.StatusForbidden, "This login form has expired",
			"Reload the login page and try again.")
		return
	}
	now := d.o.Clock.Now()
	name := strings.TrimSpace(r.PostFormValue("name"))
	ip := d.o.ClientIP(r)
	nameKey := "name:" + strings.ToLower(truncate(name, 64))
	keys := []string{"ip:" + ip, nameKey}
	if why, ok := d.limit.begin(now, keys...); !ok {
		d.refuseLogin(w, r, now, name, ip, why)
		return
	}
	cfg := d.o.Config()
	p, reason, err := d.checkCapped(r.Context(), cfg, name, r.PostFormValue("password"))
	if err != nil {
		// Not checked at all: the guess does not count.
		d.limit.end(d.o.Clock.Now(), false, keys...)
		d.log.Warn("login not checked: too many logins being checked at once", "name", name, "ip", ip, "err", err)
		w.Header().Set("Retry-After", "10")
		d.refuse(w, r, nil, http.StatusServiceUnavailable, "Too many logins at once",
			"The dashboard is checking many logins right now. Nothing was counted against you: try again in a few seconds.")
		return
	}
	if p == nil {
		locked, until := d.limit.end(d.o.Clock.Now(), true, keys...)
		d.log.Warn("login failed", "name", name, "ip", ip, "reason", reason)
		for _, k := range locked {
			// One line when a lock starts; each refused try logs its own.
			kind, who, _ := strings.Cut(k, ":") // "name" or "ip"
			d.log.Warn("login locked: too many wrong passwords", kind, who,
				"failures", d.limit.max, "until", until.UTC().Format(time.RFC3339), "for", d.limit.window)
		}
		d.renderLogin(w, r, http.StatusUnauthorized, name, "Wrong name or password.")
		return
	}
	d.limit.end(d.o.Clock.Now(), false, keys...)
	if old := cookie(r, cookieName(d.secure(r))); old != "" {
		d.sessions.drop(old) // a fresh id at every login: no session fixation
	}
	tok, _ := d.sessions.create(p.Name, fingerprint(p.PasswordHash), now)
	d.setCookie(w, r, cookieName(d.secure(r)), tok, maxAge)
	d.setCookie(w, r, loginCookieName(d.secure(r)), "", -1)
	d.limit.reset(nameKey)
	d.log.Info("login", "person", p.Name, "role", p.Role, "ip", ip)
	http.Redirect(w, r, safeNext(r.PostFormValue("next")), http.StatusSeeOther)
}

// refuseLogin answers a login the limiter would not let through: locked,
// saying until when, or too many guesses for the name already in flight.
func (d *Dashboard) refuseLogin(w http.ResponseWriter, r *http.Request, now time.Time, name, ip string, why refusal) {
	whom := "this address"
	if kind, _, _ := strings.Cut(why.key, ":"); kind == "name" {
		whom = fmt.Sprintf("the name %q", truncate(name, 64))
	}
	if why.busy {
		d.log.Warn("login refused: guesses already being checked", "name", name, "ip", ip, "limited", why.key)
		w.Header().Set("Retry-After", "5")
		d.refuse(w, r, nil, http.StatusTooManyRequests, "Too many logins at once",
			fmt.Sprintf("Several passwords for %s are being checked right now. Try again in a few seconds.", whom))
		return
	}
	wait := why.until.Sub(now)
	min := int(math.Ceil(wait.Minutes()))
	until := why.until.UTC().Format("15:04 MST")
	d.log.Warn("login refused: too many failures", "name", name, "ip", ip, "limited", why.key,
		"until", why.until.UTC().Format(time.RFC3339), "retry_in", wait.Round(time.Second))
	w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
	d.refuse(w, r, nil, http.StatusTooManyRequests, "Too many failed logins",
		fmt.Sprintf("Logins for %s are locked until %s after %d wrong passwords, even with the right one. Try again in %d min.",
			whom, until, d.limit.max, min))
}

// bcryptSlots caps the password checks running at once, for every
// dashboard of the process: a bcrypt check is a quarter second of a whole
// core, and 120 at once left /healthz waiting 0.4 s (median) behind them.
// Half the cores (at least one) leaves the rest to probes, the engine and
// every other request; a login waits its turn instead.
var bcryptSlots = make(chan struct{}, max(1, runtime.GOMAXPROCS(0)/2))

// bcryptWait bounds the wait for a slot: past it the login is answered
// "busy" rather than holding a connection for ever.
const bcryptWait = 10 * time.Second

// checkCapped is check in one of the bcrypt slots; err if no slot came
// free in time or the client went away.
func (d *Dashboard) checkCapped(ctx context.Context, cfg *Config, name, pw string) (*configs.Person, string, error) {
	t := time.NewTimer(bcryptWait)
	defer t.Stop()
	select {
	case bcryptSlots <- struct{}{}:
	case <-t.C:
		return nil, "", fmt.Errorf("no password check free within %s", bcryptWait)
	case <-ctx.Done():
		return nil, "", ctx.Err()
	}
	defer func() { <-bcryptSlots }()
	p, reason := d.check(cfg, name, pw)
	return p, reason, nil
}

// check returns the person if pw is theirs, else why not (for the log
// only: the page says the same for every failure).
func (d *Dashboard) check(cfg *Config, name, pw string) (*configs.Person, string) {
	p := cfg.Person(name)
	if p == nil || p.PasswordHash == "" {
		// Spend the same time as a real check, so response times do not
		// tell which names exist.
		bcrypt.CompareHashAndPassword(dummyHash(cfg), []byte(pw))
		if p == nil {
			return nil, "no such person"
		}
		return nil, "person has no password_hash (set one with foghorn passwd)"
	}
	err := bcrypt.CompareHashAndPassword([]byte(p.PasswordHash), []byte(pw))
	switch {
	case err == nil:
		return p, ""
	case errors.Is(err, bcrypt.ErrMismatchedHashAndPassword):
		return nil, "wrong password"
	default:
		d.log.Error("a password_hash is not a bcrypt hash; set it with foghorn passwd", "person", p.Name, "err", err)
		return nil, "password_hash is not a bcrypt hash"
	}
}

var dummies sync.Map // cost -> []byte

// dummyHash is a hash of nothing anyone types, at the cost the config's
// own hashes use, so a failed lookup takes as long as a wrong password.
func dummyHash(cfg *Config) []byte {
	cost := hashCost
	for _, p := range cfg.People {
		if c, err := bcrypt.Cost([]byte(p.PasswordHash)); err == nil {
			cost = c
			break
		}
	}
	if h, ok := dummies.Load(cost); ok {
		return h.([]byte)
	}
	h, _ := bcrypt.GenerateFromPassword([]byte(newToken()), cost)
	dummies.Store(cost, h)
	return h
}

func (d *Dashboard) logout(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	u, ok := d.current(r)
	if !ok {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	if !d.csrfOK(r, u.csrf) {
		d.refuse(w, r, u, http.StatusForbidden, "This form has expired", "Reload the page and press log out again.")
		return
	}
	d.sessions.drop(u.token)
	d.setCookie(w, r, cookieName(d.secure(r)), "", -1)
	d.log.Info("logout", "person", u.name, "ip", d.o.ClientIP(r))
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// safeNext keeps a post-login redirect on this site: a path, never
// "//evil.example" or a URL with a scheme.
func safeNext(s string) string {
	if !strings.HasPrefix(s, "/") || strings.HasPrefix(s, "//") || strings.ContainsAny(s, "\\\r\n") {
		return "/"
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "" || u.Host != "" || u.Path == "/login" {
		return "/"
	}
	return s
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
