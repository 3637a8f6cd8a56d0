package twiliosim

import "time"

// Clock is the simulator's time source. Every delay it waits (ringing, a
// scripted "reply after ten minutes", a Gather's timeout) goes through After,
// so a test can hand in a clock it advances by hand instead of sleeping.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }
