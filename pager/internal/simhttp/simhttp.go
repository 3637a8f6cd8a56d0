// Package simhttp is the plumbing the stand-in servers (twiliosim, ntfysim,
// pushoversim, telegramsim) share: a loopback HTTP server's lifecycle, with
// a context that Close cancels so that hung requests and webhooks in flight
// return, and the common fault injection. What each vendor answers stays in
// its own package.
package simhttp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"time"
)

// Server serves one stand-in's handler from Start until Close.
type Server struct {
	name    string // the stand-in's package, prefix of errors and logs
	handler http.Handler
	log     *slog.Logger // nil: no logs

	ctx    context.Context // canceled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	closed bool
	srv    *http.Server
	done   chan struct{}
	url    string
}

// NewServer returns a server for h that is not listening yet; name
// ("twiliosim") prefixes its errors, and log, when not nil, gets a line
// when it starts and any error serving.
func NewServer(name string, h http.Handler, log *slog.Logger) *Server {
	s := &Server{name: name, handler: h, log: log}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s
}

// Start listens on addr ("127.0.0.1:0" picks a free port) and serves until
// Close. It returns the base URL.
func (s *Server) Start(addr string) (string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("%s: listen on %s: %w", s.name, addr, err)
	}
	s.mu.Lock()
	if s.closed || s.srv != nil {
		s.mu.Unlock()
		ln.Close()
		return "", fmt.Errorf("%s: Start after Close or a second Start", s.name)
	}
	s.srv = &http.Server{Handler: s.handler, ReadHeaderTimeout: 10 * time.Second}
	s.done = make(chan struct{})
	s.url = "http://" + ln.Addr().String()
	srv, done, base := s.srv, s.done, s.url
	s.mu.Unlock()
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) && s.log != nil {
			s.log.Error(s.name+": serve", "err", err)
		}
	}()
	if s.log != nil {
		s.log.Info(s.name+": serving", "url", base)
	}
	return base, nil
}

// URL is the base URL Start returned, "" before.
func (s *Server) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.url
}

// Context is canceled when Close begins: whatever the stand-in does on its
// own (webhooks, long polls, scheduled work) watches it.
func (s *Server) Context() context.Context { return s.ctx }

// Go runs fn in a goroutine that Close waits for; fn must return soon
// after ctx is done. It does nothing once Close has begun.
func (s *Server) Go(fn func(ctx context.Context)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		fn(s.ctx)
	}()
}

// Hold keeps r unanswered until its client gives up or Close begins.
func (s *Server) Hold(r *http.Request) {
	select {
	case <-r.Context().Done():
	case <-s.ctx.Done():
	}
}

// Close cancels Context (so that hung requests return), stops the server
// if Start was used — gracefully, waiting up to 5 s for handlers still
// running, then abruptly — and waits for the goroutines of Go. It is safe
// to call more than once.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	srv, done := s.srv, s.done
	s.mu.Unlock()

	s.cancel() // first, so that hung requests and webhooks in flight return
	var err error
	if srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err = srv.Shutdown(ctx); err != nil {
			err = srv.Close()
		}
		cancel()
		<-done
	}
	s.wg.Wait()
	if err != nil {
		return fmt.Errorf("%s: close server: %w", s.name, err)
	}
	return nil
}

// Fault makes a stand-in's API misbehave, for retry and outage tests. The
// zero value is healthy.
type Fault struct {
	Status int     // HTTP status of a failed request: 500 (default), 429, 503...
	Next   int     // fail the next Next requests
	Rate   float64 // then fail this share (0..1) of them
	Hang   bool    // hold every request until the client gives up

	// AcceptHang is the share of create requests (an SMS, a call, a
	// publish) that are carried out and then never answered: the client
	// times out not knowing it went, as when a connection dies after the
	// vendor accepted.
	AcceptHang float64
}

// FailStatus is the status of a failed request when a fault sets none.
func FailStatus(status int) int {
	if status == 0 {
		return http.StatusInternalServerError
	}
	return status
}

// Faults is the fault in force; the zero value is healthy and ready.
type Faults struct {
	mu sync.Mutex
	f  Fault
}

// Set replaces the fault in force; Set(Fault{}) heals.
func (x *Faults) Set(f Fault) {
	f.Status = FailStatus(f.Status)
	x.mu.Lock()
	x.f = f
	x.mu.Unlock()
}

// Get returns the fault in force, with Next counting down.
func (x *Faults) Get() Fault {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.f
}

// Decide draws the fate of one request: hang, or a status to fail it with
// (0: none). A hang takes none of Next.
func (x *Faults) Decide() (status int, hang bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	f := &x.f
	switch {
	case f.Hang:
		return 0, true
	case f.Next > 0:
		f.Next--
		return f.Status, false
	case f.Rate > 0 && rand.Float64() < f.Rate:
		return f.Status, false
	}
	return 0, false
}

// Inject is Decide for one request of srv: a status to fail it with, or
// hung=true once it has held the request until the client (or Close) gave
// up — which is how an unreachable API looks to a client with a timeout.
func (x *Faults) Inject(r *http.Request, srv *Server) (status int, hung bool) {
	status, hang := x.Decide()
	if hang {
		srv.Hold(r)
		return 0, true
	}
	return status, false
}

// AcceptHang draws whether a request that was carried out is then held
// unanswered.
func (x *Faults) AcceptHang() bool {
	p := x.Get().AcceptHang
	return p > 0 && rand.Float64() < p
}
