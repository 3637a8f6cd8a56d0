package probes

// The ICMP engine: one socket per network namespace, address family and
// mode for every icmp probe and canary of the process, one receive loop per
// socket, replies matched to the waiting probe by sequence number and
// verified by a token in the payload.
//
// Written here because no library does it: golang.org/x/net/icmp parses
// and builds packets but matches nothing (and hides the socket's
// descriptor, so this builds its 24-byte echoes itself and uses x/net for
// the filters only), and pro-bing opens a raw socket with a filter of its
// own per probe. That design is the cost being removed: the kernel copies
// and filters every ICMP packet once per open raw socket, so at 10,000
// targets (~1,450 sockets open at once) foghorn spent most of a core in
// the kernel and reported loopback down. fping's design is the model: one
// socket per family, replies matched by identifier and sequence.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/net/bpf"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// maxGap is the most time between the echoes of one probe: spaced rather
// than a burst, so one dropped burst is not all of a probe's echoes, yet a
// probe of 3 is done in 50ms plus the round trip.
const maxGap = 25 * time.Millisecond

// rcvBuf is the socket receive buffer asked for: 3,000 replies a second
// must not overflow it while the receive loop waits for a core (a dropped
// reply is a false down).
const rcvBuf = 4 << 20

// payloadLen is the echo payload: the probe's token and the send time.
const payloadLen = 16

// pingKey names one socket: sockets belong to the network namespace they
// were opened in, so a probe run from another namespace (a thread moved
// into one, as a test does) needs a socket of its own.
type pingKey struct {
	netns string
	v6    bool
	raw   bool
}

// pingSocks holds the process's sockets, opened on first use and kept;
// one in another namespace than the process's own is closed when its last
// probe ends, so namespaces that come and go do not pile up.
var pingSocks = struct {
	sync.Mutex
	m     map[pingKey]*pingSock
	host  string // the process's own namespace
	start time.Time
}{m: map[pingKey]*pingSock{}, start: time.Now()}

func init() {
	pingSocks.host = netnsID()
	// Tokens count up from a random start: unique in the process, and not
	// guessable by whoever would forge a reply.
	pingTokens.Store(rand.Uint64())
}

// pingStats are the engine's counters, for tests and the benchmark.
var pingStats struct {
	opened   atomic.Uint64 // sockets opened
	sent     atomic.Uint64 // echo requests sent
	received atomic.Uint64 // packets the kernel handed to a receive loop
	stray    atomic.Uint64 // echo replies matching no waiting echo
}

// PingStats are the ICMP engine's counters since the process started.
type PingStats struct {
	Sockets               uint64 // sockets opened (one per namespace, family and mode, plus reopens)
	Sent, Received, Stray uint64 // echo requests; packets read; replies that matched no echo
}

// Pings returns the ICMP engine's counters.
func Pings() PingStats {
	return PingStats{pingStats.opened.Load(), pingStats.sent.Load(), pingStats.received.Load(), pingStats.stray.Load()}
}

// pingSock is one shared socket.
type pingSock struct {
	key   pingKey
	conn  net.PacketConn
	id    uint16 // our identifier (raw mode; the kernel picks it otherwise)
	users int    // probes using it now (guarded by pingSocks)

	mu    sync.Mutex
	seq   uint16
	slots map[uint16]*pingWait // echoes in flight by sequence
	dead  bool                 // the receive loop ended: reopen
}

// pingWait is one probe's echoes: what its replies add up to.
type pingWait struct {
	token uint64
	from  netip.Addr
	want  int // echoes sent, once all are: then the last reply wakes the probe
	got   int
	sum   time.Duration
	done  chan struct{} // the last reply arrived (buffered 1)
}

var pingTokens atomic.Uint64

// probeRoot is the root of the scheduler's probe contexts. The scheduler's
// goroutines are never locked to a thread, so they run in the process's
// own network namespace: a probe under it skips the readlink that tells
// a locked thread's namespace (at 10,000 targets a tenth of the CPU).
// Probes called otherwise (a test in a namespace of its own) still look.
var probeRoot = context.WithValue(context.Background(), hostNetnsKey{}, true)

