// Package clock is the one time source the stages take. Production code
// uses Real; tests hand in a Fake they move by hand, so that hours of
// escalation, rate limits and ringing run in milliseconds and a test never
// sleeps to see time pass.
package clock

import (
	"sort"
	"sync"
	"time"
)

// Clock tells the time and waits. Every stage takes one (nil means Real):
// the same interface everywhere, so one Fake drives them all.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

// Real is the wall clock.
type Real struct{}

// Now is time.Now.
func (Real) Now() time.Time { return time.Now() }

// After is time.After.
func (Real) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Or is c, or Real when c is nil.
func Or(c Clock) Clock {
	if c == nil {
		return Real{}
	}
	return c
}

// Fake is a clock a test moves by hand. After returns a channel that
// fires once the clock is moved to or past its deadline.
type Fake struct {
	mu      sync.Mutex
	now     time.Time
	waiters []waiter
}

type waiter struct {
	at time.Time
	ch chan time.Time
}

// NewFake is a Fake stopped at t.
func NewFake(t time.Time) *Fake { return &Fake{now: t} }

// Now is the fake's time.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// After fires when the clock reaches now+d; at once when d <= 0.
func (f *Fake) After(d time.Duration) <-chan time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- f.now
		return ch
	}
	f.waiters = append(f.waiters, waiter{f.now.Add(d), ch})
	return ch
}

// Add moves the clock forward by d and fires what is due.
func (f *Fake) Add(d time.Duration) time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
	f.fire()
	return f.now
}

// Set moves the clock to t, forward only: a t before now is ignored.
func (f *Fake) Set(t time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if t.After(f.now) {
		f.now = t
		f.fire()
	}
}

// Jump sets the clock to t, backwards too: a clock stepped by NTP.
func (f *Fake) Jump(t time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = t
	f.fire()
}

// Waiting is how many After channels have not fired yet: a test moves the
// clock once the code under test is waiting, rather than sleeping.
func (f *Fake) Waiting() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.waiters)
}

// Next is the earliest deadline waited for, and whether there is one.
func (f *Fake) Next() (time.Time, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.waiters) == 0 {
		return time.Time{}, false
	}
	sort.Slice(f.waiters, func(i, j int) bool { return f.waiters[i].at.Before(f.waiters[j].at) })
	return f.waiters[0].at, true
}

func (f *Fake) fire() {
	keep := f.waiters[:0]
	for _, w := range f.waiters {
		if w.at.After(f.now) {
			keep = append(keep, w)
			continue
		}
		w.ch <- f.now
	}
	f.waiters = keep
}
