package main

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"
)

// demoSite is the pretend datacenter the demo config probes: every path
// /NAME answers "up" until someone POSTs /down/NAME, so a demo user can
// break a router or a host and watch foghorn react.
type demoSite struct {
	srv  *http.Server
	mu   sync.Mutex
	down map[string]bool
}

func startDemoSite(addr string, log *slog.Logger) (*demoSite, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("demo site: %w", err)
	}
	s := &demoSite{down: map[string]bool{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /down/{name}", func(w http.ResponseWriter, r *http.Request) { s.set(w, r, true) })
	mux.HandleFunc("POST /up/{name}", func(w http.ResponseWriter, r *http.Request) { s.set(w, r, false) })
	mux.HandleFunc("GET /{name}", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		down := s.down[r.PathValue("name")]
		s.mu.Unlock()
		if down {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "up")
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		var names []string
		for n, d := range s.down {
			if d {
				names = append(names, n)
			}
		}
		sort.Strings(names)
		fmt.Fprintf(w, "demo site; down: %s\ntake one down: curl -X POST http://%s/down/NAME\n", strings.Join(names, ", "), addr)
	})
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go s.srv.Serve(ln)
	log.Info("demo site serving pretend targets", "listen", addr, "break one", "curl -X POST http://"+addr+"/down/rt1")
	return s, nil
}

func (s *demoSite) setDown(name string, down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down[name] = down
}

func (s *demoSite) set(w http.ResponseWriter, r *http.Request, down bool) {
	s.setDown(r.PathValue("name"), down)
	fmt.Fprintf(w, "%s is now %s\n", r.PathValue("name"), map[bool]string{true: "down", false: "up"}[down])
}

func (s *demoSite) Close() error { return s.srv.Close() }
