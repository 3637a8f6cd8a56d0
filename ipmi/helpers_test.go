package ipmi

import (
	"context"
	"net"
	"testing"
	"time"

	"foghorn/configs"
	"foghorn/ipmi/simtest"
)

// newBMC is a client for sim with short timeouts, closed at the end.
func newBMC(t testing.TB, s *simtest.Sim) *BMC {
	t.Helper()
	b := New("sim", Options{Host: s.Host, Port: s.Port, Username: simtest.User, Password: simtest.Password,
		Timeout: 250 * time.Millisecond})
	t.Cleanup(func() { b.Close() })
	return b
}

func within(t testing.TB, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// bmcTarget is an ipmi target for sim, as the config would have it.
func bmcTarget(name, host string, s *simtest.Sim) configs.Target {
	return configs.Target{
		Name: name, Kind: "ipmi", Address: s.Host, Host: host,
		Timeout: configs.Duration{Duration: 2 * time.Second},
		IPMI: &configs.IPMI{Username: simtest.User, Password: configs.NewSecret(simtest.Password),
			Interface: "lanplus", CipherSuite: 3, Port: s.Port},
	}
}

// freeUDPPort is a loopback UDP port with nothing on it.
func freeUDPPort(t testing.TB) int {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// silentBMC is a UDP socket that reads and never answers: a hung BMC.
func silentBMC(t testing.TB) int {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	go func() {
		buf := make([]byte, 2048)
		for {
			if _, _, err := c.ReadFrom(buf); err != nil {
				return
			}
		}
	}()
	return c.LocalAddr().(*net.UDPAddr).Port
}
