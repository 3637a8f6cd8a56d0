package configs

import "time"

// MatchAll reports whether labels satisfy every matcher; no matchers
// match nothing, so an empty list can never silence a whole site.
func MatchAll(matchers []string, labels map[string]string) bool {
	if len(matchers) == 0 {
		return false
	}
	for _, s := range matchers {
		m, err := ParseMatcher(s)
		if err != nil || !m.Matches(labels[m.Name]) {
			return false
		}
	}
	return true
}

// OpenAt reports whether the recurring window is open at now, and when it
// closes: it is when its latest start is less than its duration ago. The
// escalation engine and the dashboard must agree on this, so it lives here.
func (m Maintenance) OpenAt(now time.Time) (end time.Time, open bool) {
	sched, err := ParseCron(m.Schedule)
	if err != nil {
		return time.Time{}, false
	}
	loc, err := time.LoadLocation(m.TimeZone)
	if err != nil {
		loc = time.UTC
	}
	// Next is strictly after: a window that ends exactly now is over.
	start := sched.Next(now.Add(-m.Duration.Duration).In(loc))
	if start.After(now) {
		return time.Time{}, false
	}
	return start.Add(m.Duration.Duration), true
}
