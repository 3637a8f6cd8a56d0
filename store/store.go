// Package store is foghorn's one embedded SQLite database (pure Go, no cgo)
// in the data dir. It owns opening, locking and schema migration; the
// tables themselves belong to the package that writes them (see
// migrations.go), so nothing that matters lives only in memory.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// File is the database's name inside the data dir.
const File = "foghorn.db"

// DB is the open store.
type DB struct {
	*sql.DB
	Path string
	lock *os.File
	id   fileID // the file opened at Path, for FileGone
}

// Open opens (creating if needed) the database in dir, takes the data dir's
// lock so two foghorns cannot share it, and applies pending migrations.
// A database from a newer foghorn, or a file that is not a database, is
// refused and left untouched; so is a data dir whose database is missing
// after foghorn created one there (see Marker). What it creates is 0700
// (the dir) and 0600 (the files), whatever the umask.
func Open(ctx context.Context, dir string) (*DB, error) {
	return open(ctx, dir, migrations)
}

func open(ctx context.Context, dir string, ms []migration) (*DB, error) {
	if err := makeDataDir(dir); err != nil {
		return nil, fmt.Errorf("store: create data dir %s: %w (set [server] data_dir to a folder foghorn may write)", dir, err)
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, File)
	if err := missing(dir, path); err != nil {
		lock.Close()
		return nil, err
	}
	if err := createFile(path); err != nil {
		lock.Close()
		return nil, fmt.Errorf("store: create %s: %w (is the data dir writable?)", path, err)
	}
	id, err := identify(path)
	if err != nil {
		lock.Close()
		return nil, fmt.Errorf("store: %w", err)
	}
	// synchronous(FULL): a page recorded as claimed must survive a power
	// loss of the VPS, not only a crash of foghorn. busy_timeout 15 s: in a
	// storm of a thousand sends (three writes each, every one an fsync on a
	// slow VPS disk) 5 s of waiting for the write lock was seen to run out.
	dsn := "file:" + path + "?_pragma=busy_timeout(15000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=foreign_keys(1)&_txlock=immediate"
	sqldb, err := sql.Open("sqlite", dsn)
	if err != nil {
		lock.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	// Keep connections open: each new SQLite connection re-reads the schema
	// and pragmas, and a burst of sends would otherwise churn them.
	sqldb.SetMaxIdleConns(16)
	sqldb.SetMaxOpenConns(32)
	db := &DB{DB: sqldb, Path: path, lock: lock, id: id}
	if err := db.migrate(ctx, ms); err != nil {
		db.Close()
		return nil, err
	}
	if err := mark(dir); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// lockDir takes an exclusive flock on dir/foghorn.lock; the kernel drops
// it when the process dies, so a kill -9 never leaves a stale lock.
func lockDir(dir string) (*os.File, error) {
	p := filepath.Join(dir, "foghorn.lock")
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("store: %w (is the data dir writable?)", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		pid, _ := os.ReadFile(p)
		f.Close()
		return nil, fmt.Errorf("store: data dir %s is in use by another foghorn (pid %s): stop it first, or give this one its own data_dir",
			dir, strings.TrimSpace(string(pid)))
	}
	f.Truncate(0)
	fmt.Fprintf(f, "%d\n", os.Getpid())
	return f, nil
}

// Close closes the database and releases the data dir.
func (db *DB) Close() error {
	err := db.DB.Close()
	if db.lock != nil {
		db.lock.Close()
	}
	return err
}

// Version is the schema version of the open database.
func (db *DB) Version(ctx context.Context) (int, error) {
	var v int
	err := db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_version`).Scan(&v)
	return v, err
}

// Event appends to the audit trail. Rows are never updated; only retention
// pruning (prune.go) deletes them, once older than [server] retention.
func (db *DB) Event(ctx context.Context, kind, subject, actor, detail string) error {
	_, err := db.ExecContext(ctx,
		`INSERT INTO events (at, kind, subject, actor, detail) VALUES (?, ?, ?, ?, ?)`,
		time.Now().UTC().Format(time.RFC3339Nano), kind, subject, actor, detail)
	if err != nil {
		return fmt.Errorf("store: record %s event: %w", kind, err)
	}
	return nil
}

func (db *DB) migrate(ctx context.Context, ms []migration) error {
	// Reading the schema first tells a non-database file apart before
	// anything is written to it.
	if _, err := db.ExecContext(ctx, `SELECT count(*) FROM sqlite_master`); err != nil {
		return fmt.Errorf("store: %s is not a readable foghorn database (%v): foghorn will not overwrite it; restore it from a backup or move it away to start fresh", db.Path, err)
	}
	if err := db.check(ctx); err != nil {
		return err
	}
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (
		version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)`); err != nil {
		return fmt.Errorf("store: %s: %w", db.Path, err)
	}
	cur, err := db.Version(ctx)
	if err != nil {
		return fmt.Errorf("store: read schema version: %w", err)
	}
	if cur > len(ms) {
		return fmt.Errorf("store: %s has schema version %d, but this foghorn knows only up to %d: it was written by a newer foghorn; run that version (or newer), or restore a backup made for this one — foghorn never downgrades a database",
			db.Path, cur, len(ms))
	}
	if cur > 0 && cur < len(ms) {
		// A copy before changing a schema that holds real state.
		bak := fmt.Sprintf("%s.pre-v%d", db.Path, len(ms))
		os.Remove(bak)
		if err := createFile(bak); err != nil { // empty, 0600: VACUUM INTO fills it
			return fmt.Errorf("store: back up %s before migrating: %w", db.Path, err)
		}
		if _, err := db.ExecContext(ctx, `VACUUM INTO ?`, bak); err != nil {
			return fmt.Errorf("store: back up %s before migrating: %w", db.Path, err)
		}
	}
	for v := cur + 1; v <= len(ms); v++ {
		if err := db.apply(ctx, v, ms[v-1]); err != nil {
			return err
		}
	}
	return nil
}

func (db *DB) apply(ctx context.Context, v int, m migration) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: migration %d: %w", v, err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, m.sql); err != nil {
		return fmt.Errorf("store: migration %d (%s): %w", v, m.name, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?)`,
		v, m.name, time.Now().UTC().Format(time.RFC3339)); err != nil {
		return fmt.Errorf("store: migration %d: %w", v, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: migration %d: %w", v, err)
	}
	return nil
}

// ErrNotFound is returned by lookups that find no row.
var ErrNotFound = errors.New("not found")
