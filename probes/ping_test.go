package probes

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"foghorn/configs"
)

// hostRaw4 is the process's shared raw IPv4 socket, opened if need be.
func hostRaw4(t *testing.T) *pingSock {
	t.Helper()
	s, err := acquire(pingKey{netns: netnsID(), raw: true})
	if err != nil {
		t.Fatalf("open the shared socket: %v", err)
	}
	t.Cleanup(func() { release(s) })
	return s
}

// closeDatagram closes the process's unprivileged ICMP sockets, so that
// the next probe in that mode opens one anew (and meets the sysctl).
func closeDatagram() {
	pingSocks.Lock()
	defer pingSocks.Unlock()
	for k, s := range pingSocks.m {
		if !k.raw {
			s.conn.Close()
			delete(pingSocks.m, k)
		}
	}
}

// rawSockets counts this process's open raw sockets in /proc/net/FILE
// (raw: ICMP over IPv4, raw6: ICMPv6, icmp: datagram ping sockets).
func rawSockets(t *testing.T, file string) int {
	t.Helper()
	// This thread's namespace: /proc/net is the main thread's, which a
	// test's inEmptyNetns may have left in a namespace of its own.
	tab, err := os.ReadFile("/proc/thread-self/net/" + file)
	if err != nil {
		t.Fatalf("read /proc/thread-self/net/%s: %v", file, err)
	}
	inodes := map[string]bool{}
	for _, l := range strings.Split(string(tab), "\n")[1:] {
		if f := strings.Fields(l); len(f) > 9 {
			inodes["socket:["+f[9]+"]"] = true
		}
	}
	fds, _ := os.ReadDir("/proc/self/fd")
	n := 0
	for _, fd := range fds {
		if l, err := os.Readlink("/proc/self/fd/" + fd.Name()); err == nil && inodes[l] {
			n++
		}
	}
	return n
}

// whileInFlight counts the sockets of two /proc/net tables once probes
// have opened both (probes are in flight: they hold them).
func whileInFlight(t *testing.T, file4, file6 string) (v4, v6 int) {
	t.Helper()
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if v4, v6 = rawSockets(t, file4), rawSockets(t, file6); v4 > 0 && v6 > 0 {
			break
		}
	}
	return v4, v6
}

// Not parallel, so that the sockets counted are this test's alone.
func TestPingManyConcurrentProbesShareOneSocketPerFamily(t *testing.T) {
	needRoot(t)
	const n = 2000
	results := make([]Result, n)
	var started, wg sync.WaitGroup
	started.Add(n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			addr := fmt.Sprintf("127.3.%d.%d", i/250, 1+i%250)
			if i%20 == 0 {
				addr = "::1"
			}
			tg := probeTarget("icmp", addr, 5*time.Second)
			tg.Name = addr
			started.Done()
			results[i] = probeICMP(context.Background(), tg, nil)
		}()
	}
	started.Wait()
	v4, v6 := whileInFlight(t, "raw", "raw6")
	wg.Wait()
	for i, r := range results {
		if r.Status != OK || !strings.Contains(r.Msg, r.Target+": 3/3 replies") {
			t.Errorf("probe %d: got %v %q, want OK with 3/3 replies", i, r.Status, r.Msg)
		}
	}
	if v4 != 1 || v6 != 1 {
		t.Errorf("%d probes in flight held %d raw IPv4 and %d raw IPv6 sockets, want one each", n, v4, v6)
	}
}

// A silent target fails while others on the same socket answer at the
// same time: its lost replies are its own.
func TestPingSilentTargetFailsWhileOthersOnTheSameSocketAnswer(t *testing.T) {
	t.Parallel()
	needRoot(t)
	dropTo(t, "127.0.84.4")
	var wg sync.WaitGroup
	others := make([]Result, 50)
	for i := range others {
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(time.Duration(i) * 10 * time.Millisecond) // across the silent probe's wait
			others[i] = probeICMP(context.Background(), probeTarget("icmp", fmt.Sprintf("127.0.84.%d", 100+i), time.Second), nil)
		}()
	}
	r := probeICMP(context.Background(), probeTarget("icmp", "127.0.84.4", time.Second), nil)
	wg.Wait()
	if r.Status != Critical || r.Msg != "127.0.84.4: no reply to 3 echo requests" {
		t.Errorf("silent target: got %v %q", r.Status, r.Msg)
	}
	for i, o := range others {
		if o.Status != OK || !strings.Contains(o.Msg, "3/3 replies") {
			t.Errorf("answering target %d: got %v %q", i, o.Status, o.Msg)
		}
	}
}

