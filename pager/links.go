package pager

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"foghorn/configs"
	"foghorn/escalation"
)

// Signed one-use links let a push notification's button act for the
// person it was sent to, without a login: the link carries the incident,
// the person, the action, the channel, an expiry and a random id, and an
// HMAC-SHA256 over all of them keyed by meta('link_key'), which is made
// once with crypto/rand so links survive a restart. A link acts once: its
// id goes into used_links as it is checked (one INSERT: two presses race
// for it and one wins), so a replay, a retried request or a leaked link
// after its use does nothing. Only POST acts: link previewers, chat apps
// and mail scanners GET every link they see, so a GET shows a page with
// the button to press instead.

// LinkAckPath is where an Ack link points, under [server] public_url.
const LinkAckPath = "/links/ack"

// linkAck is the action of an Ack link (the only one so far).
const linkAck = "ack"

func init() {
	families["links"] = family{"foghorn_pager_links_total",
		"Signed action links (ntfy's Ack button) by result (ok, already_acked, resolved, confirm_page, forged, expired, replayed, unknown_person, viewer, not_found, bad_request, error).",
		[]string{"result"}}
}

// link is one parsed action link.
type link struct {
	action   string
	incident int64
	person   string
	via      configs.Channel
	expires  time.Time
	id       string
	mac      string
}

// payload is what the MAC covers, each field on its own line: none may
// contain a line break (person names and channels cannot; the others are
// numbers and base64).
func (l link) payload() string {
	return strings.Join([]string{"foghorn-link-v1", l.action, strconv.FormatInt(l.incident, 10), l.person, string(l.via),
		strconv.FormatInt(l.expires.Unix(), 10), l.id}, "\n")
}

func (l link) sign(key []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(l.payload()))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (l link) valid(key []byte) bool {
	return hmac.Equal([]byte(l.sign(key)), []byte(l.mac))
}

func (l link) query() url.Values {
	return url.Values{"i": {strconv.FormatInt(l.incident, 10)}, "p": {l.person}, "c": {string(l.via)},
		"e": {strconv.FormatInt(l.expires.Unix(), 10)}, "n": {l.id}, "s": {l.mac}}
}

// parseLink reads a link's query; action is the path's.
func parseLink(action string, q url.Values) (link, error) {
	l := link{action: action, person: q.Get("p"), via: configs.Channel(q.Get("c")), id: q.Get("n"), mac: q.Get("s")}
	var err error
	if l.incident, err = strconv.ParseInt(q.Get("i"), 10, 64); err != nil {
		return l, errors.New("no incident")
	}
	e, err := strconv.ParseInt(q.Get("e"), 10, 64)
	if err != nil {
		return l, errors.New("no expiry")
	}
	l.expires = time.Unix(e, 0)
	for _, f := range []string{l.person, string(l.via), l.id, l.mac} {
		if f == "" || len(f) > 100 || strings.ContainsAny(f, "\n\r") {
			return l, errors.New("a field is missing or malformed")
		}
	}
	return l, nil
}

// linkTTL is how long a new link is good ([ntfy] link_ttl).
func linkTTL(st *state) time.Duration {
	if d := st.cfg.Ntfy.LinkTTL.Duration; d > 0 {
		return d
	}
	return configs.DefaultLinkTTL
}

// signLink makes a signed link for person to do action on incident,
// carried by channel via.
func (p *Pager) signLink(ctx context.Context, st *state, action string, incident int64, person string, via configs.Channel) (string, error) {
	if st.public == "" {
		return "", errors.New("no [server] public_url: phones cannot reach foghorn")
	}
	key, err := p.linkKey(ctx)
	if err != nil {
		return "", err
	}
	var id [16]byte
	rand.Read(id[:])
	l := link{action: action, incident: incident, person: person, via: via,
		expires: p.clock.Now().Add(linkTTL(st)).Truncate(time.Second), id: base64.RawURLEncoding.EncodeToString(id[:])}
	l.mac = l.sign(key)
	return st.public + "/links/" + action + "?" + l.query().Encode(), nil
}

