package probes

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"foghorn/configs"
	"foghorn/ipmi"
	"foghorn/ipmi/simtest"
)

func ipmiTarget(host string, port int, fall int, timeout time.Duration) *configs.Target {
	tg := probeTarget("ipmi", host, timeout)
	tg.Name, tg.Fall = "pve1-bmc", fall
	tg.IPMI = &configs.IPMI{Username: simtest.User, Password: configs.NewSecret(simtest.Password),
		Interface: "lanplus", CipherSuite: 3, Port: port}
	return tg
}

func ipmiPool(t *testing.T) *ipmi.Pool {
	p := ipmi.NewPool()
	t.Cleanup(func() { p.Close() })
	return p
}

func TestIPMIProbeReportsSELEventOnce(t *testing.T) {
	t.Parallel()
	s := simtest.Start(t)
	probe := IPMIProber(ipmiPool(t))
	tg := ipmiTarget(s.Host, s.Port, 1, 3*time.Second)
	var mem Memory
	s.Console(simtest.POSTError) // before foghorn looked: old news

	r := probe(context.Background(), tg, &mem)
	if r.Status != OK || r.Msg != "BMC up; power on" {
		t.Fatalf("first run: %v %q", r.Status, r.Msg)
	}
	if v, _ := mem.Get("ipmi.sel_last"); !strings.HasPrefix(v, "1:") {
		t.Fatalf("memory after the first run: %q", v)
	}
	if len(r.Perf) != 2 || r.Perf[1].Label != "cpu_temp" || r.Perf[1].Value != 48 || r.Perf[1].Unit != "C" {
		t.Fatalf("perf = %+v", r.Perf)
	}

	s.Console(simtest.UncorrectableECC)
	s.Console(simtest.ClearECC) // the state clears; the SEL keeps the event
	r = probe(context.Background(), tg, &mem)
	// The deassertion is in the SEL too, but it is no finding.
	if r.Status != Critical || r.Msg != "BMC up; power on; SEL: DIMM A1 Uncorrectable ECC" {
		t.Fatalf("after the event: %v %q", r.Status, r.Msg)
	}
	r = probe(context.Background(), tg, &mem)
	if r.Status != OK || r.Msg != "BMC up; power on" {
		t.Fatalf("the run after: %v %q", r.Status, r.Msg)
	}

	// A restart that kept the memory reports nothing old; one that lost
	// it starts over from the end of the SEL.
	saved := mem.Snapshot()
	var restored Memory
	for k, v := range saved {
		restored.Set(k, v)
	}
	probe2 := IPMIProber(ipmiPool(t))
	if r = probe2(context.Background(), tg, &restored); r.Status != OK {
		t.Fatalf("after restart with memory: %v %q", r.Status, r.Msg)
	}
	if r = probe2(context.Background(), tg, &Memory{}); r.Status != OK {
		t.Fatalf("after restart without memory: %v %q", r.Status, r.Msg)
	}
}

func TestIPMIProbeHoldsSELEventForFall(t *testing.T) {
	t.Parallel()
	s := simtest.Start(t)
	probe := IPMIProber(ipmiPool(t))
	tg := ipmiTarget(s.Host, s.Port, 3, 3*time.Second)
	var mem Memory
	probe(context.Background(), tg, &mem)
	s.Console(simtest.POSTError)
	// Fall = 3: the event is shown three runs, so the target goes down
	// and its page carries the diagnosis; then it is gone.
	want := "BMC up; power on; SEL: POST Status System Firmware Error (POST Error): no system memory installed"
	for run := 1; run <= 3; run++ {
		r := probe(context.Background(), tg, &mem)
		if r.Status != Critical || r.Msg != want {
			t.Fatalf("run %d: %v %q", run, r.Status, r.Msg)
		}
	}
	if r := probe(context.Background(), tg, &mem); r.Status != OK || r.Msg != "BMC up; power on" {
		t.Fatalf("run 4: %v %q", r.Status, r.Msg)
	}
}

func TestIPMIProbePowerOffIsCriticalAtOnce(t *testing.T) {
	t.Parallel()
	s := simtest.Start(t)
	s.SetPower(false)
	s.Console(simtest.Overtemp)
	r := IPMIProber(ipmiPool(t))(context.Background(), ipmiTarget(s.Host, s.Port, 3, 3*time.Second), &Memory{})
	// First run: no old SEL events, but the state as it is now.
	if r.Status != Critical || r.Msg != "BMC up; power off; sensors: CPU Temp 91C above upper critical" {
		t.Fatalf("%v %q", r.Status, r.Msg)
	}
}

func TestIPMIProbeUnreachableAndHanging(t *testing.T) {
	t.Parallel()
	const timeout = time.Second
	pool := ipmiPool(t)
	probe := IPMIProber(pool)

	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := pc.LocalAddr().(*net.UDPAddr).Port
	pc.Close()
	start := time.Now()
	r := probe(context.Background(), ipmiTarget("127.0.0.1", refused, 3, timeout), &Memory{})
	if r.Status != Critical || !strings.Contains(r.Msg, "connection refused by 127.0.0.1:") || time.Since(start) > timeout {
		t.Fatalf("nothing listening: %v %q after %v", r.Status, r.Msg, time.Since(start))
	}

	hung, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer hung.Close()
	go func() {
		buf := make([]byte, 2048)
		for {
			if _, _, err := hung.ReadFrom(buf); err != nil {
				return
			}
		}
	}()
	tg := ipmiTarget("127.0.0.1", hung.LocalAddr().(*net.UDPAddr).Port, 3, timeout)
	tg.Name = "pve2-bmc"
	start = time.Now()
	r = probe(context.Background(), tg, &Memory{})
	took := time.Since(start)
	if r.Status != Critical || !strings.HasPrefix(r.Msg, "ipmi pve2-bmc: check: connect: no answer from 127.0.0.1:") {
		t.Fatalf("hung BMC: %v %q", r.Status, r.Msg)
	}
	if took > timeout+200*time.Millisecond {
		t.Fatalf("hung BMC: took %v, timeout %v", took, timeout)
	}
}
