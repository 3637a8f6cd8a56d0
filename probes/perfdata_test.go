package probes

import (
	"math"
	"reflect"
	"testing"
)

func TestPerfdata(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in   string
		want []Perf
	}{
		{"", nil},
		{"time=0.000123s;;;0.000000;10.000000", []Perf{{"time", 0.000123, "s"}}},
		{"rta=0.05ms;100;500;0 pl=0%;20;60;0", []Perf{{"rta", 0.05, "ms"}, {"pl", 0, "%"}}},
		{"'label with space'=1.5ms;warn;crit;min;max", []Perf{{"label with space", 1.5, "ms"}}},
		{"'it''s'=3", []Perf{{"it's", 3, ""}}},
		{"  users=4;20;50;0  \t load1=0.1 ", []Perf{{"users", 4, ""}, {"load1", 0.1, ""}}},
		{"neg=-12.5C temp=+3e2K", []Perf{{"neg", -12.5, "C"}, {"temp", 300, "K"}}},
		{"disk=1EB free=3KB", []Perf{{"disk", 1, "EB"}, {"free", 3, "KB"}}},
		{"bytes=1024c rate=5B/s", []Perf{{"bytes", 1024, "c"}, {"rate", 5, "B/s"}}},
		{"comma=0,75", []Perf{{"comma", 0.75, ""}}},
		// Garbage is skipped, the rest kept.
		{"unknown=U ok=1", []Perf{{"ok", 1, ""}}},
		{"=5 noequals x=1", []Perf{{"x", 1, ""}}},
		{"a=1.2.3 b=2", []Perf{{"b", 2, ""}}},
		{"nan=NaN inf=Inf big=1e999 ok=2", []Perf{{"ok", 2, ""}}},
		{"'unterminated=1 x=2", nil},
		{"'quoted'x=1 y=2", []Perf{{"y", 2, ""}}},
		{"''=1 z=3", []Perf{{"z", 3, ""}}},
		{"empty= e=;1;2", nil},
		{"unit=5m/s2", nil},
	}
	for _, c := range cases {
		if got := parsePerfdata(c.in); !reflect.DeepEqual(got, c.want) {
			t.Errorf("parsePerfdata(%q) = %+v, want %+v", c.in, got, c.want)
		}
	}
}

// FuzzPerfdata: plugins print anything; the parser must never panic and
// must only return items that make sense.
func FuzzPerfdata(f *testing.F) {
	for _, s := range []string{
		"time=0.000123s;;;0.000000;10.000000",
		"'label with space'=1.5ms;warn;crit;min;max other=2%",
		"'it''s'=3 ''=1 'x",
		"a=1e5 b=-.5 c=+,5 d=1e e=1e+ f=U",
		"=;'\t\n=== '''' 'a'='b'=",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, p := range parsePerfdata(s) {
			if p.Label == "" {
				t.Errorf("%q: empty label in %+v", s, p)
			}
			if math.IsNaN(p.Value) || math.IsInf(p.Value, 0) {
				t.Errorf("%q: non-finite value in %+v", s, p)
			}
		}
	})
}
