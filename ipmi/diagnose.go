package ipmi

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/bougou/go-ipmi/pkg/types"
)

// Severity is how bad a finding is.
type Severity int

// Severities, in order.
const (
	Info Severity = iota
	Warning
	Critical
)

func (s Severity) String() string {
	switch s {
	case Warning:
		return "warning"
	case Critical:
		return "critical"
	}
	return "info"
}

// Event is one SEL record, put into words.
type Event struct {
	ID uint16
	// Sensor is the SDR name ("DIMM A1"), or "Memory #2" without one.
	Sensor string
	// Type is the sensor type ("Memory").
	Type string
	// Text is go-ipmi's EventString ("Uncorrectable ECC"), with the
	// POST code or reading where the record has one.
	Text       string
	Deasserted bool
	Severity   Severity
}

func (e Event) String() string {
	s := e.Sensor + " " + e.Text
	if e.Deasserted {
		s += " (cleared)"
	}
	return s
}

// Reading is one sensor now.
type Reading struct {
	Name   string
	Type   string
	Number uint8
	// Value and Unit are set for analog sensors (Analog).
	Value  float64
	Unit   string
	Analog bool
	// State says which threshold is crossed ("upper critical") or which
	// discrete states are active ("Uncorrectable ECC"); "" when fine.
	State    string
	Severity Severity
}

func (r Reading) String() string {
	s := r.Name
	if r.Analog {
		s += " " + formatValue(r.Value, r.Unit)
	}
	if r.State != "" {
		s += " " + r.State
	}
	return s
}

func formatValue(v float64, unit string) string {
	s := strconv.FormatFloat(v, 'f', -1, 64)
	if len(s) > 6 {
		s = strconv.FormatFloat(v, 'f', 2, 64)
	}
	if unit == "" || unit == "unspecified" {
		return s
	}
	if unit == "C" || unit == "F" || unit == "%" {
		return s + unit
	}
	return s + " " + unit
}

// eventOf puts a SEL record into words. OEM records are skipped: their
// meaning is the vendor's.
func eventOf(s *session, sel *types.SEL) (Event, bool) {
	st := sel.Standard
	if st == nil {
		return Event{}, false
	}
	offset := st.EventData.EventReadingOffset()
	ev := Event{
		ID: sel.RecordID, Sensor: s.sensorName(st), Type: st.SensorType.String(),
		Text: st.EventString(), Deasserted: bool(st.EventDir),
	}
	if ev.Text == "" {
		ev.Text = fmt.Sprintf("event %#02x/%d", uint8(st.EventReadingType), offset)
	}
	ev.Text = shorter(ev.Text)
	switch {
	case st.EventReadingType == types.EventReadingTypeThreshold:
		// Event data 2 holds the trigger reading when byte 1 says so.
		if st.EventData.EventData1>>6 == 1 {
			if ss := s.sensorByNumber(st.GeneratorID.OwnerID(), uint8(st.SensorNumber)); ss != nil && ss.full != nil && ss.analog {
				ev.Text += " (" + formatValue(ss.full.ConvertReading(st.EventData.EventData2), ss.unitText) + ")"
			}
		}
	case st.SensorType == types.SensorTypeSystemFirmwareProgress && offset == 0:
		// POST error: the code is in event data 2 (ipmitool reads it
		// for 0xA0 as well as the spec's 0xC0).
		if d1 := st.EventData.EventData1 >> 6; d1 == 3 || d1 == 2 {
			if why, ok := postErrors[st.EventData.EventData2]; ok {
				ev.Text += ": " + why
			} else {
				ev.Text += fmt.Sprintf(": code %#02x", st.EventData.EventData2)
			}
		}
	}
	if !ev.Deasserted {
		ev.Severity = severityOf(st.SensorType, st.EventReadingType, offset)
	}
	return ev, true
}

// shortTexts trims go-ipmi event names that are too long for an SMS.
var shortTexts = strings.NewReplacer(
	"ECC / other correctable memory error", "ECC",
	"ECC / other uncorrectable memory error", "ECC",
)

