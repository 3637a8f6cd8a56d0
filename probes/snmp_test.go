package probes

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gosnmp/gosnmp"

	"foghorn/configs"
)

// snmpAgent is a real net-snmp snmpd on a loopback port of its own, with
// a config of its own (-C: the system's snmpd.conf is not read) and its
// persistent state in the test's directory. It runs as root without -u:
// it needs no privileges for a port above 1024.
type snmpAgent struct {
	t    *testing.T
	bin  string
	conf string
	log  string
	addr string
	cmd  *exec.Cmd
}

const snmpConf = `rocommunity s3cret 127.0.0.1
rocommunity public 127.0.0.1
sysDescr foghorn test agent
sysLocation rack 7
sysServices 72
createUser alice SHA "alice-auth-pass" AES "alice-priv-pass"
createUser bob SHA256 "bob-auth-pass"
createUser carol
rouser alice priv
rouser bob auth
rouser carol noauth
[snmp] persistentDir %s
`

func startSNMPd(t *testing.T) *snmpAgent {
	t.Helper()
	bin, err := exec.LookPath("snmpd")
	if err != nil {
		if bin, err = exec.LookPath("/usr/sbin/snmpd"); err != nil {
			missingPeer(t, "snmpd is not installed (Debian package snmpd); SNMP probe not tested against a real agent")
		}
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "snmpd.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(snmpConf, filepath.Join(dir, "persist"))), 0o600); err != nil {
		t.Fatal(err)
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	pc.Close()
	a := &snmpAgent{t: t, bin: bin, conf: conf, log: filepath.Join(dir, "snmpd.log"), addr: addr}
	a.start()
	t.Cleanup(a.stop)
	return a
}

func (a *snmpAgent) start() {
	a.t.Helper()
	log, err := os.OpenFile(a.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		a.t.Fatal(err)
	}
	defer log.Close()
	cmd := exec.Command(a.bin, "-f", "-Lo", "-C", "-c", a.conf, "udp:"+a.addr)
	// No MIBs: Debian ships few, and loading them only fills the log.
	cmd.Env = append(os.Environ(), "MIBS=", "MIBDIRS="+filepath.Dir(a.conf))
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		a.t.Fatalf("starting snmpd: %v", err)
	}
	a.cmd = cmd
	if _, err := a.uptime(5 * time.Second); err != nil {
		a.stop()
		out, _ := os.ReadFile(a.log)
		a.t.Fatalf("snmpd on %s did not answer: %v\nlog:\n%s", a.addr, err, out)
	}
}

func (a *snmpAgent) stop() {
	if a.cmd == nil {
		return
	}
	a.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { a.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		a.cmd.Process.Kill()
		<-done
	}
	a.cmd = nil
}

