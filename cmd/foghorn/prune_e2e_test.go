package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"foghorn/store"
)

// TestHistoryOlderThanRetentionIsPrunedInTheBackground: a data dir with
// a year-old resolved incident and audit lines: soon after the start,
// foghorn prunes them (and keeps this run's), logs it, and counts the
// rows on /metrics.
func TestHistoryOlderThanRetentionIsPrunedInTheBackground(t *testing.T) {
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	defer site.Close()
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	ctx := context.Background()
	db, err := store.Open(ctx, data)
	if err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-365 * 24 * time.Hour)
	if _, err := db.ExecContext(ctx, `INSERT INTO incidents (id, key, short, state, severity, summary, opened_at, updated_at, resolved_at)
		VALUES (7, 'target:web', 1, 'resolved', 'critical', 'web DOWN', ?, ?, ?)`, old.UnixMilli(), old.UnixMilli(), old.UnixMilli()); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO notifications (incident, kind, person, channel, text, state, created_at)
		VALUES (7, 'page', 'alice', 'sms', 'x', 'delivered', ?)`, old.UnixMilli()); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := db.ExecContext(ctx, `INSERT INTO events (at, kind, subject, actor, detail) VALUES (?, ?, '7', 'engine', '')`,
			old.Add(time.Duration(i)*time.Second).UTC().Format(time.RFC3339Nano), fmt.Sprintf("incident.step%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	cfgPath := filepath.Join(dir, "foghorn.toml")
	writeFile(t, cfgPath, siteConfig(data, httpTarget("web", site.URL)))
	p := start(t, "run", "-config", cfgPath, "-log-format", "json")
	running, n := p.wait(t, 0, "foghorn running", nil)
	base := "http://" + running["listen"].(string)
	p.waitWithin(t, 30*time.Second, n, "pruned old history", map[string]string{"events": "3", "notifications": "1", "incidents": "1"})

	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`foghorn_store_pruned_rows_total{table="events"} 3`, `foghorn_store_pruned_rows_total{table="incidents"} 1`,
		`foghorn_store_prune_runs_total{result="ok"} 1`} {
		if !regexp.MustCompile(regexp.QuoteMeta(want) + `\n`).Match(b) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	// This run's own start line is kept, and readable in the audit view.
	out, code := runCLI(t, nil, "audit", "-config", cfgPath, "-since", "1h")
	if code != 0 || !regexp.MustCompile(` start +\S*foghorn\.toml`).MatchString(out) {
		t.Errorf("audit after pruning: %d\n%s", code, out)
	}
}
