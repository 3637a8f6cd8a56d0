package store

import (
	"context"
	"testing"
	"time"
)

// TestPruneDropsUsedLinksPastExpiry: a used link's id is kept until the
// link expires (a replay before then is refused by it), not a moment
// after, whatever the retention.
func TestPruneDropsUsedLinksPastExpiry(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := time.Date(2027, 3, 1, 12, 0, 0, 0, time.UTC)
	for id, exp := range map[string]time.Time{"old": now.Add(-time.Minute), "live": now.Add(time.Minute)} {
		if _, err := db.ExecContext(ctx, `INSERT INTO used_links (id, at, expires) VALUES (?, ?, ?)`, id, now.Add(-time.Hour).UnixMilli(), exp.UnixMilli()); err != nil {
			t.Fatal(err)
		}
	}
	p, err := db.Prune(ctx, now, PruneOptions{Retention: 90 * 24 * time.Hour})
	if err != nil || p.UsedLinks != 1 || p.Total() != 1 {
		t.Fatalf("pruned %+v, %v", p, err)
	}
	var left string
	if err := db.QueryRowContext(ctx, `SELECT group_concat(id) FROM used_links`).Scan(&left); err != nil || left != "live" {
		t.Fatalf("left %q, %v", left, err)
	}
}
