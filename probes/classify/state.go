package classify

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"strings"
	"time"

	"foghorn/probes"
	"foghorn/store"
)

// Saved is one target's persisted state: a row of target_state. The
// classifier's own state (class, incident, flap history) rides in the
// memory column under "probes." keys, next to the kind's own keys.
type Saved struct {
	Target string
	State  State
	Since  time.Time
	Last   probes.Result // Status, Msg and Start are kept
	Memory map[string]string

	class, key, flap string
}

// Memory keys of the classifier; kinds use their own prefix ("snmp.").
const (
	memClass = "probes.class"
	memKey   = "probes.incident"
	memFlap  = "probes.flap"
)

// row is the memory column: the kind's memory plus the classifier's.
func (s Saved) row() map[string]string {
	m := make(map[string]string, len(s.Memory)+3)
	maps.Copy(m, s.Memory)
	m[memClass], m[memKey], m[memFlap] = s.class, s.key, s.flap
	if s.key == "" {
		delete(m, memKey)
	}
	return m
}

// LoadStates reads every target's persisted state.
func LoadStates(ctx context.Context, db *store.DB) ([]Saved, error) {
	rows, err := db.QueryContext(ctx, `SELECT target, state, since, last_status, last_msg, last_at, memory FROM target_state`)
	if err != nil {
		return nil, fmt.Errorf("probes: load target state: %w", err)
	}
	defer rows.Close()
	var out []Saved
	for rows.Next() {
		var s Saved
		var state, since, status, at, mem string
		if err := rows.Scan(&s.Target, &state, &since, &status, &s.Last.Msg, &at, &mem); err != nil {
			return nil, fmt.Errorf("probes: load target state: %w", err)
		}
		s.State = State(state)
		if s.State != Up && s.State != Down {
			continue // nothing known worth resuming
		}
		s.Since, _ = time.Parse(time.RFC3339Nano, since)
		s.Last.Start, _ = time.Parse(time.RFC3339Nano, at)
		s.Last.Target, s.Last.Status = s.Target, parseStatus(status)
		if err := json.Unmarshal([]byte(mem), &s.Memory); err != nil || s.Memory == nil {
			s.Memory = map[string]string{}
		}
		s.class, s.key, s.flap = s.Memory[memClass], s.Memory[memKey], s.Memory[memFlap]
		for k := range s.Memory {
			if strings.HasPrefix(k, "probes.") {
				delete(s.Memory, k)
			}
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("probes: load target state: %w", err)
	}
	return out, nil
}

// SaveStates writes rows, and deletes the rows of gone targets, in one
// transaction: the classifier batches state changes and memory
// checkpoints, so 10,000 targets cost a few writes a second at most, not
// one per probe.
func SaveStates(ctx context.Context, db *store.DB, rows []Saved, gone ...string) error {
	if len(rows) == 0 && len(gone) == 0 {
		return nil
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("probes: save target state: %w", err)
	}
	defer tx.Rollback()
	st, err := tx.PrepareContext(ctx, upsertState)
	if err != nil {
		return fmt.Errorf("probes: save target state: %w", err)
	}
	defer st.Close()
	for _, s := range rows {
		m, err := json.Marshal(s.row())
		if err != nil {
			return fmt.Errorf("probes: save state of %s: %w", s.Target, err)
		}
		if _, err := st.ExecContext(ctx, s.Target, string(s.State), stampDB(s.Since), s.Last.Status.String(),
			s.Last.Msg, stampDB(s.Last.Start), string(m)); err != nil {
			return fmt.Errorf("probes: save state of %s: %w", s.Target, err)
		}
	}
	for _, name := range gone {
		if _, err := tx.ExecContext(ctx, `DELETE FROM target_state WHERE target = ?`, name); err != nil {
			return fmt.Errorf("probes: forget state of %s: %w", name, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("probes: save target state: %w", err)
	}
	return nil
}

const upsertState = `
	INSERT INTO target_state (target, state, since, last_status, last_msg, last_at, memory)
	VALUES (?, ?, ?, ?, ?, ?, ?)
	ON CONFLICT (target) DO UPDATE SET state = excluded.state, since = excluded.since,
		last_status = excluded.last_status, last_msg = excluded.last_msg,
		last_at = excluded.last_at, memory = excluded.memory`

func stampDB(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func parseStatus(s string) probes.Status {
	for _, st := range []probes.Status{probes.OK, probes.Warning, probes.Critical} {
		if st.String() == s {
			return st
		}
	}
	return probes.Unknown
}
