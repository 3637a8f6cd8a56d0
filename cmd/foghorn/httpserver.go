package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/net/netutil"

	"foghorn/configs"
)

// The one HTTP listener takes Twilio's webhooks, Alertmanager, heartbeat
// pushes, the dashboard, the API and /metrics. Every connection costs a
// file descriptor, and so does every probe: idle or slow clients that
// are let hold connections take the descriptors the probes and canaries
// need, and foghorn goes blind (issue 11, point 7). So every phase of a
// request has a deadline, the number of connections has a cap sized from
// the fd limit after the probes' share, and when the cap is reached the
// connections doing nothing useful go first.
const (
	httpHeaderTimeout  = 10 * time.Second // from the first byte of a request to its last header
	httpIdleTimeout    = 30 * time.Second // a keep-alive connection between requests
	httpMaxHeaderBytes = 64 << 10
	httpMaxConns       = 1024 // the cap when descriptors are plenty
	httpMinConns       = 16   // the cap however few: acks must still come in
	// fdHeadroom is for what foghorn opens besides probes and HTTP
	// connections, beyond what is open when the cap is sized: more store
	// connections, Twilio and SMTP connections, DNS lookups.
	fdHeadroom = 48
	// shedAfter: at the cap, a request still sending its body after this
	// long is cut to make room (a real client sends a form in one go).
	shedAfter = 500 * time.Millisecond
)

// routeLimits bound one request's body and response.
type routeLimits struct {
	body    time.Duration // to read the whole body, from the end of the headers
	maxBody int64         // a backstop; handlers keep their own, smaller caps
	write   time.Duration // to run the handler and write the response
}

// limitsFor picks a request's limits by its path. Bodies are small
// everywhere but Alertmanager's batches; the dashboard and /metrics get
// time to write to slow readers; a test page waits for its ack.
func limitsFor(r *http.Request) routeLimits {
	p := r.URL.Path
	switch {
	case p == "/api/v1/alertmanager":
		return routeLimits{body: 30 * time.Second, maxBody: 8 << 20, write: time.Minute}
	case p == "/api/v1/test-page":
		return routeLimits{body: 5 * time.Second, maxBody: 64 << 10, write: 16 * time.Minute} // waits up to 15m for the ack
	case strings.HasPrefix(p, "/twilio/"), strings.HasPrefix(p, "/api/"), strings.HasPrefix(p, "/heartbeat/"):
		return routeLimits{body: 5 * time.Second, maxBody: 64 << 10, write: 30 * time.Second}
	default: // dashboard, /metrics, /status.txt, /healthz
		return routeLimits{body: 5 * time.Second, maxBody: 64 << 10, write: time.Minute}
	}
}

// fdBudget is how the process's file descriptors are shared.
type fdBudget struct {
	limit  int // RLIMIT_NOFILE after raising the soft limit to the hard one
	open   int // open when the budget was made
	probes int // what every target and canary probing at once needs
	http   int // the cap on HTTP connections
	short  int // descriptors missing for the probes' share (0: none)
}

// raiseFDLimit raises the soft RLIMIT_NOFILE to the hard limit: the soft
// default (often 1024) is what the hard limit allows us to outgrow.
func raiseFDLimit() (int, error) {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 0, fmt.Errorf("read RLIMIT_NOFILE: %w", err)
	}
	if r.Cur < r.Max {
		want := r
		want.Cur = r.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err != nil {
			return int(min(r.Cur, 1<<30)), fmt.Errorf("raise RLIMIT_NOFILE from %d to the hard limit %d: %w", r.Cur, r.Max, err)
		}
		r = want
	}
	return int(min(r.Cur, 1<<30)), nil
}

// openFDs counts this process's open descriptors (-1 if it cannot).
func openFDs() int {
	es, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(es) - 1 // ReadDir's own
}

// probeFDs is what the config's probes hold when every one runs at once,
// which is what a site going down does: every probe waits its timeout.
func probeFDs(cfg *configs.Config) int {
	n := len(cfg.SelfCheck.Canaries)
	for _, t := range cfg.Targets {
		switch t.Kind {
		case "heartbeat":
		case "command":
			n += 6 // stdout and stderr pipes, /dev/null, and the exec status pipe while it starts
		case "ipmi":
			n += 2 // the session kept in the pool, and a probe's own
		default:
			n++ // icmp, tcp, tls, http (no keep-alive), dns, snmp: one socket
		}
	}
	return n
}

// newFDBudget sizes the HTTP connection cap: what is left of the limit
// after what is open now, the headroom and the probes' share, at most
// httpMaxConns. Too few descriptors leave HTTP httpMinConns, said loudly.
func newFDBudget(limit, open int, cfg *configs.Config) fdBudget {
	b := fdBudget{limit: limit, open: max(open, 0), probes: probeFDs(cfg)}
	left := b.limit - b.open - fdHeadroom - b.probes
	b.http = min(httpMaxConns, max(left, httpMinConns))
	b.short = max(httpMinConns-left, 0)
	return b
}

