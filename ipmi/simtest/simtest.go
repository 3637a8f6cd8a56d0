// Package simtest runs OpenIPMI's ipmi_sim on loopback for tests: a real
// BMC speaking RMCP+ with stateful chassis power (kept in a file by a
// chassis_control script), a SEL, and four sensors (watchdog, "CPU Temp",
// "DIMM A1", "POST Status") whose SDRs are compiled with sdrcomp. State is
// changed at run time through the simulator's TCP console.
//
// It is a package (not a _test.go file) so that the ipmi and probes tests
// share one fixture. Only tests and benchmark programs (ipmi/bench,
// through StartN) import it.
package simtest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bougou/go-ipmi/pkg/client"
	"github.com/bougou/go-ipmi/pkg/types"
)

// Credentials of the simulator's one user (an administrator).
const (
	User     = "admin"
	Password = "secret"
)

// Commands for Sim.Console that make the simulator log SEL events.
const (
	CorrectableECC   = "sensor_set_bit 0x20 0 2 0 1 1" // DIMM A1, Memory offset 0
	UncorrectableECC = "sensor_set_bit 0x20 0 2 1 1 1" // DIMM A1, Memory offset 1
	ClearECC         = "sensor_set_bit 0x20 0 2 1 0 1" // deassert offset 1
	// POSTError logs "System Firmware Error (POST Error)" with POST code
	// 0x01 (no system memory installed); it sets no sensor state.
	POSTError = "sel_add 0x20 2 0 0 0 0 0x20 0 4 0x0f 0x03 0x6f 0xc0 0x01 0xff"
	// Overtemp sets CPU Temp to 91 °C: above upper non-critical (80) and
	// upper critical (90); two SEL entries.
	Overtemp   = "sensor_set_value 0x20 0 1 0x5b 1"
	NormalTemp = "sensor_set_value 0x20 0 1 0x30 1"
	// WarmTemp is 85 °C: above non-critical only.
	WarmTemp = "sensor_set_value 0x20 0 1 0x55 1"
)

const lanConf = `name "sim1"
set_working_mc 0x20
  startlan 1
    addr 127.0.0.1 {{PORT}}
    priv_limit admin
    allowed_auths_callback none md2 md5 straight
    allowed_auths_user none md2 md5 straight
    allowed_auths_operator none md2 md5 straight
    allowed_auths_admin none md2 md5 straight
    guid a123456789abcdefa123456789abcdef
  endlan
  chassis_control "{{DIR}}/chassisctl.sh {{DIR}}/chassis"
  user 2 true "admin" "secret" admin 10 md5
console 127.0.0.1 {{PORT}}
`

// simEmu: sensor 0 must be the watchdog. SDRs come from sdr.emu, made by
// sdrcomp from simSDRs (main_sdr_add lines, because -p loads no SDRs
// from the state directory).
const simEmu = `mc_setbmc 0x20
mc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02
sel_enable 0x20 1000 0x0a
sensor_add 0x20 0 0 35 0x6f event-only
sensor_set_event_support 0x20 0 0 enable scanning per-state 000000000001111 000000000000000 000000000001111 000000000000000
sensor_add 0x20 0 1 0x01 0x01
sensor_set_value 0x20 0 1 0x30 0
sensor_set_threshold 0x20 0 1 settable 111000 0x64 0x5a 0x50 00 00 00
sensor_set_event_support 0x20 0 1 enable scanning per-state 000111111000000 000111111000000 000111111000000 000111111000000
sensor_add 0x20 0 2 0x0c 0x6f
sensor_set_event_support 0x20 0 2 enable scanning per-state 000000000000011 000000000000011 000000000000011 000000000000011
sensor_add 0x20 0 3 0x0f 0x6f
sensor_set_event_support 0x20 0 3 enable scanning per-state 000000000000111 000000000000000 000000000000111 000000000000000
include "{{DIR}}/sdr.emu"
mc_enable 0x20
`

