package probes

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gosnmp/gosnmp"

	"foghorn/configs"
)

// oidUptime is sysUpTime.0: the agent's uptime in hundredths of a second.
const oidUptime = "1.3.6.1.2.1.1.3.0"

// memUptime is where snmp remembers "ticks@unixnano" of the last read.
const memUptime = "snmp.uptime"

// probeSNMP reads the checked OIDs (and sysUpTime) in one request and
// asserts each value. A sysUpTime lower than the last one plus the time
// since means the agent restarted: the target answers now, but someone
// should know it went away, so that is a Warning with Rebooted set.
func probeSNMP(ctx context.Context, t *configs.Target, mem *Memory) Result {
	start := time.Now()
	ctx, cancel := bound(ctx, t)
	defer cancel()
	o := t.SNMP
	if o == nil {
		o = &configs.SNMP{}
	}
	g, err := snmpClient(ctx, t.Address, o)
	if err != nil {
		return unknown(t, start, "config: %v", err)
	}
	if err := g.Connect(); err != nil {
		return fail(t, start, "snmp %s: %v", t.Address, err)
	}
	defer g.Conn.Close()

	detect := o.DetectReboot == nil || *o.DetectReboot
	var oids []string
	if detect || len(o.Checks) == 0 {
		oids = append(oids, oidUptime) // with no checks, it proves the agent answers
	}
	for _, c := range o.Checks {
		oids = append(oids, strings.TrimPrefix(c.OID, "."))
	}
	got := make(map[string]gosnmp.SnmpPDU, len(oids))
	for chunk := range slices.Chunk(oids, g.MaxOids) {
		pkt, err := g.Get(chunk)
		if err != nil {
			return fail(t, start, "%s", snmpError(ctx, err, g))
		}
		if pkt.Error != gosnmp.NoError {
			return fail(t, start, "snmp %s: agent answered %v for %s", g.Target, pkt.Error, errorOID(chunk, pkt.ErrorIndex))
		}
		for _, v := range pkt.Variables {
			got[strings.TrimPrefix(v.Name, ".")] = v
		}
	}

	status := OK
	var msgs []string
	var perf []Perf
	for _, c := range o.Checks {
		name := c.Name
		if name == "" {
			name = c.OID
		}
		v, ok := got[strings.TrimPrefix(c.OID, ".")]
		val, present := render(v)
		if !ok || !present {
			status = Critical
			msgs = append(msgs, fmt.Sprintf("check %q: %s: no such object on the agent", name, c.OID))
			continue
		}
		if f, err := strconv.ParseFloat(val, 64); err == nil {
			perf = append(perf, Perf{Label: name, Value: f})
		}
		if problem := judge(c, val); problem != "" {
			status = Critical
			msgs = append(msgs, fmt.Sprintf("check %q: %s = %s", name, c.OID, problem))
		}
	}
	switch {
	case len(msgs) > 0:
	case len(o.Checks) == 0:
		msgs = append(msgs, "agent answered")
	case len(o.Checks) == 1:
		msgs = append(msgs, "1 check passed")
	default:
		msgs = append(msgs, fmt.Sprintf("%d checks passed", len(o.Checks)))
	}

	var rebooted bool
	if v, ok := got[oidUptime]; detect && ok && v.Type == gosnmp.TimeTicks {
		ticks := uint32(gosnmp.ToBigInt(v.Value).Uint64())
		perf = append(perf, Perf{Label: "uptime", Value: float64(ticks) / 100, Unit: "s"})
		if note := noteUptime(mem, ticks, time.Now()); note != "" {
			rebooted = true
			status = max(status, Warning)
			msgs = append([]string{note}, msgs...)
		}
	}
	r := finish(t, start, status, strings.Join(msgs, "; "), perf...)
	r.Rebooted = rebooted
	return r
}