// logFDs says how the descriptors are shared, and what to do when they
// are too few.
func (b fdBudget) log(log *slog.Logger, targets int) {
	attrs := []any{"limit", b.limit, "open", b.open, "headroom", fdHeadroom, "probes", b.probes, "targets", targets, "http_max_conns", b.http}
	if b.short > 0 {
		log.Error("too few file descriptors for the targets: raise the hard RLIMIT_NOFILE (systemd LimitNOFILE=)",
			append(attrs, "need_at_least", b.limit+b.short)...)
		return
	}
	log.Info("file descriptors", attrs...)
}

// checkFDs warns on reload when the new config's probes need more than
// the share left to them at start (the HTTP cap is set at start).
func (b fdBudget) checkFDs(log *slog.Logger, cfg *configs.Config) {
	if need := probeFDs(cfg); need > b.limit-b.open-fdHeadroom-b.http {
		log.Warn("the reloaded targets need more file descriptors than the probes' share; restart foghorn to size the HTTP cap again, or raise LimitNOFILE",
			"probes", need, "limit", b.limit, "http_max_conns", b.http)
	}
}

// httpServer raises the fd limit, shares the descriptors and builds the
// HTTP server on ln with its limits.
func (d *daemon) httpServer(ln net.Listener, cfg *configs.Config) (*http.Server, net.Listener) {
	limit, err := raiseFDLimit()
	if err != nil {
		d.log.Warn("cannot raise the file descriptor limit; sizing the HTTP connection cap from the current one", "err", err)
	}
	d.fds = newFDBudget(limit, openFDs(), cfg)
	d.fds.log(d.log, len(cfg.Targets))
	return newHTTPServer(ln, d.mux(), d.fds, d.log, d.m.reg)
}