const simSDRs = `sdr type 18
	device_slave_address	0x20
	device_channel_number	0
	chassis			true
	ipmb_event_gen		false
	ipmb_event_recv		false
	fru_inventory		false
	sel			true
	sdr			true
	sensor			true
	entity_id		system_board
	entity_instance		1
	id_string		"sim1 BMC"
endsdr
sdr type 1
	sensor_owner_id		0x20
	sensor_owner_lun	0
	channel_number		0
	sensor_number		1
	entity_id		processor
	entity_instance		1
	sensor_type		Temperature
	init_scanning		true
	init_sensor_type	true
	default_sensor_scan_on	true
	event_reading_type_code	1
	analog_data_format	unsigned
	rate_unit		none
	modifier_unit		none
	percentage		false
	base_unit		degrees_C
	modifier_unit_code	unspecified
	linearization		linear
	m			1
	tolerance		0
	b			0
	accuracy		1
	accuracy_exp		0
	sensor_direction	input
	r_exp			0
	b_exp			0
	sensor_maximum		255
	sensor_minimum		0
	id_string		"CPU Temp"
endsdr
sdr type 2
	sensor_owner_id		0x20
	sensor_owner_lun	0
	channel_number		0
	sensor_number		2
	entity_id		memory_module
	entity_instance		1
	sensor_type		Memory
	event_reading_type_code	0x6f
	event0_state_ret	true
	assert_event0		true
	deassert_event0		true
	event1_state_ret	true
	assert_event1		true
	deassert_event1		true
	id_string		"DIMM A1"
endsdr
sdr type 2
	sensor_owner_id		0x20
	sensor_owner_lun	0
	channel_number		0
	sensor_number		3
	entity_id		system_board
	entity_instance		1
	sensor_type		System_Firmware_Progress
	event_reading_type_code	0x6f
	event0_state_ret	true
	assert_event0		true
	id_string		"POST Status"
endsdr
`

// chassisCtl is ipmi_sim's chassis_control program: "<dir> get power"
// prints power:0|1, "<dir> set power 0|1 / reset 1 / shutdown 1 / boot X"
// changes it. Every set is logged, so tests can assert what was asked.
const chassisCtl = `#!/bin/sh
dir=$1; op=$2; shift 2
mkdir -p "$dir"; pf="$dir/power"; [ -f "$pf" ] || echo 1 > "$pf"
case $op in
  get) for p in "$@"; do case $p in
         power) echo "power:$(cat "$pf")" ;;
         boot)  echo "boot:default" ;;
         *) echo "Invalid parameter: $p"; exit 1 ;; esac; done ;;
  set) while [ $# -ge 2 ]; do p=$1; v=$2; shift 2
         echo "$(date +%s.%N) set $p $v" >> "$dir/actions.log"
         case $p in
           power) echo "$v" > "$pf" ;;
           shutdown) echo 0 > "$pf" ;;
           reset|boot) ;;
           identify) shift ;;
           *) echo "Invalid parameter: $p"; exit 1 ;; esac; done ;;
  *) exit 1 ;;
esac
`

// Sim is one running ipmi_sim. The IPMI LAN port (UDP) and the console
// (TCP) share one port number: UDP and TCP ports are separate spaces.
type Sim struct {
	t    testing.TB
	Dir  string
	Host string
	Port int

	// orphanKill: the simulator gets SIGKILL when this process dies
	// (StartN's, which have no test to clean up after them).
	orphanKill bool

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
}

// Available reports whether ipmi_sim and sdrcomp are installed.
func Available() error {
	for _, bin := range []string{"ipmi_sim", "sdrcomp"} {
		if _, err := exec.LookPath(bin); err != nil {
			return fmt.Errorf("%s is not installed (Debian package openipmi)", bin)
		}
	}
	return nil
}

// Require skips the test when the simulator is missing, or fails it when
// FOGHORN_REQUIRE_PEERS=1 (CI), where a silent skip would hide the gap.
func Require(t testing.TB) {
	t.Helper()
	err := Available()
	if err == nil {
		return
	}
	if os.Getenv("FOGHORN_REQUIRE_PEERS") == "1" {
		t.Fatalf("%v; FOGHORN_REQUIRE_PEERS=1 needs it: apt-get install openipmi ipmitool", err)
	}
	t.Skipf("%v; BMC tests need the real simulator, skipped", err)
}

