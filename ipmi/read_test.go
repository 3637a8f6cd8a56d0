package ipmi

import (
	"strings"
	"testing"
	"time"

	"foghorn/ipmi/simtest"
)

func TestIPMIStatusReadsPower(t *testing.T) {
	t.Parallel()
	s := simtest.Start(t)
	b := newBMC(t, s)
	ch, err := b.Status(within(t, 5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if !ch.On || len(ch.Faults) != 0 {
		t.Fatalf("chassis = %+v, want on and no faults", ch)
	}
	s.SetPower(false)
	if ch, err = b.Status(within(t, 5*time.Second)); err != nil || ch.On {
		t.Fatalf("after power off behind its back: %+v, %v", ch, err)
	}
	// ipmitool sees what we see.
	out, err := s.Ipmitool("chassis", "power", "status")
	if err != nil {
		t.Fatalf("ipmitool: %v\n%s", err, out)
	}
	if !strings.Contains(out, "Chassis Power is off") {
		t.Fatalf("ipmitool says %q, want power off", out)
	}
}

func TestIPMICheckReportsNewSELOnce(t *testing.T) {
	t.Parallel()
	s := simtest.Start(t)
	b := newBMC(t, s)
	// An event from before foghorn looked is not news.
	s.Console(simtest.CorrectableECC)
	r, err := b.Check(within(t, 5*time.Second), Cursor{})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Events) != 0 || !r.Cursor.Set || r.Cursor.ID == 0 {
		t.Fatalf("first look: events %v, cursor %+v; want none and the end of the SEL", r.Events, r.Cursor)
	}
	if r.Summary() != "BMC up; power on; sensors: DIMM A1 Correctable ECC" || r.Severity() != Warning {
		t.Fatalf("first look: %q (%v)", r.Summary(), r.Severity())
	}

	s.Console(simtest.UncorrectableECC)
	r, err = b.Check(within(t, 5*time.Second), r.Cursor)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Events) != 1 {
		t.Fatalf("events = %v, want the one uncorrectable ECC", r.Events)
	}
	e := r.Events[0]
	if e.Sensor != "DIMM A1" || e.Type != "Memory" || e.Text != "Uncorrectable ECC" || e.Severity != Critical {
		t.Fatalf("event = %+v", e)
	}
	if got := r.Summary(); got != "BMC up; power on; SEL: DIMM A1 Uncorrectable ECC" {
		t.Fatalf("summary = %q", got)
	}
	if r.Severity() != Critical {
		t.Fatalf("severity = %v", r.Severity())
	}

	again, err := b.Check(within(t, 5*time.Second), r.Cursor)
	if err != nil {
		t.Fatal(err)
	}
	if len(again.Events) != 0 || again.Cursor != r.Cursor {
		t.Fatalf("second look: events %v cursor %+v, want none and %+v", again.Events, again.Cursor, r.Cursor)
	}
	// ipmitool agrees on what the SEL holds.
	out, err := s.Ipmitool("sel", "elist")
	if err != nil {
		t.Fatalf("ipmitool: %v\n%s", err, out)
	}
	if !strings.Contains(out, "Uncorrectable ECC") || strings.Count(strings.TrimSpace(out), "\n") != 1 {
		t.Fatalf("ipmitool sel elist:\n%s", out)
	}
}

func TestIPMIEmptySELIsNotAnError(t *testing.T) {
	t.Parallel()
	s := simtest.Start(t)
	b := newBMC(t, s)
	r, err := b.Check(within(t, 5*time.Second), Cursor{})
	if err != nil {
		t.Fatalf("empty SEL: %v", err)
	}
	if r.Cursor != (Cursor{Set: true}) || len(r.Events) != 0 {
		t.Fatalf("cursor %+v events %v, want an empty-SEL cursor", r.Cursor, r.Events)
	}
	if r, err = b.Check(within(t, 5*time.Second), r.Cursor); err != nil || len(r.Events) != 0 {
		t.Fatalf("empty SEL again: %v %v", r.Events, err)
	}
	// Everything after an empty SEL is new.
	s.Console(simtest.POSTError)
	r, err = b.Check(within(t, 5*time.Second), r.Cursor)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Events) != 1 || r.Events[0].String() != "POST Status System Firmware Error (POST Error): no system memory installed" ||
		r.Events[0].Severity != Critical {
		t.Fatalf("events = %+v", r.Events)
	}
	if got := r.Summary(); got != "BMC up; power on; SEL: POST Status System Firmware Error (POST Error): no system memory installed" {
		t.Fatalf("summary = %q", got)
	}
}

func TestIPMISELClearedThenRefilledIsNew(t *testing.T) {
	t.Parallel()
	s := simtest.Start(t)
	b := newBMC(t, s)
	s.Console(simtest.CorrectableECC)
	r, err := b.Check(within(t, 5*time.Second), Cursor{})
	if err != nil {
		t.Fatal(err)
	}
	if out, err := s.Ipmitool("sel", "clear"); err != nil {
		t.Fatalf("ipmitool sel clear: %v\n%s", err, out)
	}
	s.Console(simtest.POSTError)
	s.Console(simtest.UncorrectableECC)
	r2, err := b.Check(within(t, 5*time.Second), r.Cursor)
	if err != nil {
		t.Fatal(err)
	}
	if len(r2.Events) != 2 || r2.Events[0].Type != "System Firmwares" || r2.Events[1].Text != "Uncorrectable ECC" {
		t.Fatalf("after clear: %+v (cursor was %+v)", r2.Events, r.Cursor)
	}
}

func TestIPMISensorsAgainstThresholds(t *testing.T) {
	t.Parallel()
	s := simtest.Start(t)
	b := newBMC(t, s)
	rs, err := b.Sensors(within(t, 5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 3 || rs[0].Name != "CPU Temp" || rs[0].Value != 48 || rs[0].Unit != "C" || rs[0].Severity != Info {
		t.Fatalf("sensors = %+v", rs)
	}
	r, err := b.Check(within(t, 5*time.Second), Cursor{})
	if err != nil {
		t.Fatal(err)
	}

	s.Console(simtest.WarmTemp)
	r, err = b.Check(within(t, 5*time.Second), r.Cursor)
	if err != nil {
		t.Fatal(err)
	}
	if r.Severity() != Warning || r.Summary() != "BMC up; power on; SEL: CPU Temp Upper Non-critical - going high (85C)" {
		t.Fatalf("85 C: %v %q", r.Severity(), r.Summary())
	}

	s.Console(simtest.Overtemp)
	r, err = b.Check(within(t, 5*time.Second), r.Cursor)
	if err != nil {
		t.Fatal(err)
	}
	if r.Severity() != Critical || len(r.Events) != 1 || r.Events[0].Text != "Upper Critical - going high (91C)" {
		t.Fatalf("91 C: %v %+v", r.Severity(), r.Events)
	}
	if got := r.Summary(); got != "BMC up; power on; SEL: CPU Temp Upper Critical - going high (91C)" {
		t.Fatalf("summary = %q", got)
	}
}