// newHTTPServer wraps ln and h in the limits above. The server logs
// through log; its connection figures go on reg.
func newHTTPServer(ln net.Listener, h http.Handler, b fdBudget, log *slog.Logger, reg prometheus.Registerer) (*http.Server, net.Listener) {
	g := &connGuard{max: b.http, idle: map[net.Conn]time.Time{}, silent: map[net.Conn]time.Time{}, bodies: map[*bodyDeadline]struct{}{},
		shedding: map[net.Conn]bool{}, shed: map[string]float64{}, stop: make(chan struct{})}
	reg.MustRegister(g)
	srv := &http.Server{
		Handler:           g.limit(h),
		ReadHeaderTimeout: httpHeaderTimeout,
		IdleTimeout:       httpIdleTimeout,
		MaxHeaderBytes:    httpMaxHeaderBytes,
		ConnState:         g.state,
		ConnContext:       func(ctx context.Context, c net.Conn) context.Context { return context.WithValue(ctx, connKey{}, c) },
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	// Per-route read and write deadlines are set by g.limit; ReadTimeout
	// and WriteTimeout stay zero, or a test page's wait would be cut.
	go g.tick()
	srv.RegisterOnShutdown(func() { close(g.stop) })
	return srv, netutil.LimitListener(ln, b.http)
}

// connGuard counts the HTTP connections and, when they reach the cap,
// closes the ones doing nothing useful: the longest idle keep-alive
// connection, else those silent or still trickling a body after
// shedAfter.
type connGuard struct {
	max    int
	mu     sync.Mutex
	open   int
	idle   map[net.Conn]time.Time     // since when each idle connection waits
	silent map[net.Conn]time.Time     // accepted, no request yet: since when
	bodies map[*bodyDeadline]struct{} // requests reading their body
	// shedding are connections closed to make room and already uncounted,
	// until the server reports them closed.
	shedding map[net.Conn]bool
	shed     map[string]float64 // connections closed to make room, by reason
	stop     chan struct{}
}

func (g *connGuard) state(c net.Conn, s http.ConnState) {
	g.mu.Lock()
	defer g.mu.Unlock()
	switch s {
	case http.StateNew:
		g.open++
		g.silent[c] = time.Now()
	case http.StateIdle:
		g.idle[c] = time.Now()
	case http.StateActive:
		delete(g.idle, c)
		delete(g.silent, c)
	case http.StateClosed, http.StateHijacked:
		delete(g.idle, c)
		delete(g.silent, c)
		if g.shedding[c] {
			delete(g.shedding, c) // uncounted when it was shed
		} else {
			g.open--
		}
	}
	if s == http.StateNew || s == http.StateIdle {
		g.makeRoom(time.Now())
	}
}

// makeRoom keeps one connection free at the cap, so a new client (Twilio
// with an ack) is served; g.mu is held.
func (g *connGuard) makeRoom(now time.Time) {
	if g.open < g.max {
		return
	}
	var oldest net.Conn
	var since time.Time
	for c, t := range g.idle {
		if oldest == nil || t.Before(since) {
			oldest, since = c, t
		}
	}
	if oldest != nil {
		delete(g.idle, oldest)
		g.drop(oldest, "idle") // the server sees a read error and drops it, as its own idle timeout does
		return
	}
	// No idle one: cut every connection that is late with its request
	// (Go's own Shutdown counts a silent one as idle after 5 s) and every
	// request waiting for its body. Closing the connection frees its slot
	// at once; a handler's read fails.
	for c, t := range g.silent {
		if now.Sub(t) >= shedAfter {
			delete(g.silent, c)
			g.drop(c, "silent")
		}
	}
	for bd := range g.bodies {
		if bd.reading && now.Sub(bd.start) >= shedAfter {
			delete(g.bodies, bd)
			g.drop(bd.conn, "slow_body")
		}
	}
}

// drop closes c to make room; g.mu is held.
func (g *connGuard) drop(c net.Conn, reason string) {
	g.shedding[c] = true
	g.open--
	g.shed[reason]++
	c.Close()
}

// tick makes room between connection events too: a body turns late
// without one.
func (g *connGuard) tick() {
	tk := time.NewTicker(shedAfter / 2)
	defer tk.Stop()
	for {
		select {
		case now := <-tk.C:
			g.mu.Lock()
			g.makeRoom(now)
			g.mu.Unlock()
		case <-g.stop:
			return
		}
	}
}

// bodyDeadline is one request whose body is not read to its end.
type bodyDeadline struct {
	conn    net.Conn
	start   time.Time
	reading bool // the handler waits in a Read: the client is what is slow
}

// connKey finds a request's connection in its context.
type connKey struct{}

// untrack tells the guard while the handler waits in a Read, and when
// the body is over (EOF, or an error such as the deadline).
type untrack struct {
	io.ReadCloser
	g  *connGuard
	bd *bodyDeadline
}

func (u *untrack) Read(p []byte) (int, error) {
	u.g.mu.Lock()
	u.bd.reading = true
	u.g.mu.Unlock()
	n, err := u.ReadCloser.Read(p)
	u.g.mu.Lock()
	u.bd.reading = false
	if err != nil {
		delete(u.g.bodies, u.bd)
	}
	u.g.mu.Unlock()
	return n, err
}

// limit sets the route's deadlines and body cap on each request.
func (g *connGuard) limit(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l := limitsFor(r)
		rc := http.NewResponseController(w)
		now := time.Now()
		rc.SetWriteDeadline(now.Add(l.write))
		if r.ContentLength > l.maxBody {
			// Refused unread; the deadline now keeps the server from
			// draining it for keep-alive at the client's pace.
			rc.SetReadDeadline(now)
			w.Header().Set("Connection", "close")
			http.Error(w, fmt.Sprintf("request body over %d bytes", l.maxBody), http.StatusRequestEntityTooLarge)
			return
		}
		if r.ContentLength != 0 {
			// Only with a body: without one the server is already reading
			// ahead for the next request, and a deadline there would cancel
			// this one's context. When the body is read, the server clears
			// the deadline itself.
			rc.SetReadDeadline(now.Add(l.body))
			bd := &bodyDeadline{start: now}
			bd.conn, _ = r.Context().Value(connKey{}).(net.Conn)
			g.mu.Lock()
			if bd.conn != nil {
				g.bodies[bd] = struct{}{}
			}
			g.mu.Unlock()
			defer func() {
				g.mu.Lock()
				delete(g.bodies, bd)
				g.mu.Unlock()
			}()
			r.Body = &untrack{ReadCloser: http.MaxBytesReader(w, r.Body, l.maxBody), g: g, bd: bd}
		}
		h.ServeHTTP(w, r)
	})
}

var (
	httpConnsDesc = prometheus.NewDesc("foghorn_http_connections", "Open HTTP connections.", nil, nil)
	httpMaxDesc   = prometheus.NewDesc("foghorn_http_connections_max", "The cap on HTTP connections, sized from the fd limit after the probes' share.", nil, nil)
	httpShedDesc  = prometheus.NewDesc("foghorn_http_connections_shed_total", "Connections closed at the cap to make room, by reason (idle, silent, slow_body).", []string{"reason"}, nil)
)

func (g *connGuard) Describe(ch chan<- *prometheus.Desc) {
	ch <- httpConnsDesc
	ch <- httpMaxDesc
	ch <- httpShedDesc
}

func (g *connGuard) Collect(ch chan<- prometheus.Metric) {
	g.mu.Lock()
	defer g.mu.Unlock()
	ch <- prometheus.MustNewConstMetric(httpConnsDesc, prometheus.GaugeValue, float64(g.open))
	ch <- prometheus.MustNewConstMetric(httpMaxDesc, prometheus.GaugeValue, float64(g.max))
	for _, reason := range []string{"idle", "silent", "slow_body"} {
		ch <- prometheus.MustNewConstMetric(httpShedDesc, prometheus.CounterValue, g.shed[reason], reason)
	}
}
