// Package probes is foghorn's eyes: one small file per probe kind, all with
// the Prober shape, and a scheduler that runs them and hands each result
// to an Observer (classification, in probes/classify, wired in cmd). It
// knows targets and results, never people or channels.
package probes

import (
	"context"
	"fmt"
	"sync"
	"time"

	"foghorn/configs"
)

// Status is a probe outcome, in Nagios order so plugin exit codes map 1:1.
type Status int

// Probe outcomes.
const (
	OK Status = iota
	Warning
	Critical
	Unknown
)

func (s Status) String() string {
	switch s {
	case OK:
		return "OK"
	case Warning:
		return "WARNING"
	case Critical:
		return "CRITICAL"
	}
	return "UNKNOWN"
}

// Perf is one perfdata value (Nagios 'label=value[UOM];warn;crit;min;max').
type Perf struct {
	Label string
	Value float64
	Unit  string
}

// Result is what one run of a probe found.
type Result struct {
	Target   string
	Kind     string
	Start    time.Time
	Duration time.Duration
	Status   Status
	// Msg is one line for a human: what was checked and what was wrong.
	Msg  string
	Perf []Perf
	// Rebooted reports a restart noticed although the target answers now
	// (SNMP sysUpTime went backwards).
	Rebooted bool
	// BMC is what a BMC said (ipmi probes only; nil when it could not be
	// asked from our side): the host's page is written from it.
	BMC *BMCWord
}

// BMCWord is a BMC's word about its host, as the ipmi probe read it.
type BMCWord struct {
	// Answered: the BMC answered, so the host's power state and the
	// findings are known. A host down with its BMC answering points at
	// the host (hung, or a hardware fault); both silent points at the
	// network or the power.
	Answered bool
	PowerOn  bool
	// Findings are what the BMC reports wrong, worst first, worded for a
	// page and each said once ("SEL: DIMM A1 Uncorrectable ECC"); power
	// off is PowerOn, not a finding.
	Findings []string
}

// Fault reports whether the BMC answered and says something is wrong.
func (w *BMCWord) Fault() bool {
	return w != nil && w.Answered && (!w.PowerOn || len(w.Findings) > 0)
}

// Prober runs one check of t. It must return by ctx's deadline (the
// target's timeout) and report failures in the Result, never panic. mem is
// what this kind keeps between runs of the same target.
type Prober func(ctx context.Context, t *configs.Target, mem *Memory) Result

// Memory is per-target state a probe kind keeps between runs, such as the
// last sysUpTime or SEL record ID. The scheduler keeps it across reloads
// and hands it out (Scheduler.Memory, Resume) to be saved with the
// target's state.
type Memory struct {
	mu sync.Mutex
	m  map[string]string
}

// Get returns a remembered value.
func (m *Memory) Get(k string) (string, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.m[k]
	return v, ok
}

// Set remembers a value.
func (m *Memory) Set(k, v string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.m == nil {
		m.m = map[string]string{}
	}
	m.m[k] = v
}

// Snapshot copies the memory, for persisting.
func (m *Memory) Snapshot() map[string]string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]string, len(m.m))
	for k, v := range m.m {
		out[k] = v
	}
	return out
}

// fail builds a failed Result; kinds use it for the common error path.
func fail(t *configs.Target, start time.Time, format string, args ...any) Result {
	return Result{
		Target:   t.Name,
		Kind:     t.Kind,
		Start:    start,
		Duration: time.Since(start),
		Status:   Critical,
		Msg:      fmt.Sprintf(format, args...),
	}
}
