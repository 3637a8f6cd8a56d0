package configs

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// DefaultRetention is how long history is kept when [server] retention is
// not set: a quarter, enough to review last month's incidents.
const DefaultRetention = 90 * 24 * time.Hour

// minRetention keeps the pruner from eating the trail of an incident
// resolved this morning.
const minRetention = 24 * time.Hour

// Retention is [server] retention: "90d" (days, the unit an operator
// thinks in) or any Go duration ("2160h"). Like Duration, a bad value does
// not stop decoding: validation reports it with the fix.
type Retention struct {
	time.Duration
	raw string
	bad error
}

// UnmarshalText records the text; validation reports parse errors.
func (d *Retention) UnmarshalText(b []byte) error {
	d.raw = string(b)
	d.Duration, d.bad = parseRetention(d.raw)
	return nil
}

// MarshalText writes whole days as "90d".
func (d Retention) MarshalText() ([]byte, error) {
	if d.Duration > 0 && d.Duration%(24*time.Hour) == 0 {
		return []byte(strconv.FormatInt(int64(d.Duration/(24*time.Hour)), 10) + "d"), nil
	}
	return []byte(d.Duration.String()), nil
}

// Set reports whether the key was given in the file.
func (d Retention) Set() bool { return d.raw != "" }

func parseRetention(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days < 0 {
			return 0, fmt.Errorf("not a number of days")
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return 0, err
	}
	if v < 0 {
		return 0, fmt.Errorf("negative")
	}
	return v, nil
}

func validateRetention(r *report, c *Config) {
	d := c.Server.Retention
	const fix = `write a number of days like "90d" (the default) or "365d"; at least "1d"`
	switch {
	case d.bad != nil:
		r.add("server.retention", "server retention", fix, "%q is not a retention period", d.raw)
	case d.Duration < minRetention:
		r.add("server.retention", "server retention", fix,
			"%q is shorter than a day: the history of incidents resolved today would be pruned", d.raw)
	}
}
