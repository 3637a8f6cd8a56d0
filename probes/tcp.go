package probes

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"regexp"
	"time"

	"golang.org/x/sys/unix"

	"foghorn/configs"
)

// maxBanner caps what tcp reads while waiting for expect: a banner is a
// line or two, and a peer streaming forever must not grow our memory.
const maxBanner = 64 << 10

// probeTCP connects to host:port, optionally over TLS, optionally sends a
// line and waits for a reply matching a regexp.
//
// It is a small frame over the two paths, and the connect-only one keeps
// its big locals out of the frames that wait: a silent target parks its
// probe's goroutine for the whole timeout, a thousand at once at 10,000
// targets, and the runtime sizes new goroutines' stacks by the average in
// use (4 KiB under about 3 KiB used, else 8 KiB).
func probeTCP(ctx context.Context, t *configs.Target, _ *Memory) Result {
	start := time.Now()
	o := t.TCP
	if o == nil {
		o = &configs.TCP{}
	}
	if !o.TLS && o.Send == "" && o.Expect == "" {
		if ap, err := netip.ParseAddrPort(t.Address); err == nil {
			if lim, ok, err := connectOnly(ctx, t, ap); ok {
				return connectResult(ctx, t, ap, start, lim, err)
			}
		}
	}
	return dialTCP(ctx, t, o, start)
}

// dialTCP is probeTCP through net.Dialer: TLS, send and expect, host names.
func dialTCP(ctx context.Context, t *configs.Target, o *configs.TCP, start time.Time) Result {
	ctx, cancel := bound(ctx, t)
	defer cancel()
	var expect *regexp.Regexp
	if o.Expect != "" {
		var err error
		if expect, err = compile(o.Expect); err != nil {
			return unknown(t, start, "config: tcp.expect %q: %v", o.Expect, err)
		}
	}

	conn, err := dialer(ctx).DialContext(ctx, "tcp", t.Address)
	if err != nil {
		return fail(t, start, "%s", dialError(ctx, err, t.Address))
	}
	defer conn.Close()
	connected := time.Since(start)
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}

	if o.TLS {
		host, _, _ := net.SplitHostPort(t.Address)
		tc := tls.Client(conn, &tls.Config{ServerName: host, InsecureSkipVerify: o.Insecure})
		if err := tc.HandshakeContext(ctx); err != nil {
			return fail(t, start, "%s", handshakeError(ctx, err, t.Address))
		}
		conn = tc
	}

	if o.Send != "" {
		if _, err := io.WriteString(conn, o.Send); err != nil {
			return fail(t, start, "connected to %s, but sending failed: %v", t.Address, err)
		}
	}
	if expect != nil {
		got, err := readUntil(conn, expect)
		if err != nil {
			why := "connection closed"
			if isTimeout(err) {
				why = "timed out after " + budget(ctx)
			} else if !errors.Is(err, io.EOF) {
				why = err.Error()
			}
			return fail(t, start, "connected to %s, but no reply matched /%s/ (%s); got %q",
				t.Address, o.Expect, why, clip(got, 80))
		}
	}
	took := time.Since(start)
	return finish(t, start, OK, fmt.Sprintf("connected to %s in %s", t.Address, took.Round(time.Microsecond)),
		seconds("time", took), seconds("connect", connected))
}

