package classify

import (
	"time"

	"foghorn/configs"
	"foghorn/probes"
)

// State is what rise/fall make of a target's recent results.
type State string

// Target states.
const (
	Pending State = "pending" // not enough results yet
	Up      State = "up"
	Down    State = "down"
)

// Change is a target entering a new state, with the result that did it.
type Change struct {
	Target string
	From   State
	To     State
	Result probes.Result
}

// good reports whether a result counts toward up. A Warning is a working
// target with something to say, not a dead one; Unknown (a problem on our
// side) counts as bad so that a check that can never run still gets seen.
func good(s probes.Status) bool { return s == probes.OK || s == probes.Warning }

// track is one target's (or canary's) recent history and what the
// classifier made of it.
type track struct {
	name string
	t    *configs.Target

	state State
	since time.Time // when state began: the first result of the streak that made it
	ok    int       // good results in a row
	bad   int       // bad results in a row
	warns int       // Warning results in a row
	clean int       // OK (not Warning) results in a row

	badSince  time.Time // start of the first result of the current bad streak
	goodSince time.Time // start of the first result of the current good streak
	lastGood  time.Time // start of the last good result
	last      probes.Result
	flap      flap
	downs     [flapDowns]time.Time // when it last went down, newest first

	cls       class
	key       string    // the incident this target is told in as a cause ("" none)
	holdUntil time.Time // clsHeld: page anyway after this, proof or not
	// reeval, when set, asks for a failing result started at or after it
	// before the target may page: its earlier failures were seen through a
	// cause that has gone away (a down parent, our own blindness, a restart).
	reeval time.Time
	asked  time.Time // when a recheck was last asked of this target for a held child
	// restored: the state came from the store at start, and no result of
	// this run has been seen yet. Such a target is not "down from here
	// only": the peer's good result is newer than a failure from before
	// the restart, but says nothing of the path from here now.
	restored bool
}

// observe folds r into the counts and moves the state by rise and fall.
// It returns the state before, and whether it changed.
func (k *track) observe(r probes.Result, rise, fall int) (State, bool) {
	k.last, k.restored = r, false
	k.last.Perf = nil // not needed to judge or tell, and 10,000 of them add up
	from := k.state
	if good(r.Status) {
		if k.ok == 0 {
			k.goodSince = r.Start
		}
		k.ok, k.bad = k.ok+1, 0
		k.lastGood = r.Start
		if r.Status == probes.Warning {
			k.warns, k.clean = k.warns+1, 0
		} else {
			k.warns, k.clean = 0, k.clean+1
		}
	} else {
		if k.bad == 0 {
			k.badSince = r.Start
		}
		k.ok, k.bad, k.warns, k.clean = 0, k.bad+1, 0, 0
	}
	switch {
	case k.state != Up && k.ok >= rise:
		k.state, k.since = Up, k.goodSince
	case k.state != Down && k.bad >= fall:
		k.state, k.since = Down, k.badSince
		copy(k.downs[1:], k.downs[:])
		k.downs[0] = r.Start
	}
	return from, k.state != from
}

// flapping reports whether k changes state too often: by the percent of
// its recent results, or by going down flapDowns times within flapPeriod.
func (k *track) flapping(now time.Time) bool {
	if k.flap.on {
		return true
	}
	oldest := k.downs[flapDowns-1]
	return !oldest.IsZero() && now.Sub(oldest) <= flapPeriod(k.t.Interval.Duration)
}

// retry says whether the scheduler should look again soon rather than at
// the next interval: a failure not yet confirmed by fall, or a target held
// until a fresh result proves it.
func (k *track) retry() bool {
	return (k.bad > 0 && k.state != Down) || k.cls == clsHeld
}