type hostNetnsKey struct{}

// netnsID is the network namespace of the calling thread (its inode as
// "net:[4026531840]"): one readlink, with no allocation when it is the
// process's own (every probe but a test's).
func netnsID() string {
	var buf [64]byte
	n, err := unix.Readlink("/proc/thread-self/ns/net", buf[:])
	if err != nil {
		return "" // no /proc: one namespace is all we can tell
	}
	if host := pingSocks.host; string(buf[:n]) == host {
		return host
	}
	return string(buf[:n])
}

// acquire returns the socket for key, opening it if there is none or the
// one there failed.
func acquire(key pingKey) (*pingSock, error) {
	pingSocks.Lock()
	defer pingSocks.Unlock()
	s := pingSocks.m[key]
	if s != nil {
		s.mu.Lock()
		dead := s.dead
		s.mu.Unlock()
		if dead {
			s = nil
		}
	}
	if s == nil {
		var err error
		if s, err = openPing(key); err != nil {
			return nil, err
		}
		pingSocks.m[key] = s
	}
	s.users++
	return s, nil
}

// release ends a probe's use of s; a socket of another namespace closes
// with its last probe.
func release(s *pingSock) {
	pingSocks.Lock()
	defer pingSocks.Unlock()
	s.users--
	if s.users == 0 && s.key.netns != pingSocks.host {
		if pingSocks.m[s.key] == s {
			delete(pingSocks.m, s.key)
		}
		s.conn.Close()
	}
}

// openPing opens the socket for key and starts its receive loop. The
// sockets are opened here rather than by icmp.ListenPacket, which hides
// the descriptor: the big receive buffer needs it.
func openPing(key pingKey) (*pingSock, error) {
	var c net.PacketConn
	var err error
	switch {
	case key.raw && key.v6:
		c, err = net.ListenPacket("ip6:ipv6-icmp", "::")
	case key.raw:
		c, err = net.ListenPacket("ip4:icmp", "0.0.0.0")
	default:
		c, err = listenDatagram(key.v6)
	}
	if err != nil {
		return nil, err
	}
	s := &pingSock{key: key, conn: c, id: uint16(rand.Uint32()), slots: map[uint16]*pingWait{}, seq: uint16(rand.Uint32())}
	if key.raw {
		if err := s.filter(); err != nil {
			c.Close()
			return nil, fmt.Errorf("filter the ICMP socket: %w", err)
		}
	}
	if sc, ok := c.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			raw.Control(func(fd uintptr) {
				// Best effort: as root beyond net.core.rmem_max; the
				// default still works, with drops under a burst.
				if unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, rcvBuf) != nil {
					unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, rcvBuf)
				}
			})
		}
	}
	pingStats.opened.Add(1)
	go s.receive()
	return s, nil
}

// listenDatagram opens an unprivileged ICMP socket ("ping socket"), as
// icmp.ListenPacket("udp4") does: the kernel picks the identifier, filters
// replies for this socket and sums the packets.
func listenDatagram(v6 bool) (net.PacketConn, error) {
	family, proto, network := unix.AF_INET, unix.IPPROTO_ICMP, "udp4"
	var sa unix.Sockaddr = &unix.SockaddrInet4{}
	if v6 {
		family, proto, network = unix.AF_INET6, unix.IPPROTO_ICMPV6, "udp6"
		sa = &unix.SockaddrInet6{}
	}
	fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, proto)
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: network, Err: os.NewSyscallError("socket", err)}
	}
	if err := unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		return nil, &net.OpError{Op: "listen", Net: network, Err: os.NewSyscallError("bind", err)}
	}
	f := os.NewFile(uintptr(fd), "ping")
	defer f.Close()
	return net.FilePacketConn(f)
}

