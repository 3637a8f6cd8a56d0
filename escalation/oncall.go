package escalation

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"time"

	"foghorn/configs"
)

// anchor is where turns are counted from when a rotation gives no start:
// a Monday, so weekly rotations begin with their first member.
var anchor = time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)

// maxHandoffs bounds the walk from a rotation's start to now; with hourly
// handoffs it covers eleven years.
const maxHandoffs = 100000

// Shift is one member's turn in a rotation, or, after overrides, one
// stretch of it during which the same person takes the pages.
type Shift struct {
	Person string
	Start  time.Time
	End    time.Time // zero: no handoff
	// Covering is whom Person stands in for when an override put them
	// there; "" on their own shift.
	Covering string `json:",omitempty"`
	// Zone is the rotation's time zone, in which Start and End are meant
	// to be read (the API's JSON keeps only the offset).
	Zone string `json:",omitempty"`
}

// turn returns the index of the member on call at t, and when that turn
// started and ends. Handoffs follow the cron spec in the rotation's zone,
// so "0 9 * * MON" stays at 09:00 local across DST changes.
func turn(ro *configs.Rotation, t time.Time) (idx int, start, end time.Time, err error) {
	n := len(ro.Members)
	if n == 0 {
		return 0, time.Time{}, time.Time{}, fmt.Errorf("rotation %s has no members", ro.Name)
	}
	loc, err := time.LoadLocation(ro.TimeZone)
	if err != nil {
		return 0, time.Time{}, time.Time{}, fmt.Errorf("rotation %s: %w", ro.Name, err)
	}
	from := ro.Start.In(loc)
	if from.IsZero() {
		from = time.Date(anchor.Year(), anchor.Month(), anchor.Day(), 0, 0, 0, 0, loc)
	}
	if n == 1 || ro.Handoff == "" {
		return 0, from, time.Time{}, nil
	}
	sched, err := configs.ParseCron(ro.Handoff)
	if err != nil {
		return 0, time.Time{}, time.Time{}, fmt.Errorf("rotation %s handoff: %w", ro.Name, err)
	}
	if t.Before(from) {
		return 0, from, sched.Next(from.In(loc)), nil
	}
	start = from.In(loc)
	count := 0
	for i := 0; i < maxHandoffs; i++ {
		next := sched.Next(start)
		if next.After(t) {
			return count % n, start, next, nil
		}
		start = next
		count++
	}
	return 0, time.Time{}, time.Time{}, fmt.Errorf("rotation %s: more than %d handoffs since its start; set a later start", ro.Name, maxHandoffs)
}

// Shifts lists the current shift of a rotation at t and the next n-1.
func Shifts(ro *configs.Rotation, t time.Time, n int) ([]Shift, error) {
	idx, start, end, err := turn(ro, t)
	if err != nil {
		return nil, err
	}
	out := []Shift{{Person: ro.Members[idx], Start: start, End: end}}
	for len(out) < n && !end.IsZero() {
		next, s, e, err := turn(ro, end)
		if err != nil {
			return nil, err
		}
		out = append(out, Shift{Person: ro.Members[next], Start: s, End: e})
		end = e
	}
	return out, nil
}

// OnCall is who takes a rotation's pages at t and in the n-1 stretches
// after it, with overrides applied: a shift is cut where an override
// starts or ends, so the end shown for a cover is the override's (or the
// handoff, if that comes first) and the absent person's return is a
// stretch of its own. ovs are in the order they were added; a later one
// wins, as in paging (coverFor).
func OnCall(ro *configs.Rotation, ovs []Override, t time.Time, n int) ([]Shift, error) {
	loc, err := time.LoadLocation(ro.TimeZone)
	if err != nil {
		return nil, fmt.Errorf("rotation %s: %w", ro.Name, err)
	}
	// Every boundary can add a stretch; merging can take one away.
	base, err := Shifts(ro, t, n+2*len(ovs))
	if err != nil {
		return nil, err
	}
	var out []Shift
	for _, sh := range base {
		cuts := []time.Time{sh.Start}
		for _, o := range ovs {
			for _, b := range []time.Time{o.Start, o.End} {
				if b.After(sh.Start) && (sh.End.IsZero() || b.Before(sh.End)) {
					cuts = append(cuts, b.In(loc))
				}
			}
		}
		slices.SortFunc(cuts, func(a, b time.Time) int { return a.Compare(b) })
		cuts = slices.CompactFunc(cuts, func(a, b time.Time) bool { return a.Equal(b) })
		for i, from := range cuts {
			end := sh.End
			if i+1 < len(cuts) {
				end = cuts[i+1]
			}
			// No override starts or ends inside [from, end): who covers
			// at from covers throughout.
			who := coverAt(ovs, sh.Person, from)
			s := Shift{Person: who, Start: from, End: end, Zone: ro.TimeZone}
			if who != sh.Person {
				s.Covering = sh.Person
			}
			if k := len(out) - 1; k >= 0 && out[k].Person == s.Person && out[k].Covering == s.Covering {
				out[k].End = s.End
				continue
			}
			out = append(out, s)
		}
	}
	// Stretches over before t go only now, after merging, so a stretch
	// keeps its true start when an override of someone else cut it.
	for len(out) > 0 && !out[0].End.IsZero() && !out[0].End.After(t) {
		out = out[1:]
	}
	if len(out) > n {
		out = out[:n]
	}
	return out, nil
}

// Rotas is OnCall for each rotation of rots, by name: the n stretches
// from t of each, after overrides. The engine's OnCall and `foghorn
// oncall -config` (which reads the overrides beside a running foghorn)
// both answer with it, so they cannot disagree.
func Rotas(rots []configs.Rotation, ovs []Override, t time.Time, n int) (map[string][]Shift, error) {
	out := map[string][]Shift{}
	for i := range rots {
		shifts, err := OnCall(&rots[i], ovs, t, n)
		if err != nil {
			return nil, err
		}
		out[rots[i].Name] = shifts
	}
	return out, nil
}

// coverAt follows overrides from name at t, as coverFor does in the
// store: the latest override covering name wins, three hops at most.
func coverAt(ovs []Override, name string, t time.Time) string {
	for range 3 {
		found := false
		for i := len(ovs) - 1; i >= 0; i-- {
			if o := ovs[i]; o.Absent == name && !o.Start.After(t) && o.End.After(t) {
				name, found = o.Cover, true
				break
			}
		}
		if !found {
			return name
		}
	}
	return name
}

// rowQuerier is what reading overrides needs: the engine's store or a
// read-only handle opened beside a running foghorn (`foghorn oncall`).
type rowQuerier interface {
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
}

// Overrides lists the overrides still in force at t or later, oldest
// first.
func Overrides(ctx context.Context, q rowQuerier, t time.Time) ([]Override, error) {
	rows, err := q.QueryContext(ctx, `SELECT absent, cover, start_at, end_at, created_by, uid FROM overrides WHERE end_at > ? ORDER BY created_at, uid`, ms(t))
	if err != nil {
		return nil, fmt.Errorf("escalation: overrides: %w", err)
	}
	defer rows.Close()
	var out []Override
	for rows.Next() {
		var o Override
		var start, end int64
		if err := rows.Scan(&o.Absent, &o.Cover, &start, &end, &o.By, &o.UID); err != nil {
			return nil, fmt.Errorf("escalation: overrides: %w", err)
		}
		o.Start, o.End = time.UnixMilli(start), time.UnixMilli(end)
		out = append(out, o)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("escalation: overrides: %w", err)
	}
	return out, nil
}
