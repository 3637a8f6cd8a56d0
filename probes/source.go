package probes

import (
	"context"
	"net"
)

// A node of a [cluster] may bind its probes to a source address of its
// own ([cluster] probe_source): the path from each vantage point is then
// told apart on the wire, by the site's firewall or a test's nftables.
// The scheduler puts it in each probe's context; the kinds that dial
// (tcp, tls, http, dns, snmp) dial from it.

type sourceKey struct{}

// WithSource is ctx whose probes dial from ip; nil leaves the system's choice.
func WithSource(ctx context.Context, ip net.IP) context.Context {
	if ip == nil {
		return ctx
	}
	return context.WithValue(ctx, sourceKey{}, ip)
}

// source is the address probes of ctx dial from, or nil.
func source(ctx context.Context) net.IP {
	ip, _ := ctx.Value(sourceKey{}).(net.IP)
	return ip
}

// dialer dials from the probe's source address, if it has one.
func dialer(ctx context.Context) *net.Dialer {
	d := &net.Dialer{}
	if ip := source(ctx); ip != nil {
		d.LocalAddr = &net.TCPAddr{IP: ip}
	}
	return d
}

// sourceAddr is the source address for gosnmp ("" none; it picks the port).
func sourceAddr(ctx context.Context) string {
	if ip := source(ctx); ip != nil {
		return net.JoinHostPort(ip.String(), "0")
	}
	return ""
}