// readUntil reads until what was read matches, the peer closes, the
// deadline passes or maxBanner bytes came without a match.
func readUntil(r io.Reader, re *regexp.Regexp) ([]byte, error) {
	buf := make([]byte, 0, 512)
	for {
		if len(buf) == cap(buf) {
			if len(buf) >= maxBanner {
				return buf, fmt.Errorf("no match in the first %d bytes", maxBanner)
			}
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if re.Match(buf) {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// clip shortens peer data for a one-line message.
func clip(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}

// handshakeError names TLS failures; a timeout during the handshake is
// silence after connect, which usually means a wrong port or a hung server.
func handshakeError(ctx context.Context, err error, addr string) string {
	if isTimeout(err) {
		return fmt.Sprintf("TLS handshake with %s got no answer within %s", addr, budget(ctx))
	}
	return fmt.Sprintf("TLS handshake with %s failed: %v", addr, err)
}

// connectOnly checks that ap accepts a connection: the common TCP target,
// and the one 10,000 targets multiply. net.Dialer does much more for it
// than the check needs (the resolver, a goroutine watching the context,
// no-delay and keep-alive options, getsockname and getpeername, a netFD
// registered with the netpoller even when the handshake is already done):
// at 10,000 targets (probes/bench) it cost 0.23 ms of CPU per probe, the
// bare socket here 0.16 ms, in the same runs. The system calls are the
// floor's — socket, connect, poll, close — when the handshake completes
// within connect, as on loopback and fast LANs; the netpoller is used
// only when it does not. x/sys/unix rather than a library: no kept one
// does a bare connect check. Messages are the dialer's, word for word
// (connectResult). ok is false when ap needs the dialer (a zone, or a
// source address of the other family); lim is the time the connect was
// given.
func connectOnly(ctx context.Context, t *configs.Target, ap netip.AddrPort) (lim time.Duration, ok bool, err error) {
	src := source(ctx)
	var sa, lsa unix.Sockaddr
	family := unix.AF_INET
	a := ap.Addr().Unmap()
	switch {
	case a.Zone() != "":
		return 0, false, nil
	case a.Is4():
		sa = &unix.SockaddrInet4{Port: int(ap.Port()), Addr: a.As4()}
		if src != nil {
			ip4 := src.To4()
			if ip4 == nil {
				return 0, false, nil
			}
			lsa = &unix.SockaddrInet4{Addr: [4]byte(ip4)}
		}
	default:
		family = unix.AF_INET6
		sa = &unix.SockaddrInet6{Port: int(ap.Port()), Addr: a.As16()}
		if src != nil {
			if src.To4() != nil || len(src) != net.IPv6len {
				return 0, false, nil
			}
			lsa = &unix.SockaddrInet6{Addr: [16]byte(src)}
		}
	}
	lim = limit(ctx, t)
	return lim, true, connectRaw(ctx, family, sa, lsa, time.Now().Add(lim))
}

// connectResult is connectOnly's Result, in the dialer's words; a frame
// of its own, which is not on the stack while the connect waits.
//
//go:noinline
func connectResult(ctx context.Context, t *configs.Target, ap netip.AddrPort, start time.Time, lim time.Duration, err error) Result {
	if err != nil {
		src := source(ctx)
		oe := &net.OpError{Op: "dial", Net: "tcp", Addr: net.TCPAddrFromAddrPort(ap), Err: err}
		if src != nil {
			oe.Source = &net.TCPAddr{IP: src}
		}
		bctx := context.WithValue(ctx, budgetKey{}, lim.Round(time.Millisecond))
		return fail(t, start, "%s", dialError(bctx, oe, t.Address))
	}
	took := time.Since(start)
	return finish(t, start, OK, "connected to "+t.Address+" in "+took.Round(time.Microsecond).String(),
		seconds("time", took), seconds("connect", took))
}

// connectRaw connects a non-blocking socket of family to sa (from lsa,
// when set) and closes it; the error is the dialer's kind (a
// *os.SyscallError naming the call, or a timeout).
func connectRaw(ctx context.Context, family int, sa, lsa unix.Sockaddr, deadline time.Time) error {
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return os.NewSyscallError("socket", err)
	}
	if lsa != nil {
		if err := unix.Bind(fd, lsa); err != nil {
			unix.Close(fd)
			return os.NewSyscallError("bind", err)
		}
	}
	switch err := unix.Connect(fd, sa); err {
	case nil:
		unix.Close(fd)
		return nil
	case unix.EINPROGRESS, unix.EINTR:
	default:
		unix.Close(fd)
		return os.NewSyscallError("connect", err)
	}
	// On loopback and fast LANs the handshake is done by now: one poll
	// that does not block says so, without the netpoller's round trip.
	pfd := [1]unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
	if n, _ := unix.Poll(pfd[:], 0); n == 1 {
		err := connected(fd, pfd[0].Revents)
		unix.Close(fd)
		return err
	}
	return await(ctx, fd, deadline)
}

// connected is the outcome of a connect whose socket poll found ready.
func connected(fd int, revents int16) error {
	if revents&(unix.POLLERR|unix.POLLHUP) == 0 {
		return nil
	}
	v, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
	switch {
	case err != nil:
		return os.NewSyscallError("getsockopt", err)
	case v != 0:
		return os.NewSyscallError("connect", unix.Errno(v))
	}
	return os.NewSyscallError("connect", unix.ECONNRESET) // hung up with no error: reset
}

// await waits on Go's netpoller for the connect on fd to finish, by the
// deadline or until ctx ends, and closes fd.
func await(ctx context.Context, fd int, deadline time.Time) error {
	f := os.NewFile(uintptr(fd), "tcp probe") // non-blocking: registered with the netpoller
	defer f.Close()
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	if err := f.SetWriteDeadline(deadline); err != nil {
		return err
	}
	stop := onCancel(ctx, func() { f.SetWriteDeadline(time.Unix(1, 0)) })
	defer stop()
	var cerr error
	first := true
	werr := rc.Write(func(fd uintptr) bool {
		if first { // just polled: not ready
			first = false
			return false
		}
		v, err := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_ERROR)
		switch e := unix.Errno(v); {
		case err != nil:
			cerr = os.NewSyscallError("getsockopt", err)
		case e == unix.EINPROGRESS || e == unix.EALREADY || e == unix.EINTR:
			return false
		case e != 0:
			cerr = os.NewSyscallError("connect", e)
		default:
			// Writable with no error may still be a spurious wakeup, as
			// net's own connect allows for: connected only with a peer.
			if _, err := unix.Getpeername(int(fd)); err != nil {
				return false
			}
		}
		return true
	})
	if werr != nil {
		if err := ctx.Err(); err != nil {
			return err
		}
		return werr
	}
	return cerr
}
