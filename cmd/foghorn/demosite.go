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

	"foghorn/configs"
)

// demoSite is the pretend datacenter the demo config probes: every path
// /NAME answers "up" until someone POSTs /down/NAME, so a demo user can
// break a router or a host and watch foghorn react. It is wired as the
// config says: a target with a parent answers only while its parent does
// (a parent group: while at least min_up of its members do), so taking
// both routers down cuts off the hosts behind them, as on a real site.
type demoSite struct {
	srv  *http.Server
	mu   sync.Mutex
	down map[string]bool
	via  map[string]demoRoute // target -> what it is reached through
}

// demoRoute is what a demo target is reached through: its parent target,
// or the members of its parent group of which min of them must answer.
type demoRoute struct {
	through []string
	min     int
}

func startDemoSite(addr string, cfg *configs.Config, log *slog.Logger) (*demoSite, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("demo site: %w", err)
	}
	s := &demoSite{down: map[string]bool{}, via: demoRoutes(cfg)}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /down/{name}", func(w http.ResponseWriter, r *http.Request) { s.set(w, r, true) })
	mux.HandleFunc("POST /up/{name}", func(w http.ResponseWriter, r *http.Request) { s.set(w, r, false) })
	mux.HandleFunc("GET /{name}", func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		s.mu.Lock()
		down, cut := s.down[name], !s.reachable(name, 0)
		s.mu.Unlock()
		switch {
		case down:
			http.Error(w, "down", http.StatusServiceUnavailable)
		case cut:
			// No route to it: the connection dies without an answer,
			// as through a dead router (a host that answers is up).
			if hj, ok := w.(http.Hijacker); ok {
				if c, _, err := hj.Hijack(); err == nil {
					c.Close()
					return
				}
			}
			http.Error(w, "unreachable", http.StatusBadGateway)
		default:
			fmt.Fprintln(w, "up")
		}
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

// demoRoutes reads from the config what each target is reached through.
func demoRoutes(cfg *configs.Config) map[string]demoRoute {
	out := map[string]demoRoute{}
	if cfg == nil {
		return out
	}
	for _, t := range cfg.Targets {
		switch {
		case t.Parent == "" || t.Parent == t.Name:
		case cfg.Target(t.Parent) != nil: // a target of that name wins over a group, as in probes
			out[t.Name] = demoRoute{through: []string{t.Parent}, min: 1}
		case cfg.Group(t.Parent) != nil:
			g := cfg.Group(t.Parent)
			out[t.Name] = demoRoute{through: g.Members(), min: g.Need()}
		}
	}
	return out
}

// reachable reports whether name answers: it is not down and enough of
// what it is reached through answers. s.mu is held; depth stops a loop
// (which validation refuses anyway).
func (s *demoSite) reachable(name string, depth int) bool {
	if s.down[name] || depth > 16 {
		return false
	}
	r, ok := s.via[name]
	if !ok {
		return true
	}
	up := 0
	for _, p := range r.through {
		if s.reachable(p, depth+1) {
			up++
		}
	}
	return up >= r.min
}

// answers reports whether the site answers for name now.
func (s *demoSite) answers(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reachable(name, 0)
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
