package probes

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"time"

	"foghorn/configs"
)

// maxBanner caps what tcp reads while waiting for expect: a banner is a
// line or two, and a peer streaming forever must not grow our memory.
const maxBanner = 64 << 10

// probeTCP connects to host:port, optionally over TLS, optionally sends a
// line and waits for a reply matching a regexp.
func probeTCP(ctx context.Context, t *configs.Target, _ *Memory) Result {
	start := time.Now()
	ctx, cancel := bound(ctx, t)
	defer cancel()
	o := t.TCP
	if o == nil {
		o = &configs.TCP{}
	}
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