// filter attaches a classic BPF program that passes only echo replies
// with our identifier, so the receive loop does not read every ICMP
// packet of the host (and the kernel does not queue them for us).
func (s *pingSock) filter() error {
	id := uint32(s.id)
	if s.key.v6 {
		// The kernel filters ICMPv6 types itself; BPF on an ICMPv6 raw
		// socket sees the ICMPv6 header at offset 0.
		var f ipv6.ICMPFilter
		f.SetAll(true)
		f.Accept(ipv6.ICMPTypeEchoReply)
		p := ipv6.NewPacketConn(s.conn)
		if err := p.SetICMPFilter(&f); err != nil {
			return err
		}
		prog, err := bpf.Assemble([]bpf.Instruction{
			bpf.LoadAbsolute{Off: 0, Size: 1},
			bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: uint32(ipv6.ICMPTypeEchoReply), SkipTrue: 3},
			bpf.LoadAbsolute{Off: 4, Size: 2},
			bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: id, SkipTrue: 1},
			bpf.RetConstant{Val: 0xffff},
			bpf.RetConstant{Val: 0},
		})
		if err != nil {
			return err
		}
		return p.SetBPF(prog)
	}
	// IPv4 raw: the program sees the IP header; X = its length.
	prog, err := bpf.Assemble([]bpf.Instruction{
		bpf.LoadMemShift{Off: 0},
		bpf.LoadIndirect{Off: 0, Size: 1},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: uint32(ipv4.ICMPTypeEchoReply), SkipTrue: 3},
		bpf.LoadIndirect{Off: 4, Size: 2},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: id, SkipTrue: 1},
		bpf.RetConstant{Val: 0xffff},
		bpf.RetConstant{Val: 0},
	})
	if err != nil {
		return err
	}
	return ipv4.NewPacketConn(s.conn).SetBPF(prog)
}

// pingNow is the time on the engine's clock: monotonic ns since it started,
// what the payload carries.
func pingNow() int64 { return int64(time.Since(pingSocks.start)) }

// receive reads replies until the socket fails, and marks it dead so the
// next probe opens another.
func (s *pingSock) receive() {
	buf := make([]byte, 1500)
	reply := byte(ipv4.ICMPTypeEchoReply)
	if s.key.v6 {
		reply = byte(ipv6.ICMPTypeEchoReply)
	}
	for {
		n, from, err := s.conn.ReadFrom(buf)
		if err != nil {
			s.mu.Lock()
			s.dead = true
			s.mu.Unlock()
			if !errors.Is(err, net.ErrClosed) {
				slog.Error("icmp: the shared ping socket failed; the next probe opens another", "socket", s.key, "err", err)
				s.conn.Close()
			}
			return
		}
		pingStats.received.Add(1)
		// type, code, checksum, id, seq, then our payload.
		if n < 8+payloadLen || buf[0] != reply {
			continue
		}
		if s.key.raw && binary.BigEndian.Uint16(buf[4:]) != s.id {
			continue
		}
		at := pingNow()
		seq := binary.BigEndian.Uint16(buf[6:])
		token := binary.BigEndian.Uint64(buf[8:])
		sent := int64(binary.BigEndian.Uint64(buf[16:]))
		s.mu.Lock()
		w := s.slots[seq]
		if w == nil || w.token != token || !sameAddr(from, w.from) {
			s.mu.Unlock()
			pingStats.stray.Add(1)
			continue
		}
		delete(s.slots, seq) // a duplicate is not a second reply
		w.got++
		w.sum += time.Duration(max(at-sent, 0))
		last := w.got == w.want
		s.mu.Unlock()
		if last {
			w.done <- struct{}{} // buffered, and sent once
		}
	}
}

func sameAddr(a net.Addr, want netip.Addr) bool {
	var ip net.IP
	switch a := a.(type) {
	case *net.IPAddr:
		ip = a.IP
	case *net.UDPAddr:
		ip = a.IP
	}
	got, ok := netip.AddrFromSlice(ip)
	return ok && got.Unmap() == want.WithZone("").Unmap()
}

