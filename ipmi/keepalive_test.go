package ipmi

import (
	"testing"
	"time"
)

// TestCloseWaitsOutGoIPMIKeepalive: a session is closed only when
// go-ipmi's own keepalive (every 30 s from connect) cannot be in flight,
// since a Close under a waiting keepalive panics in the library.
func TestCloseWaitsOutGoIPMIKeepalive(t *testing.T) {
	b := &BMC{opt: Options{Timeout: time.Second, Retries: 2}} // busy: 2×3 s + 1 s = 7 s
	for _, c := range []struct {
		age, wait time.Duration
	}{
		{0, 0},
		{20 * time.Second, 0}, // before the first tick
		{29500 * time.Millisecond, 7500 * time.Millisecond}, // just before a tick: wait past it
		{30 * time.Second, 7 * time.Second},                 // at the tick
		{33 * time.Second, 4 * time.Second},                 // its attempts are still running
		{37 * time.Second, 0},                               // over
		{50 * time.Second, 0},
		{61 * time.Second, 6 * time.Second}, // the second tick
	} {
		if got := b.keepaliveClear(c.age); got != c.wait {
			t.Errorf("session open %v: wait %v, want %v", c.age, got, c.wait)
		}
	}
}
