package store

import (
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
)

// OpenReadOnly opens the store in dir for reading beside a running
// foghorn or while it is down, as ReadAudit does: no lock on the data
// dir, no migration, nothing written. The caller closes it.
func OpenReadOnly(dir string) (*sql.DB, error) {
	path := filepath.Join(dir, File)
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("store: %w (is [server] data_dir right, and may this user read it?)", err)
	}
	sqldb, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	// sql.Open connects lazily: ping so an unreadable file fails here,
	// where the caller can say so, not on the first query.
	if err := sqldb.Ping(); err != nil {
		sqldb.Close()
		return nil, fmt.Errorf("store: open %s read-only: %w", path, err)
	}
	return sqldb, nil
}