func shorter(s string) string { return strings.TrimSpace(shortTexts.Replace(s)) }

// reading judges one sensor from its SDR and Get Sensor Reading answer.
func reading(ss *sdrSensor, raw uint8, th types.SensorThresholdStatus, states types.Mask_DiscreteEvent) Reading {
	r := Reading{Name: ss.name, Type: ss.typ.String(), Number: ss.number}
	if r.Name == "" {
		r.Name = fmt.Sprintf("%s #%d", r.Type, ss.number)
	}
	if ss.analog && ss.full != nil {
		r.Analog, r.Value, r.Unit = true, ss.full.ConvertReading(raw), ss.unitText
	}
	if ss.reading == types.EventReadingTypeThreshold {
		switch th {
		case types.SensorThresholdStatus_UNR:
			r.State, r.Severity = "above upper non-recoverable", Critical
		case types.SensorThresholdStatus_UCR:
			r.State, r.Severity = "above upper critical", Critical
		case types.SensorThresholdStatus_LNR:
			r.State, r.Severity = "below lower non-recoverable", Critical
		case types.SensorThresholdStatus_LCR:
			r.State, r.Severity = "below lower critical", Critical
		case types.SensorThresholdStatus_UNC:
			r.State, r.Severity = "above upper non-critical", Warning
		case types.SensorThresholdStatus_LNC:
			r.State, r.Severity = "below lower non-critical", Warning
		}
		return r
	}
	// Discrete: name the active states that matter; states like
	// "Presence detected" are not findings.
	type state struct {
		sev  Severity
		name string
	}
	var active []state
	for _, off := range states.TrueEvents() {
		sev := severityOf(ss.typ, ss.reading, off)
		if sev == Info {
			continue
		}
		name := ""
		if e := ss.reading.EventForOffset(ss.typ, off); e != nil {
			name = e.EventName
		}
		if name == "" {
			name = fmt.Sprintf("state %d", off)
		}
		name = shorter(name)
		active = append(active, state{sev, name})
		r.Severity = max(r.Severity, sev)
	}
	slices.SortStableFunc(active, func(a, b state) int { return int(b.sev - a.sev) })
	names := make([]string, len(active))
	for i, a := range active {
		names[i] = a.name
	}
	r.State = strings.Join(names, ", ")
	return r
}

// severityOf classifies an asserted event or active state by sensor type
// and offset (IPMI 2.0 tables 42-2 and 42-3). Anything not listed is Info:
// a page must mean something is wrong, not that a BMC said something.
func severityOf(typ types.SensorType, rt types.EventReadingType, offset uint8) Severity {
	if rt == types.EventReadingTypeThreshold {
		switch offset {
		case 0x00, 0x01, 0x06, 0x07: // lower/upper non-critical
			return Warning
		case 0x02, 0x03, 0x04, 0x05, 0x08, 0x09, 0x0a, 0x0b: // critical, non-recoverable
			return Critical
		}
		return Info
	}
	if rt != types.EventReadingTypeSensorSpecific {
		return genericSeverity(rt, offset)
	}
	if t, ok := sensorSpecific[typ]; ok {
		return t[offset]
	}
	return Info
}

// genericSeverity covers the generic event/reading types (table 42-2)
// that say something is wrong whatever the sensor.
func genericSeverity(rt types.EventReadingType, offset uint8) Severity {
	switch rt {
	case types.EventReadingTypePredictiveFailure:
		if offset == 1 {
			return Warning
		}
	case types.EventReadingTypeTransitionSeverity:
		switch offset {
		case 1, 4: // transition to non-critical
			return Warning
		case 2, 3, 5, 6: // to critical, to non-recoverable
			return Critical
		}
	case types.EventReadingTypeRedundancy:
		switch offset {
		case 1, 2: // redundancy lost
			return Warning
		case 3: // non-redundant: sufficient resources from degraded
			return Warning
		case 4, 5: // non-redundant: insufficient resources
			return Critical
		}
	}
	return Info
}

