package store

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestFreshDatabase(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "data")
	db, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	v, err := db.Version(ctx)
	if err != nil || v != len(migrations) {
		t.Fatalf("version = %d, %v; want %d", v, err, len(migrations))
	}
	var mode string
	if err := db.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Fatalf("journal_mode = %q, %v; want wal", mode, err)
	}
	if err := db.Event(ctx, "config.reload", "t.toml", "test", "ok"); err != nil {
		t.Fatal(err)
	}
	var n int
	db.QueryRow(`SELECT count(*) FROM events WHERE kind = 'config.reload'`).Scan(&n)
	if n != 1 {
		t.Fatalf("events = %d, want 1", n)
	}
	st, err := os.Stat(dir)
	if err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("data dir mode = %v, %v; want 0700", st.Mode().Perm(), err)
	}
}

func TestUpgradeFromPreviousSchemaKeepsData(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	old, err := open(ctx, dir, migrations[:len(migrations)-1])
	if err != nil {
		t.Fatal(err)
	}
	if err := old.Event(ctx, "page", "rt1", "engine", "before upgrade"); err != nil {
		t.Fatal(err)
	}
	old.Close()

	db, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if v, _ := db.Version(ctx); v != len(migrations) {
		t.Fatalf("version after upgrade = %d, want %d", v, len(migrations))
	}
	var detail string
	if err := db.QueryRow(`SELECT detail FROM events WHERE subject = 'rt1'`).Scan(&detail); err != nil || detail != "before upgrade" {
		t.Fatalf("old row after upgrade: %q, %v", detail, err)
	}
	if _, err := db.Exec(`INSERT INTO target_state (target, state, since) VALUES ('rt1', 'up', 'now')`); err != nil {
		t.Fatalf("new table missing after upgrade: %v", err)
	}
	bak := filepath.Join(dir, File+".pre-v"+strconv.Itoa(len(migrations)))
	if _, err := os.Stat(bak); err != nil {
		t.Fatalf("no backup before migrating: %v", err)
	}
	// Reopening an up-to-date database changes nothing.
	db.Close()
	again, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	again.Close()
}

func TestRefusesNewerDatabase(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	future := append(append([]migration{}, migrations...), migration{"from the future", `CREATE TABLE future (x INTEGER)`})
	db, err := open(ctx, dir, future)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	before, _ := os.ReadFile(filepath.Join(dir, File))

	_, err = Open(ctx, dir)
	if err == nil {
		t.Fatal("opened a database from a newer foghorn")
	}
	want := "has schema version " + strconv.Itoa(len(future)) + ", but this foghorn knows only up to " + strconv.Itoa(len(migrations))
	if !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "never downgrades") {
		t.Fatalf("error = %v; want it to contain %q", err, want)
	}
	after, _ := os.ReadFile(filepath.Join(dir, File))
	if !bytes.Equal(before, after) {
		t.Fatal("the newer database was modified")
	}
}

func TestRefusesCorruptFileAndKeepsIt(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	junk := bytes.Repeat([]byte("this is not sqlite "), 300)
	if err := os.WriteFile(filepath.Join(dir, File), junk, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Open(ctx, dir)
	if err == nil || !strings.Contains(err.Error(), "not a readable foghorn database") || !strings.Contains(err.Error(), "will not overwrite") {
		t.Fatalf("error = %v", err)
	}
	after, _ := os.ReadFile(filepath.Join(dir, File))
	if !bytes.Equal(junk, after) {
		t.Fatal("corrupt file was overwritten")
	}
}

func TestDataDirLock(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Open(ctx, dir)
	if err == nil || !strings.Contains(err.Error(), "in use by another foghorn") {
		t.Fatalf("second open: %v", err)
	}
	db.Close()
	db2, err := Open(ctx, dir)
	if err != nil {
		t.Fatalf("open after close: %v", err)
	}
	db2.Close()
}
