package main

import "testing"

// The guard and the engine are wired before the scheduler exists: until
// it does, every target is pending and none is listed.
func TestTargetStateBeforeTheSchedulerIsPending(t *testing.T) {
	d := &daemon{}
	if got := d.targetState("pve1"); got != "pending" {
		t.Errorf("targetState before the scheduler: %q, want pending", got)
	}
	if got := d.targetList(); got == nil || len(got) != 0 {
		t.Errorf("targetList before the scheduler: %#v, want an empty list (JSON [])", got)
	}
}
