package clock

import (
	"testing"
	"time"
)

func TestFakeFiresWhenMovedPastTheDeadline(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 3, 0, 0, 0, time.UTC)
	f := NewFake(t0)
	ch := f.After(time.Minute)
	if f.Waiting() != 1 {
		t.Fatalf("waiting %d, want 1", f.Waiting())
	}
	f.Add(59 * time.Second)
	select {
	case <-ch:
		t.Fatal("fired a second early")
	default:
	}
	f.Add(time.Second)
	if got := <-ch; !got.Equal(t0.Add(time.Minute)) {
		t.Fatalf("fired at %v", got)
	}
	f.Set(t0) // backwards: ignored
	if !f.Now().Equal(t0.Add(time.Minute)) {
		t.Fatalf("Set went back to %v", f.Now())
	}
	f.Jump(t0)
	if !f.Now().Equal(t0) {
		t.Fatalf("Jump did not go back: %v", f.Now())
	}
	if _, ok := f.Next(); ok || f.Waiting() != 0 {
		t.Fatal("a fired waiter is still waiting")
	}
}
