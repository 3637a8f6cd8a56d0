package ipmi

import (
	"strings"
	"testing"

	"github.com/bougou/go-ipmi/pkg/types"
)

func TestIPMICursorRoundTrip(t *testing.T) {
	for _, c := range []Cursor{{}, {Set: true}, {Set: true, ID: 17, Sum: 0xdeadbeef}} {
		if got := ParseCursor(c.String()); got != c {
			t.Errorf("ParseCursor(%q) = %+v, want %+v", c.String(), got, c)
		}
	}
	for _, bad := range []string{"x", "17", "70000:0", "1:zz"} {
		if got := ParseCursor(bad); got.Set {
			t.Errorf("ParseCursor(%q) = %+v, want unset", bad, got)
		}
	}
}

func TestIPMISeverities(t *testing.T) {
	ss := types.EventReadingTypeSensorSpecific
	th := types.EventReadingTypeThreshold
	for _, c := range []struct {
		typ    types.SensorType
		rt     types.EventReadingType
		offset uint8
		want   Severity
	}{
		{types.SensorTypeMemory, ss, 0, Warning},                  // correctable ECC
		{types.SensorTypeMemory, ss, 1, Critical},                 // uncorrectable ECC
		{types.SensorTypeMemory, ss, 6, Info},                     // presence detected
		{types.SensorTypeSystemFirmwareProgress, ss, 0, Critical}, // POST error
		{types.SensorTypeSystemFirmwareProgress, ss, 2, Info},     // progress
		{types.SensorTypePowerSupply, ss, 1, Critical},            // PSU failure
		{types.SensorTypePowerSupply, ss, 0, Info},                // presence
		{types.SensorTypeTemperature, th, 7, Warning},             // upper non-critical going high
		{types.SensorTypeTemperature, th, 9, Critical},            // upper critical going high
		{types.SensorTypeTemperature, th, 0x0b, Critical},         // upper non-recoverable going high
		{types.SensorTypeFan, th, 2, Critical},                    // lower critical going low
		{types.SensorTypeWatchdog2, ss, 0, Info},                  // timer expired, no action
	} {
		if got := severityOf(c.typ, c.rt, c.offset); got != c.want {
			t.Errorf("%s offset %d: %v, want %v", c.typ, c.offset, got, c.want)
		}
	}
}

func TestIPMISummaryFitsAnSMS(t *testing.T) {
	r := Report{Chassis: Chassis{On: true}}
	if got := r.Summary(); got != "BMC up; power on" {
		t.Fatalf("healthy: %q", got)
	}
	r = Report{
		Chassis: Chassis{On: false, Faults: []string{"power fault"}},
		Events: []Event{
			{Sensor: "DIMM A1", Text: "Correctable ECC", Severity: Warning},
			{Sensor: "PSU2", Text: "Power Supply Failure detected", Severity: Critical},
			{Sensor: "PSU2", Text: "Presence detected", Severity: Info},
		},
		Sensors: []Reading{
			{Name: "CPU1 Temp", Analog: true, Value: 97, Unit: "C", State: "above upper critical", Severity: Critical},
			{Name: "Inlet Temp", Analog: true, Value: 41, Unit: "C", State: "above upper non-critical", Severity: Warning},
			{Name: "Fan3", Analog: true, Value: 0, Unit: "RPM", State: "below lower critical", Severity: Critical},
		},
	}
	got := r.Summary()
	want := "BMC up; power off; power fault; SEL: PSU2 Power Supply Failure detected; sensors: CPU1 Temp 97C above upper critical (+3 more)"
	if got != want {
		t.Fatalf("summary:\n got %q\nwant %q", got, want)
	}
	if len(got) > summaryMax {
		t.Fatalf("%d characters", len(got))
	}
	if r.Severity() != Critical {
		t.Fatalf("severity %v", r.Severity())
	}
	if strings.Contains(got, "Presence") {
		t.Fatal("an info event made it into the page")
	}
}
