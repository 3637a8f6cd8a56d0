package probes

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"time"

	"foghorn/configs"
	"foghorn/ipmi"
)

// Memory keys of the ipmi probe.
const (
	// memSEL is the SEL cursor ("record ID:checksum"), so a restart does
	// not report old events again.
	memSEL = "ipmi.sel_last"
	// memHeld keeps SEL findings shown for a few more runs: a SEL event
	// is read once, but a target goes down only after fall bad results,
	// and an uncorrectable ECC must not vanish before anyone is paged.
	memHeld = "ipmi.sel_held"
)

// held is a SEL finding still shown, with the runs it has left.
type held struct {
	Severity ipmi.Severity `json:"s"`
	Text     string        `json:"t"`
	Left     int           `json:"n"`
}

// IPMIProber returns the prober for kind "ipmi": it reads the BMC through
// pool (one session per BMC, shared with power actions). Register it as
// kind "ipmi" where the pool lives.
//
// The result is Critical when the BMC does not answer, the power is off,
// or the BMC reports something critical (uncorrectable ECC, POST error,
// PSU failure, a critical threshold); Warning for correctable ECC or a
// non-critical threshold. Msg is the diagnosis for the page, e.g.
// "BMC up; power on; SEL: DIMM A1 Uncorrectable ECC". SEL events are new
// ones only: the first run records where the SEL ends.
func IPMIProber(pool *ipmi.Pool) Prober {
	return func(ctx context.Context, t *configs.Target, mem *Memory) Result {
		start := time.Now()
		ctx, cancel := bound(ctx, t)
		defer cancel()
		b, err := pool.Get(t)
		if err != nil {
			return unknown(t, start, "%v", err)
		}
		cur := ipmi.Cursor{}
		if v, ok := mem.Get(memSEL); ok {
			cur = ipmi.ParseCursor(v)
		}
		rep, err := b.Check(ctx, cur)
		if err != nil {
			return fail(t, start, "%v", err)
		}
		mem.Set(memSEL, rep.Cursor.String())

		fs := rep.Findings()
		fs = holdSEL(mem, fs, max(t.Fall, 1))
		msg := ipmi.Summary(rep.Chassis.On, fs)
		if rep.More {
			msg += "; more SEL entries next run"
		}
		status := OK
		switch ipmi.Worst(fs) {
		case ipmi.Critical:
			status = Critical
		case ipmi.Warning:
			status = Warning
		}
		took := time.Since(start)
		perf := []Perf{seconds("time", took)}
		for _, s := range rep.Sensors {
			if s.Analog {
				perf = append(perf, Perf{Label: perfLabelOf(s.Name), Value: s.Value, Unit: s.Unit})
			}
		}
		return Result{Target: t.Name, Kind: t.Kind, Start: start, Duration: took, Status: status, Msg: msg, Perf: perf}
	}
}

// holdSEL adds the SEL findings of earlier runs that still have runs left
// and remembers this run's new ones for runs-1 more.
func holdSEL(mem *Memory, fs []ipmi.Finding, runs int) []ipmi.Finding {
	var old []held
	if v, ok := mem.Get(memHeld); ok && v != "" {
		json.Unmarshal([]byte(v), &old) // a bad value only loses the hold
	}
	var keep []held
	seen := map[string]bool{}
	for _, f := range fs {
		if f.Source == "SEL" {
			seen[f.Text] = true
			if runs > 1 {
				keep = append(keep, held{f.Severity, f.Text, runs - 1})
			}
		}
	}
	for _, h := range old {
		if h.Left <= 0 || seen[h.Text] {
			continue
		}
		seen[h.Text] = true
		fs = append(fs, ipmi.Finding{Severity: h.Severity, Source: "SEL", Text: h.Text})
		if h.Left > 1 {
			keep = append(keep, held{h.Severity, h.Text, h.Left - 1})
		}
	}
	if len(keep) == 0 {
		mem.Set(memHeld, "")
	} else if b, err := json.Marshal(keep); err == nil {
		mem.Set(memHeld, string(b))
	}
	// Worst first, as Findings orders them.
	slices.SortStableFunc(fs, func(a, b ipmi.Finding) int { return int(b.Severity - a.Severity) })
	return fs
}

// perfLabelOf makes a perfdata label of a sensor name: "CPU Temp" ->
// "cpu_temp".
func perfLabelOf(name string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			return r
		case r >= 'A' && r <= 'Z':
			return r + 'a' - 'A'
		}
		return '_'
	}, strings.TrimSpace(name))
}