// forgeReply sends an echo reply from `from` to us on loopback, as a
// stray or forged packet would arrive.
func forgeReply(t *testing.T, from string, id, seq uint16, token uint64) {
	t.Helper()
	c, err := net.ListenPacket("ip4:icmp", from)
	if err != nil {
		t.Fatalf("forger: %v", err)
	}
	defer c.Close()
	var pkt [8 + payloadLen]byte // type 0: echo reply
	binary.BigEndian.PutUint16(pkt[4:], id)
	binary.BigEndian.PutUint16(pkt[6:], seq)
	binary.BigEndian.PutUint64(pkt[8:], token)
	binary.BigEndian.PutUint64(pkt[16:], uint64(pingNow()))
	binary.BigEndian.PutUint16(pkt[2:], checksum(pkt[:]))
	if _, err := c.WriteTo(pkt[:], &net.IPAddr{IP: net.IPv4(127, 0, 0, 1)}); err != nil {
		t.Fatalf("forger: %v", err)
	}
}

// inFlight waits for want echoes to addr to be in flight on s and returns
// their sequence numbers and the probe's token.
func inFlight(t *testing.T, s *pingSock, addr string, want int) ([]uint16, uint64) {
	t.Helper()
	ip := netip.MustParseAddr(addr)
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
		var seqs []uint16
		var token uint64
		s.mu.Lock()
		for q, w := range s.slots {
			if w.from == ip {
				seqs, token = append(seqs, q), w.token
			}
		}
		s.mu.Unlock()
		if len(seqs) == want {
			return seqs, token
		}
	}
	t.Fatalf("%d echoes to %s never in flight", want, addr)
	return nil, 0
}

// A reply is counted only if it carries the token of the probe waiting
// for that sequence number: a stray or forged reply with our identifier
// is not, nor a reply that comes after its probe gave up (which the next
// probe to the same address must not count either).
func TestPingCountsOnlyRepliesCarryingTheProbesToken(t *testing.T) {
	t.Parallel()
	needRoot(t)
	const addr = "127.0.84.5"
	dropTo(t, addr) // no real replies: every one is ours
	s := hostRaw4(t)
	probe := func() <-chan Result {
		ch := make(chan Result, 1)
		go func() {
			tg := probeTarget("icmp", addr, time.Second)
			tg.ICMP = &configs.ICMP{Privileged: true}
			ch <- probeICMP(context.Background(), tg, nil)
		}()
		return ch
	}

	stray := pingStats.stray.Load()
	first := probe()
	seqs, token := inFlight(t, s, addr, 3)
	for _, q := range seqs {
		forgeReply(t, addr, s.id, q, token+1)
	}
	forgeReply(t, addr, s.id, seqs[0], token) // the one that counts
	r := <-first
	if r.Status != OK || !strings.Contains(r.Msg, addr+": 1/3 replies") {
		t.Errorf("3 forged replies and 1 true: got %v %q, want 1/3 replies", r.Status, r.Msg)
	}
	if got := pingStats.stray.Load() - stray; got < 3 {
		t.Errorf("%d stray replies counted, want at least the 3 forged", got)
	}

	second := probe()
	seqs2, token2 := inFlight(t, s, addr, 3)
	if token2 == token {
		t.Fatalf("two probes with one token %d", token)
	}
	for _, q := range append(seqs, seqs2...) {
		forgeReply(t, addr, s.id, q, token) // late replies of the first probe
	}
	if r := <-second; r.Status != Critical || r.Msg != addr+": no reply to 3 echo requests" {
		t.Errorf("late replies of the probe before: got %v %q, want no reply counted", r.Status, r.Msg)
	}
}

// The filter keeps other ICMP out: echoes of another pinger on the same
// host never reach the receive loop. Not parallel: it counts every packet
// the loop reads.
func TestPingFilterKeepsOtherICMPOut(t *testing.T) {
	needRoot(t)
	for _, c := range []struct {
		network, addr  string
		dst            net.IP
		request, reply byte
	}{
		{"ip4:icmp", "127.0.84.10", net.IPv4(127, 0, 84, 10), 8, 0},
		{"ip6:ipv6-icmp", "::1", net.IPv6loopback, 128, 129},
	} {
		t.Run(c.network, func(t *testing.T) {
			s, err := acquire(pingKey{netns: netnsID(), v6: c.dst.To4() == nil, raw: true})
			if err != nil {
				t.Fatalf("open the shared socket: %v", err)
			}
			defer release(s)
			other, err := net.ListenPacket(c.network, "")
			if err != nil {
				t.Fatal(err)
			}
			defer other.Close()
			id := s.id ^ 0x5555
			before := pingStats.received.Load()
			const n = 20
			for i := range n {
				var pkt [8 + payloadLen]byte
				pkt[0] = c.request
				binary.BigEndian.PutUint16(pkt[4:], id)
				binary.BigEndian.PutUint16(pkt[6:], uint16(i))
				binary.BigEndian.PutUint16(pkt[2:], checksum(pkt[:])) // the kernel sums ICMPv6
				if _, err := other.WriteTo(pkt[:], &net.IPAddr{IP: c.dst}); err != nil {
					t.Fatal(err)
				}
			}
			// The other pinger gets its replies: the traffic was there to see.
			other.SetReadDeadline(time.Now().Add(2 * time.Second))
			buf := make([]byte, 1500)
			for got := 0; got < n; {
				k, _, err := other.ReadFrom(buf)
				if err != nil {
					t.Fatalf("the other pinger got %d of its %d replies: %v", got, n, err)
				}
				if k >= 8 && buf[0] == c.reply && binary.BigEndian.Uint16(buf[4:]) == id {
					got++
				}
			}
			// Then a probe of ours: its replies queue behind the other
			// traffic, so once they are read, anything let through would
			// have been too.
			r := probeICMP(context.Background(), probeTarget("icmp", c.addr, time.Second), nil)
			if got := pingStats.received.Load() - before; r.Status != OK || got != 3 {
				t.Errorf("own probe: %v %q; %d packets read, want OK and only its 3 replies (%d requests and replies of the other pinger kept out)", r.Status, r.Msg, got, 2*n)
			}
		})
	}
}