var (
	sdrOnce sync.Once
	sdrEmu  string
	sdrErr  error
)

// compileSDRs runs sdrcomp once per test binary. -8 keeps names in 8-bit
// ASCII: without it uppercase names are packed as 6-bit and read as junk.
func compileSDRs() (string, error) {
	sdrOnce.Do(func() {
		dir, err := os.MkdirTemp("", "foghorn-sdr-")
		if err != nil {
			sdrErr = err
			return
		}
		defer os.RemoveAll(dir)
		src, raw := filepath.Join(dir, "sim.sdrs"), filepath.Join(dir, "sim.rawsdr")
		if err := os.WriteFile(src, []byte(simSDRs), 0o644); err != nil {
			sdrErr = err
			return
		}
		if out, err := exec.Command("sdrcomp", "-8", "-r", "-o", raw, src).CombinedOutput(); err != nil {
			sdrErr = fmt.Errorf("sdrcomp: %v: %s", err, out)
			return
		}
		b, err := os.ReadFile(raw)
		if err != nil {
			sdrErr = err
			return
		}
		// Each record: 5-byte header whose last byte is the body length.
		var sb strings.Builder
		for i := 0; i+5 <= len(b); {
			n := 5 + int(b[i+4])
			if i+n > len(b) {
				sdrErr = fmt.Errorf("sdrcomp output truncated at byte %d", i)
				return
			}
			sb.WriteString("main_sdr_add 0x20")
			for _, x := range b[i : i+n] {
				sb.WriteString(" " + strconv.Itoa(int(x)))
			}
			sb.WriteString("\n")
			i += n
		}
		sdrEmu = sb.String()
	})
	return sdrEmu, sdrErr
}

// ports hands out numbers below Linux's ephemeral range (32768+), so a
// client socket elsewhere on the machine rarely holds one; taken ones are
// remembered so parallel tests in one binary never pick the same port.
var (
	portMu sync.Mutex
	taken  = map[int]bool{}
)

func pickPort() int {
	portMu.Lock()
	defer portMu.Unlock()
	for {
		p := 20000 + rand.IntN(12000)
		if taken[p] || !free(p) {
			continue
		}
		taken[p] = true
		return p
	}
}

func free(p int) bool {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(p))
	u, err := net.ListenPacket("udp", addr)
	if err != nil {
		return false
	}
	u.Close()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// Start runs a simulator on a free loopback port and waits until it
// answers IPMI. It is stopped when the test ends. Power starts on.
func Start(t testing.TB) *Sim {
	t.Helper()
	Require(t)
	s, err := launch(t, t.TempDir(), false)
	if s != nil {
		t.Cleanup(s.Stop)
	}
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// StartN runs n simulators outside a test (for benchmark programs), each
// on its own loopback port in a directory of its own under dir, a few at
// a time, and waits until all answer IPMI. stop ends every one of them
// (in parallel; safe to call more than once); on an error, those already
// started are stopped before StartN returns. The simulators are killed
// if this process dies without calling stop (SIGKILL as parent-death
// signal). Having no test, their Console, Restart and SetPower must not
// be used: they report errors through the test.
func StartN(dir string, n int) (sims []*Sim, stop func(), err error) {
	if err := Available(); err != nil {
		return nil, func() {}, err
	}
	sims = make([]*Sim, n)
	var once sync.Once
	stop = func() {
		once.Do(func() {
			var wg sync.WaitGroup
			for _, s := range sims {
				if s != nil {
					wg.Go(s.Stop)
				}
			}
			wg.Wait()
		})
	}
	errs := make([]error, n)
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			sub := filepath.Join(dir, fmt.Sprintf("sim%03d", i))
			if err := os.MkdirAll(sub, 0o755); err != nil {
				errs[i] = err
				return
			}
			sims[i], errs[i] = launch(nil, sub, true)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		stop()
		return nil, func() {}, err
	}
	return sims, stop, nil
}

