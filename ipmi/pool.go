package ipmi

import (
	"fmt"
	"sync"

	"foghorn/configs"
)

// Pool keeps one BMC per ipmi target, so the probe and power actions share
// its session and its turn-taking. Safe for concurrent use.
type Pool struct {
	mu     sync.Mutex
	bmcs   map[string]*BMC
	closed bool
	wg     sync.WaitGroup // closes of replaced clients
}

// NewPool makes an empty pool.
func NewPool() *Pool { return &Pool{bmcs: map[string]*BMC{}} }

// Get returns the BMC for target t (kind "ipmi"), made on first use. When
// t's address, credentials or settings changed since, the old client is
// closed and a new one made.
func (p *Pool) Get(t *configs.Target) (*BMC, error) {
	if t == nil || t.Kind != "ipmi" {
		return nil, fmt.Errorf("ipmi: %v is not a target of kind \"ipmi\"", targetName(t))
	}
	o := OptionsFor(t)
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, fmt.Errorf("ipmi %s: %w", t.Name, ErrClosed)
	}
	b, ok := p.bmcs[t.Name]
	if ok && b.Options() == o {
		p.mu.Unlock()
		return b, nil
	}
	nb := New(t.Name, o)
	p.bmcs[t.Name] = nb
	if ok {
		// Closing cuts a call in progress short; not on the caller's time.
		// Started under the lock, so that Close waits for it.
		p.wg.Go(func() { b.Close() })
	}
	p.mu.Unlock()
	return nb, nil
}

func targetName(t *configs.Target) string {
	if t == nil {
		return "no target"
	}
	return fmt.Sprintf("%q", t.Name)
}

// Update follows a config (re)load, given the BMC targets (kind ipmi)
// in force: clients of targets that are gone, are no longer BMCs, or
// changed settings are closed. Clients for new targets are made on first
// use.
func (p *Pool) Update(bmcs []*configs.Target) {
	want := map[string]Options{}
	for _, t := range bmcs {
		want[t.Name] = OptionsFor(t)
	}
	var stale []*BMC
	p.mu.Lock()
	for name, b := range p.bmcs {
		if o, ok := want[name]; !ok || o != b.Options() {
			stale = append(stale, b)
			delete(p.bmcs, name)
		}
	}
	p.mu.Unlock()
	closeAll(stale)
}

// Close closes every client and refuses new ones; for shutdown.
func (p *Pool) Close() error {
	p.mu.Lock()
	p.closed = true
	all := make([]*BMC, 0, len(p.bmcs))
	for name, b := range p.bmcs {
		all = append(all, b)
		delete(p.bmcs, name)
	}
	p.mu.Unlock()
	closeAll(all)
	p.wg.Wait()
	return nil
}

// closeAll closes in parallel: each may wait up to a second for a dead BMC.
func closeAll(bs []*BMC) {
	var wg sync.WaitGroup
	for _, b := range bs {
		wg.Go(func() { b.Close() })
	}
	wg.Wait()
}
