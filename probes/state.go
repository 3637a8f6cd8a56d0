package probes

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"foghorn/store"
)

// SaveState records a target's new state in the store, with the result
// that caused it and the kind's memory, so a restart resumes from it.
func SaveState(ctx context.Context, db *store.DB, c Change) error {
	m, err := json.Marshal(c.Memory)
	if err != nil {
		return fmt.Errorf("probes: save state of %s: %w", c.Target, err)
	}
	at := c.Result.Start.UTC().Format(time.RFC3339Nano)
	_, err = db.ExecContext(ctx, `
		INSERT INTO target_state (target, state, since, last_status, last_msg, last_at, memory)
		VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (target) DO UPDATE SET state = excluded.state, since = excluded.since,
			last_status = excluded.last_status, last_msg = excluded.last_msg,
			last_at = excluded.last_at, memory = excluded.memory`,
		c.Target, string(c.To), at, c.Result.Status.String(), c.Result.Msg, at, string(m))
	if err != nil {
		return fmt.Errorf("probes: save state of %s: %w", c.Target, err)
	}
	return nil
}
