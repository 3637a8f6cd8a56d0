package classify

import (
	"fmt"
	"strings"
	"time"

	"foghorn/configs"
	"foghorn/probes"
)

// selfCheck is foghorn doubting itself: canaries are addresses outside
// the watched site. When fewer than min answer, it is foghorn that cannot
// see, and what it sees of the targets means nothing.
type selfCheck struct {
	min     int
	cs      map[string]*track // by canary address
	broken  map[string]bool   // canaries we cannot probe at all (Unknown: our side)
	blind   bool
	since   time.Time       // start of the blind window
	changed map[string]bool // targets that changed state while blind
	asked   time.Time       // when the canaries were last asked to answer now
}

func (s *selfCheck) configure(sc configs.SelfCheck) {
	cs := map[string]*track{}
	for _, a := range sc.Canaries {
		if k := s.cs[a]; k != nil {
			cs[a] = k
		} else {
			cs[a] = &track{name: a, state: Pending}
		}
	}
	s.cs, s.min = cs, max(1, min(sc.MinUp, len(cs)))
	if s.broken == nil {
		s.broken = map[string]bool{}
	}
	for a := range s.broken {
		if cs[a] == nil {
			delete(s.broken, a)
		}
	}
}

// usable is how many canaries can be probed at all. With fewer than min,
// the self-check cannot judge, and must not hold pages on that account:
// a canary probe that can never run (no ICMP permission) would otherwise
// silence foghorn for good.
func (s *selfCheck) usable() int { return len(s.cs) - len(s.broken) }

// answered reports whether enough canaries answered since from: then a
// target failing since then failed on its own, not because we are blind.
func (s *selfCheck) answered(from time.Time) bool {
	if s.usable() < s.min {
		return true
	}
	n := 0
	for a, k := range s.cs {
		if !s.broken[a] && k.bad == 0 && !k.lastGood.IsZero() && !k.lastGood.Before(from) {
			n++
		}
	}
	return n >= s.min
}

// ObserveCanary takes one probe result of the canary at addr. It returns
// whether the canary should be probed again soon.
func (c *Classifier) ObserveCanary(addr string, r probes.Result) (retry bool) {
	c.mu.Lock()
	k := c.self.cs[addr]
	if k == nil {
		c.mu.Unlock()
		return false
	}
	s := &c.self
	if r.Status == probes.Unknown {
		if !s.broken[addr] {
			c.log.Error("cannot probe a canary, so the self-check cannot use it; fix [self_check]", "canary", addr, "why", r.Msg)
		}
		s.broken[addr] = true
	} else {
		delete(s.broken, addr)
		k.observe(r, 1, probes.CanaryFall)
	}
	up, down := 0, []*track{}
	for a, ck := range s.cs {
		switch {
		case s.broken[a]:
		case ck.state == Up:
			up++
		case ck.state == Down:
			down = append(down, ck)
		}
	}
	switch {
	case !s.blind && s.usable() >= s.min && s.usable()-len(down) < s.min:
		c.startBlind(down)
	case s.blind && (up >= s.min || s.usable() < s.min):
		c.endBlind(r.Start)
	case !s.blind && len(c.held) > 0:
		c.settleHeld(false) // held targets may have waited for this answer
	}
	// A failing canary is looked at again soon, also while blind: the
	// sooner foghorn knows it sees again, the shorter the gap.
	retry = k.bad > 0
	c.mu.Unlock()
	c.flush()
	return retry
}

// Blind reports whether foghorn is blind now, and since when.
func (c *Classifier) Blind() (bool, time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.self.blind, c.self.since
}

func (c *Classifier) startBlind(down []*track) {
	s := &c.self
	// The window began when the canary that tipped it began failing.
	since := time.Time{}
	for _, k := range down {
		if since.IsZero() || k.badSince.After(since) {
			since = k.badSince
		}
	}
	s.blind, s.since, s.changed = true, since, map[string]bool{}
	var why []string
	for _, k := range down {
		why = append(why, k.name+": "+k.last.Msg)
	}
	c.log.Warn("foghorn cannot see the outside world: canaries do not answer; target alerts are held until they do",
		"answering", len(s.cs)-len(down), "canaries", len(s.cs), "min_up", s.min, "since", since, "why", strings.Join(why, "; "))
}

// endBlind reports the blind window once, and judges again what changed
// in it: a target that went down while we were blind must fail again,
// now that we see, before it pages. They do not all fire at once.
func (c *Classifier) endBlind(at time.Time) {
	s := &c.self
	s.blind = false
	var again []string
	for _, name := range sortedKeys(c.ts) {
		k := c.ts[name]
		told := k.key != "" || k.cls == clsDown || k.cls == clsUnreachable || k.cls == clsFolded
		if k.state == Down && !told {
			k.reeval = at
			again = append(again, name)
		}
	}
	changed := sortedKeys(s.changed)
	c.log.Info("foghorn sees again", "blind_from", s.since, "blind_to", at, "recheck", len(again))
	c.queue = append(c.queue, output{ev: &Event{
		Key: "self", Notice: true, Severity: "info", At: c.now(),
		Summary: blindSummary(s.since, at, len(c.ts), again),
		Detail:  blindDetail(s, at, len(c.ts), changed, again),
		Labels:  map[string]string{"name": "foghorn", "kind": "self"},
	}})
	c.asks = append(c.asks, again...)
	s.changed = nil
	c.settleAll()
}

// blindSummary is the one SMS: "foghorn was offline 02:10–02:25 (15m):
// checks of 40 targets did not run; re-checking 2: rt1, web".
func blindSummary(from, to time.Time, targets int, again []string) string {
	s := fmt.Sprintf("foghorn was offline %s (%s): checks of %d targets did not run", span(from, to),
		human(to.Sub(from)), targets)
	if len(again) > 0 {
		s += fmt.Sprintf("; re-checking %d that failed: %s", len(again), list(again, 4))
	}
	return s
}

func blindDetail(s *selfCheck, to time.Time, targets int, changed, again []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "foghorn could not see the outside world from %s to %s: fewer than %d of %d canaries answered, so the results of all %d targets in that time were set aside and nobody was paged about them.\n",
		s.since.Format(time.DateTime), to.Format(time.DateTime), s.min, len(s.cs), targets)
	for _, a := range sortedKeys(s.cs) {
		k := s.cs[a]
		fmt.Fprintf(&b, "canary %s: %s\n", a, k.last.Msg)
	}
	if len(changed) > 0 {
		fmt.Fprintf(&b, "changed state while blind (%d): %s\n", len(changed), list(changed, 50))
	}
	if len(again) > 0 {
		fmt.Fprintf(&b, "down and not yet paged, re-checked now; they page only if they fail again (%d): %s\n", len(again), list(again, 50))
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// span formats a window as "02:10–02:25", with seconds for short ones and
// the date when it crosses midnight.
func span(from, to time.Time) string {
	layout := "15:04"
	if to.Sub(from) < 10*time.Minute {
		layout = "15:04:05"
	}
	if from.YearDay() != to.YearDay() || from.Year() != to.Year() {
		return from.Format("Jan 2 "+layout) + "–" + to.Format("Jan 2 "+layout)
	}
	return from.Format(layout) + "–" + to.Format(layout)
}