// uptime polls sysUpTime until the agent answers or within passes.
func (a *snmpAgent) uptime(within time.Duration) (uint32, error) {
	host, port, _ := net.SplitHostPort(a.addr)
	p, _ := strconv.Atoi(port)
	deadline := time.Now().Add(within)
	for {
		g := &gosnmp.GoSNMP{Target: host, Port: uint16(p), Community: "s3cret", Version: gosnmp.Version2c, Timeout: 100 * time.Millisecond}
		err := g.Connect()
		if err == nil {
			var pkt *gosnmp.SnmpPacket
			pkt, err = g.Get([]string{oidUptime})
			g.Conn.Close()
			if err == nil && len(pkt.Variables) == 1 && pkt.Variables[0].Type == gosnmp.TimeTicks {
				return uint32(gosnmp.ToBigInt(pkt.Variables[0].Value).Uint64()), nil
			}
		}
		if time.Now().After(deadline) {
			return 0, err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func ptr[T any](v T) *T { return &v }

func snmpTarget(addr string, o *configs.SNMP, timeout time.Duration) *configs.Target {
	tg := probeTarget("snmp", addr, timeout)
	tg.SNMP = o
	return tg
}

func TestSNMP(t *testing.T) {
	t.Parallel()
	a := startSNMPd(t)
	community := configs.NewSecret("s3cret")
	good := []configs.SNMPCheck{
		{Name: "sysDescr", OID: "1.3.6.1.2.1.1.1.0", Equals: "foghorn test agent"},
		{Name: "lo up", OID: ".1.3.6.1.2.1.2.2.1.8.1", Equals: "1"},
		{Name: "sysServices", OID: "1.3.6.1.2.1.1.7.0", Min: ptr(1.0), Max: ptr(127.0)},
		{Name: "sysObjectID", OID: "1.3.6.1.2.1.1.2.0", Equals: "1.3.6.1.4.1.8072.3.2.10"},
	}
	cases := []struct {
		name   string
		opts   *configs.SNMP
		status Status
		msg    string
	}{
		{"v2c checks pass", &configs.SNMP{Community: community, Checks: good}, OK, "4 checks passed"},
		{"nil options: public, no checks", nil, OK, "agent answered"},
		{"v2c checks fail", &configs.SNMP{Community: community, Checks: []configs.SNMPCheck{
			{Name: "sysDescr", OID: "1.3.6.1.2.1.1.1.0", Equals: "Cisco IOS"},
			{Name: "sysServices", OID: "1.3.6.1.2.1.1.7.0", Max: ptr(10.0)},
			{Name: "sysServices", OID: "1.3.6.1.2.1.1.7.0", Min: ptr(100.0)},
			{Name: "location", OID: "1.3.6.1.2.1.1.6.0", Min: ptr(1.0)},
			{Name: "", OID: "1.3.6.1.2.1.1.99.0"},
			{Name: "lo up", OID: "1.3.6.1.2.1.2.2.1.8.1", Equals: "1"},
		}}, Critical, `check "sysDescr": 1.3.6.1.2.1.1.1.0 = "foghorn test agent", want "Cisco IOS"; ` +
			`check "sysServices": 1.3.6.1.2.1.1.7.0 = 72, want <= 10; ` +
			`check "sysServices": 1.3.6.1.2.1.1.7.0 = 72, want >= 100; ` +
			`check "location": 1.3.6.1.2.1.1.6.0 = "rack 7", want a number for min/max; ` +
			`check "1.3.6.1.2.1.1.99.0": 1.3.6.1.2.1.1.99.0: no such object on the agent`},
		{"v3 authPriv", &configs.SNMP{Version: "3", Username: "alice", AuthProtocol: "SHA", AuthPhrase: configs.NewSecret("alice-auth-pass"),
			PrivProtocol: "AES", PrivPhrase: configs.NewSecret("alice-priv-pass"), Checks: good}, OK, "4 checks passed"},
		{"v3 authPriv, default protocols", &configs.SNMP{Version: "3", Username: "alice", AuthPhrase: configs.NewSecret("alice-auth-pass"),
			PrivPhrase: configs.NewSecret("alice-priv-pass"), Checks: good[:1]}, OK, "1 check passed"},
		{"v3 authNoPriv", &configs.SNMP{Version: "3", Username: "bob", AuthProtocol: "sha256", AuthPhrase: configs.NewSecret("bob-auth-pass"), Checks: good}, OK, "4 checks passed"},
		{"v3 noAuthNoPriv", &configs.SNMP{Version: "3", Username: "carol", Checks: good}, OK, "4 checks passed"},
		{"v3 wrong passphrase", &configs.SNMP{Version: "3", Username: "bob", AuthProtocol: "SHA256", AuthPhrase: configs.NewSecret("not-bobs-pass")}, Critical, `wrong v3 passphrase for "bob"`},
		{"v3 unknown user", &configs.SNMP{Version: "3", Username: "mallory"}, Critical, `the agent has no v3 user "mallory"`},
		{"bad version", &configs.SNMP{Version: "4"}, Unknown, `snmp.version "4": want 1, 2c or 3`},
		{"v3 without user", &configs.SNMP{Version: "3"}, Unknown, "needs a username"},
		{"v3 bad auth protocol", &configs.SNMP{Version: "3", Username: "bob", AuthProtocol: "SHA3", AuthPhrase: configs.NewSecret("x")}, Unknown, `snmp.auth_protocol "SHA3"`},
		{"v3 priv without auth", &configs.SNMP{Version: "3", Username: "bob", PrivPhrase: configs.NewSecret("x")}, Unknown, "needs authentication too"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			mem := &Memory{}
			if c.opts == nil {
				mem = nil // the scheduler always passes one, but nil must not panic
			}
			r := probeSNMP(context.Background(), snmpTarget(a.addr, c.opts, 2*time.Second), mem)
			t.Logf("%v: %s", r.Status, r.Msg)
			if r.Status != c.status || !strings.Contains(r.Msg, c.msg) {
				t.Fatalf("got %v %q, want %v containing %q", r.Status, r.Msg, c.status, c.msg)
			}
			if r.Rebooted {
				t.Error("first run reported a reboot")
			}
			if c.status == OK && c.opts != nil && len(c.opts.Checks) == len(good) {
				want := map[string]float64{"lo up": 1, "sysServices": 72}
				for _, p := range r.Perf {
					if v, ok := want[p.Label]; ok && p.Value == v {
						delete(want, p.Label)
					}
				}
				if len(want) > 0 {
					t.Errorf("perf = %+v lacks %v", r.Perf, want)
				}
			}
		})
	}
}

func TestSNMPSilent(t *testing.T) {
	t.Parallel()
	a := startSNMPd(t)
	start := time.Now()
	o := &configs.SNMP{Community: configs.NewSecret("wrong")}
	r := probeSNMP(context.Background(), snmpTarget(a.addr, o, time.Second), &Memory{})
	took := time.Since(start)
	want := "no SNMP answer from " + a.addr + " within 1s (agent down, packets dropped, or wrong community)"
	if r.Status != Critical || r.Msg != want {
		t.Fatalf("got %v %q, want %q", r.Status, r.Msg, want)
	}
	if took > 1300*time.Millisecond {
		t.Errorf("took %s, want the 1s timeout", took)
	}
}

// TestSNMPReboot restarts snmpd between two probes: sysUpTime goes back,
// and the probe says so although every check passes.
func TestSNMPReboot(t *testing.T) {
	t.Parallel()
	a := startSNMPd(t)
	// Let the first uptime grow past what the restarted agent will show.
	for {
		ticks, err := a.uptime(time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if ticks >= 100 {
			break
		}
		time.Sleep(time.Duration(100-ticks) * 10 * time.Millisecond)
	}
	var mem Memory
	tg := snmpTarget(a.addr, &configs.SNMP{Community: configs.NewSecret("s3cret"), Checks: []configs.SNMPCheck{
		{Name: "sysDescr", OID: "1.3.6.1.2.1.1.1.0", Equals: "foghorn test agent"},
	}}, 2*time.Second)

	first := probeSNMP(context.Background(), tg, &mem)
	second := probeSNMP(context.Background(), tg, &mem)
	for _, r := range []Result{first, second} {
		if r.Status != OK || r.Rebooted || r.Msg != "1 check passed" {
			t.Fatalf("before the restart: got %v %q rebooted=%v", r.Status, r.Msg, r.Rebooted)
		}
	}
	if _, ok := mem.Get(memUptime); !ok {
		t.Fatal("sysUpTime not remembered")
	}

	a.stop()
	a.start()
	r := probeSNMP(context.Background(), tg, &mem)
	t.Logf("%v: %s", r.Status, r.Msg)
	if !r.Rebooted || r.Status != Warning || !strings.HasPrefix(r.Msg, "rebooted: sysUpTime went from ") || !strings.HasSuffix(r.Msg, "; 1 check passed") {
		t.Fatalf("after the restart: got %v %q rebooted=%v", r.Status, r.Msg, r.Rebooted)
	}
	if r = probeSNMP(context.Background(), tg, &mem); r.Rebooted || r.Status != OK {
		t.Fatalf("the run after: got %v %q rebooted=%v", r.Status, r.Msg, r.Rebooted)
	}

	// detect_reboot = false: no sysUpTime is asked for or remembered.
	tg.SNMP.DetectReboot = ptr(false)
	var quiet Memory
	if r = probeSNMP(context.Background(), tg, &quiet); r.Status != OK {
		t.Fatalf("detect_reboot off: got %v %q", r.Status, r.Msg)
	}
	if _, ok := quiet.Get(memUptime); ok {
		t.Error("detect_reboot off, yet sysUpTime remembered")
	}
}

func TestNoteUptime(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	const day = 100 * 86400
	cases := []struct {
		name        string
		prev, ticks uint32
		elapsed     time.Duration
		rebooted    string
	}{
		{"steady", 10 * day, 10*day + 6000, time.Minute, ""},
		{"went back", 10 * day, 500, time.Minute, "rebooted: sysUpTime went from 240h0m0s to 5s"},
		{"long poll gap hides the drop", 600 * 100, 3000 * 100, time.Hour, "rebooted: sysUpTime went from 10m0s to 50m0s, 1h0m0s after the last read"},
		{"slow agent clock within slack", 10 * day, 10*day + 5000, time.Minute, ""},
		{"32-bit wrap", 1<<32 - 3000, 3000, time.Minute, ""},
		{"reboot near the wrap", 1<<32 - 3000, 100, 10 * time.Minute, "rebooted: sysUpTime went from"},
	}
	for _, c := range cases {
		var mem Memory
		noteUptime(&mem, c.prev, t0)
		got := noteUptime(&mem, c.ticks, t0.Add(c.elapsed))
		if (c.rebooted == "") != (got == "") || !strings.HasPrefix(got, c.rebooted) {
			t.Errorf("%s: got %q, want %q", c.name, got, c.rebooted)
		}
	}
}
