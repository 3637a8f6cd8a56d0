package main

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// netns puts foghorn in a network namespace of its own, joined to the
// soak's (the root namespace: the peer with the targets and canaries, and
// the Twilio simulator) by a veth pair. Setting foghorn's end down is the
// VPS losing its uplink: probes, canaries, the Twilio API and the webhooks
// all stop at once, as they would for real. See TESTING-NOTES.md.
type netns struct {
	name, inner, outer string // namespace; veth ends inside and outside it
	fh, host           string // foghorn's address, the soak's address
}

func ipCmd(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// newNetns makes the namespace and the link; close removes both.
func newNetns() (*netns, error) {
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("network namespaces need root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return nil, fmt.Errorf("no ip command (Debian iproute2): %w", err)
	}
	pid := os.Getpid()
	n := &netns{
		name:  fmt.Sprintf("fhsoak-%d", pid),
		inner: fmt.Sprintf("fsk%da", pid%10000000),
		outer: fmt.Sprintf("fsk%db", pid%10000000),
	}
	// A /30 of our own per run, so parallel namespaced tests do not clash.
	c, d := pid%250, (pid/250)%60*4
	n.fh, n.host = fmt.Sprintf("10.231.%d.%d", c, d+1), fmt.Sprintf("10.231.%d.%d", c, d+2)
	steps := [][]string{
		{"netns", "add", n.name},
		{"link", "add", n.outer, "type", "veth", "peer", "name", n.inner, "netns", n.name},
		{"addr", "add", n.host + "/30", "dev", n.outer},
		{"link", "set", n.outer, "up"},
		{"-n", n.name, "addr", "add", n.fh + "/30", "dev", n.inner},
		{"-n", n.name, "link", "set", n.inner, "up"},
		{"-n", n.name, "link", "set", "lo", "up"},
	}
	for _, s := range steps {
		if err := ipCmd(s...); err != nil {
			n.close()
			return nil, err
		}
	}
	return n, nil
}

// cut sets foghorn's end of the link down (true) or up again (false).
func (n *netns) cut(down bool) error {
	state := "up"
	if down {
		state = "down"
	}
	return ipCmd("-n", n.name, "link", "set", n.inner, state)
}

// wrap is argv run inside the namespace. ip netns exec execs the program
// itself (no fork), so the process is foghorn and SIGKILL reaches it.
func (n *netns) wrap(argv []string) []string {
	if n == nil {
		return argv
	}
	return append([]string{"ip", "netns", "exec", n.name}, argv...)
}

func (n *netns) close() {
	ipCmd("link", "del", n.outer) // takes the inner end with it
	ipCmd("netns", "del", n.name)
}
