package escalation

import (
	"context"
	"fmt"
	"log/slog"
)

// The incident's life in the log: opened, severity changed, escalated,
// acknowledged, snoozed, resolved. Each line names the incident the way
// people do ("#3", what SMS and the dashboard show) and the way the store
// and the other log lines do (incident=ID), so a reader can follow one
// incident through the log. The lines are written after the change is
// committed: a rolled-back change is not in the log.

// logIncident writes one life line about inc.
func (e *Engine) logIncident(level slog.Level, what string, inc *Incident, args ...any) {
	if inc == nil {
		return
	}
	args = append([]any{"incident", inc.ID, "short", inc.Short}, args...)
	e.log.Log(context.Background(), level, fmt.Sprintf("incident #%d %s", inc.Short, what), args...)
}

// lifeLine is a life line found inside a transaction, written after it
// commits.
type lifeLine struct {
	level slog.Level
	what  string
	inc   Incident
	args  []any
}
