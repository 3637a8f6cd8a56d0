package classify

import (
	"strings"
	"time"
)

// Reconcile squares the restored state with the incidents the escalation
// engine has open from probes: open is their keys ("target:NAME",
// "group:NAME"; others are ignored). Call it once, after Restore and
// before the first result.
//
// A kill can leave the two apart. The classifier writes a transition
// before its alert leaves (write-through), but the alert is on its way to
// the engine for a moment after, and state written by older versions, or
// when the store failed, may predate the alert that paged. So:
//
//   - open at the engine, unknown here: the restored state predates the
//     incident. Its targets are taken as unknown (pending) and must rise
//     or fall anew: the incident resolves once they are seen up (rise good
//     probes), and stays open, without paging again, while they are down;
//   - open here, not at the engine: the alert was lost between the store
//     and the engine. It is sent again, once: a page is never lost.
func (c *Classifier) Reconcile(open []string) {
	c.mu.Lock()
	now := c.now()
	engine := map[string]bool{}
	for _, key := range open {
		engine[key] = true
	}
	for _, key := range sortedKeys(c.incs) {
		if inc := c.incs[key]; !engine[key] && !inc.adopted {
			ev := c.render(inc)
			inc.sent, inc.sentKind = ev, inc.kind
			c.queue = append(c.queue, output{ev: &ev})
			c.log.Warn("incident open in the restored state but not at the escalation engine (its alert was lost in a stop); sending it again",
				"key", key)
		}
	}
	for _, key := range sortedKeys(engine) {
		if c.incs[key] != nil {
			continue
		}
		kind, name, _ := strings.Cut(key, ":")
		switch kind {
		case "target":
			c.adoptTarget(key, name, now)
		case "group":
			c.adoptGroup(key, name, now)
		}
	}
	c.mu.Unlock()
	c.flush()
}

// adoptTarget takes over a target's incident the engine has open; c.mu
// is held.
func (c *Classifier) adoptTarget(key, name string, now time.Time) {
	k := c.ts[name]
	switch {
	case k == nil:
		c.gone(key, name+" is no longer watched (removed from the config)", now)
		return
	case k.key != "":
		// Told in another incident since (a storm it joined): this one's
		// resolve was lost on its way to the engine.
		c.gone(key, name+" is told in "+k.key, now)
		return
	}
	inc := &incident{key: key, kind: incDown, lead: name, members: []string{name}, opened: now, adopted: true}
	c.incs[key] = inc
	k.key = key
	c.unsaved[name] = true
	c.doubt(k)
	inc.sent, inc.sentKind = c.render(inc), inc.kind
	c.log.Info("incident open at the escalation engine but not in the restored state; its target must rise or fall again",
		"key", key, "target", name)
}

// adoptGroup takes over a group's incident the engine has open; c.mu is
// held.
func (c *Classifier) adoptGroup(key, name string, now time.Time) {
	gr := c.cfg.group(name)
	if gr == nil {
		c.gone(key, name+": group removed from the config", now)
		return
	}
	inc := &incident{key: key, kind: incGroup, lead: name, opened: now, adopted: true}
	c.incs[key] = inc
	for _, m := range gr.Members() {
		if k := c.ts[m]; k != nil {
			c.doubt(k)
		}
	}
	inc.sent, inc.sentKind = c.render(inc), inc.kind
	c.log.Info("incident open at the escalation engine but not in the restored state; its members must rise or fall again",
		"key", key, "group", name)
}

// doubt is what is done with a target whose restored state predates an
// incident open at the engine: one restored down was told (the engine
// says so), one restored up or pending is not known and must rise or fall
// again; c.mu is held.
func (c *Classifier) doubt(k *track) {
	if k.state == Down {
		if k.cls == clsHeld {
			k.cls = clsDown
			delete(c.held, k)
			k.holdUntil, k.reeval = time.Time{}, time.Time{}
		}
		return
	}
	k.state = Pending
	k.ok, k.bad, k.warns, k.clean = 0, 0, 0, 0
	if k.cls != clsFlapping {
		k.cls = clsUp
	}
}

// unheard reports whether an adopted incident still waits for the first
// rise or fall of one of its targets: until then it neither resolves nor
// updates (what it would say is not known yet); c.mu is held.
func (c *Classifier) unheard(inc *incident) bool {
	ms := inc.members
	if inc.kind == incGroup {
		if gr := c.cfg.group(inc.lead); gr != nil {
			ms = gr.Members()
		}
	}
	for _, m := range ms {
		if k := c.ts[m]; k != nil && k.state == Pending {
			return true
		}
	}
	return false
}

// gone resolves an incident of the engine's that nothing here stands for
// any more; c.mu is held.
func (c *Classifier) gone(key, why string, now time.Time) {
	c.queue = append(c.queue, output{ev: &Event{Key: key, Severity: "info", At: now, Summary: why}})
}
