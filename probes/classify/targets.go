package classify

import (
	"slices"
	"strings"
	"time"

	"foghorn/probes"
)

// TargetState is what is known of one target now. The classifier is the
// one owner of it: rise and fall over the target's results, resumed from
// the store at the first Configure, so a target that was down before a
// restart is down at once after it, and one that was up is up, without
// waiting for a probe to change anything.
type TargetState struct {
	Target string
	Kind   string
	State  State     // Pending until rise or fall decide, unless restored
	Since  time.Time // when State began: the first result of the streak that made it
	// Last is the latest result: this run's, or the one restored with the
	// state (Status, Msg and Start only, no Duration). Its Start is zero
	// while nothing was heard of the target.
	Last probes.Result
}

// Known reports whether anything is known of the target: a result, or a
// state restored from the store.
func (t TargetState) Known() bool { return t.State != Pending || !t.Last.Start.IsZero() }

// Targets is the state of every configured target, by name. It is empty
// before the first Configure, which restores what the store holds.
func (c *Classifier) Targets() []TargetState {
	c.mu.Lock()
	out := make([]TargetState, 0, len(c.ts))
	for _, k := range c.ts {
		out = append(out, k.view())
	}
	c.mu.Unlock()
	slices.SortFunc(out, func(a, b TargetState) int { return strings.Compare(a.Target, b.Target) })
	return out
}

// Target is the state of one configured target; false if it is not in
// the config (or before the first Configure).
func (c *Classifier) Target(name string) (TargetState, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if k := c.ts[name]; k != nil {
		return k.view(), true
	}
	return TargetState{}, false
}

// State is what is known of one target now; Pending for a target not
// judged yet, or not in the config.
func (c *Classifier) State(name string) State {
	c.mu.Lock()
	defer c.mu.Unlock()
	if k := c.ts[name]; k != nil {
		return k.state
	}
	return Pending
}

// view is k as TargetState; c.mu is held.
func (k *track) view() TargetState {
	v := TargetState{Target: k.name, State: k.state, Since: k.since, Last: k.last}
	if k.t != nil {
		v.Kind = k.t.Kind
	}
	if v.Last.Kind == "" {
		v.Last.Kind = v.Kind // a restored result does not keep its kind
	}
	return v
}
