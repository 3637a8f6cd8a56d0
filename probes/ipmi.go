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
	Sensor   string        `json:"x,omitempty"`
	Left     int           `json:"n"`
}

// bmcWordsMax is the room for a BMC's findings on its host's page: after
// "pve1 DOWN; BMC up; power on; ", inside the summary's 140 characters.
const bmcWordsMax = 110

// IPMIProber returns the prober for kind "ipmi": it reads the BMC through
// pool (one session per BMC, shared with power actions). Register it as
// kind "ipmi" where the pool lives.
//
// The result is Critical when the BMC does not answer, the power is off,
// or the BMC reports something critical (uncorrectable ECC, POST error,
// PSU failure, a critical threshold); Warning for correctable ECC or a
// non-critical threshold. Msg is the diagnosis in one line, e.g.
// "BMC up; power on; SEL: DIMM A1 Uncorrectable ECC", and BMC the same
// as typed fields, which the host's page is written from. SEL events are
// new ones only: the first run records where the SEL ends.
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
			r := fail(t, start, "%v", err)
			r.BMC = &BMCWord{} // asked, and silent
			return r
		}
		mem.Set(memSEL, rep.Cursor.String())

		fs := rep.Findings()
		fs = holdSEL(mem, fs, max(t.Fall, 1))
		msg := ipmi.Summary(rep.Chassis.On, fs)
		if rep.More {
			msg += "; more SEL entries next run"
		}
		word := &BMCWord{Answered: true, PowerOn: rep.Chassis.On, Findings: ipmi.Words(fs, bmcWordsMax)}
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
		return Result{Target: t.Name, Kind: t.Kind, Start: start, Duration: took, Status: status, Msg: msg, Perf: perf, BMC: word}
	}
}

// holdSEL adds the SEL findings of earlier runs that still have runs left
// and remembers this run's new ones for runs-1 more. A SEL finding whose
// sensor still asserts it as badly stays as long as it does: the page
// keeps saying "SEL: DIMM A1 Uncorrectable ECC" (the sensor's own state is
// the same finding, told once), whenever its host goes down.
func holdSEL(mem *Memory, fs []ipmi.Finding, runs int) []ipmi.Finding {
	var old []held
	if v, ok := mem.Get(memHeld); ok && v != "" {
		json.Unmarshal([]byte(v), &old) // a bad value only loses the hold
	}
	asserted := map[string]ipmi.Severity{}
	for _, f := range fs {
		if f.Source == "sensor" && f.Sensor != "" {
			asserted[f.Sensor] = max(asserted[f.Sensor], f.Severity)
		}
	}
	still := func(h held) bool {
		s, ok := asserted[h.Sensor]
		return h.Sensor != "" && ok && s >= h.Severity
	}
	var keep []held
	seen := map[string]bool{}
	for _, f := range fs {
		if f.Source == "SEL" {
			seen[f.Text] = true
			if h := (held{f.Severity, f.Text, f.Sensor, runs - 1}); runs > 1 || still(h) {
				h.Left = max(h.Left, 1)
				keep = append(keep, h)
			}
		}
	}
	for _, h := range old {
		if seen[h.Text] || (h.Left <= 0 && !still(h)) {
			continue
		}
		seen[h.Text] = true
		fs = append(fs, ipmi.Finding{Severity: h.Severity, Source: "SEL", Text: h.Text, Sensor: h.Sensor})
		switch {
		case still(h):
			keep = append(keep, held{h.Severity, h.Text, h.Sensor, max(h.Left-1, 1)})
		case h.Left > 1:
			keep = append(keep, held{h.Severity, h.Text, h.Sensor, h.Left - 1})
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
