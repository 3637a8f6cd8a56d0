package ipmi

import (
	"context"
	"fmt"
	"hash/crc32"
	"strconv"
	"strings"

	"github.com/bougou/go-ipmi/pkg/client"
	"github.com/bougou/go-ipmi/pkg/command/chassis"
	"github.com/bougou/go-ipmi/pkg/command/storage"
	"github.com/bougou/go-ipmi/pkg/types"
)

// Chassis is what Get Chassis Status says.
type Chassis struct {
	On bool
	// Faults the BMC reports now: "power fault", "power overload",
	// "power control fault", "interlock", "cooling fault", "drive fault".
	Faults []string
}

func readChassis(ctx context.Context, s *session) (Chassis, error) {
	st, err := s.c.GetChassisStatus(ctx)
	if err != nil {
		return Chassis{}, step("chassis status", err)
	}
	return chassisOf(st), nil
}

func chassisOf(st *chassis.GetChassisStatusResponse) Chassis {
	ch := Chassis{On: st.PowerIsOn}
	for _, f := range []struct {
		on   bool
		name string
	}{
		{st.PowerFault, "power fault"},
		{st.PowerOverload, "power overload"},
		{st.PowerControlFault, "power control fault"},
		{st.InterLock, "interlock"},
		{st.CollingFanFault, "cooling fault"},
		{st.DriveFault, "drive fault"},
	} {
		if f.on {
			ch.Faults = append(ch.Faults, f.name)
		}
	}
	return ch
}

// Status reads the chassis: power and faults.
func (b *BMC) Status(ctx context.Context) (Chassis, error) {
	var ch Chassis
	err := b.call(ctx, "chassis status", true, func(ctx context.Context, s *session) (err error) {
		ch, err = readChassis(ctx, s)
		return err
	})
	if err != nil {
		return Chassis{}, err
	}
	return ch, nil
}

// Cursor marks the last SEL record seen, so that the next look reports
// only what is new. Record IDs, not timestamps: BMC clocks are often
// wrong ("Pre-Init" until someone sets them).
type Cursor struct {
	// Set is false before the first look, which records where the SEL
	// ends and reports nothing old.
	Set bool
	// ID is the last record seen; 0 means the SEL was empty.
	ID uint16
	// Sum is a checksum of that record. Another record under the same ID
	// means the SEL was cleared and refilled, so all of it is new.
	Sum uint32
}

// String is the cursor for storing: "ID:SUM" (hex sum), "" when unset.
func (c Cursor) String() string {
	if !c.Set {
		return ""
	}
	return fmt.Sprintf("%d:%08x", c.ID, c.Sum)
}

// ParseCursor reads what Cursor.String wrote. A bad value gives an unset
// cursor: a fresh start reports nothing old rather than everything.
func ParseCursor(s string) Cursor {
	id, sum, ok := strings.Cut(s, ":")
	n, err1 := strconv.ParseUint(id, 10, 16)
	x, err2 := strconv.ParseUint(sum, 16, 32)
	if !ok || err1 != nil || err2 != nil {
		return Cursor{}
	}
	return Cursor{Set: true, ID: uint16(n), Sum: uint32(x)}
}

// maxEvents bounds the SEL records read in one look (two round trips
// each would be too many on a full SEL); the rest come next time.
const maxEvents = 32

// selEntry reads one record. go-ipmi's GetSELEntry first reads the SEL
// info every time, doubling the round trips; this does not.
func selEntry(ctx context.Context, s *session, id uint16) (*types.SEL, uint16, uint32, error) {
	res := &storage.GetSELEntryResponse{}
	err := s.c.Exchange(ctx, &storage.GetSELEntryRequest{RecordID: id, ReadBytes: 0xff}, res)
	if err != nil {
		return nil, 0, 0, err
	}
	sel, err := types.ParseSEL(res.Data)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("record %#04x: %w", id, err)
	}
	return sel, res.NextRecordID, crc32.ChecksumIEEE(res.Data), nil
}