// memLinks keeps a pager's key and used ids when it has no store (tests
// and tools): such links do not survive a restart.
var memLinks sync.Map // *Pager → *linkMem

type linkMem struct {
	mu   sync.Mutex
	key  []byte
	used map[string]time.Time
}

func (p *Pager) mem() *linkMem {
	v, _ := memLinks.LoadOrStore(p, &linkMem{})
	m := v.(*linkMem)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.key == nil {
		m.key = make([]byte, 32)
		rand.Read(m.key)
		m.used = map[string]time.Time{}
	}
	return m
}

// linkKey is the links' HMAC key, made once and kept in meta('link_key').
func (p *Pager) linkKey(ctx context.Context) ([]byte, error) {
	db := p.opts.Store
	if db == nil {
		return p.mem().key, nil
	}
	ctx = context.WithoutCancel(ctx)
	fresh := make([]byte, 32)
	rand.Read(fresh)
	// Two foghorns never share a data dir (its lock), but two first
	// pages may race here: the first key written wins, both read it.
	if _, err := db.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES ('link_key', ?) ON CONFLICT (key) DO NOTHING`,
		hex.EncodeToString(fresh)); err != nil {
		return nil, fmt.Errorf("links: store the key: %w", err)
	}
	var v string
	if err := db.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'link_key'`).Scan(&v); err != nil {
		return nil, fmt.Errorf("links: read the key: %w", err)
	}
	key, err := hex.DecodeString(v)
	if err != nil || len(key) < 32 {
		return nil, fmt.Errorf("links: meta link_key is damaged (%d bytes); delete the row and restart to make a new one (old links stop working)", len(key))
	}
	return key, nil
}

// useLink claims l's id; used is false with the time of the first use
// when it was claimed before.
func (p *Pager) useLink(ctx context.Context, l link, now time.Time) (ok bool, usedAt time.Time, err error) {
	db := p.opts.Store
	if db == nil {
		m := p.mem()
		m.mu.Lock()
		defer m.mu.Unlock()
		if at, dup := m.used[l.id]; dup {
			return false, at, nil
		}
		m.used[l.id] = now
		return true, time.Time{}, nil
	}
	ctx = context.WithoutCancel(ctx)
	db.ExecContext(ctx, `DELETE FROM used_links WHERE expires < ?`, now.Add(-time.Minute).UnixMilli()) // store/prune.go does it too
	res, err := db.ExecContext(ctx, `INSERT INTO used_links (id, at, expires) VALUES (?, ?, ?) ON CONFLICT (id) DO NOTHING`,
		l.id, now.UnixMilli(), l.expires.UnixMilli())
	if err != nil {
		return false, time.Time{}, fmt.Errorf("links: record use: %w", err)
	}
	if n, _ := res.RowsAffected(); n > 0 {
		return true, time.Time{}, nil
	}
	var at int64
	if err := db.QueryRowContext(ctx, `SELECT at FROM used_links WHERE id = ?`, l.id).Scan(&at); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return false, time.Time{}, fmt.Errorf("links: read use: %w", err)
	}
	return false, time.UnixMilli(at), nil
}

// giveBack forgets a use that did not act (the engine failed), so the
// person can press again.
func (p *Pager) giveBack(ctx context.Context, l link) {
	if db := p.opts.Store; db != nil {
		db.ExecContext(context.WithoutCancel(ctx), `DELETE FROM used_links WHERE id = ?`, l.id)
		return
	}
	m := p.mem()
	m.mu.Lock()
	delete(m.used, l.id)
	m.mu.Unlock()
}

