package main

import (
	"context"
	"sync"
	"time"

	"foghorn/cmd/foghorn/dashboard"
)

// dashSource feeds the dashboard from the daemon: the classifier's targets and
// foghorn's word on itself.
type dashSource struct{ d *daemon }

func (s dashSource) Targets() []dashboard.Target {
	list := s.d.targetList()
	out := make([]dashboard.Target, len(list))
	for i, e := range list {
		out[i] = dashboard.Target{Name: e.Target, Kind: e.Kind, State: e.State, Since: e.Since, Status: e.Status,
			Msg: e.Msg, At: e.At, Latency: time.Duration(e.Latency * float64(time.Second))}
	}
	return out
}

func (s dashSource) Health() dashboard.Health {
	h := s.d.health.get()
	h.Version = version
	h.Cluster = s.d.clusterHealth()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	h.EngineLag, _ = s.d.eng.Lag(ctx)
	if g := s.d.guard; g != nil {
		for _, l := range g.Leases() {
			h.Leases = append(h.Leases, dashboard.Lease{ID: l.ID, Target: l.Target, Holder: l.Holder, Reason: l.Reason, State: l.State, Until: l.EndsAt})
		}
		for _, t := range g.Tickets() {
			h.Waiting = append(h.Waiting, dashboard.Lease{ID: t.ID, Target: t.Target, Holder: t.Holder, Reason: t.Why, State: "waiting", Until: t.Until})
		}
	}
	return h
}

// health is what the daemon notes about itself as it runs.
type health struct {
	mu sync.Mutex
	h  dashboard.Health
}

func (h *health) get() dashboard.Health {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.h
}

func (h *health) update(fn func(*dashboard.Health)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	fn(&h.h)
}