// readSEL returns the records after cur, oldest first, and the new cursor.
func readSEL(ctx context.Context, s *session, cur Cursor) (recs []*types.SEL, next Cursor, more bool, err error) {
	info, err := s.c.GetSELInfo(ctx)
	if answered(err) {
		return nil, cur, false, nil // a BMC without a SEL (0xC1) has no news
	}
	if err != nil {
		return nil, cur, false, step("SEL info", err)
	}
	// An empty SEL answers Get SEL Entry with 0xCB, so ask the count first.
	if info.Entries == 0 {
		return nil, Cursor{Set: true}, false, nil
	}
	if !cur.Set {
		// First look: remember the end, report nothing old.
		sel, _, sum, err := selEntry(ctx, s, 0xffff)
		if err != nil {
			return nil, cur, false, step("SEL last entry", err)
		}
		return nil, Cursor{Set: true, ID: sel.RecordID, Sum: sum}, false, nil
	}
	from := uint16(0) // the first record
	if cur.ID != 0 {
		sel, nextID, sum, err := selEntry(ctx, s, cur.ID)
		switch {
		case notPresent(err):
			// The record is gone: the SEL was cleared since; all is new.
		case err != nil:
			return nil, cur, false, step("SEL entry", err)
		case sum != cur.Sum || sel.RecordID != cur.ID:
			// Same ID, other record: cleared and refilled.
		case nextID == 0xffff:
			return nil, cur, false, nil // nothing new
		default:
			from = nextID
		}
	}
	for id := from; ; {
		sel, nextID, sum, err := selEntry(ctx, s, id)
		if notPresent(err) && id == 0 {
			return nil, Cursor{Set: true}, false, nil // emptied between the two reads
		}
		if err != nil {
			return nil, cur, false, step("SEL entry", err)
		}
		recs = append(recs, sel)
		next = Cursor{Set: true, ID: sel.RecordID, Sum: sum}
		if nextID == 0xffff {
			return recs, next, false, nil
		}
		if len(recs) == maxEvents {
			return recs, next, true, nil
		}
		id = nextID
	}
}

// sdrSensor is a sensor's SDR, kept for the session: SDRs rarely change,
// and reading them costs a round trip or more per sensor.
type sdrSensor struct {
	name     string
	owner    uint8
	lun      uint8
	number   uint8
	typ      types.SensorType
	reading  types.EventReadingType
	full     *types.SDRFull // nil for compact records (no analog reading)
	analog   bool
	unitText string
}

func readSDRs(ctx context.Context, s *session) error {
	if s.read {
		return nil
	}
	sdrs, err := s.c.GetSDRsRaw(ctx, types.SDRRecordTypeFullSensor, types.SDRRecordTypeCompactSensor)
	if err != nil && !answered(err) {
		return step("SDR", err)
	}
	// A completion code (0xCB: an empty repository; 0xC1: no SDR
	// support) means no sensors to read, not a broken BMC.
	var out []sdrSensor
	for _, r := range sdrs {
		var ss sdrSensor
		switch {
		case r.Full != nil:
			f := r.Full
			ss = sdrSensor{name: strings.TrimSpace(string(f.IDStringBytes)), owner: f.GeneratorID.OwnerID(), lun: f.GeneratorID.LUN(),
				number: uint8(f.SensorNumber), typ: f.SensorType, reading: f.SensorEventReadingType, full: f,
				analog: f.HasAnalogReading()}
			if ss.analog {
				ss.unitText = unitText(f.SensorUnit)
			}
		case r.Compact != nil:
			c := r.Compact
			ss = sdrSensor{name: strings.TrimSpace(string(c.IDStringBytes)), owner: c.GeneratorID.OwnerID(), lun: c.GeneratorID.LUN(),
				number: uint8(c.SensorNumber), typ: c.SensorType, reading: c.SensorEventReadingType}
		default:
			continue
		}
		out = append(out, ss)
	}
	s.sensors, s.read = out, true
	return nil
}

func unitText(u types.SensorUnit) string {
	switch u.BaseUnit {
	case types.SensorUnitType_DegreesC:
		return "C"
	case types.SensorUnitType_DegreesF:
		return "F"
	case types.SensorUnitType_Volts:
		return "V"
	case types.SensorUnitType_Amps:
		return "A"
	case types.SensorUnitType_Watts:
		return "W"
	case types.SensorUnitType_RPM:
		return "RPM"
	}
	if u.Percentage {
		return "%"
	}
	return u.BaseUnit.String()
}