// wasUsed reports when l was used, for the confirm page (which never
// claims it).
func (p *Pager) wasUsed(ctx context.Context, l link) (time.Time, bool) {
	if db := p.opts.Store; db != nil {
		var at int64
		if db.QueryRowContext(ctx, `SELECT at FROM used_links WHERE id = ?`, l.id).Scan(&at) == nil {
			return time.UnixMilli(at), true
		}
		return time.Time{}, false
	}
	m := p.mem()
	m.mu.Lock()
	defer m.mu.Unlock()
	at, ok := m.used[l.id]
	return at, ok
}

func (p *Pager) linkRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST "+LinkAckPath, p.linkPost)
	mux.HandleFunc("GET "+LinkAckPath, p.linkGet)
}

// linkCheck is what a GET and a POST check alike: the link is whole,
// signed by us, for a configured person, and not expired. It answers the
// refusal itself and returns false then.
func (p *Pager) linkCheck(w http.ResponseWriter, r *http.Request, st *state) (link, bool) {
	l, err := parseLink(linkAck, r.URL.Query())
	if err != nil {
		p.linkRefuse(w, r, http.StatusBadRequest, "bad_request", "This is not a whole foghorn link ("+err.Error()+"): it may have been cut when copied.", l)
		return l, false
	}
	key, err := p.linkKey(r.Context())
	if err != nil {
		p.log.Error("cannot check an action link", "err", err)
		p.stats.add("links", "error")
		http.Error(w, "foghorn cannot check links right now; ack by SMS or on the dashboard", http.StatusServiceUnavailable)
		return l, false
	}
	if !l.valid(key) {
		p.linkRefuse(w, r, http.StatusForbidden, "forged", "This link was not signed by this foghorn (altered, or from another installation). Nothing was done.", l)
		return l, false
	}
	per := st.cfg.person(l.person)
	if per == nil {
		p.linkRefuse(w, r, http.StatusForbidden, "unknown_person", fmt.Sprintf("%s is no longer in foghorn's config. Nothing was done.", l.person), l)
		return l, false
	}
	if per.Role == "viewer" { // as by SMS: a viewer reads, never acts
		p.linkRefuse(w, r, http.StatusForbidden, "viewer", fmt.Sprintf("%s is a viewer in foghorn's config and cannot ack. Nothing was done.", l.person), l)
		return l, false
	}
	if now := p.clock.Now(); !now.Before(l.expires) {
		p.linkRefuse(w, r, http.StatusGone, "expired", fmt.Sprintf("This link expired at %s UTC. Nothing was done: ack #%s by SMS or on the dashboard.",
			l.expires.UTC().Format("2006-01-02 15:04:05"), p.shortOf(r.Context(), l.incident)), l)
		return l, false
	}
	return l, true
}

func (p *Pager) linkRefuse(w http.ResponseWriter, r *http.Request, status int, result, text string, l link) {
	p.stats.add("links", result)
	p.log.Warn("action link refused: "+result, "method", r.Method, "remote", r.RemoteAddr, "status", status,
		"incident", l.incident, "person", l.person, "via", l.via)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	fmt.Fprintln(w, text)
}

// shortOf is the incident's number as people know it, or its id.
func (p *Pager) shortOf(ctx context.Context, id int64) string {
	if eng := p.engine(); eng != nil {
		if inc, err := eng.Get(ctx, id); err == nil && inc != nil {
			return strconv.Itoa(inc.Short)
		}
	}
	return strconv.FormatInt(id, 10)
}

