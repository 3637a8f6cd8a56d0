// Package dashboard is foghorn's web dashboard: what is down, the open
// incidents and their timelines, who is on call, silences and foghorn's own
// health, with buttons to ack, resolve, escalate, snooze, silence and power
// a host through the guard, and the audit trail. It is
// server-rendered for a phone at 3 a.m.: no build step, no CDN, a little JS.
//
// People log in with the name and bcrypt password_hash of their [[person]];
// "viewer" may look, "responder" may act. Sessions live in memory, so a
// restart of foghorn logs everyone out: they are cheap to redo, and nothing
// about an incident depends on them.
package dashboard

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"time"

	fclock "foghorn/clock"
	"foghorn/escalation"
)

// Engine is what the dashboard reads from and asks of the escalation
// engine; *escalation.Engine implements it as is.
type Engine interface {
	Open(ctx context.Context) ([]escalation.Incident, error)
	Get(ctx context.Context, id int64) (*escalation.Incident, error)
	Timeline(ctx context.Context, id int64) ([]escalation.Entry, error)
	Ack(ctx context.Context, id int64, by, via string) (*escalation.Incident, error)
	Resolve(ctx context.Context, id int64, by, via string) (*escalation.Incident, error)
	Escalate(ctx context.Context, id int64, from int, by string) (*escalation.Incident, error)
	Snooze(ctx context.Context, id int64, d time.Duration, by string) (*escalation.Incident, error)
	Silence(ctx context.Context, s escalation.Silence) (int64, error)
	Silences(ctx context.Context, t time.Time) ([]escalation.Silence, error)
	OnCall(ctx context.Context, t time.Time, next int) (map[string][]escalation.Shift, error)
}

var _ Engine = (*escalation.Engine)(nil)

// Source is the running daemon's live view: the latest word on each
// target and foghorn's own health. Both are called on every page view.
type Source interface {
	Targets() []Target
	Health() Health
}

// Target is the latest state of one target. Group, site and kind come from
// the config; this is only what the probes said.
type Target struct {
	Name    string
	Kind    string
	State   string    // "up", "down", "pending"
	Since   time.Time // when State began
	Status  string    // last result: "OK", "WARNING", "CRITICAL", "UNKNOWN"
	Msg     string    // last result's message
	At      time.Time // when the last result came
	Latency time.Duration
}

// Health is foghorn's word on itself.
type Health struct {
	Version string
	Started time.Time
	// Blind lists recent windows in which the canaries failed too, so
	// foghorn could not see the site; End is zero while it lasts.
	Blind      []Window
	LastCanary time.Time // last time the canaries said the outside is reachable
	Channels   []Channel
	Reloaded   time.Time // last config load that took
	ReloadErr  string    // why the last reload was refused, if it was after Reloaded
	ReloadAt   time.Time // when that refusal happened
	EngineLag  time.Duration
	// Cluster is this node and the peers it has seen, with [cluster];
	// nil for a single foghorn.
	Cluster []Peer
	// Leases are the maintenance leases standing, and Waiting the
	// requests queued for one (who holds or wants what, until when).
	Leases, Waiting []Lease
}

// Lease is one maintenance lease, or a request waiting for one.
type Lease struct {
	ID     int64 // the lease's id, or the waiting request's ticket
	Target string
	Holder string
	Reason string // for a waiter: why it waits
	State  string // "held", "overrun", "waiting"
	Until  time.Time
}

// Peer is one foghorn of the cluster as this node sees it.
type Peer struct {
	Name  string
	Self  bool
	Up    bool
	Since time.Time // up since, or unreachable since
}

// Window is a span of time; a zero End means it has not ended.
type Window struct {
	Start, End time.Time
}

// Channel is one notification channel's record.
type Channel struct {
	Name        string // "sms", "voice", "email"
	Sent        int
	Failed      int
	LastError   string
	LastFailure time.Time
}

