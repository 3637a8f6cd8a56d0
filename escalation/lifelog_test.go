package escalation

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// logBuf is a JSON log the test can read while the engine writes it.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// lines is the log records whose message starts with prefix.
func (l *logBuf) lines(t *testing.T, prefix string) []map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, s := range strings.Split(strings.TrimSpace(l.b.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			t.Fatalf("log line %q: %v", s, err)
		}
		if msg, _ := m["msg"].(string); strings.HasPrefix(msg, prefix) {
			out = append(out, m)
		}
	}
	return out
}

// The log lines of an incident's life — opened, escalated (by the
// policy and by hand), acknowledged, resolved — name it as people do
// ("#N" in the message, short=N) and as the store does (incident=ID).
func TestIncidentLogLinesCarryTheNumber(t *testing.T) {
	h := newHarness(t, twoStep, monday)
	var lb logBuf
	h.e = New(h.db, *h.e.cfg.Load(), h.p, Options{Clock: h.clk, Log: slog.New(slog.NewJSONHandler(&lb, nil))})
	ctx := context.Background()
	// An incident a day old frees number 1 but not id 1: below, ids and
	// numbers differ, so the test can tell them apart.
	h.fire("target:web", "warning")
	if _, err := h.e.Handle(ctx, Alert{Key: "target:web", Firing: false, Source: "probe"}); err != nil {
		t.Fatal(err)
	}
	h.t0 = h.t0.Add(25 * time.Hour)
	h.clk.Set(h.t0)
	a := h.fire("target:rt1", "critical")
	h.drive(30 * time.Minute) // step 2 of twoStep pages bob at 25m
	b := h.fire("target:rt2", "critical")
	h.drive(31 * time.Minute)
	if _, err := h.e.Escalate(ctx, b.ID, -1, "alice"); err != nil {
		t.Fatal(err)
	}
	h.drive(32 * time.Minute)
	if _, err := h.e.Ack(ctx, a.ID, "bob", "sms"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.e.Ack(ctx, a.ID, "bob", "sms"); err != nil { // already acked: no second line
		t.Fatal(err)
	}
	if _, err := h.e.Handle(ctx, Alert{Key: "target:rt1", Firing: false, Source: "probe"}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.e.Resolve(ctx, b.ID, "alice", "web"); err != nil {
		t.Fatal(err)
	}
	h.e.Wait()

	type want struct {
		msg string
		inc *Incident
		by  string
	}
	for _, w := range []want{
		{"opened", a, ""}, {"escalated", a, "engine"}, {"acknowledged", a, "bob"}, {"resolved", a, "recovered"},
		{"opened", b, ""}, {"escalated", b, "alice"}, {"resolved", b, "alice"},
	} {
		msg := "incident #" + strconv.Itoa(w.inc.Short) + " " + w.msg
		var got []map[string]any
		for _, l := range lb.lines(t, msg) {
			if l["incident"] == float64(w.inc.ID) {
				got = append(got, l)
			}
		}
		if len(got) != 1 {
			t.Errorf("%q with incident=%d: %d lines, want 1 (all %s lines: %v)", msg, w.inc.ID, len(got), w.msg, lb.lines(t, "incident #"))
			continue
		}
		if got[0]["short"] != float64(w.inc.Short) || w.by != "" && got[0]["by"] != w.by {
			t.Errorf("%q: %v; want short=%d by=%q", msg, got[0], w.inc.Short, w.by)
		}
	}
	if a.ID == int64(a.Short) {
		t.Fatalf("the test wants an incident whose id and number differ: id %d #%d", a.ID, a.Short)
	}
}
