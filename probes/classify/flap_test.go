package classify

import (
	"math"
	"testing"
	"time"

	"foghorn/configs"
	"foghorn/probes"
)

func TestFlapPercent(t *testing.T) {
	t.Parallel()
	feed := func(bads ...bool) *flap {
		f := &flap{}
		for _, b := range bads {
			f.add(b)
		}
		return f
	}
	steady := make([]bool, 30)
	if p := feed(steady...).percent(); p != 0 {
		t.Errorf("steady: %v%%", p)
	}
	alt := make([]bool, 30)
	for i := range alt {
		alt[i] = i%2 == 0
	}
	if p := feed(alt...).percent(); math.Abs(p-100) > 1e-9 {
		t.Errorf("alternating: %v%%", p)
	}
	// One change, newest: weight 1.25 of 20.
	if p := feed(append(make([]bool, 25), true)...).percent(); math.Abs(p-6.25) > 1e-9 {
		t.Errorf("one new change: %v%%", p)
	}
	// A failure 19 results ago: two changes among the oldest, weighing
	// 0.7763 and 0.75 — less than one new change each.
	old := append(make([]bool, 5), true)
	old = append(old, make([]bool, 19)...)
	want := (1.25 - 0.5*18/19 + 0.75) * 100 / 20
	if p := feed(old...).percent(); math.Abs(p-want) > 1e-9 {
		t.Errorf("old changes: %v%%, want %v%%", p, want)
	}
}

func TestFlapHysteresis(t *testing.T) {
	t.Parallel()
	f := &flap{}
	started := -1
	for i := range 21 {
		if f.add(i%2 == 0) && f.on {
			started = i
		}
	}
	if !f.on || started < 9 || started > 12 {
		t.Fatalf("flapping started at result %d (on=%v): needs about 10 weighted changes", started, f.on)
	}
	// Calming down: it stays flapping until below 25%, not below 50%.
	stopped := -1
	for i := range 21 {
		if f.add(false) && !f.on {
			stopped = i
		}
		if i == 2 && !f.on {
			t.Fatal("stopped flapping too soon")
		}
	}
	if f.on || stopped < 0 {
		t.Fatal("never stopped flapping")
	}
	if g := parseFlap(f.String()); g != *f {
		t.Fatalf("persisted %q reads back as %+v", f.String(), g)
	}
}

func TestFlapDowns(t *testing.T) {
	t.Parallel()
	k := &track{t: &configs.Target{Interval: configs.Duration{Duration: 10 * time.Second}}}
	at := time.Date(2024, 3, 1, 2, 0, 0, 0, time.UTC)
	for i := range 3 {
		k.observe(probes.Result{Status: probes.Critical, Start: at}, 1, 1)
		at = at.Add(time.Minute)
		k.observe(probes.Result{Status: probes.OK, Start: at}, 1, 1)
		at = at.Add(time.Minute)
		if got := k.flapping(at); got != (i == 2) {
			t.Fatalf("after %d downs: flapping %v", i+1, got)
		}
	}
	if k.flapping(at.Add(15 * time.Minute)) {
		t.Fatal("still flapping when the downs are 15 minutes old")
	}
}
