package configs

import (
	"fmt"
	"time"
)

// Duration is a time.Duration written as "30s" or "5m" in TOML. A bad value
// does not stop decoding: it is kept in raw and reported by validation, so
// check-config lists every problem at once instead of the first.
type Duration struct {
	time.Duration
	raw string
	bad error
}

// UnmarshalText records the text; validation reports parse errors.
func (d *Duration) UnmarshalText(b []byte) error {
	d.raw = string(b)
	v, err := time.ParseDuration(d.raw)
	if err != nil {
		d.bad = err
		return nil
	}
	if v < 0 {
		d.bad = fmt.Errorf("negative")
		return nil
	}
	d.Duration = v
	return nil
}

// MarshalText writes the duration back in Go syntax.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.Duration.String()), nil }

// Set reports whether the key was given in the file.
func (d Duration) Set() bool { return d.raw != "" }

// Secret holds a password or token read from a file or the environment. It
// prints as [redacted] in every format, so it cannot leak into logs or
// check-config output by accident.
type Secret struct{ v string }

// NewSecret wraps a value.
func NewSecret(v string) Secret { return Secret{v} }

// Reveal returns the value, for the one place that sends it.
func (s Secret) Reveal() string { return s.v }

// Empty reports whether no secret was found.
func (s Secret) Empty() bool { return s.v == "" }

func (s Secret) String() string {
	if s.v == "" {
		return ""
	}
	return "[redacted]"
}

// GoString keeps %#v from printing the value.
func (s Secret) GoString() string { return s.String() }

// MarshalText keeps encoders (JSON, slog) from printing the value.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// DateTime is a TOML date-time. One written without an offset
// (2026-01-05T09:00:00) is Local: it means wall-clock time in whatever zone
// the surrounding table names, so In puts it there.
type DateTime struct {
	time.Time
	Local bool
}

// UnmarshalTOML keeps whether the value had an offset, which decoding
// straight into a time.Time loses.
func (d *DateTime) UnmarshalTOML(v any) error {
	t, ok := v.(time.Time)
	if !ok {
		return fmt.Errorf("want a date-time such as 2026-01-05T09:00:00, got %v", v)
	}
	d.Time = t
	d.Local = t.Location().String() == "datetime-local"
	return nil
}

// In returns the instant, reading a Local value as wall-clock time in loc.
func (d DateTime) In(loc *time.Location) time.Time {
	if d.IsZero() || !d.Local {
		return d.Time
	}
	t := d.Time
	return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), loc)
}
