package dashboard

import (
	"strings"
	"testing"
	"time"
)

func TestHistoryKeepsTheLastN(t *testing.T) {
	h := newHistory(30)
	t0 := time.Now()
	for i := range 40 {
		h.add("rt1", sample{ok: i != 39, latency: time.Duration(i) * time.Millisecond, at: t0.Add(time.Duration(i) * time.Second)})
	}
	got := h.get("rt1")
	if len(got) != 30 || got[0].latency != 10*time.Millisecond || got[29].ok {
		t.Fatalf("kept %d samples, first %v, last ok=%v; want the last 30, newest a failure", len(got), got[0].latency, got[29].ok)
	}
	h.keep(func(string) bool { return false })
	if len(h.get("rt1")) != 0 {
		t.Error("keep did not forget a removed target")
	}
}

func TestSparkline(t *testing.T) {
	ss := []sample{{ok: true, latency: 10 * time.Millisecond}, {ok: true, latency: 40 * time.Millisecond}, {ok: false}}
	svg := string(sparkline(ss, 30))
	if n := strings.Count(svg, "<rect"); n != 3 {
		t.Errorf("%d bars for 3 results", n)
	}
	for _, want := range []string{`class="bad"`, `aria-label="last 3 results: 2 ok, 1 failed, slowest 40 ms"`, `x="174"`} {
		if !strings.Contains(svg, want) {
			t.Errorf("sparkline lacks %q: %s", want, svg)
		}
	}
	if svg := string(sparkline(nil, 30)); !strings.Contains(svg, "no results yet") {
		t.Errorf("empty sparkline: %s", svg)
	}
}
