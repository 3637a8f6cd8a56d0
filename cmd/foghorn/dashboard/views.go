package dashboard

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"sort"
	"strings"
	"time"

	"foghorn/escalation"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// pages are the templates rendered as whole pages; each is parsed with
// the layout and the shared partials.
var pages = []string{"index", "incident", "login", "message", "audit", "power"}

type views struct {
	t map[string]*template.Template
}

// staticVersion is a hash of each embedded file, put in its URL so a new
// foghorn's CSS is fetched at once while an unchanged one stays cached.
var staticVersion = func() map[string]string {
	out := map[string]string{}
	fs.WalkDir(staticFS, "static", func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		b, err := staticFS.ReadFile(p)
		if err != nil {
			return err
		}
		h := sha256.Sum256(b)
		out[strings.TrimPrefix(p, "static/")] = hex.EncodeToString(h[:6])
		return nil
	})
	return out
}()

var funcs = template.FuncMap{
	"static": func(name string) string { return "/static/" + name + "?v=" + staticVersion[name] },
	"upper":  strings.ToUpper,
}

func parseViews() (*views, error) {
	v := &views{t: map[string]*template.Template{}}
	for _, p := range pages {
		t, err := template.New(p).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/partials.html", "templates/"+p+".html")
		if err != nil {
			return nil, fmt.Errorf("dashboard: template %s: %w", p, err)
		}
		v.t[p] = t
	}
	return v, nil
}

func staticHandler() http.Handler {
	sub, _ := fs.Sub(staticFS, "static")
	files := http.StripPrefix("/static/", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		if r.URL.Query().Get("v") != "" {
			w.Header().Set("Cache-Control", "public, max-age=86400, immutable")
		}
		files.ServeHTTP(w, r)
	})
}

