package probes

import (
	"context"
	"errors"
	"testing"
	"time"
)

// A probe's context ends at its deadline whether or not anything waited on
// it, and tells a deadline from a cancel, as context.WithTimeout does.
func TestProbeContextEndsAtItsDeadline(t *testing.T) {
	t.Parallel()
	past := newProbeCtx(context.Background(), -time.Second)
	if err := past.Err(); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("unwatched, past its deadline: Err = %v, want DeadlineExceeded", err)
	}
	ctx := newProbeCtx(context.Background(), 20*time.Millisecond)
	if err := ctx.Err(); err != nil {
		t.Fatalf("before its deadline: Err = %v", err)
	}
	select {
	case <-ctx.Done():
	case <-time.After(2 * time.Second):
		t.Fatal("Done not closed 2s after a 20ms deadline")
	}
	if err := ctx.Err(); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("after its deadline: Err = %v, want DeadlineExceeded", err)
	}
}

// Cancelling a probe's context (its target dropped) reaches what the
// prober built on it: child contexts and context.AfterFunc.
func TestProbeContextCancelReachesChildren(t *testing.T) {
	t.Parallel()
	ctx := newProbeCtx(WithSource(context.Background(), nil), time.Hour)
	child, cancel := context.WithTimeout(context.WithValue(ctx, budgetKey{}, time.Second), time.Hour)
	defer cancel()
	after := make(chan struct{})
	context.AfterFunc(ctx, func() { close(after) })
	if dl, ok := child.Deadline(); !ok || time.Until(dl) < 59*time.Minute {
		t.Errorf("child deadline %v %v, want the parent's hour", dl, ok)
	}
	ctx.cancel()
	for what, done := range map[string]<-chan struct{}{"the context": ctx.Done(), "a child": child.Done(), "an AfterFunc": after} {
		select {
		case <-done:
		case <-time.After(2 * time.Second):
			t.Fatalf("%s not done 2s after cancel", what)
		}
	}
	if !errors.Is(ctx.Err(), context.Canceled) || !errors.Is(child.Err(), context.Canceled) {
		t.Errorf("Err = %v, child %v; want Canceled", ctx.Err(), child.Err())
	}
}

// A connect waiting on a silent target ends when the scheduler cancels its
// probe (the target was removed), not at the end of its timeout.
func TestTCPCancelEndsAWaitingConnect(t *testing.T) {
	t.Parallel()
	dropTo(t, "127.0.83.7")
	ctx := newProbeCtx(context.Background(), 10*time.Second)
	done := make(chan Result, 1)
	start := time.Now()
	go func() { done <- probeTCP(ctx, probeTarget("tcp", "127.0.83.7:25", 10*time.Second), nil) }()
	time.Sleep(50 * time.Millisecond) // let the connect start waiting
	ctx.cancel()
	select {
	case r := <-done:
		if r.Status != Critical {
			t.Errorf("got %v %q, want Critical", r.Status, r.Msg)
		}
	case <-time.After(3 * time.Second):
		t.Fatalf("probe still waiting %s after its context was cancelled", time.Since(start))
	}
}