// sensorName names the sensor that logged a SEL record: its SDR name, or
// "Memory #2" as ipmitool would when there is no SDR.
func (s *session) sensorName(sel *types.SELStandard) string {
	owner := sel.GeneratorID.OwnerID()
	for _, ss := range s.sensors {
		if ss.number == uint8(sel.SensorNumber) && ss.owner == owner && ss.name != "" {
			return ss.name
		}
	}
	return fmt.Sprintf("%s #%d", sel.SensorType, uint8(sel.SensorNumber))
}

func (s *session) sensorByNumber(owner, number uint8) *sdrSensor {
	for i := range s.sensors {
		if s.sensors[i].number == number && s.sensors[i].owner == owner {
			return &s.sensors[i]
		}
	}
	return nil
}

// readSensors reads every sensor once: one round trip each, the SDRs
// coming from the session's cache.
func readSensors(ctx context.Context, s *session) ([]Reading, error) {
	if err := readSDRs(ctx, s); err != nil {
		return nil, err
	}
	var out []Reading
	for i := range s.sensors {
		ss := &s.sensors[i]
		cc := (&client.CommandContext{}).WithResponderAddr(ss.owner).WithResponderLUN(ss.lun)
		res, err := s.c.GetSensorReading(client.WithCommandContext(ctx, cc), ss.number)
		if answered(err) {
			continue // not present, or the BMC will not read it: skip, not fail
		}
		if err != nil {
			return nil, step("sensor "+ss.name, err)
		}
		if res.SensorScanningDisabled || res.ReadingUnavailable {
			continue
		}
		out = append(out, reading(ss, res.Reading, res.ThresholdStatus(), res.ActiveStates))
	}
	return out, nil
}

// Sensors reads every sensor against its thresholds or states.
func (b *BMC) Sensors(ctx context.Context) ([]Reading, error) {
	var rs []Reading
	err := b.call(ctx, "sensors", true, func(ctx context.Context, s *session) (err error) {
		rs, err = readSensors(ctx, s)
		return err
	})
	if err != nil {
		return nil, err
	}
	return rs, nil
}

// Report is what one look at a BMC found.
type Report struct {
	Chassis Chassis
	// Events are the SEL records new since the cursor, oldest first.
	Events []Event
	// More says more new records wait than one look reads.
	More    bool
	Sensors []Reading
	// Cursor is where the SEL now stands: pass it to the next Check.
	Cursor Cursor
}

// Check reads chassis, new SEL records and sensors in one turn on the
// session. The first Check (an unset cursor) reports no old SEL records,
// but does report the chassis and sensors as they are.
func (b *BMC) Check(ctx context.Context, since Cursor) (Report, error) {
	var r Report
	err := b.call(ctx, "check", true, func(ctx context.Context, s *session) error {
		r = Report{}
		var err error
		if r.Chassis, err = readChassis(ctx, s); err != nil {
			return err
		}
		// SDRs first, so that SEL records get sensor names.
		if r.Sensors, err = readSensors(ctx, s); err != nil {
			return err
		}
		recs, cur, more, err := readSEL(ctx, s, since)
		if err != nil {
			return err
		}
		r.Cursor, r.More = cur, more
		for _, sel := range recs {
			if ev, ok := eventOf(s, sel); ok {
				r.Events = append(r.Events, ev)
			}
		}
		return nil
	})
	if err != nil {
		return Report{}, err
	}
	return r, nil
}

// SEL reads the records new since the cursor, without chassis or sensors.
func (b *BMC) SEL(ctx context.Context, since Cursor) ([]Event, Cursor, error) {
	var evs []Event
	var cur Cursor
	err := b.call(ctx, "SEL", true, func(ctx context.Context, s *session) error {
		evs = nil
		if err := readSDRs(ctx, s); err != nil {
			return err
		}
		recs, c, _, err := readSEL(ctx, s, since)
		if err != nil {
			return err
		}
		cur = c
		for _, sel := range recs {
			if ev, ok := eventOf(s, sel); ok {
				evs = append(evs, ev)
			}
		}
		return nil
	})
	if err != nil {
		return nil, since, err
	}
	return evs, cur, nil
}
