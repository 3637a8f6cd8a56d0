package escalation

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Shared is the silences or the overrides the foghorns of a [cluster]
// share (issue 15): a State for package cluster, as the notification log
// is. Each row has a cluster-wide name (uid: the node that made it and a
// random part) and a version: when it was last written (updated_at) and by
// which node. A change here (made, ended early, cancelled) is gossiped at
// once; MarshalBinary is every row not long over (the retention), for the
// full push/pull when a node joins. Merge keeps, per uid, the later
// version, then the one of the greater node name: both nodes settle on
// the same one whatever the order, and a version heard twice changes
// nothing. Rows are never deleted by a merge, and each node keeps its own
// copy in its own SQLite (tables silences and overrides).
//
// Clocks. A node writing a row it already has stamps it after that row's
// version even if its own clock is behind (updated_at is at least the old
// one + 1 ms): ending a silence always beats the silence it ended. Two
// nodes changing one row unaware of each other (a partition) keep the one
// written later by its writer's clock: with a skewed clock, "later" is
// that clock's. What was in force on its writer when written (a silence
// "from now", one ended "now") is in force, or over, on the receiver from
// the receiver's now: start and end are moved back to it, never forward,
// so a clock ahead does not delay a silence nor keep an ended one alive.
type Shared struct {
	e     *Engine
	table string // "silences" or "overrides"

	mu        sync.Mutex
	broadcast func([]byte)
	merged    atomic.Uint64 // versions taken from peers
	ignored   atomic.Uint64 // versions heard that were not newer (replays, our own echoed)
}

// sharedRow is one silence or override as the nodes gossip it.
type sharedRow struct {
	UID     string    `json:"uid"`
	Node    string    `json:"node"`    // the node that wrote this version
	Updated time.Time `json:"updated"` // when, by its clock
	Start   time.Time `json:"start"`
	End     time.Time `json:"end"`
	By      string    `json:"by"`
	Ended   time.Time `json:"ended,omitzero"` // ended early, and by whom
	EndedBy string    `json:"ended_by,omitempty"`
	// A silence's.
	Matchers []string `json:"matchers,omitempty"`
	Comment  string   `json:"comment,omitempty"`
	// An override's.
	Absent  string    `json:"absent,omitempty"`
	Cover   string    `json:"cover,omitempty"`
	Created time.Time `json:"created,omitzero"`
}

// newer reports whether r wins over the version (at, node): the later
// write, then the greater node name; the same version does not win.
func (r sharedRow) newer(at time.Time, node string) bool {
	if u := ms(r.Updated); u != ms(at) {
		return u > ms(at)
	}
	return r.Node > node
}

// SharedSilences is the silences as a cluster State (key "silences").
func (e *Engine) SharedSilences() *Shared { return e.shares().silences }

// SharedOverrides is the overrides as a cluster State (key "overrides").
func (e *Engine) SharedOverrides() *Shared { return e.shares().overrides }

type shares struct {
	once                sync.Once
	silences, overrides *Shared
}

func (e *Engine) shares() *shares {
	e.share.once.Do(func() {
		e.share.silences = &Shared{e: e, table: "silences"}
		e.share.overrides = &Shared{e: e, table: "overrides"}
	})
	return &e.share
}

// SetBroadcast sets what gossips a changed row (the cluster's
// Channel.Broadcast); nil: nothing is gossiped.
func (s *Shared) SetBroadcast(f func([]byte)) {
	s.mu.Lock()
	s.broadcast = f
	s.mu.Unlock()
}

// ShareStats counts what the silences and overrides took from the peers.
type ShareStats struct {
	SilencesMerged, OverridesMerged uint64 // versions taken from peers
	Ignored                         uint64 // versions heard again or older than ours
}

// ShareStats is the counts for /metrics.
func (e *Engine) ShareStats() ShareStats {
	sh := e.shares()
	return ShareStats{SilencesMerged: sh.silences.merged.Load(), OverridesMerged: sh.overrides.merged.Load(),
		Ignored: sh.silences.ignored.Load() + sh.overrides.ignored.Load()}
}

func (e *Engine) nodeName() string {
	if e.cl != nil {
		return e.cl.Node
	}
	return ""
}

// newUID names a new row for the whole cluster.
func (e *Engine) newUID() string {
	b := make([]byte, 8)
	rand.Read(b)
	n := e.nodeName()
	if n == "" {
		n = "local"
	}
	return n + "-" + hex.EncodeToString(b)
}

const (
	silenceCols  = `uid, node, updated_at, start_at, end_at, created_by, ended_at, ended_by, matchers, comment`
	overrideCols = `uid, node, updated_at, start_at, end_at, created_by, ended_at, ended_by, absent, cover, created_at`
)

func (s *Shared) cols() string {
	if s.table == "silences" {
		return silenceCols
	}
	return overrideCols
}

