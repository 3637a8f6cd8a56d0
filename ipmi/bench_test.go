package ipmi

import (
	"context"
	"slices"
	"testing"
	"time"

	"foghorn/ipmi/simtest"
)

// BenchmarkProbe is one probe's worth of BMC work on a reused session:
// chassis status, sensors, and the SEL check, against one ipmi_sim.
func BenchmarkProbe(b *testing.B) {
	s := simtest.Start(b)
	s.Console(simtest.CorrectableECC)
	bmc := newBMC(b, s)
	ctx := context.Background()
	r, err := bmc.Check(ctx, Cursor{}) // connect outside the timing
	if err != nil {
		b.Fatal(err)
	}
	cur := r.Cursor
	var lat []time.Duration
	for b.Loop() {
		start := time.Now()
		r, err := bmc.Check(ctx, cur)
		if err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
		cur = r.Cursor
	}
	b.StopTimer()
	slices.Sort(lat)
	if n := len(lat); n > 0 {
		b.ReportMetric(float64(lat[n/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(lat[min(n-1, n*99/100)].Microseconds())/1000, "p99-ms")
	}
}

// BenchmarkConnect is a new session each time (connect, status, close),
// the cost the session reuse saves.
func BenchmarkConnect(b *testing.B) {
	s := simtest.Start(b)
	ctx := context.Background()
	for b.Loop() {
		bmc := New("sim", Options{Host: s.Host, Port: s.Port, Username: simtest.User, Password: simtest.Password})
		if _, err := bmc.Status(ctx); err != nil {
			b.Fatal(err)
		}
		bmc.Close()
	}
}

// BenchmarkSEL is the SEL check alone on a reused session (SEL info and
// the last-seen record: two round trips); chassis status costs more on
// ipmi_sim because it runs the chassis script each time.
func BenchmarkSEL(b *testing.B) {
	s := simtest.Start(b)
	s.Console(simtest.CorrectableECC)
	bmc := newBMC(b, s)
	ctx := context.Background()
	_, cur, err := bmc.SEL(ctx, Cursor{})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, cur, err = bmc.SEL(ctx, cur); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStatus is chassis status alone on a reused session.
func BenchmarkStatus(b *testing.B) {
	s := simtest.Start(b)
	bmc := newBMC(b, s)
	ctx := context.Background()
	for b.Loop() {
		if _, err := bmc.Status(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
