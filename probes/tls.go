package probes

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"time"

	"foghorn/configs"
)

// defaultCertWarn is how early a coming certificate expiry warns: two weeks
// leaves time to renew even across a holiday.
const defaultCertWarn = 14 * 24 * time.Hour

// probeTLS handshakes with host:port and rates the leaf certificate's
// expiry. It does not verify the chain: the BMCs and routers foghorn
// watches mostly serve self-signed certificates, and configs.TLS has no
// CA to verify against. What it guards against is the forgotten renewal.
func probeTLS(ctx context.Context, t *configs.Target, _ *Memory) Result {
	start := time.Now()
	ctx, cancel := bound(ctx, t)
	defer cancel()
	o := t.TLS
	if o == nil {
		o = &configs.TLS{}
	}
	addr := t.Address
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host, addr = addr, net.JoinHostPort(addr, "443")
	}
	name := o.ServerName
	if name == "" {
		name = host
	}

	raw, err := dialer(ctx).DialContext(ctx, "tcp", addr)
	if err != nil {
		return fail(t, start, "%s", dialError(ctx, err, addr))
	}
	defer raw.Close()
	conn := tls.Client(raw, &tls.Config{ServerName: name, InsecureSkipVerify: true})
	if err := conn.HandshakeContext(ctx); err != nil {
		return fail(t, start, "%s", handshakeError(ctx, err, addr))
	}
	certs := conn.ConnectionState().PeerCertificates
	if len(certs) == 0 {
		return fail(t, start, "%s sent no certificate", addr)
	}
	s, msg, days := certExpiry(certs[0], o.CertExpiryWarn.Duration, time.Now())
	return finish(t, start, s, msg, Perf{Label: "cert_days", Value: days, Unit: "d"}, seconds("time", time.Since(start)))
}

// certExpiry rates a leaf certificate: Critical once expired (or not yet
// valid), Warning within warn of expiry. days is negative when expired.
func certExpiry(leaf *x509.Certificate, warn time.Duration, now time.Time) (Status, string, float64) {
	if warn <= 0 {
		warn = defaultCertWarn
	}
	left := leaf.NotAfter.Sub(now)
	days := left.Hours() / 24
	who := leaf.Subject.CommonName
	if who == "" && len(leaf.DNSNames) > 0 {
		who = leaf.DNSNames[0]
	}
	when := leaf.NotAfter.UTC().Format("2006-01-02 15:04 UTC")
	switch {
	case left <= 0:
		return Critical, fmt.Sprintf("certificate %q expired %s ago (%s)", who, roundDays(-left), when), days
	case now.Before(leaf.NotBefore):
		return Critical, fmt.Sprintf("certificate %q is not valid before %s", who, leaf.NotBefore.UTC().Format("2006-01-02 15:04 UTC")), days
	case left < warn:
		return Warning, fmt.Sprintf("certificate %q expires in %s (%s), within the %s warning", who, roundDays(left), when, roundDays(warn)), days
	}
	return OK, fmt.Sprintf("certificate %q expires in %s (%s)", who, roundDays(left), when), days
}

// roundDays prints a long duration as days and hours, a short one as is.
func roundDays(d time.Duration) string {
	switch {
	case d < time.Hour:
		return d.Round(time.Second).String()
	case d < 48*time.Hour:
		return d.Round(time.Minute).String()
	}
	days, hours := int(d.Hours())/24, int(d.Hours())%24
	if hours == 0 {
		return fmt.Sprintf("%dd", days)
	}
	return fmt.Sprintf("%dd%dh", days, hours)
}