func (s *Shared) scan(rows *sql.Rows) (sharedRow, error) {
	var r sharedRow
	var upd, start, end, ended, created int64
	var raw string
	var err error
	if s.table == "silences" {
		err = rows.Scan(&r.UID, &r.Node, &upd, &start, &end, &r.By, &ended, &r.EndedBy, &raw, &r.Comment)
		json.Unmarshal([]byte(raw), &r.Matchers)
	} else {
		err = rows.Scan(&r.UID, &r.Node, &upd, &start, &end, &r.By, &ended, &r.EndedBy, &r.Absent, &r.Cover, &created)
		r.Created = time.UnixMilli(created)
	}
	r.Updated, r.Start, r.End = time.UnixMilli(upd), time.UnixMilli(start), time.UnixMilli(end)
	if r.Node == "" {
		// Made before the cluster, or before this node had one: this
		// node's; the peer's echo brings the name back here.
		r.Node = s.e.nodeName()
	}
	if ended != 0 {
		r.Ended = time.UnixMilli(ended)
	}
	return r, err
}

// read is the rows of the table matching where.
func (s *Shared) read(ctx context.Context, q querier, where string, args ...any) ([]sharedRow, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+s.cols()+` FROM `+s.table+` WHERE `+where+` ORDER BY uid`, args...)
	if err != nil {
		return nil, fmt.Errorf("escalation: shared %s: %w", s.table, err)
	}
	defer rows.Close()
	var out []sharedRow
	for rows.Next() {
		r, err := s.scan(rows)
		if err != nil {
			return nil, fmt.Errorf("escalation: shared %s: %w", s.table, err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// horizon is how long after its end a row is still handed to a joining
// peer: the notification log's retention (a node down that long still
// hears that a silence it has was ended early).
func (s *Shared) horizon() time.Duration {
	if s.e.cl != nil && s.e.cl.Retention > 0 {
		return s.e.cl.Retention
	}
	return 90 * 24 * time.Hour
}

// MarshalBinary is every row not over for longer than the retention, for
// the cluster's full-state push/pull.
func (s *Shared) MarshalBinary() ([]byte, error) {
	rows, err := s.read(context.Background(), s.e.db, `end_at > ?`, ms(s.e.clock.Now().Add(-s.horizon())))
	if err != nil {
		return nil, err
	}
	if rows == nil {
		rows = []sharedRow{}
	}
	return json.Marshal(rows)
}

// Merge takes a peer's rows (one gossiped change or its full state): it
// decodes them here and stores them out of the cluster's receiving
// goroutine, as the engine stores the log's (merged).
func (s *Shared) Merge(b []byte) error {
	var in []sharedRow
	if err := json.Unmarshal(b, &in); err != nil {
		return fmt.Errorf("escalation: shared %s: decode a peer's rows: %w", s.table, err)
	}
	if len(in) == 0 {
		return nil
	}
	select {
	case <-s.e.done:
		s.apply(context.Background(), in)
	default:
		s.e.spawn(func() { s.apply(context.Background(), in) })
	}
	return nil
}

// apply stores the rows newer than this node's, records where they came
// from, gossips them on (a third node may not have them) and has the
// engine look again at what they silence.
func (s *Shared) apply(ctx context.Context, in []sharedRow) {
	var fresh []sharedRow
	err := func() error {
		e := s.e
		e.mu.Lock()
		defer e.mu.Unlock()
		now := e.clock.Now()
		tx, err := e.db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		for _, r := range in {
			ok, err := s.applyOne(ctx, tx, now, r)
			if err != nil {
				return err
			}
			if ok {
				fresh = append(fresh, r)
			} else {
				s.ignored.Add(1)
			}
		}
		if len(fresh) > 0 && s.table == "silences" {
			// Incidents a silence now covers, or no longer covers, are
			// examined again at once (as Silence does).
			if _, err := tx.ExecContext(ctx, `UPDATE incidents SET due = ? WHERE state = 'triggered' AND due IS NOT NULL`, ms(now)); err != nil {
				return err
			}
		}
		return tx.Commit()
	}()
	if err != nil {
		s.e.log.Error("the peer's "+s.table+" not stored; its next full state brings them again", "count", len(in), "err", err)
		return
	}
	if len(fresh) == 0 {
		return
	}
	s.merged.Add(uint64(len(fresh)))
	s.e.log.Info(s.table+" taken from the peer", "count", len(fresh), "from", fresh[0].Node)
	s.send(fresh)
	s.e.poke()
}

// valid says whether a peer's row can be stored.
func (s *Shared) valid(r sharedRow) bool {
	if r.UID == "" || r.Node == "" || !r.End.After(r.Start) && r.Ended.IsZero() {
		return false
	}
	if s.table == "silences" {
		return len(r.Matchers) > 0
	}
	return r.Absent != "" && r.Cover != ""
}

func (s *Shared) applyOne(ctx context.Context, tx *sql.Tx, now time.Time, r sharedRow) (bool, error) {
	if !s.valid(r) {
		s.e.log.Warn("a peer's "+s.table+" row skipped: incomplete", "uid", r.UID, "node", r.Node)
		return false, nil
	}
	if !r.End.After(now.Add(-s.horizon())) {
		return false, nil // over long ago: nothing to keep
	}
	var id, oldUpd, oldEnded int64
	var oldNode string
	err := tx.QueryRowContext(ctx, `SELECT id, node, updated_at, ended_at FROM `+s.table+` WHERE uid = ?`, r.UID).Scan(&id, &oldNode, &oldUpd, &oldEnded)
	known := err == nil
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return false, err
	}
	if known && !r.newer(time.UnixMilli(oldUpd), oldNode) {
		return false, nil
	}
	// In force on its writer when written: in force here from now, not
	// from the writer's clock; over there when written: over here now.
	start, end := r.Start, r.End
	if !start.After(r.Updated) && start.After(now) {
		start = now
	}
	if !end.After(r.Updated) && end.After(now) {
		end = now
	}
	var ended int64
	if !r.Ended.IsZero() {
		ended = ms(r.Ended)
	}
	if s.table == "silences" {
		raw, _ := json.Marshal(r.Matchers)
		if known {
			_, err = tx.ExecContext(ctx, `UPDATE silences SET node = ?, updated_at = ?, start_at = ?, end_at = ?, created_by = ?, ended_at = ?, ended_by = ?, matchers = ?, comment = ? WHERE id = ?`,
				r.Node, ms(r.Updated), ms(start), ms(end), r.By, ended, r.EndedBy, string(raw), r.Comment, id)
		} else {
			var res sql.Result
			res, err = tx.ExecContext(ctx, `INSERT INTO silences (`+silenceCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				r.UID, r.Node, ms(r.Updated), ms(start), ms(end), r.By, ended, r.EndedBy, string(raw), r.Comment)
			if err == nil {
				id, _ = res.LastInsertId()
			}
		}
	} else {
		if known {
			_, err = tx.ExecContext(ctx, `UPDATE overrides SET node = ?, updated_at = ?, start_at = ?, end_at = ?, created_by = ?, ended_at = ?, ended_by = ?, absent = ?, cover = ?, created_at = ? WHERE id = ?`,
				r.Node, ms(r.Updated), ms(start), ms(end), r.By, ended, r.EndedBy, r.Absent, r.Cover, ms(r.Created), id)
		} else {
			var res sql.Result
			res, err = tx.ExecContext(ctx, `INSERT INTO overrides (`+overrideCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				r.UID, r.Node, ms(r.Updated), ms(start), ms(end), r.By, ended, r.EndedBy, r.Absent, r.Cover, ms(r.Created))
			if err == nil {
				id, _ = res.LastInsertId()
			}
		}
	}
	if err != nil {
		return false, fmt.Errorf("escalation: store the peer's %s %s: %w", s.table, r.UID, err)
	}
	kind, subject, actor, detail := s.audit(r, id, known, oldEnded != 0)
	if kind != "" {
		if _, err := tx.ExecContext(ctx, `INSERT INTO events (at, kind, subject, actor, detail) VALUES (?, ?, ?, ?, ?)`,
			now.UTC().Format(time.RFC3339Nano), kind, subject, actor, detail); err != nil {
			return false, fmt.Errorf("escalation: record %s: %w", kind, err)
		}
	}
	return true, nil
}

// audit is the event a merged row makes on this node: who did it, and
// through which peer ("silence by alice via peer ams").
func (s *Shared) audit(r sharedRow, id int64, known, wasEnded bool) (kind, subject, actor, detail string) {
	via := "via peer " + r.Node
	ending := !r.Ended.IsZero() && !wasEnded
	if s.table == "silences" {
		subject = "silence:" + strconv.FormatInt(id, 10)
		switch {
		case ending:
			return "silence.delete", subject, r.EndedBy, fmt.Sprintf("%v ended early (silence %s ended by %s %s)", r.Matchers, r.UID, r.EndedBy, via)
		case !known:
			return "silence.add", subject, r.By, fmt.Sprintf("%v until %s: %s (silence by %s %s)", r.Matchers, r.End.Format(time.RFC3339), r.Comment, r.By, via)
		}
		return "silence.update", subject, r.By, fmt.Sprintf("%v until %s (silence %s changed %s)", r.Matchers, r.End.Format(time.RFC3339), r.UID, via)
	}
	subject = r.Absent
	switch {
	case ending:
		return "override.cancel", subject, r.EndedBy, fmt.Sprintf("%s no longer covers %s (override %s cancelled by %s %s)", r.Cover, r.Absent, r.UID, r.EndedBy, via)
	case !known:
		return "override.add", subject, r.By, fmt.Sprintf("%s covers %s until %s (override by %s %s)", r.Cover, r.Absent, r.End.Format(time.RFC3339), r.By, via)
	}
	return "override.update", subject, r.By, fmt.Sprintf("%s covers %s until %s (override %s changed %s)", r.Cover, r.Absent, r.End.Format(time.RFC3339), r.UID, via)
}

// send gossips rows to the other nodes.
func (s *Shared) send(rows []sharedRow) {
	s.mu.Lock()
	f := s.broadcast
	s.mu.Unlock()
	if f == nil || len(rows) == 0 {
		return
	}
	b, _ := json.Marshal(rows)
	f(b)
}

// shareLocal gossips this node's row uid as it is now in the store
// (after a change made here). A failure to read it back is logged: the
// next full push/pull carries it.
func (s *Shared) shareLocal(ctx context.Context, uid string) {
	rows, err := s.read(ctx, s.e.db, `uid = ?`, uid)
	if err != nil {
		s.e.log.Warn(s.table+": a change not gossiped; the next full state carries it", "uid", uid, "err", err)
		return
	}
	s.send(rows)
}

// ErrNoSuchRow is a silence or an override that is not in the store, or
// is already over.
var ErrNoSuchRow = errors.New("no such silence or override in force")

// EndSilence ends a silence early, on this node and (gossiped) on the
// others: ref is its number here or its uid.
func (e *Engine) EndSilence(ctx context.Context, ref, by string) (Silence, error) {
	s := e.SharedSilences()
	uid, err := e.endRow(ctx, s, ref, by)
	if err != nil {
		return Silence{}, err
	}
	all, err := e.Silences(ctx, time.Time{})
	if err != nil {
		return Silence{}, err
	}
	for _, x := range all {
		if x.UID == uid {
			return x, nil
		}
	}
	return Silence{UID: uid}, nil
}

// EndOverride cancels an override (its uid: Overrides lists them), on
// this node and on the others.
func (e *Engine) EndOverride(ctx context.Context, uid, by string) error {
	_, err := e.endRow(ctx, e.SharedOverrides(), uid, by)
	return err
}

func (e *Engine) endRow(ctx context.Context, s *Shared, ref, by string) (string, error) {
	what := s.table[:len(s.table)-1]
	var uid string
	err := func() error {
		e.mu.Lock()
		defer e.mu.Unlock()
		now := e.clock.Now()
		tx, err := e.db.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("end %s: %w", what, err)
		}
		defer tx.Rollback()
		var id, upd, start, end int64
		var detail string
		q := `SELECT id, uid, updated_at, start_at, end_at FROM ` + s.table + ` WHERE ended_at = 0 AND end_at > ? AND (uid = ? OR id = ?)`
		n, _ := strconv.ParseInt(ref, 10, 64)
		if err := tx.QueryRowContext(ctx, q, ms(now), ref, n).Scan(&id, &uid, &upd, &start, &end); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("end %s %s: %w", what, ref, ErrNoSuchRow)
			}
			return fmt.Errorf("end %s %s: %w", what, ref, err)
		}
		// After the version this node has, even with a clock behind it.
		stamp := max(ms(now), upd+1)
		newEnd := min(end, max(ms(now), start))
		if _, err := tx.ExecContext(ctx, `UPDATE `+s.table+` SET end_at = ?, ended_at = ?, ended_by = ?, updated_at = ?, node = ? WHERE id = ?`,
			newEnd, ms(now), by, stamp, e.nodeName(), id); err != nil {
			return fmt.Errorf("end %s %s: %w", what, ref, err)
		}
		kind, subject := "silence.delete", "silence:"+strconv.FormatInt(id, 10)
		detail = "ended early: " + uid
		if s.table == "overrides" {
			var absent, cover string
			tx.QueryRowContext(ctx, `SELECT absent, cover FROM overrides WHERE id = ?`, id).Scan(&absent, &cover)
			kind, subject, detail = "override.cancel", absent, fmt.Sprintf("%s no longer covers %s: %s", cover, absent, uid)
		} else if _, err := tx.ExecContext(ctx, `UPDATE incidents SET due = ? WHERE state = 'triggered' AND due IS NOT NULL`, ms(now)); err != nil {
			return fmt.Errorf("end %s %s: %w", what, ref, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO events (at, kind, subject, actor, detail) VALUES (?, ?, ?, ?, ?)`,
			now.UTC().Format(time.RFC3339Nano), kind, subject, by, detail); err != nil {
			return fmt.Errorf("end %s %s: record: %w", what, ref, err)
		}
		return tx.Commit()
	}()
	if err != nil {
		return "", err
	}
	s.shareLocal(ctx, uid)
	e.poke()
	return uid, nil
}
