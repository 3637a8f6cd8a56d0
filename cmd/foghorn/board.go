package main

import (
	"sort"
	"sync"
	"time"

	"foghorn/configs"
	"foghorn/probes"
)

// board is the latest word on each target, for /status and the API.
type board struct {
	mu sync.Mutex
	m  map[string]*entry
}

type entry struct {
	Target  string    `json:"target"`
	Kind    string    `json:"kind"`
	State   string    `json:"state"`
	Since   time.Time `json:"since"`
	Status  string    `json:"status"`
	Msg     string    `json:"msg"`
	At      time.Time `json:"at"`
	Latency float64   `json:"latency_seconds"`
}

func newBoard() *board { return &board{m: map[string]*entry{}} }

func (b *board) get(name string) *entry {
	e, ok := b.m[name]
	if !ok {
		e = &entry{Target: name, State: string(probes.Pending)}
		b.m[name] = e
	}
	return e
}

func (b *board) result(r probes.Result) {
	b.mu.Lock()
	defer b.mu.Unlock()
	e := b.get(r.Target)
	e.Kind, e.Status, e.Msg, e.At, e.Latency = r.Kind, r.Status.String(), r.Msg, r.Start, r.Duration.Seconds()
}

func (b *board) change(c probes.Change) {
	b.mu.Lock()
	defer b.mu.Unlock()
	e := b.get(c.Target)
	e.State, e.Since = string(c.To), c.Result.Start
}

// keep drops targets no longer in the config.
func (b *board) keep(cfg *configs.Config) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for name := range b.m {
		if cfg.Target(name) == nil {
			delete(b.m, name)
		}
	}
}

func (b *board) list() []entry {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]entry, 0, len(b.m))
	for _, e := range b.m {
		out = append(out, *e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Target < out[j].Target })
	return out
}

// state is what is known of a target now ("up", "down", "pending"), for
// the power guard's quorum check.
func (b *board) state(name string) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if e, ok := b.m[name]; ok {
		return e.State
	}
	return string(probes.Pending)
}
