package classify

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"
)

// keeper is the bookkeeping of the store's copy of the state: the rows
// are the classifier's state plus the kinds' memory, which the scheduler
// holds and hands over (Probes.Memory, Probes.Resume).
type keeper struct {
	mu      sync.Mutex
	loaded  bool
	lastMem map[string]string // memory as last written, by target
	gone    []string          // targets gone from the config, whose rows to delete
	saving  chan struct{}     // one save at a time, snapshot to commit: a later one never lands first

	quit  chan struct{}
	done  chan struct{}
	start sync.Once
	stop  sync.Once
}

func (k *keeper) init() {
	k.lastMem = map[string]string{}
	k.saving = make(chan struct{}, 1)
	k.quit, k.done = make(chan struct{}), make(chan struct{})
}

// first reports whether this is the first call.
func (k *keeper) first() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	f := !k.loaded
	k.loaded = true
	return f
}

func (k *keeper) forget(names ...string) {
	k.mu.Lock()
	k.gone = append(k.gone, names...)
	k.mu.Unlock()
}

// Start runs the classifier's clock work (Tick) each second and, with
// Options.Store, the batched saving, until Stop.
func (c *Classifier) Start() {
	c.keep.start.Do(func() { go c.loop() })
}

// Stop ends what Start runs and saves the state a last time; call it
// after the scheduler's Stop, so the last results are in.
func (c *Classifier) Stop() {
	c.keep.stop.Do(func() {
		close(c.keep.quit)
		c.keep.start.Do(func() { close(c.keep.done) }) // never started
		<-c.keep.done
		c.save(true)
	})
}

func (c *Classifier) loop() {
	defer close(c.keep.done)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case <-c.keep.quit:
			return
		case <-t.C:
		}
		c.Tick()
		full := time.Since(last) >= c.o.Checkpoint
		if full {
			last = time.Now()
		}
		c.save(full)
	}
}

// memory is the kind's memory of a target, from the scheduler.
func (c *Classifier) memory(name string) (map[string]string, bool) {
	c.mu.Lock()
	p := c.probes
	c.mu.Unlock()
	if p == nil {
		return nil, false
	}
	return p.Memory(name)
}

// restore loads the persisted state, and gives the kinds' memory to the
// scheduler for the runs about to start.
func (c *Classifier) restore() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rows, err := LoadStates(ctx, c.o.Store)
	if err != nil {
		c.log.Error("cannot restore target state; starting fresh (targets already down will page again)", "err", err)
		c.reconcile()
		return
	}
	mems := map[string]map[string]string{}
	var gone []string
	c.keep.mu.Lock()
	for _, r := range rows {
		if len(r.Memory) > 0 {
			mems[r.Target] = r.Memory
		}
		c.keep.lastMem[r.Target] = memJSON(r.Memory)
		if !c.knows(r.Target) {
			gone = append(gone, r.Target)
		}
	}
	c.keep.mu.Unlock()
	c.keep.forget(gone...)
	c.mu.Lock()
	p := c.probes
	c.mu.Unlock()
	if p != nil {
		p.Resume(mems)
	}
	c.Restore(rows)
	c.log.Info("target state restored", "targets", len(rows))
	c.reconcile()
}

// reconcile gives the classifier the incidents open downstream, if told
// how to list them.
func (c *Classifier) reconcile() {
	if c.o.Open == nil {
		return
	}
	open, err := c.o.Open()
	if err != nil {
		c.log.Error("cannot list the open incidents to reconcile the restored state with; an incident opened just before the stop may stay open until resolved by hand",
			"err", err)
		return
	}
	c.Reconcile(open)
}

// writeThrough bounds a save on the way of an alert, the wait for a save
// in progress included: a store that hangs must not hold the page for
// long (it is logged, and the rows are written at a later save).
const writeThrough = 5 * time.Second

// save writes the targets whose state changed and, when full, those whose
// memory changed since last written, in one transaction.
func (c *Classifier) save(full bool) { c.saveWithin(full, 30*time.Second) }

func (c *Classifier) saveWithin(full bool, limit time.Duration) {
	if c.o.Store == nil {
		return
	}
	k := &c.keep
	deadline := time.Now().Add(limit)
	wait := time.NewTimer(limit)
	defer wait.Stop()
	select {
	case k.saving <- struct{}{}:
		defer func() { <-k.saving }()
	case <-wait.C:
		c.log.Error("target state not saved: an earlier save is stuck in the store; will try again", "waited", limit)
		return
	}
	var names []string
	if full {
		c.mu.Lock()
		all := sortedKeys(c.ts)
		c.mu.Unlock()
		for _, name := range all {
			m, ok := c.memory(name)
			if !ok {
				continue
			}
			k.mu.Lock()
			changed := memJSON(m) != k.lastMem[name]
			k.mu.Unlock()
			if changed {
				names = append(names, name)
			}
		}
	}
	rows := c.saved(false, names...)
	k.mu.Lock()
	gone := k.gone
	k.gone = nil
	k.mu.Unlock()
	if len(rows) == 0 && len(gone) == 0 {
		return
	}
	mems := map[string]map[string]string{}
	for i := range rows {
		if m, ok := c.memory(rows[i].Target); ok {
			rows[i].Memory = m
		}
		mems[rows[i].Target] = rows[i].Memory
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	if err := SaveStates(ctx, c.o.Store, rows, gone...); err != nil {
		c.log.Error("cannot save target state; will try again", "targets", len(rows), "err", err)
		for _, r := range rows {
			c.unsave(r.Target)
		}
		k.forget(gone...)
		return
	}
	k.mu.Lock()
	for name, m := range mems {
		k.lastMem[name] = memJSON(m)
	}
	for _, name := range gone {
		delete(k.lastMem, name)
	}
	k.mu.Unlock()
}

func memJSON(m map[string]string) string {
	if len(m) == 0 {
		return "{}"
	}
	j, err := json.Marshal(m)
	if err != nil {
		return fmt.Sprint(m)
	}
	return string(j)
}
