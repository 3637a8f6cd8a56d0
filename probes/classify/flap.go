package classify

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Flap detection as Nagios does it: the percent of state changes over the
// last flapWindow results, newer changes weighing more than older ones,
// with hysteresis so that a target does not flap in and out of flapping.
const (
	flapWindow = 21
	flapHigh   = 50.0 // percent: flapping starts at or above this
	flapLow    = 25.0 // percent: flapping stops below this
)

// A second, slower rule catches what the percent misses: a target that
// goes down and up every few minutes changes state in few of its results,
// yet would page every time. flapDowns downs within flapPeriod make it
// flapping too.
const flapDowns = 3

// flapPeriod is the time over which downs are counted: 21 intervals, and
// at least 15 minutes.
func flapPeriod(iv time.Duration) time.Duration {
	return max(flapWindow*iv, 15*time.Minute)
}

// flap is a target's recent good/bad history.
type flap struct {
	bits uint32 // bit i set: the result i runs ago was bad (bit 0 is the newest)
	n    uint8  // results recorded, at most flapWindow
	on   bool
}

// add records one result and reports whether flapping started or stopped.
func (f *flap) add(bad bool) bool {
	f.bits <<= 1
	if bad {
		f.bits |= 1
	}
	f.bits &= 1<<flapWindow - 1
	if f.n < flapWindow {
		f.n++
	}
	p := f.percent()
	switch {
	case !f.on && p >= flapHigh:
		f.on = true
		return true
	case f.on && p < flapLow:
		f.on = false
		return true
	}
	return false
}

// percent is the weighted share of changes between consecutive results.
// Weights run from 1.25 (newest pair) down to 0.75 (oldest) and average 1,
// and the sum is always divided by a full window: a target needs enough
// history of changes before it can be called flapping, which keeps a
// fresh target that failed twice from counting as one.
func (f *flap) percent() float64 {
	var sum float64
	for i := 0; i+1 < int(f.n); i++ {
		if (f.bits>>i)&1 != (f.bits>>(i+1))&1 {
			sum += 1.25 - 0.5*float64(i)/float64(flapWindow-2)
		}
	}
	return sum * 100 / float64(flapWindow-1)
}

// String is the persisted form, "bits/n/on".
func (f flap) String() string {
	on := 0
	if f.on {
		on = 1
	}
	return fmt.Sprintf("%x/%d/%d", f.bits, f.n, on)
}

// parseFlap reads String's form; anything else is an empty history.
func parseFlap(s string) flap {
	p := strings.Split(s, "/")
	if len(p) != 3 {
		return flap{}
	}
	bits, err1 := strconv.ParseUint(p[0], 16, 32)
	n, err2 := strconv.ParseUint(p[1], 10, 8)
	if err1 != nil || err2 != nil || n > flapWindow {
		return flap{}
	}
	return flap{bits: uint32(bits) & (1<<flapWindow - 1), n: uint8(n), on: p[2] == "1"}
}