// A probe inside another network namespace gets a socket of that
// namespace (here: an empty one, so the send fails), while the host's
// probes at the same time go on from the host's socket; the namespace's
// socket is closed with its last probe.
func TestPingInAnotherNetnsUsesThatNamespacesSocket(t *testing.T) {
	t.Parallel()
	needRoot(t)
	var wg sync.WaitGroup
	host := make([]Result, 20)
	for i := range host {
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(time.Duration(i) * 5 * time.Millisecond)
			host[i] = probeICMP(context.Background(), probeTarget("icmp", fmt.Sprintf("127.0.84.%d", 200+i), time.Second), nil)
		}()
	}
	var r Result
	var ns string
	inEmptyNetns(t, func() {
		ns = netnsID()
		r = probeICMP(context.Background(), probeTarget("icmp", "127.0.84.11", time.Second), nil)
	})
	wg.Wait()
	if ns == pingSocks.host {
		t.Fatalf("the test's namespace is the host's (%s)", ns)
	}
	if r.Status != Critical || !strings.Contains(r.Msg, "cannot send an echo request") || !strings.Contains(r.Msg, "network is unreachable") {
		t.Errorf("probe in an empty namespace: got %v %q, want the send error", r.Status, r.Msg)
	}
	for i, h := range host {
		if h.Status != OK || !strings.Contains(h.Msg, "3/3 replies") {
			t.Errorf("host probe %d: got %v %q", i, h.Status, h.Msg)
		}
	}
	pingSocks.Lock()
	defer pingSocks.Unlock()
	for k := range pingSocks.m {
		if k.netns == ns {
			t.Errorf("socket %+v of the ended namespace still open", k)
		}
	}
}

// Unprivileged (datagram) ICMP shares one socket too; the kernel picks
// its identifier and filters for it. Not parallel: it changes geteuid and
// the sysctl (restored).
func TestPingDatagramProbesShareOneSocket(t *testing.T) {
	needRoot(t)
	old, err := os.ReadFile(pingGroups)
	if err != nil {
		t.Skipf("cannot read %s: %v", pingGroups, err)
	}
	if err := os.WriteFile(pingGroups, fmt.Appendf(nil, "%d %d", os.Getegid(), os.Getegid()), 0o644); err != nil {
		t.Skipf("cannot write %s (%v); unprivileged ping not tested", pingGroups, err)
	}
	t.Cleanup(func() {
		if err := os.WriteFile(pingGroups, old, 0o644); err != nil {
			t.Errorf("restoring %s to %q: %v", pingGroups, old, err)
		}
	})
	geteuid = func() int { return 1000 }
	t.Cleanup(func() { geteuid = os.Geteuid })
	t.Cleanup(closeDatagram)

	const n = 200
	results := make([]Result, n)
	var started, wg sync.WaitGroup
	started.Add(n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			addr := fmt.Sprintf("127.4.0.%d", 1+i)
			if i%10 == 0 {
				addr = "::1"
			}
			tg := probeTarget("icmp", addr, 3*time.Second)
			tg.Name = addr
			started.Done()
			results[i] = probeICMP(context.Background(), tg, nil)
		}()
	}
	started.Wait()
	v4, v6 := whileInFlight(t, "icmp", "icmp6")
	wg.Wait()
	for i, r := range results {
		if r.Status != OK || !strings.Contains(r.Msg, r.Target+": 3/3 replies") {
			t.Errorf("probe %d: got %v %q, want OK with 3/3 replies", i, r.Status, r.Msg)
		}
	}
	if v4 != 1 || v6 != 1 {
		t.Errorf("%d probes in flight held %d IPv4 and %d IPv6 datagram ICMP sockets, want one each", n, v4, v6)
	}
}
