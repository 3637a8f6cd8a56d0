package dashboard

import (
	"fmt"
	"net/http"
	"testing"
	"time"
)

// TestLockLastsFifteenMinutesFromTheFifthWrongPassword: the lock is
// counted from the guess that set it, not from the first of the five, and
// while it lasts the right password is refused too.
func TestLockLastsFifteenMinutesFromTheFifthWrongPassword(t *testing.T) {
	e := newEnv(t, "")
	e.client("192.0.2.1").login("alice", "first guess")
	e.clock.Add(10 * time.Minute)
	for i := range 4 {
		if r := e.client(fmt.Sprintf("192.0.2.%d", 2+i)).login("alice", "guess"); r.code != http.StatusUnauthorized {
			t.Fatalf("guess %d: %d, want 401", i+2, r.code)
		}
	}
	// 16 minutes after the first guess, 6 after the fifth: still locked.
	e.clock.Add(6 * time.Minute)
	r := e.client("203.0.113.50").login("alice", alicePW)
	if r.code != http.StatusTooManyRequests {
		t.Fatalf("right password 6 minutes after the fifth wrong one: %d, want 429", r.code)
	}
	r.has(t, "even with the right one", "Try again in 9 min")
	e.clock.Add(9*time.Minute + time.Second)
	if r := e.client("203.0.113.50").login("alice", alicePW); r.code != http.StatusSeeOther {
		t.Fatalf("right password after the lock: %d, want 303", r.code)
	}
}