// snmpClient builds the client for version 1, 2c (the default) or 3. For
// v3 the security level follows from what secrets are given: authPriv
// with a privacy passphrase, authNoPriv with only an auth passphrase.
func snmpClient(ctx context.Context, addr string, o *configs.SNMP) (*gosnmp.GoSNMP, error) {
	host, port := addr, "161"
	if h, p, err := net.SplitHostPort(addr); err == nil {
		host, port = h, p
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("bad port in address %q", addr)
	}
	// Two tries within the deadline: UDP loses packets, and one lost
	// datagram should not page anyone.
	dl, _ := ctx.Deadline()
	g := &gosnmp.GoSNMP{
		Target:    strings.Trim(host, "[]"),
		Port:      uint16(n),
		Context:   ctx,
		LocalAddr: sourceAddr(ctx),
		Timeout:   max(time.Millisecond, time.Until(dl)/2),
		Retries:   1,
		MaxOids:   gosnmp.MaxOids,
	}
	switch strings.ToLower(o.Version) {
	case "", "2c", "2":
		g.Version = gosnmp.Version2c
	case "1":
		g.Version = gosnmp.Version1
	case "3":
		return g, snmpV3(g, o)
	default:
		return nil, fmt.Errorf("snmp.version %q: want 1, 2c or 3", o.Version)
	}
	g.Community = o.Community.Reveal()
	if g.Community == "" {
		g.Community = "public"
	}
	return g, nil
}

func snmpV3(g *gosnmp.GoSNMP, o *configs.SNMP) error {
	if o.Username == "" {
		return errors.New("snmp version 3 needs a username")
	}
	g.Version = gosnmp.Version3
	g.SecurityModel = gosnmp.UserSecurityModel
	sp := &gosnmp.UsmSecurityParameters{UserName: o.Username}
	g.MsgFlags = gosnmp.NoAuthNoPriv
	if !o.AuthPhrase.Empty() {
		p, ok := authProtocols[strings.ToUpper(o.AuthProtocol)]
		if !ok {
			return fmt.Errorf("snmp.auth_protocol %q: want MD5, SHA, SHA224, SHA256, SHA384 or SHA512", o.AuthProtocol)
		}
		g.MsgFlags = gosnmp.AuthNoPriv
		sp.AuthenticationProtocol, sp.AuthenticationPassphrase = p, o.AuthPhrase.Reveal()
	}
	if !o.PrivPhrase.Empty() {
		if o.AuthPhrase.Empty() {
			return errors.New("snmp privacy (priv_passphrase_file) needs authentication too (auth_passphrase_file)")
		}
		p, ok := privProtocols[strings.ToUpper(o.PrivProtocol)]
		if !ok {
			return fmt.Errorf("snmp.priv_protocol %q: want DES, AES, AES192, AES256, AES192C or AES256C", o.PrivProtocol)
		}
		g.MsgFlags = gosnmp.AuthPriv
		sp.PrivacyProtocol, sp.PrivacyPassphrase = p, o.PrivPhrase.Reveal()
	}
	g.SecurityParameters = sp
	return nil
}

// An empty protocol name means the one every current agent supports.
var (
	authProtocols = map[string]gosnmp.SnmpV3AuthProtocol{
		"": gosnmp.SHA, "MD5": gosnmp.MD5, "SHA": gosnmp.SHA, "SHA1": gosnmp.SHA,
		"SHA224": gosnmp.SHA224, "SHA256": gosnmp.SHA256, "SHA384": gosnmp.SHA384, "SHA512": gosnmp.SHA512,
	}
	privProtocols = map[string]gosnmp.SnmpV3PrivProtocol{
		"": gosnmp.AES, "DES": gosnmp.DES, "AES": gosnmp.AES, "AES128": gosnmp.AES,
		"AES192": gosnmp.AES192, "AES256": gosnmp.AES256, "AES192C": gosnmp.AES192C, "AES256C": gosnmp.AES256C,
	}
)

// snmpError explains a failed request. An agent that does not know the
// community stays silent, so a timeout names that possibility too.
func snmpError(ctx context.Context, err error, g *gosnmp.GoSNMP) string {
	addr := net.JoinHostPort(g.Target, strconv.Itoa(int(g.Port)))
	switch {
	case isTimeout(err) || errors.Is(err, gosnmp.ErrMaxRetriesExceeded):
		who := "community"
		if g.Version == gosnmp.Version3 {
			who = "v3 user"
		}
		return fmt.Sprintf("no SNMP answer from %s within %s (agent down, packets dropped, or wrong %s)", addr, budget(ctx), who)
	// gosnmp reports a reply signed with another key only as text.
	case errors.Is(err, gosnmp.ErrWrongDigest), errors.Is(err, gosnmp.ErrDecryption),
		strings.Contains(err.Error(), "not authentic"):
		return fmt.Sprintf("snmp %s: wrong v3 passphrase for %q: %v", addr, g.SecurityParameters.(*gosnmp.UsmSecurityParameters).UserName, err)
	case errors.Is(err, gosnmp.ErrUnknownUsername):
		return fmt.Sprintf("snmp %s: the agent has no v3 user %q", addr, g.SecurityParameters.(*gosnmp.UsmSecurityParameters).UserName)
	}
	return dialError(ctx, err, addr)
}