// sensorSpecific maps sensor-specific offsets to severities. The ones the
// stories name: memory ECC, POST and firmware errors, PSU failure.
var sensorSpecific = map[types.SensorType]map[uint8]Severity{
	types.SensorTypeMemory: {
		0x00: Warning,  // correctable ECC
		0x01: Critical, // uncorrectable ECC
		0x02: Critical, // parity
		0x03: Critical, // memory scrub failed
		0x04: Warning,  // memory device disabled
		0x05: Warning,  // correctable ECC logging limit reached
		0x07: Critical, // configuration error
		0x08: Warning,  // spare
		0x09: Warning,  // automatically throttled
		0x0a: Critical, // critical overtemperature
	},
	types.SensorTypeSystemFirmwareProgress: {
		0x00: Critical, // POST error
		0x01: Critical, // system firmware hang
	},
	types.SensorTypePowerSupply: {
		0x01: Critical, // power supply failure detected
		0x02: Warning,  // predictive failure
		0x03: Critical, // input lost (AC/DC)
		0x04: Critical, // input lost or out of range
		0x05: Warning,  // input out of range, but present
		0x06: Warning,  // configuration error
	},
	types.SensorTypePowerUnit: {
		0x04: Critical, // AC lost
		0x05: Warning,  // soft power control failure
		0x06: Critical, // power unit failure detected
		0x07: Warning,  // predictive failure
	},
	types.SensorTypeProcessor: {
		0x00: Critical, // IERR
		0x01: Critical, // thermal trip
		0x02: Critical, // FRB1/BIST failure
		0x03: Critical, // FRB2/hang in POST
		0x04: Critical, // FRB3/processor startup failure
		0x05: Critical, // configuration error
		0x06: Critical, // uncorrectable CPU-complex error
		0x08: Warning,  // processor disabled
		0x0a: Warning,  // throttled
		0x0b: Critical, // uncorrectable machine check
		0x0c: Warning,  // correctable machine check
	},
	types.SensorTypeCriticalInterrupt: {
		0x04: Critical, // PCI PERR
		0x05: Critical, // PCI SERR
		0x07: Warning,  // bus correctable error
		0x08: Critical, // bus uncorrectable error
		0x09: Critical, // fatal NMI
		0x0a: Critical, // bus fatal error
		0x0b: Warning,  // bus degraded
	},
	types.SensorTypeOSStopShutdown: {
		0x00: Critical, // critical stop during OS load
		0x01: Critical, // run-time critical stop (panic, blue screen)
	},
	types.SensorTypeBootError: {
		0x00: Critical, // no bootable media
		0x01: Critical, // non-bootable diskette
		0x02: Critical, // PXE server not found
		0x03: Critical, // invalid boot sector
	},
	types.SensorTypeWatchdog2: {
		0x01: Warning, // hard reset
		0x02: Warning, // power down
		0x03: Warning, // power cycle
	},
	types.SensorTypeDriveSlot: {
		0x01: Critical, // drive fault
		0x02: Warning,  // predictive failure
	},
}

// postErrors are the POST codes of System Firmware Progress offset 0
// (IPMI 2.0 table 42-3): what "the BIOS said" at 3 a.m.
var postErrors = map[uint8]string{
	0x00: "unspecified",
	0x01: "no system memory installed",
	0x02: "no usable system memory",
	0x03: "unrecoverable disk failure",
	0x04: "unrecoverable system board failure",
	0x05: "unrecoverable diskette failure",
	0x06: "unrecoverable disk controller failure",
	0x07: "unrecoverable keyboard failure",
	0x08: "removable boot media not found",
	0x09: "unrecoverable video controller failure",
	0x0a: "no video device",
	0x0b: "firmware ROM corrupt",
	0x0c: "CPU voltage mismatch",
	0x0d: "CPU speed mismatch",
}

// Finding is one thing wrong, in words for a page.
type Finding struct {
	Severity Severity
	// Source is "chassis", "SEL" or "sensor".
	Source string
	Text   string
	// Sensor names the sensor a SEL event or reading is about ("DIMM
	// A1"): a sensor still asserting what its SEL event said is the same
	// finding, told once.
	Sensor string
}