// linkPost acts: the phone app's button, or the confirm page's.
func (p *Pager) linkPost(w http.ResponseWriter, r *http.Request) {
	st := p.state()
	l, ok := p.linkCheck(w, r, st)
	if !ok {
		return
	}
	eng := p.engine()
	if eng == nil {
		p.stats.add("links", "error")
		http.Error(w, "foghorn is starting; press again in a moment", http.StatusServiceUnavailable)
		return
	}
	ctx := context.WithoutCancel(r.Context()) // the engine tells the others in the background
	now := p.clock.Now()
	claimed, at, err := p.useLink(ctx, l, now)
	if err != nil {
		p.log.Error("cannot record an action link's use; not acting on it", "incident", l.incident, "person", l.person, "err", err)
		p.stats.add("links", "error")
		http.Error(w, "foghorn cannot record this link right now; press again, or ack by SMS", http.StatusServiceUnavailable)
		return
	}
	if !claimed {
		p.linkRefuse(w, r, http.StatusGone, "replayed", fmt.Sprintf("This link was already used at %s UTC; a link acts once. Nothing more was done.",
			at.UTC().Format("2006-01-02 15:04:05")), l)
		return
	}
	inc, err := eng.Ack(ctx, l.incident, l.person, string(l.via))
	text := fmt.Sprintf("#%s acknowledged by %s.", p.shortOf(ctx, l.incident), l.person)
	result := "ok"
	switch {
	case errors.Is(err, escalation.ErrResolved):
		result, text = "resolved", fmt.Sprintf("#%s is already resolved; nothing to ack.", p.shortOf(ctx, l.incident))
	case errors.Is(err, escalation.ErrNotFound):
		p.linkRefuse(w, r, http.StatusNotFound, "not_found", "No such incident (pruned, or from a wiped store). Nothing was done.", l)
		return
	case err != nil:
		p.giveBack(ctx, l)
		p.log.Error("ack by link failed", "incident", l.incident, "person", l.person, "err", err)
		p.stats.add("links", "error")
		http.Error(w, "foghorn could not ack just now; press again, or ack by SMS", http.StatusInternalServerError)
		return
	case inc != nil && inc.AckedBy != "" && inc.AckedBy != l.person:
		result, text = "already_acked", fmt.Sprintf("#%d was already acked by %s at %s: %s", inc.Short, inc.AckedBy,
			inc.Acked.In(p.personZone(st, l.person)).Format("15:04"), linkSummary(inc))
	case inc != nil:
		text = fmt.Sprintf("#%d acknowledged by %s: %s", inc.Short, l.person, linkSummary(inc))
	}
	p.stats.add("links", result)
	p.log.Info("action link", "result", result, "incident", l.incident, "person", l.person, "via", l.via)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintln(w, text)
}

var confirmPage = template.Must(template.New("confirm").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex"><title>foghorn: {{.Label}}</title>
<style>body{font-family:sans-serif;max-width:30em;margin:2em auto;padding:0 1em}button{font-size:1.4em;padding:.5em 1.5em}</style>
</head><body>
<h1>{{.Label}}</h1>
<p>{{.Summary}}</p>
<p>As <b>{{.Person}}</b>. This link works once, until {{.Until}} UTC.</p>
<form method="post"><button type="submit">{{.Label}}</button></form>
</body></html>
`))

// linkGet shows what the link would do, with a button that POSTs it.
// The form has no action: it posts to the very URL the browser shows,
// so a public_url with a path behind a proxy works alike.
func (p *Pager) linkGet(w http.ResponseWriter, r *http.Request) {
	st := p.state()
	l, ok := p.linkCheck(w, r, st)
	if !ok {
		return
	}
	if at, used := p.wasUsed(r.Context(), l); used {
		p.linkRefuse(w, r, http.StatusGone, "replayed", fmt.Sprintf("This link was already used at %s UTC; a link acts once.",
			at.UTC().Format("2006-01-02 15:04:05")), l)
		return
	}
	short, sum := p.shortOf(r.Context(), l.incident), ""
	if eng := p.engine(); eng != nil {
		if inc, err := eng.Get(r.Context(), l.incident); err == nil && inc != nil {
			sum = linkSummary(inc)
		}
	}
	p.stats.add("links", "confirm_page")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer") // the link is a capability
	confirmPage.Execute(w, map[string]string{"Label": "Ack #" + short, "Summary": sum, "Person": l.person,
		"Until": l.expires.UTC().Format("2006-01-02 15:04")})
}

// linkSummary is an incident's summary as a link's answer shows it.
func linkSummary(inc *escalation.Incident) string { return cut(clean(inc.Summary), 120) }