func errorOID(oids []string, index uint8) string {
	if i := int(index) - 1; i >= 0 && i < len(oids) {
		return oids[i]
	}
	return "the request"
}

// render is a value as text, as snmpget shows it: integers in decimal,
// printable strings as is, binary strings as hex bytes. present is false
// for noSuchObject and its kin.
func render(v gosnmp.SnmpPDU) (s string, present bool) {
	switch v.Type {
	case gosnmp.NoSuchObject, gosnmp.NoSuchInstance, gosnmp.EndOfMibView, gosnmp.Null:
		return "", false
	case gosnmp.OctetString:
		b, _ := v.Value.([]byte)
		if printable(b) {
			return string(b), true
		}
		return fmt.Sprintf("% X", b), true
	case gosnmp.ObjectIdentifier, gosnmp.IPAddress:
		s, _ := v.Value.(string)
		return strings.TrimPrefix(s, "."), true
	case gosnmp.OpaqueFloat:
		f, _ := v.Value.(float32)
		return strconv.FormatFloat(float64(f), 'g', -1, 32), true
	case gosnmp.OpaqueDouble:
		f, _ := v.Value.(float64)
		return strconv.FormatFloat(f, 'g', -1, 64), true
	}
	return gosnmp.ToBigInt(v.Value).String(), true
}

func printable(b []byte) bool {
	if !utf8.Valid(b) {
		return false
	}
	for _, r := range string(b) {
		if !unicode.IsPrint(r) && !unicode.IsSpace(r) {
			return false
		}
	}
	return true
}

// judge returns what is wrong with val for check c, or "" when it passes.
func judge(c configs.SNMPCheck, val string) string {
	if c.Equals != "" && val != c.Equals {
		return fmt.Sprintf("%q, want %q", val, c.Equals)
	}
	if c.Min == nil && c.Max == nil {
		return ""
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
	if err != nil {
		return fmt.Sprintf("%q, want a number for min/max", val)
	}
	if c.Min != nil && f < *c.Min {
		return fmt.Sprintf("%s, want >= %s", val, strconv.FormatFloat(*c.Min, 'g', -1, 64))
	}
	if c.Max != nil && f > *c.Max {
		return fmt.Sprintf("%s, want <= %s", val, strconv.FormatFloat(*c.Max, 'g', -1, 64))
	}
	return ""
}

// noteUptime remembers this sysUpTime and says whether the agent
// restarted since the last one: the uptime went backwards, or it grew by
// less than the wall time between reads (by more than a minute or 1%),
// which catches a restart even when polls are so far apart that the new
// uptime passed the old one. The 32-bit counter wraps after 497 days; a
// wrap is not a restart.
func noteUptime(mem *Memory, ticks uint32, now time.Time) string {
	if mem == nil {
		return ""
	}
	prevText, ok := mem.Get(memUptime)
	mem.Set(memUptime, fmt.Sprintf("%d@%d", ticks, now.UnixNano()))
	if !ok {
		return ""
	}
	before, at, found := strings.Cut(prevText, "@")
	prev, err1 := strconv.ParseUint(before, 10, 32)
	nanos, err2 := strconv.ParseInt(at, 10, 64)
	if !found || err1 != nil || err2 != nil {
		return ""
	}
	elapsed := max(0, int64(now.Sub(time.Unix(0, nanos))/(10*time.Millisecond)))
	slack := max(6000, elapsed/100)
	want := int64(prev) + elapsed
	cur := int64(ticks)
	var restarted bool
	if want+slack >= 1<<32 {
		restarted = cur < int64(prev) && cur+slack < want-1<<32
	} else {
		restarted = cur < int64(prev) || cur+slack < want
	}
	if !restarted {
		return ""
	}
	if cur < int64(prev) {
		return fmt.Sprintf("rebooted: sysUpTime went from %s to %s", ticksText(int64(prev)), ticksText(cur))
	}
	return fmt.Sprintf("rebooted: sysUpTime went from %s to %s, %s after the last read",
		ticksText(int64(prev)), ticksText(cur), ticksText(elapsed))
}

func ticksText(t int64) string {
	return (time.Duration(t) * 10 * time.Millisecond).String()
}
