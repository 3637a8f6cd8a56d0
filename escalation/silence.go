package escalation

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/prometheus/alertmanager/pkg/labels"

	"foghorn/configs"
)

// Silence is an ad hoc "do not page about this until then".
type Silence struct {
	ID       int64     `json:"id"`
	Matchers []string  `json:"matchers"`
	Start    time.Time `json:"start"`
	End      time.Time `json:"end"`
	By       string    `json:"by"`
	Comment  string    `json:"comment"`
	// UID names it on every node of a cluster; Node is the foghorn that
	// last wrote it (share_silences.go).
	UID  string `json:"uid,omitempty"`
	Node string `json:"node,omitempty"`
}

// Silence adds a silence; matchers use Alertmanager's syntax
// (`name="pve1"`, `role=~"hv.*"`).
func (e *Engine) Silence(ctx context.Context, s Silence) (int64, error) {
	if len(s.Matchers) == 0 {
		return 0, fmt.Errorf("silence: no matchers: it would silence everything; name what to silence, e.g. name=\"pve1\"")
	}
	for _, m := range s.Matchers {
		if _, err := labels.ParseMatcher(m); err != nil {
			return 0, fmt.Errorf("silence: matcher %q: %w", m, err)
		}
	}
	if !s.End.After(s.Start) {
		return 0, fmt.Errorf("silence: ends %s, before it starts %s", s.End.Format(time.RFC3339), s.Start.Format(time.RFC3339))
	}
	raw, _ := json.Marshal(s.Matchers)
	e.mu.Lock()
	defer e.mu.Unlock()
	uid := e.newUID()
	res, err := e.db.ExecContext(ctx, `INSERT INTO silences (matchers, start_at, end_at, created_by, comment, uid, node, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		string(raw), ms(s.Start), ms(s.End), s.By, s.Comment, uid, e.nodeName(), ms(e.clock.Now()))
	if err != nil {
		return 0, fmt.Errorf("silence: %w", err)
	}
	defer e.SharedSilences().shareLocal(ctx, uid)
	id, _ := res.LastInsertId()
	e.db.Event(ctx, "silence.add", fmt.Sprintf("silence:%d", id), s.By, fmt.Sprintf("%v until %s: %s", s.Matchers, s.End.Format(time.RFC3339), s.Comment))
	// Incidents it now covers are re-examined at once.
	e.db.ExecContext(ctx, `UPDATE incidents SET due = ? WHERE state = 'triggered' AND due IS NOT NULL`, ms(e.clock.Now()))
	e.poke()
	return id, nil
}

// silencedBy names the maintenance window or silence covering labels now,
// and when it ends; "" when none does.
func (e *Engine) silencedBy(ctx context.Context, ps *pass, host string, ls map[string]string) (string, time.Time) {
	if why, until := Covering(e.cfg.Load().Maintenance, ps.activeSilences(ctx), ls, ps.now); why != "" || e.covers == nil {
		return why, until
	}
	return e.covers(host, ls, ps.now)
}

// Covering is the one rule for what keeps labels ls from paging at now:
// the first maintenance window open now whose matchers all match, else
// the first silence in force whose matchers all match. It names it
// ("maintenance nightly", "silence #3") and says when it ends; "" when
// nothing covers ls. The engine pages by it; whoever shows a target as
// quiet (the dashboard) can ask the same question.
func Covering(windows []configs.Maintenance, silences []Silence, ls map[string]string, now time.Time) (string, time.Time) {
	for _, m := range windows {
		if !configs.MatchAll(m.Matchers, ls) {
			continue
		}
		if end, ok := m.OpenAt(now); ok {
			return "maintenance " + m.Name, end
		}
	}
	for _, s := range silences {
		if !s.Start.After(now) && s.End.After(now) && configs.MatchAll(s.Matchers, ls) {
			return fmt.Sprintf("silence #%d", s.ID), s.End
		}
	}
	return "", time.Time{}
}

// Override is "cover pages for absent between start and end".
type Override struct {
	Absent string    `json:"absent"`
	Cover  string    `json:"cover"`
	Start  time.Time `json:"start"`
	End    time.Time `json:"end"`
	By     string    `json:"by"`
	UID    string    `json:"uid,omitempty"` // its name on every node of a cluster
}

// AddOverride records that o.Cover takes o.Absent's pages for a while.
func (e *Engine) AddOverride(ctx context.Context, o Override) error {
	cfg := e.cfg.Load()
	if cfg.person(o.Absent) == nil || cfg.person(o.Cover) == nil {
		return fmt.Errorf("override: %q covering %q: both must be people in the config", o.Cover, o.Absent)
	}
	if o.Absent == o.Cover || !o.End.After(o.Start) {
		return fmt.Errorf("override: %s covering %s from %s to %s makes no sense", o.Cover, o.Absent, o.Start, o.End)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	uid := e.newUID()
	if _, err := e.db.ExecContext(ctx, `INSERT INTO overrides (absent, cover, start_at, end_at, created_by, created_at, uid, node, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		o.Absent, o.Cover, ms(o.Start), ms(o.End), o.By, ms(e.clock.Now()), uid, e.nodeName(), ms(e.clock.Now())); err != nil {
		return fmt.Errorf("override: %w", err)
	}
	defer e.SharedOverrides().shareLocal(ctx, uid)
	return e.db.Event(ctx, "override.add", o.Absent, o.By, fmt.Sprintf("%s covers %s until %s", o.Cover, o.Absent, o.End.Format(time.RFC3339)))
}

// OnCall is who is on call in each rotation at t, after overrides, with
// the next handoffs (escalation.OnCall says how overrides cut shifts).
func (e *Engine) OnCall(ctx context.Context, t time.Time, next int) (map[string][]Shift, error) {
	ovs, err := Overrides(ctx, e.db, t)
	if err != nil {
		return nil, err
	}
	return Rotas(e.cfg.Load().Rotations, ovs, t, next+1)
}

// Silences lists the silences in force at t or later.
func (e *Engine) Silences(ctx context.Context, t time.Time) ([]Silence, error) {
	rows, err := e.db.QueryContext(ctx, `SELECT id, matchers, start_at, end_at, created_by, comment, uid, node FROM silences WHERE end_at > ? ORDER BY id`, ms(t))
	if err != nil {
		return nil, fmt.Errorf("escalation: silences: %w", err)
	}
	defer rows.Close()
	out := []Silence{}
	for rows.Next() {
		var s Silence
		var raw string
		var start, end int64
		if err := rows.Scan(&s.ID, &raw, &start, &end, &s.By, &s.Comment, &s.UID, &s.Node); err != nil {
			return nil, fmt.Errorf("escalation: silences: %w", err)
		}
		json.Unmarshal([]byte(raw), &s.Matchers)
		s.Start, s.End = time.UnixMilli(start), time.UnixMilli(end)
		out = append(out, s)
	}
	return out, rows.Err()
}