// pingStat is what a probe's echoes came to.
type pingStat struct {
	sent, recv int
	avg        time.Duration
	sendErr    error // the first echo the kernel would not send
}

// loss is the share of echoes lost, in percent.
func (p pingStat) loss() float64 {
	if p.sent == 0 {
		return 0
	}
	return float64(p.sent-p.recv) / float64(p.sent) * 100
}

// ping sends count echoes to ip, spaced by gap, and waits for their
// replies until end or until ctx ends. An error is the socket that could
// not be opened.
func ping(ctx context.Context, ip netip.Addr, raw bool, count int, gap time.Duration, end time.Time) (pingStat, error) {
	ip = ip.Unmap()
	ns := pingSocks.host
	if ctx.Value(hostNetnsKey{}) == nil {
		ns = netnsID()
	}
	key := pingKey{netns: ns, v6: ip.Is6(), raw: raw}
	s, err := acquire(key)
	if err != nil {
		return pingStat{}, err
	}
	defer release(s)

	w := &pingWait{token: pingTokens.Add(1), from: ip, done: make(chan struct{}, 1)}
	var dst net.Addr = &net.IPAddr{IP: ip.AsSlice(), Zone: ip.Zone()}
	if !raw {
		dst = &net.UDPAddr{IP: ip.AsSlice(), Zone: ip.Zone()}
	}
	typ := byte(ipv4.ICMPTypeEcho)
	if key.v6 {
		typ = byte(ipv6.ICMPTypeEchoRequest)
	}
	var pkt [8 + payloadLen]byte
	pkt[0] = typ
	binary.BigEndian.PutUint16(pkt[4:], s.id)
	binary.BigEndian.PutUint64(pkt[8:], w.token)
	seqs := make([]uint16, 0, count)
	defer func() {
		// Replies after this are not ours to count, nor anyone's.
		s.mu.Lock()
		for _, q := range seqs {
			if s.slots[q] == w {
				delete(s.slots, q)
			}
		}
		s.mu.Unlock()
	}()

	var st pingStat
	timer := time.NewTimer(gap)
	defer timer.Stop()
	for i := 0; i < count; i++ {
		if i > 0 {
			timer.Reset(gap)
			select {
			case <-timer.C:
			case <-ctx.Done():
				i = count
				continue
			}
		}
		s.mu.Lock()
		seq := s.seq
		for range 1 << 16 { // skip echoes still in flight after a wrap
			if s.slots[seq] == nil {
				break
			}
			seq++
		}
		s.seq = seq + 1
		s.slots[seq] = w
		s.mu.Unlock()
		seqs = append(seqs, seq)
		binary.BigEndian.PutUint16(pkt[6:], seq)
		binary.BigEndian.PutUint64(pkt[16:], uint64(pingNow()))
		pkt[2], pkt[3] = 0, 0
		if !key.v6 { // the kernel sums ICMPv6 (and datagram ICMP) itself
			binary.BigEndian.PutUint16(pkt[2:], checksum(pkt[:]))
		}
		if _, err := s.conn.WriteTo(pkt[:], dst); err != nil {
			s.mu.Lock()
			delete(s.slots, seq) // no reply to wait for
			s.mu.Unlock()
			if st.sendErr == nil {
				st.sendErr = err
			}
			if st.sent == 0 {
				break // refused at once: the network is known to be gone
			}
			continue
		}
		st.sent++
		pingStats.sent.Add(1)
	}

	s.mu.Lock()
	w.want = st.sent
	all := w.got >= w.want
	s.mu.Unlock()
	if st.sent > 0 && !all {
		timer.Reset(time.Until(end))
		select {
		case <-w.done:
		case <-timer.C:
		case <-ctx.Done():
		}
	}
	s.mu.Lock()
	st.recv = w.got
	if w.got > 0 {
		st.avg = w.sum / time.Duration(w.got)
	}
	s.mu.Unlock()
	return st, nil
}

// checksum is the Internet checksum (RFC 1071) of an ICMP message.
func checksum(b []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}
