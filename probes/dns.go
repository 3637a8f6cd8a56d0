package probes

import (
	"context"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/miekg/dns"

	"foghorn/configs"
)

// probeDNS asks the server at address (host[:53]) for name and type and
// checks that every expected string is among the answer's values.
func probeDNS(ctx context.Context, t *configs.Target, _ *Memory) Result {
	start := time.Now()
	ctx, cancel := bound(ctx, t)
	defer cancel()
	o := t.DNS
	if o == nil || o.Name == "" {
		return unknown(t, start, "config: dns.name is required")
	}
	typ := strings.ToUpper(o.Type)
	if typ == "" {
		typ = "A"
	}
	qtype, ok := dns.StringToType[typ]
	if !ok {
		return unknown(t, start, "config: unknown dns.type %q", o.Type)
	}
	name := o.Name
	if qtype == dns.TypePTR && net.ParseIP(name) != nil {
		name, _ = dns.ReverseAddr(name) // a PTR of 10.0.0.1 means 1.0.0.10.in-addr.arpa.
	}
	server := t.Address
	if _, _, err := net.SplitHostPort(server); err != nil {
		server = net.JoinHostPort(strings.Trim(server, "[]"), "53")
	}

	q := new(dns.Msg)
	q.SetQuestion(dns.Fqdn(name), qtype)
	c := &dns.Client{Net: "udp"}
	if ip := source(ctx); ip != nil {
		c.Dialer = &net.Dialer{LocalAddr: &net.UDPAddr{IP: ip}}
	}
	resp, _, err := c.ExchangeContext(ctx, q, server)
	if err == nil && resp.Truncated {
		c.Net = "tcp"
		if c.Dialer != nil {
			c.Dialer = dialer(ctx)
		}
		resp, _, err = c.ExchangeContext(ctx, q, server)
	}
	took := time.Since(start)
	perf := seconds("time", took)
	what := fmt.Sprintf("%s %s @%s", typ, dns.Fqdn(name), server)
	if err != nil {
		return fail(t, start, "%s: %s", what, dialError(ctx, err, server))
	}
	if resp.Rcode != dns.RcodeSuccess {
		return finish(t, start, Critical, fmt.Sprintf("%s: %s", what, dns.RcodeToString[resp.Rcode]), perf)
	}

	var values []string
	for _, rr := range resp.Answer {
		if rr.Header().Rrtype == qtype {
			values = append(values, rdata(rr))
		}
	}
	if len(values) == 0 {
		return finish(t, start, Critical, fmt.Sprintf("%s: no %s records in the answer", what, typ), perf)
	}
	var missing []string
	for _, e := range o.Expect {
		if !answered(values, e) {
			missing = append(missing, fmt.Sprintf("%q", e))
		}
	}
	if len(missing) > 0 {
		return finish(t, start, Critical, fmt.Sprintf("%s: answer lacks %s; got %s",
			what, strings.Join(missing, ", "), strings.Join(values, ", ")), perf)
	}
	return finish(t, start, OK, fmt.Sprintf("%s: %s in %s", what, strings.Join(values, ", "), took.Round(time.Microsecond)), perf)
}

// rdata is a record's value as a zone file shows it, minus the header
// ("10 mx.example.com." for an MX). TXT strings are unquoted and joined,
// as they are meant to be read.
func rdata(rr dns.RR) string {
	if txt, ok := rr.(*dns.TXT); ok {
		return strings.Join(txt.Txt, "")
	}
	return strings.TrimSpace(strings.TrimPrefix(rr.String(), rr.Header().String()))
}

// answered reports whether e is one of the values or one field of one
// ("mx.example.com" matches "10 mx.example.com."), ignoring case and the
// trailing dot of names. Whole fields only: "1.2.3.4" must not match
// "11.2.3.45".
func answered(values []string, e string) bool {
	norm := func(s string) string { return strings.ToLower(strings.TrimSuffix(s, ".")) }
	e = norm(e)
	for _, v := range values {
		if norm(v) == e {
			return true
		}
		for _, f := range strings.Fields(v) {
			if norm(f) == e {
				return true
			}
		}
	}
	return false
}