// render writes a page; a template error is a bug, logged and shown as
// a bare 500 rather than half a page.
func (d *Dashboard) render(w http.ResponseWriter, code int, page string, data any) {
	var buf bytes.Buffer
	if err := d.views.t[page].ExecuteTemplate(&buf, "layout", data); err != nil {
		d.log.Error("cannot render page", "page", page, "err", err)
		http.Error(w, "foghorn: cannot render this page; see the log", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	w.Write(buf.Bytes())
}

// refuse shows a page that says what went wrong and what to do.
func (d *Dashboard) refuse(w http.ResponseWriter, r *http.Request, u *user, code int, title, msg string) {
	d.render(w, code, "message", &messageView{pageView: d.base(u, title), Message: msg})
}

// pageView is what the layout needs on every page.
type pageView struct {
	Title  string
	Who    string
	Role   string
	CanAct bool
	CSRF   string
	Flash  string
}

func (d *Dashboard) base(u *user, title string) pageView {
	v := pageView{Title: title}
	if u != nil {
		v.Who, v.Role, v.CanAct, v.CSRF = u.name, u.role, u.responder(), u.csrf
		v.Flash = d.sessions.popFlash(u.token)
	}
	return v
}

// card is one incident as the shared "incident" template draws it.
type card struct {
	incidentView
	CSRF    string
	CanAct  bool
	Back    string
	Full    bool // the incident's own page: timeline open
	Snoozes []string
}

// Card wraps inc for the "incident" template; back is where its buttons
// return to.
func (p pageView) Card(inc incidentView, back string, full bool) card {
	return card{incidentView: inc, CSRF: p.CSRF, CanAct: p.CanAct, Back: back, Full: full, Snoozes: snoozeFor}
}

type loginView struct {
	pageView
	Name    string
	Next    string
	Problem string
}

type messageView struct {
	pageView
	Message string
}

type indexView struct {
	pageView
	Down, Up, Pending int
	Unacked           int
	Problems          []string // parts of the page that could not be read
	Incidents         []incidentView
	Groups            []groupView
	OnCall            []rotationView
	Silences          []silenceView
	Maintenance       []silenceView
	Health            healthView
	Silence           silenceForm
	Leases            []leaseView // held and waiting
}

type leaseView struct {
	What, Until string
	Bad         bool // overrun: the host did not come back
}

type incidentPageView struct {
	pageView
	Incident incidentView
	Silence  silenceForm
	Power    *powerForm // nil: no power action for this incident
}

// silenceForm is the "silence a target for a while" form.
type silenceForm struct {
	Targets  []string
	Selected string
	For      []string
	Back     string
}

type incidentView struct {
	ID         int64
	Short      int
	State      string
	Severity   string
	Summary    string
	Detail     string
	Labels     []string
	Opened     string
	OpenedAgo  string
	AckedBy    string
	Acked      string
	ResolvedBy string
	Resolved   string
	Snoozed    string
	Silenced   string
	Step       int // 1-based, as people count
	From       int // 0-based step the page showed, for an idempotent escalate
	Open       bool
	Timeline   []entryView
	TimelineOK bool
}

type entryView struct {
	At     string
	What   string
	Who    string
	Detail string
	Bad    bool
}

type groupView struct {
	Name       string
	Site       string
	Up, Down   int
	Total      int
	MinUp      int
	Bad        bool
	Targets    []targetView
	Incomplete bool // fewer than MinUp up
}

type targetView struct {
	Name     string
	Kind     string
	State    string
	Since    string
	Status   string
	Msg      string
	At       string
	Latency  string
	Spark    template.HTML
	Silenced string // "silenced until 20:00"
}

type rotationView struct {
	Name  string
	Now   string
	Until string
	Next  string
}

type silenceView struct {
	What    string
	Until   string
	By      string
	Comment string
}

type healthView struct {
	Version    string
	Up         string
	BlindNow   string // "" when the canaries are fine
	Blind      []string
	LastCanary string
	Channels   []channelView
	Reloaded   string
	ReloadErr  string
	Lag        string
	Cluster    []peerView
	Bad        bool
}

type peerView struct {
	Text string
	Bad  bool
}

type channelView struct {
	Name      string
	Sent      int
	Failed    int
	LastError string
	When      string
}

// clock formats times for one reader: in their time zone, relative to now.
type clock struct {
	loc *time.Location
	now time.Time
}

func (c clock) at(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	t, now := t.In(c.loc), c.now.In(c.loc)
	y1, m1, d1 := t.Date()
	y2, m2, d2 := now.Date()
	switch {
	case y1 == y2 && m1 == m2 && d1 == d2:
		return t.Format("15:04")
	case now.Sub(t) < 6*24*time.Hour && t.Before(now) || t.Sub(now) < 6*24*time.Hour && t.After(now):
		return t.Format("Mon 15:04")
	default:
		return t.Format("2 Jan 15:04")
	}
}

func (c clock) ago(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	d := c.now.Sub(t)
	if d < time.Minute {
		return "just now"
	}
	return span(d) + " ago"
}

// span writes a duration coarsely: "5m", "2h 5m", "3d 4h".
func span(d time.Duration) string {
	d = d.Round(time.Minute)
	switch {
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 24*time.Hour:
		if m := int(d.Minutes()) % 60; m != 0 {
			return fmt.Sprintf("%dh %dm", int(d.Hours()), m)
		}
		return fmt.Sprintf("%dh", int(d.Hours()))
	default:
		days := int(d.Hours()) / 24
		if h := int(d.Hours()) % 24; h != 0 {
			return fmt.Sprintf("%dd %dh", days, h)
		}
		return fmt.Sprintf("%dd", days)
	}
}

// what names timeline kinds the way a person woken at night reads them.
var what = map[string]string{
	"incident.open":             "opened",
	"incident.ack":              "acked",
	"incident.resolve":          "resolved",
	"incident.snooze":           "snoozed",
	"incident.escalate":         "escalated",
	"incident.escalate.ignored": "escalate ignored",
	"incident.severity":         "severity",
	"incident.silenced":         "silenced",
	"incident.unpaged":          "NOT PAGED",
	"silence.ended":             "silence ended",
	"ack.stale":                 "ack expired",
	"snooze.end":                "snooze ended",
	"page.ratelimited":          "rate-limited",
	"page":                      "paged",
	"acked":                     "told: acked",
	"resolved":                  "told: resolved",
	"test":                      "test",
	"power.requested":           "power asked",
	"power.confirmed":           "power confirmed",
	"power.confirm_refused":     "power confirm refused",
	"power.cancelled":           "power cancelled",
	"power.refused":             "power REFUSED",
	"power.allowed":             "power allowed",
	"power.done":                "power done",
	"power.failed":              "power FAILED",
	"power.status":              "power status",
	"power.step":                "automated power",
	"power.step_result":         "automated power result",
	"silence.add":               "silence added",
	"override.add":              "override added",
	"config.reload":             "config reloaded",
	"config.refused":            "config REFUSED",
	"note":                      "note",
}

func (c clock) incident(inc *escalation.Incident, tl []escalation.Entry, tlOK bool) incidentView {
	v := incidentView{
		ID: inc.ID, Short: inc.Short, State: inc.State, Severity: string(inc.Severity), Summary: inc.Summary, Detail: inc.Detail,
		Opened: c.at(inc.Opened), OpenedAgo: c.ago(inc.Opened), AckedBy: inc.AckedBy, Acked: c.at(inc.Acked),
		ResolvedBy: inc.ResolvedBy, Resolved: c.at(inc.Resolved),
		Silenced: inc.Silenced, Step: inc.Step + 1, From: inc.Step, Open: inc.State != escalation.Resolved, TimelineOK: tlOK,
	}
	if !inc.Snoozed.IsZero() && inc.Snoozed.After(c.now) {
		v.Snoozed = c.at(inc.Snoozed)
	}
	for k, val := range inc.Labels {
		v.Labels = append(v.Labels, k+"="+val)
	}
	sort.Strings(v.Labels)
	for _, e := range tl {
		w := what[e.Kind]
		if w == "" {
			w = e.Kind
		}
		bad := strings.Contains(e.Detail, ": failed") || strings.Contains(e.Detail, ": abandoned") || e.Kind == "incident.unpaged"
		v.Timeline = append(v.Timeline, entryView{At: c.at(e.At), What: w, Who: e.Actor, Detail: e.Detail, Bad: bad})
	}
	return v
}
