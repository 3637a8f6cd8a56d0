package dashboard

import (
	"fmt"
	"html/template"
	"strings"
	"sync"
	"time"
)

// sample is one probe result as the sparkline draws it.
type sample struct {
	ok      bool
	latency time.Duration
	at      time.Time
}

// history keeps the last n results per target, in memory only: it is a
// picture of the last minutes, and the probes refill it after a restart.
type history struct {
	mu sync.Mutex
	n  int
	m  map[string][]sample
}

func newHistory(n int) *history { return &history{n: n, m: map[string][]sample{}} }

func (h *history) add(target string, s sample) {
	h.mu.Lock()
	defer h.mu.Unlock()
	ss := h.m[target]
	if len(ss) >= h.n {
		copy(ss, ss[len(ss)-h.n+1:])
		ss = ss[:h.n-1]
	}
	h.m[target] = append(ss, s)
}

func (h *history) get(target string) []sample {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]sample(nil), h.m[target]...)
}

// keep forgets targets that keep rejects (removed from the config).
func (h *history) keep(keep func(string) bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for t := range h.m {
		if !keep(t) {
			delete(h.m, t)
		}
	}
}

// Bar geometry of the sparkline, in SVG units.
const (
	barW   = 4
	barGap = 2
	sparkH = 20
)

// sparkline draws ss as an inline SVG of n slots, newest on the right:
// a bar per result, its height the latency relative to the slowest shown,
// failures full height in the alarm colour. Only numbers and fixed class
// names go into it, so it is safe to mark as HTML.
func sparkline(ss []sample, n int) template.HTML {
	w := n * (barW + barGap)
	var b strings.Builder
	var slow time.Duration
	fails := 0
	for _, s := range ss {
		if s.ok {
			slow = max(slow, s.latency)
		} else {
			fails++
		}
	}
	label := "no results yet"
	if len(ss) > 0 {
		label = fmt.Sprintf("last %d results: %d ok, %d failed", len(ss), len(ss)-fails, fails)
		if slow > 0 {
			label += ", slowest " + latency(slow)
		}
	}
	fmt.Fprintf(&b, `<svg class="spark" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-label="%s"><title>%s</title>`,
		w, sparkH, w, sparkH, template.HTMLEscapeString(label), template.HTMLEscapeString(label))
	off := n - len(ss)
	for i, s := range ss {
		x := (off + i) * (barW + barGap)
		h, class := sparkH, "bad"
		if s.ok {
			class = "ok"
			h = 3
			if slow > 0 {
				h += int(float64(sparkH-3) * float64(s.latency) / float64(slow))
			}
		}
		fmt.Fprintf(&b, `<rect class="%s" x="%d" y="%d" width="%d" height="%d"/>`, class, x, sparkH-h, barW, h)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// latency writes a duration as people read latencies: "12 ms", "1.4 s".
func latency(d time.Duration) string {
	switch {
	case d <= 0:
		return ""
	case d < time.Millisecond:
		return "<1 ms"
	case d < time.Second:
		return fmt.Sprintf("%d ms", d.Milliseconds())
	default:
		return fmt.Sprintf("%.1f s", d.Seconds())
	}
}
