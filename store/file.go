package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Marker is written into the data dir when foghorn first creates its
// database there. A data dir with the marker and no database lost its
// database (deleted, a restore gone wrong, the wrong volume mounted): an
// empty one would forget every open and acked incident and page them all
// again as #1, so foghorn refuses to start instead.
const Marker = "foghorn.db.created"

// Modes of what foghorn creates: the database holds phone numbers, the
// audit trail and every target's errors, for nobody else on the machine.
const (
	dirMode  = 0o700
	fileMode = 0o600
)

// makeDataDir creates dir 0700 whatever the umask. An existing dir is left
// as it is; Exposed reports one others may read.
func makeDataDir(dir string) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	if err := os.MkdirAll(dir, dirMode); err != nil {
		return err
	}
	return os.Chmod(dir, dirMode) // MkdirAll's mode is masked by the umask
}

// createFile makes an empty file 0600 whatever the umask, unless it
// exists. SQLite gives the -wal and -shm files the database file's mode,
// so creating the database this way covers them too.
func createFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, fileMode)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Chmod(fileMode)
}

// missing refuses a data dir whose database was lost: the marker says
// foghorn created one here, and it is gone.
func missing(dir, path string) error {
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	marker := filepath.Join(dir, Marker)
	if _, err := os.Stat(marker); err != nil {
		return nil // a data dir that never had a database
	}
	backups, _ := filepath.Glob(path + ".pre-v*")
	restore := "restore it from your backup"
	if len(backups) > 0 {
		restore += fmt.Sprintf(" (or the copy foghorn made before its last upgrade: cp %s %s)", backups[len(backups)-1], path)
	}
	return fmt.Errorf("store: %s is missing, but foghorn created a database in this data dir before (%s): "+
		"starting empty would forget every open and acked incident and page them again as #1; "+
		"%s, then start foghorn; or, to start empty on purpose, remove %s", path, marker, restore, marker)
}

// mark writes the marker once the database exists. An existing install
// (a database, no marker) gets it too.
func mark(dir string) error {
	p := filepath.Join(dir, Marker)
	if _, err := os.Stat(p); err == nil {
		return nil
	}
	if err := createFile(p); err != nil {
		return fmt.Errorf("store: write %s: %w", p, err)
	}
	msg := fmt.Sprintf("foghorn created %s in this folder on %s.\n"+
		"While this file is here and %s is not, foghorn refuses to start: restore the database,\n"+
		"or remove this file to start with an empty one (every open incident then pages again as new).\n",
		File, time.Now().UTC().Format(time.RFC3339), File)
	if err := os.WriteFile(p, []byte(msg), fileMode); err != nil {
		return fmt.Errorf("store: write %s: %w", p, err)
	}
	return nil
}

// fileID is what tells the database file apart from another at its path.
type fileID struct{ dev, ino uint64 }

func identify(path string) (fileID, error) {
	st, err := os.Stat(path)
	if err != nil {
		return fileID{}, err
	}
	s, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return fileID{}, fmt.Errorf("no inode for %s", path)
	}
	return fileID{dev: uint64(s.Dev), ino: uint64(s.Ino)}, nil
}

// ErrFileGone: the database file at Path is not the one foghorn has open.
var ErrFileGone = errors.New("database file gone")

// FileGone reports whether the database file foghorn has open is no
// longer at its path: deleted, or replaced by another file (a restore
// under a running foghorn). Either way foghorn keeps writing to a file
// nobody will see again, and the next start would find an empty or other
// database. It costs one stat.
func (db *DB) FileGone() error {
	id, err := identify(db.Path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%w: %s was deleted while foghorn runs: what it records now is lost at the next stop; "+
			"restore the file from a backup (or a %s.pre-v* copy) and restart foghorn", ErrFileGone, db.Path, File)
	case err != nil:
		return fmt.Errorf("%w: cannot stat %s: %v", ErrFileGone, db.Path, err)
	case id != db.id:
		return fmt.Errorf("%w: %s was replaced by another file while foghorn runs (it still writes to the old one): "+
			"restart foghorn to use the new file, or put the old one back", ErrFileGone, db.Path)
	}
	return nil
}

// Exposed lists what of the data dir others on the machine may read or
// change (mode wider than 0700 for the dir, 0600 for the database files),
// each with the fix. foghorn creates them tight; an older install, a
// copy, or a hand-made folder may not be.
func (db *DB) Exposed() []string {
	var out []string
	dir := filepath.Dir(db.Path)
	if st, err := os.Stat(dir); err == nil && st.Mode().Perm()&0o077 != 0 {
		out = append(out, fmt.Sprintf("data dir %s is mode %04o: other users on this machine can read the database (phone numbers, incidents, target errors); chmod 700 %s",
			dir, st.Mode().Perm(), dir))
	}
	var loose []string
	for _, p := range []string{db.Path, db.Path + "-wal", db.Path + "-shm"} {
		if st, err := os.Stat(p); err == nil && st.Mode().Perm()&0o077 != 0 {
			loose = append(loose, fmt.Sprintf("%s (%04o)", filepath.Base(p), st.Mode().Perm()))
		}
	}
	if len(loose) > 0 {
		out = append(out, fmt.Sprintf("database files readable by others: %s; chmod 600 %s*", strings.Join(loose, ", "), db.Path))
	}
	return out
}