// launch writes a simulator's files into dir and starts it on a free
// port, trying another port when one is taken meanwhile. The Sim is
// returned even on an error (then stopped), for the caller's cleanup.
func launch(t testing.TB, dir string, orphanKill bool) (*Sim, error) {
	emu, err := compileSDRs()
	if err != nil {
		return nil, fmt.Errorf("compiling SDRs: %v", err)
	}
	files := map[string]string{"chassisctl.sh": chassisCtl, "sdr.emu": emu}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o755); err != nil {
			return nil, err
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "sim.emu"), []byte(strings.ReplaceAll(simEmu, "{{DIR}}", dir)), 0o644); err != nil {
		return nil, err
	}
	s := &Sim{t: t, Dir: dir, Host: "127.0.0.1", orphanKill: orphanKill}
	// Another process may take the port between the check and the bind:
	// then ipmi_sim exits at once, and another port is tried.
	for try := 0; ; try++ {
		s.Port = pickPort()
		conf := strings.NewReplacer("{{PORT}}", strconv.Itoa(s.Port), "{{DIR}}", dir).Replace(lanConf)
		if err := os.WriteFile(filepath.Join(dir, "lan.conf"), []byte(conf), 0o644); err != nil {
			return s, err
		}
		err := s.start()
		if err == nil {
			return s, nil
		}
		if try == 4 {
			return s, fmt.Errorf("ipmi_sim did not start: %v", err)
		}
	}
}

func (s *Sim) start() error {
	state := filepath.Join(s.Dir, "state")
	if err := os.MkdirAll(state, 0o755); err != nil {
		return err
	}
	logf, err := os.OpenFile(filepath.Join(s.Dir, "sim.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	// -n: no stdin console; -p: persist nothing, so each start is clean.
	// SIGPIPE is ignored (that survives exec): ipmi_sim can write to a
	// console connection the test already closed, and would die of it.
	cmd := exec.Command("sh", "-c", `trap "" PIPE; exec ipmi_sim -n -p -c "$1" -f "$2" -s "$3"`, "sh",
		filepath.Join(s.Dir, "lan.conf"), filepath.Join(s.Dir, "sim.emu"), state)
	cmd.Dir = s.Dir
	cmd.Stdout, cmd.Stderr = logf, logf
	if s.orphanKill {
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("ipmi_sim: %w", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	s.mu.Lock()
	s.cmd, s.exited = cmd, exited
	s.mu.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case <-exited:
			out, _ := os.ReadFile(filepath.Join(s.Dir, "sim.log"))
			return fmt.Errorf("ipmi_sim on port %d exited: %s", s.Port, bytes.TrimSpace(out))
		default:
		}
		if err := s.ping(); err == nil {
			return nil
		} else if time.Now().After(deadline) {
			s.Stop()
			return fmt.Errorf("ipmi_sim on port %d not answering: %w", s.Port, err)
		}
		time.Sleep(30 * time.Millisecond)
	}
}

// ping opens a session and reads chassis status with go-ipmi, the way the
// code under test will.
func (s *Sim) ping() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	c, err := client.NewClient(s.Host, s.Port, User, Password)
	if err != nil {
		return err
	}
	c.WithTimeout(200 * time.Millisecond).WithRetry(1).WithCipherSuiteID(types.CipherSuiteID3)
	err = c.Connect(ctx)
	if err == nil {
		_, err = c.GetChassisStatus(ctx)
	}
	cctx, ccancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer ccancel()
	c.Close(cctx)
	return err
}

// Stop ends the simulator (SIGTERM, then SIGKILL). Safe to call twice.
func (s *Sim) Stop() {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Signal(syscall.SIGCONT) // a paused process cannot handle SIGTERM
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(3 * time.Second):
		cmd.Process.Kill()
		<-exited
	}
}

// Exited says whether the simulator process has ended, and how
// ("signal: segmentation fault"), for test failure messages.
func (s *Sim) Exited() (bool, string) {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.mu.Unlock()
	if cmd == nil {
		return true, "stopped"
	}
	select {
	case <-exited:
		return true, cmd.ProcessState.String()
	default:
		return false, ""
	}
}

// Restart stops the simulator and starts it again on the same port, as a
// BMC reboot: sessions are gone, the SEL is empty, power is kept.
func (s *Sim) Restart() {
	s.t.Helper()
	s.Stop()
	if err := s.start(); err != nil {
		s.t.Fatalf("restarting ipmi_sim: %v", err)
	}
}

