package store

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// check runs SQLite's quick_check before anything is written: a database
// whose pages are damaged (a bad sector, a torn copy, a full disk during a
// restore) is refused with what to do, rather than found broken by the
// first query that happens to touch the damage while paging. It reads
// every page once, which takes well under a second for foghorn's sizes.
func (db *DB) check(ctx context.Context) error {
	rows, err := db.QueryContext(ctx, `PRAGMA quick_check`)
	if err != nil {
		return db.damaged(err.Error())
	}
	defer rows.Close()
	var problems []string
	for rows.Next() && len(problems) < 3 {
		var s string
		if err := rows.Scan(&s); err != nil {
			return db.damaged(err.Error())
		}
		if s != "ok" {
			problems = append(problems, s)
		}
	}
	if err := rows.Err(); err != nil {
		return db.damaged(err.Error())
	}
	if len(problems) > 0 {
		return db.damaged(strings.Join(problems, "; "))
	}
	return nil
}

func (db *DB) damaged(why string) error {
	return fmt.Errorf("store: %s is damaged (%s): foghorn will not overwrite it; restore it from a backup (or a %s.pre-v* copy), "+
		"or move it away to start fresh; `sqlite3 %s .recover` may save its history", db.Path, why, File, db.Path)
}

// Watchdog notes in the store that the watchdog checked it at at: a write
// as every incident and page needs, so a failing disk shows before a page
// is lost.
func (db *DB) Watchdog(ctx context.Context, at time.Time) error {
	_, err := db.ExecContext(ctx, `INSERT OR REPLACE INTO meta (key, value) VALUES ('watchdog', ?)`,
		at.UTC().Format(time.RFC3339))
	return err
}
