package pager

import (
	"context"
	"fmt"
	"foghorn/configs"
	"slices"
	"strconv"
	"testing"
	"time"

	"foghorn/escalation"
	"foghorn/pager/twiliosim"
)

// report adds p50, p99 and max of ds to the benchmark's output, in ms.
func reportLatency(b *testing.B, ds []time.Duration) {
	if len(ds) == 0 {
		return
	}
	slices.Sort(ds)
	at := func(q float64) float64 {
		return float64(ds[min(int(q*float64(len(ds))), len(ds)-1)].Microseconds()) / 1000
	}
	b.ReportMetric(at(0.50), "p50-ms")
	b.ReportMetric(at(0.99), "p99-ms")
	b.ReportMetric(float64(ds[len(ds)-1].Microseconds())/1000, "max-ms")
	b.ReportMetric(0, "ns/op") // the latency figures are the point, not the loop
}

// BenchmarkIntentToSimulator: from an intent handed to Notify to the
// simulator's answer to the Messages or Calls API request (so the API call
// was received and accepted), with the status callbacks of earlier sends
// coming back meanwhile. Target: p99 < 50 ms.
func BenchmarkIntentToSimulator(b *testing.B) {
	for _, channel := range []configs.Channel{configs.SMS, configs.Voice} {
		b.Run(string(channel), func(b *testing.B) {
			w := newWorld(b, smsFirst, worldOpt{smsLimit: 1 << 30, callLimit: 1 << 30})
			w.sim.SetPhone(alicePh, twiliosim.Script{Call: "busy"})
			ds := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := range b.N {
				in := escalation.Intent{ID: int64(1e6 + i), Incident: 1, Short: 1, Kind: "page", Channel: channel, Person: "alice",
					Phone: alicePh, Severity: "critical", Summary: "router pair DOWN (rt1, rt2)", Since: monday}
				start := time.Now()
				if err := w.p.Notify(context.Background(), in); err != nil {
					b.Fatal(err)
				}
				ds = append(ds, time.Since(start))
			}
			b.StopTimer()
			reportLatency(b, ds)
		})
	}
}

// BenchmarkAckToCancel: from alice's SMS "ACK 7" reaching foghorn's
// webhook to the last call still ringing for that incident (hers and
// bob's) being cancelled at the simulator. Target: < 100 ms.
func BenchmarkAckToCancel(b *testing.B) {
	w := newWorld(b, bothRing, worldOpt{smsLimit: 1 << 30, callLimit: 1 << 30})
	w.sim.SetPhone(alicePh, twiliosim.Script{Call: "wait"})
	w.sim.SetPhone(bobPh, twiliosim.Script{Call: "wait"})
	ds := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		before := len(w.sim.Calls())
		inc := w.fire(fmt.Sprintf("target:t%d", i))
		w.step()
		ringing := func() bool {
			cs := w.sim.Calls()
			return len(cs) == before+2 && cs[before].Status == "ringing" && cs[before+1].Status == "ringing"
		}
		eventually(b, "both phones ring", ringing)
		b.StartTimer()

		start := time.Now()
		w.text(alicePh, "ACK "+strconv.Itoa(inc.Short))
		for {
			cs := w.sim.Calls()
			if cs[before].Status == "canceled" && cs[before+1].Status == "canceled" {
				break
			}
			if time.Since(start) > 5*time.Second {
				b.Fatalf("calls not cancelled: %s, %s", cs[before].Status, cs[before+1].Status)
			}
			time.Sleep(100 * time.Microsecond)
		}
		ds = append(ds, time.Since(start))

		b.StopTimer()
		if _, err := w.eng.Resolve(context.Background(), inc.ID, "alice", "test"); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.StopTimer()
	reportLatency(b, ds)
}
