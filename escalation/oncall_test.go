package escalation

import (
	"context"
	"testing"
	"time"
)

// An override cuts the shift: the cover is on call until the override
// ends (not until the handoff), then the absent person has the rest of
// the shift; times are in the rotation's zone, which is named.
func TestOnCallEndsAtTheOverridesEnd(t *testing.T) {
	// Wednesday 2026-03-11 12:00 Berlin: bob's week, ending Monday 09:00.
	now := time.Date(2026, 3, 11, 11, 0, 0, 0, time.UTC)
	h := newHarness(t, twoStep, now)
	ctx := context.Background()
	end := now.Add(6 * time.Hour)
	if err := h.e.AddOverride(ctx, Override{Absent: "bob", Cover: "carol", Start: now.Add(-time.Hour), End: end, By: "alice"}); err != nil {
		t.Fatal(err)
	}
	rots, err := h.e.OnCall(ctx, now, 2)
	if err != nil {
		t.Fatal(err)
	}
	berlin, _ := time.LoadLocation("Europe/Berlin")
	handoff := time.Date(2026, 3, 16, 9, 0, 0, 0, berlin)
	got := rots["ops"]
	if len(got) != 3 {
		t.Fatalf("want carol, bob, alice; got %+v", got)
	}
	if g := got[0]; g.Person != "carol" || g.Covering != "bob" || !g.End.Equal(end) || g.Zone != "Europe/Berlin" || g.End.Location().String() != "Europe/Berlin" {
		t.Errorf("now: %+v; want carol covering bob until %s, Europe/Berlin", g, end)
	}
	if g := got[1]; g.Person != "bob" || g.Covering != "" || !g.Start.Equal(end) || !g.End.Equal(handoff) {
		t.Errorf("then: %+v; want bob from %s until %s", g, end, handoff)
	}
	if g := got[2]; g.Person != "alice" || !g.Start.Equal(handoff) {
		t.Errorf("next: %+v; want alice from %s", g, handoff)
	}
}

// An override that outlasts the shift ends with the shift: the cover is
// not on call for the next person's week; one that starts later in the
// shift is a stretch of its own.
func TestOnCallOverrideInsideAndBeyondTheShift(t *testing.T) {
	now := time.Date(2026, 3, 11, 11, 0, 0, 0, time.UTC) // bob's week
	h := newHarness(t, twoStep, now)
	ctx := context.Background()
	berlin, _ := time.LoadLocation("Europe/Berlin")
	handoff := time.Date(2026, 3, 16, 9, 0, 0, 0, berlin)
	from, to := now.Add(24*time.Hour), handoff.Add(48*time.Hour)
	if err := h.e.AddOverride(ctx, Override{Absent: "bob", Cover: "carol", Start: from, End: to, By: "alice"}); err != nil {
		t.Fatal(err)
	}
	rots, err := h.e.OnCall(ctx, now, 3)
	if err != nil {
		t.Fatal(err)
	}
	got := rots["ops"]
	want := []Shift{
		{Person: "bob", End: from},
		{Person: "carol", Covering: "bob", Start: from, End: handoff},
		{Person: "alice", Start: handoff},
	}
	for i, w := range want {
		if i >= len(got) || got[i].Person != w.Person || got[i].Covering != w.Covering || !got[i].End.Equal(w.End) && !w.End.IsZero() || !w.Start.IsZero() && !got[i].Start.Equal(w.Start) {
			t.Fatalf("stretch %d: got %+v; want %+v", i, got, want)
		}
	}
	// At a time after the override, -at style: the override is gone.
	rots, err = h.e.OnCall(ctx, to.Add(time.Minute), 0)
	if err != nil || rots["ops"][0].Person != "alice" || rots["ops"][0].Covering != "" {
		t.Fatalf("after the override: %+v %v", rots, err)
	}
}
