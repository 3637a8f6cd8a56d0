package store

// migration is one schema step. Versions are positions in migrations: never
// edit or reorder a released step, only append. Each table names its
// owner, the one package that writes it.
type migration struct {
	name string
	sql  string
}

var migrations = []migration{
	{"audit trail", `
		-- owner: every package, append-only: pages, deliveries, acks, escalations,
		-- silences, power actions, config reloads.
		CREATE TABLE events (
			id      INTEGER PRIMARY KEY AUTOINCREMENT,
			at      TEXT NOT NULL,
			kind    TEXT NOT NULL,
			subject TEXT NOT NULL DEFAULT '',
			actor   TEXT NOT NULL DEFAULT '',
			detail  TEXT NOT NULL DEFAULT ''
		);
		CREATE INDEX events_subject ON events (subject, id);
		CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
	`},
	{"target state", `
		-- owner: probes. The last known state per target, so a restart resumes
		-- without paging again for what was already known.
		CREATE TABLE target_state (
			target      TEXT PRIMARY KEY,
			state       TEXT NOT NULL,
			since       TEXT NOT NULL,
			last_status TEXT NOT NULL DEFAULT '',
			last_msg    TEXT NOT NULL DEFAULT '',
			last_at     TEXT NOT NULL DEFAULT '',
			memory      TEXT NOT NULL DEFAULT '{}'
		);
	`},
}
