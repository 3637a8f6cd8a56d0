package store

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// The audit view: the acts of people and automation in the events table
// (written by every package; see migrations.go), read back for the
// dashboard, the API and `foghorn audit`. Deliveries, notices and the
// engine's own bookkeeping are left out: they are in each incident's
// timeline.

// auditKinds are the kinds the audit view lists: LIKE patterns.
var auditKinds = []string{
	"power.%",                     // every power attempt: asked, confirmed, refused, allowed, done, failed
	"incident.ack",                // and what people do to incidents
	"incident.resolve",            //
	"incident.escalate",           //
	"incident.escalate.ignored",   //
	"incident.snooze",             //
	"silence.add", "silence.del%", // silences
	"override.%",    // on-call overrides
	"config.%",      // config reloads, taken or refused
	"note",          // a note an API caller sent with an act (cmd/foghorn api.go)
	"test-page%",    // test pages and their answers
	"start", "stop", // foghorn itself
}

// AuditFilter narrows the audit view. Zero fields do not filter.
type AuditFilter struct {
	Since time.Time
	// Target is a target name: power acts on it, acts on incidents about
	// it (its host, its name label or its key), silences naming it.
	Target string
	// Who is the actor exactly as recorded: a person, an API token's
	// name, "api" for the [server] token, "sighup", "automation".
	Who string
	// Limit caps the rows, newest first; 0 is 200, at most 5000.
	Limit int
}

// AuditEntry is one act.
type AuditEntry struct {
	ID      int64     `json:"id"`
	At      time.Time `json:"at"`
	Kind    string    `json:"kind"`
	Subject string    `json:"subject"` // as recorded: a host, an incident id, "silence:3", a person
	// Target is what the act was about, as a person reads it: the host
	// or target of an incident, the host of a power act.
	Target string `json:"target,omitempty"`
	// Incident and Short name the incident for acts on one (0 if none).
	Incident int64  `json:"incident,omitempty"`
	Short    int    `json:"short,omitempty"`
	Actor    string `json:"actor"`
	Detail   string `json:"detail"`
}

const auditMax = 5000

// Audit lists the acts matching f, newest first.
func (db *DB) Audit(ctx context.Context, f AuditFilter) ([]AuditEntry, error) {
	return audit(ctx, db.DB, f)
}

func audit(ctx context.Context, q *sql.DB, f AuditFilter) ([]AuditEntry, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 200
	}
	limit = min(limit, auditMax)
	kinds := make([]string, len(auditKinds))
	var args []any
	for i, k := range auditKinds {
		kinds[i] = "e.kind LIKE ?"
		args = append(args, k)
	}
	// An incident's events have its id as subject; the join names what it
	// is about. CAST keeps a subject like "pve1" from matching id 0.
	query := `SELECT e.id, e.at, e.kind, e.subject, e.actor, e.detail,
			COALESCE(i.id, 0), COALESCE(i.short, 0),
			COALESCE(NULLIF(i.host, ''), NULLIF(json_extract(i.labels, '$.name'), ''), i.key, '')
		FROM events e
		LEFT JOIN incidents i ON e.subject GLOB '[0-9]*' AND i.id = CAST(e.subject AS INTEGER)
		WHERE (` + strings.Join(kinds, " OR ") + `)`
	if !f.Since.IsZero() {
		// at is RFC 3339 with trimmed fractions, which do not sort as
		// strings within one second: compare on the second, then exactly below.
		query += ` AND e.at >= ?`
		args = append(args, f.Since.UTC().Format("2006-01-02T15:04:05"))
	}
	if f.Who != "" {
		query += ` AND e.actor = ?`
		args = append(args, f.Who)
	}
	if f.Target != "" {
		query += ` AND (e.subject = ? OR i.host = ? OR json_extract(i.labels, '$.name') = ? OR i.key = ? OR i.key = ?
			OR (e.kind = 'silence.add' AND instr(e.detail, ?) > 0))`
		args = append(args, f.Target, f.Target, f.Target, f.Target, "target:"+f.Target, fmt.Sprintf("name=%q", f.Target))
	}
	query += ` ORDER BY e.id DESC LIMIT ?`
	args = append(args, limit)
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("store: read the audit trail: %w", err)
	}
	defer rows.Close()
	out := []AuditEntry{}
	for rows.Next() {
		var e AuditEntry
		var at string
		if err := rows.Scan(&e.ID, &at, &e.Kind, &e.Subject, &e.Actor, &e.Detail, &e.Incident, &e.Short, &e.Target); err != nil {
			return nil, fmt.Errorf("store: read the audit trail: %w", err)
		}
		e.At, _ = time.Parse(time.RFC3339Nano, at)
		if !f.Since.IsZero() && e.At.Before(f.Since) {
			continue
		}
		if e.Incident == 0 && e.Target == "" && strings.HasPrefix(e.Kind, "power.") {
			e.Target = e.Subject // power acts are recorded under the host
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: read the audit trail: %w", err)
	}
	return out, nil
}

// ReadAudit reads the audit trail of the store in dir without taking the
// data dir's lock, so it works beside a running foghorn and when foghorn
// is down: read-only, no migration, nothing written.
func ReadAudit(ctx context.Context, dir string, f AuditFilter) ([]AuditEntry, error) {
	path := filepath.Join(dir, File)
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("store: %w (is [server] data_dir right, and may this user read it?)", err)
	}
	// mode=ro: a reader never writes; the busy timeout rides out a
	// checkpoint of the running foghorn.
	sqldb, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	defer sqldb.Close()
	return audit(ctx, sqldb, f)
}

// Allowed is a power action the guard let through: when, and on which host.
type Allowed struct {
	At   time.Time
	Host string
}

// PowerAllowed lists the power actions allowed after since, for the
// guard's rate limits to survive a restart (power.Desk.Remember). A row
// whose time does not parse is left out.
func (db *DB) PowerAllowed(ctx context.Context, since time.Time) ([]Allowed, error) {
	rows, err := db.QueryContext(ctx, `SELECT at, subject FROM events WHERE kind = 'power.allowed' AND at > ?`,
		since.UTC().Format(time.RFC3339Nano))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Allowed
	for rows.Next() {
		var at, host string
		if rows.Scan(&at, &host) == nil {
			if t, err := time.Parse(time.RFC3339Nano, at); err == nil {
				out = append(out, Allowed{At: t, Host: host})
			}
		}
	}
	return out, rows.Err()
}

// PowerStepDone says whether the audit trail has an automated power step
// for the incident subject (its number): one done before a restart is not
// done again.
func (db *DB) PowerStepDone(ctx context.Context, subject string) (bool, error) {
	rows, err := db.QueryContext(ctx, `SELECT 1 FROM events WHERE kind = 'power.step' AND subject = ? LIMIT 1`, subject)
	if err != nil {
		return false, err
	}
	defer rows.Close()
	found := rows.Next()
	return found, rows.Err()
}