// Options wire a Dashboard. Engine, Source and Config are required.
type Options struct {
	Engine Engine
	Source Source
	// Config returns the config in force; it is called per request so a
	// reload (new people, roles, passwords, targets) applies at once.
	Config func() *Config
	Log    *slog.Logger
	// ClientIP names the client for the login rate limit. The default is
	// the connection's address; behind a reverse proxy, return the
	// address the proxy vouches for instead.
	ClientIP func(r *http.Request) string
	// SessionTTL is how long a session lasts without use (default 7 days:
	// someone on call for a week should not type a password when woken).
	SessionTTL time.Duration
	// Clock is the clock (sessions, lockouts, what "now" is on a page);
	// nil is the real one.
	Clock fclock.Clock
	// Audit reads the audit trail for the audit page (nil: the page says
	// it has none).
	Audit Audit
	// Power does power actions from an incident's page, behind the guard;
	// nil offers none.
	Power Power
}

// Dashboard serves the pages. Make one with New.
type Dashboard struct {
	o        Options
	log      *slog.Logger
	views    *views
	sessions *sessions
	limit    *limiter
	hist     *history
	xo       *http.CrossOriginProtection
}

// New checks o and parses the embedded templates.
func New(o Options) (*Dashboard, error) {
	if o.Engine == nil || o.Source == nil || o.Config == nil {
		return nil, fmt.Errorf("dashboard: Engine, Source and Config are required")
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	o.Clock = fclock.Or(o.Clock)
	if o.ClientIP == nil {
		o.ClientIP = remoteIP
	}
	if o.SessionTTL <= 0 {
		o.SessionTTL = 7 * 24 * time.Hour
	}
	v, err := parseViews()
	if err != nil {
		return nil, err
	}
	xo := http.NewCrossOriginProtection()
	if u, err := url.Parse(o.Config().PublicURL); err == nil && u.Scheme != "" && u.Host != "" {
		// Behind a proxy the Host header may not be the public name.
		if err := xo.AddTrustedOrigin(u.Scheme + "://" + u.Host); err != nil {
			return nil, fmt.Errorf("dashboard: public_url: %w", err)
		}
	}
	return &Dashboard{
		o:        o,
		log:      o.Log.With("component", "dashboard"),
		views:    v,
		sessions: newSessions(o.SessionTTL),
		limit:    newLimiter(5, 15*time.Minute),
		hist:     newHistory(30),
		xo:       xo,
	}, nil
}

// Routes mounts the dashboard on mux: the pages under "/" and the
// embedded files under /static/. The mux must not have its own "GET /{$}".
func (d *Dashboard) Routes(mux *http.ServeMux) {
	mux.Handle("GET /{$}", d.headers(d.page(d.index)))
	mux.Handle("GET /login", d.headers(http.HandlerFunc(d.loginPage)))
	mux.Handle("POST /login", d.headers(http.HandlerFunc(d.loginPost)))
	mux.Handle("POST /logout", d.headers(http.HandlerFunc(d.logout)))
	mux.Handle("GET /incidents/{id}", d.headers(d.page(d.incidentPage)))
	mux.Handle("POST /incidents/{id}/{action}", d.headers(d.act(d.incidentAction)))
	mux.Handle("GET /incidents/{id}/power", d.headers(d.page(d.powerPage)))
	mux.Handle("POST /incidents/{id}/power", d.headers(d.act(d.powerPost)))
	mux.Handle("GET /audit", d.headers(d.page(d.auditPage)))
	mux.Handle("POST /silences", d.headers(d.act(d.addSilence)))
	mux.Handle("GET /static/", staticHandler())
}

// Record keeps a probe result for the target's sparkline. Call it for
// every result; it is cheap and safe from any goroutine.
func (d *Dashboard) Record(target string, ok bool, latency time.Duration, at time.Time) {
	d.hist.add(target, sample{ok: ok, latency: latency, at: at})
}

func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// headers sets what every dashboard response carries: no framing, no
// inline script, nothing cached that a shared phone could show later.
func (d *Dashboard) headers(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
			"frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "same-origin")
		hd.Set("Cache-Control", "no-store")
		h.ServeHTTP(w, r)
	})
}
