package escalation

import (
	"fmt"
	"time"

	"foghorn/configs"
)

// anchor is where turns are counted from when a rotation gives no start:
// a Monday, so weekly rotations begin with their first member.
var anchor = time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)

// maxHandoffs bounds the walk from a rotation's start to now; with hourly
// handoffs it covers eleven years.
const maxHandoffs = 100000

// Shift is one member's turn in a rotation.
type Shift struct {
	Person string
	Start  time.Time
	End    time.Time
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