// Findings lists what is wrong, worst first: power off and chassis faults,
// new SEL events of warning or worse, sensors beyond a threshold or in a
// bad state.
func (r Report) Findings() []Finding {
	var fs []Finding
	if !r.Chassis.On {
		fs = append(fs, Finding{Severity: Critical, Source: "chassis", Text: "power off"})
	}
	for _, f := range r.Chassis.Faults {
		sev := Critical
		switch f {
		case "cooling fault", "drive fault", "interlock":
			sev = Warning
		}
		fs = append(fs, Finding{Severity: sev, Source: "chassis", Text: f})
	}
	for _, e := range r.Events {
		if e.Severity > Info {
			fs = append(fs, Finding{e.Severity, "SEL", e.String(), e.Sensor})
		}
	}
	for _, s := range r.Sensors {
		if s.Severity > Info {
			fs = append(fs, Finding{s.Severity, "sensor", s.String(), s.Name})
		}
	}
	slices.SortStableFunc(fs, func(a, b Finding) int { return int(b.Severity) - int(a.Severity) })
	return fs
}

// Severity is the worst finding.
func (r Report) Severity() Severity { return Worst(r.Findings()) }

// Worst is the highest severity among fs, Info for none.
func Worst(fs []Finding) Severity {
	s := Info
	for _, f := range fs {
		s = max(s, f.Severity)
	}
	return s
}

// Summary is the diagnosis in one line for an SMS, e.g.
// "BMC up; power on; SEL: DIMM A1 Uncorrectable ECC".
func (r Report) Summary() string {
	return Summary(r.Chassis.On, r.Findings())
}

// summaryMax keeps the diagnosis inside one SMS with the target's name.
const summaryMax = 140

// Summary writes findings after "BMC up; power on|off", grouped by
// source, worst first, each once, and cut to fit one SMS ("+2 more").
func Summary(on bool, fs []Finding) string {
	head := "BMC up; power on"
	if !on {
		head = "BMC up; power off"
	}
	if ws := Words(fs, summaryMax-len(head)-2); len(ws) > 0 {
		return head + "; " + strings.Join(ws, "; ")
	}
	return head
}

// Words are the findings as a page says them, one part per source in
// order of its worst finding: "power fault", "SEL: PSU2 Power Supply
// Failure detected", "sensors: CPU1 Temp 97C above upper critical (+3
// more)". Power off is left out (the page says the power state itself),
// and so is a sensor whose SEL event already says it as badly: the same
// finding once. Findings are dropped from the end, worst kept, until the
// parts joined with "; " fit in room bytes; the first is always kept.
func Words(fs []Finding, room int) []string {
	var shown []Finding
	for _, f := range fs {
		if f.Source == "chassis" && f.Text == "power off" {
			continue
		}
		if f.Source == "sensor" && f.Sensor != "" && slices.ContainsFunc(fs, func(e Finding) bool {
			return e.Source == "SEL" && e.Sensor == f.Sensor && e.Severity >= f.Severity
		}) {
			continue
		}
		shown = append(shown, f)
	}
	var out []string
	for n := len(shown); n > 0; n-- {
		out = summaryParts(shown[:n])
		if n < len(shown) {
			out[len(out)-1] += fmt.Sprintf(" (+%d more)", len(shown)-n)
		}
		if len(strings.Join(out, "; ")) <= room || n == 1 {
			break
		}
	}
	return out
}

// summaryParts writes "SEL: a, b", "sensors: c", sources in order of
// their worst finding.
func summaryParts(fs []Finding) []string {
	var order []string
	by := map[string][]string{}
	for _, f := range fs {
		if _, ok := by[f.Source]; !ok {
			order = append(order, f.Source)
		}
		by[f.Source] = append(by[f.Source], f.Text)
	}
	out := make([]string, 0, len(order))
	for _, src := range order {
		prefix := ""
		switch src {
		case "SEL":
			prefix = "SEL: "
		case "sensor":
			prefix = "sensors: "
		}
		out = append(out, prefix+strings.Join(by[src], ", "))
	}
	return out
}