// Pause freezes the simulator (SIGSTOP): a BMC that hangs, its socket open
// and silent. Resume undoes it.
func (s *Sim) Pause()  { s.signal(syscall.SIGSTOP) }
func (s *Sim) Resume() { s.signal(syscall.SIGCONT) }

func (s *Sim) signal(sig syscall.Signal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		s.cmd.Process.Signal(sig)
	}
}

// Power reports the power state the chassis script holds.
func (s *Sim) Power() bool {
	b, err := os.ReadFile(filepath.Join(s.Dir, "chassis", "power"))
	return err != nil || strings.TrimSpace(string(b)) != "0" // no file yet: on
}

// SetPower changes the power state behind the BMC's back, as a host that
// was switched off at the PSU.
func (s *Sim) SetPower(on bool) {
	s.t.Helper()
	v := "0\n"
	if on {
		v = "1\n"
	}
	if err := os.MkdirAll(filepath.Join(s.Dir, "chassis"), 0o755); err != nil {
		s.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.Dir, "chassis", "power"), []byte(v), 0o644); err != nil {
		s.t.Fatal(err)
	}
}

// Actions lists what the BMC asked of the chassis, e.g. "power 0",
// "power 1", "reset 1", "shutdown 1", in order.
func (s *Sim) Actions() []string {
	f, err := os.Open(filepath.Join(s.Dir, "chassis", "actions.log"))
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// "<unix.nanos> set <what> <value>"
		if f := strings.Fields(sc.Text()); len(f) == 4 {
			out = append(out, f[2]+" "+f[3])
		}
	}
	return out
}

// Console runs one command on the simulator's console and returns its
// output. It fails the test on an error reply ("**...").
// Never send "quit": it ends the simulator.
func (s *Sim) Console(command string) string {
	s.t.Helper()
	out, err := s.console(command)
	if err != nil {
		s.t.Fatalf("ipmi_sim console %q: %v", command, err)
	}
	return out
}

func (s *Sim) console(command string) (string, error) {
	conn, err := net.DialTimeout("tcp", net.JoinHostPort(s.Host, strconv.Itoa(s.Port)), 2*time.Second)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := readPrompt(conn); err != nil {
		return "", fmt.Errorf("waiting for the prompt: %w", err)
	}
	if _, err := conn.Write([]byte(command + "\n")); err != nil {
		return "", err
	}
	out, err := readPrompt(conn)
	if err != nil {
		return "", fmt.Errorf("waiting for the reply: %w", err)
	}
	// The console echoes the command line first.
	out = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(out), command))
	if strings.Contains(out, "**") {
		return out, errors.New(out)
	}
	return out, nil
}

// readPrompt reads up to the console's "> " prompt, dropping telnet
// negotiation (IAC sequences) and carriage returns.
func readPrompt(conn net.Conn) (string, error) {
	var buf []byte
	one := make([]byte, 256)
	for {
		n, err := conn.Read(one)
		buf = append(buf, one[:n]...)
		clean := telnetStrip(buf)
		if strings.HasSuffix(clean, "> ") {
			return strings.TrimSuffix(clean, "> "), nil
		}
		if err != nil {
			return clean, err
		}
	}
}

func telnetStrip(b []byte) string {
	var out []byte
	for i := 0; i < len(b); i++ {
		switch {
		case b[i] == 0xff && i+2 < len(b):
			i += 2 // IAC, verb, option
		case b[i] == '\r':
		default:
			out = append(out, b[i])
		}
	}
	return string(out)
}

// Ipmitool runs ipmitool against the simulator (lanplus, suite 3: without
// -C 3 it waits 10 s for cipher suites ipmi_sim never lists).
func (s *Sim) Ipmitool(args ...string) (string, error) {
	if _, err := exec.LookPath("ipmitool"); err != nil {
		return "", fmt.Errorf("ipmitool is not installed (Debian package ipmitool)")
	}
	base := []string{"-I", "lanplus", "-C", "3", "-H", s.Host, "-p", strconv.Itoa(s.Port), "-U", User, "-P", Password}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ipmitool", append(base, args...)...).CombinedOutput()
	return string(out), err
}
