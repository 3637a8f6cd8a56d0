package probes

import (
	"context"
	"testing"
	"time"

	"foghorn/configs"
)

// BenchmarkTCP is one connect probe against a loopback listener: the cost
// per target per interval that 10,000 targets multiply.
func BenchmarkTCP(b *testing.B) {
	addr := bannerServer(b)
	b.Run("connect", func(b *testing.B) {
		tg := probeTarget("tcp", addr, 2*time.Second)
		b.ReportAllocs()
		for b.Loop() {
			if r := probeTCP(context.Background(), tg, nil); r.Status != OK {
				b.Fatalf("got %v %q", r.Status, r.Msg)
			}
		}
	})
	b.Run("expect banner", func(b *testing.B) {
		tg := probeTarget("tcp", addr, 2*time.Second)
		tg.TCP = &configs.TCP{Expect: `^220 `}
		b.ReportAllocs()
		for b.Loop() {
			if r := probeTCP(context.Background(), tg, nil); r.Status != OK {
				b.Fatalf("got %v %q", r.Status, r.Msg)
			}
		}
	})
}
