package probes

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"foghorn/configs"
)

// selfSigned makes a certificate for 127.0.0.1 and "foghorn.test" valid
// from notBefore to notAfter.
func selfSigned(t testing.TB, notBefore, notAfter time.Time) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "foghorn.test"},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		DNSNames:     []string{"foghorn.test"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// tlsServer serves HTTPS with a certificate expiring in expiresIn
// (negative: already expired).
func tlsServer(t testing.TB, expiresIn time.Duration, h http.Handler) *httptest.Server {
	t.Helper()
	now := time.Now()
	notBefore := now.Add(-time.Hour)
	if expiresIn < 0 {
		notBefore = now.Add(expiresIn - 24*time.Hour)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{selfSigned(t, notBefore, now.Add(expiresIn))}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

func TestTLS(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		expiresIn time.Duration
		warn      time.Duration
		status    Status
		msg       string
	}{
		{"valid a month", 30*24*time.Hour + time.Hour, 0, OK, `certificate "foghorn.test" expires in 30d (`},
		{"within the default 14 days", 3*24*time.Hour + time.Hour, 0, Warning, "expires in 3d ("},
		{"outside a shorter warning", 3*24*time.Hour + time.Hour, 24 * time.Hour, OK, "expires in 3d ("},
		{"within a longer warning", 30*24*time.Hour + time.Hour, 60 * 24 * time.Hour, Warning, "within the 60d warning"},
		{"expired", -2 * time.Hour, 0, Critical, `certificate "foghorn.test" expired 2h0m`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			srv := tlsServer(t, c.expiresIn, nil)
			tg := probeTarget("tls", srv.Listener.Addr().String(), 2*time.Second)
			if c.warn > 0 {
				tg.TLS = &configs.TLS{CertExpiryWarn: configs.Duration{Duration: c.warn}}
			}
			r := probeTLS(context.Background(), tg, nil)
			t.Logf("%v: %s", r.Status, r.Msg)
			if r.Status != c.status || !strings.Contains(r.Msg, c.msg) {
				t.Fatalf("got %v %q, want %v containing %q", r.Status, r.Msg, c.status, c.msg)
			}
			days := c.expiresIn.Hours() / 24
			if len(r.Perf) == 0 || r.Perf[0].Label != "cert_days" || r.Perf[0].Value < days-0.1 || r.Perf[0].Value > days {
				t.Errorf("perf = %+v, want cert_days about %.2f", r.Perf, days)
			}
		})
	}
}

func TestTLSServerName(t *testing.T) {
	t.Parallel()
	var got string
	srv := httptest.NewUnstartedServer(nil)
	cert := selfSigned(t, time.Now().Add(-time.Hour), time.Now().Add(90*24*time.Hour))
	srv.TLS = &tls.Config{GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
		got = hello.ServerName
		return &cert, nil
	}}
	srv.StartTLS()
	defer srv.Close()
	tg := probeTarget("tls", srv.Listener.Addr().String(), 2*time.Second)
	tg.TLS = &configs.TLS{ServerName: "foghorn.test"}
	if r := probeTLS(context.Background(), tg, nil); r.Status != OK {
		t.Fatalf("got %v %q", r.Status, r.Msg)
	}
	if got != "foghorn.test" {
		t.Errorf("server saw SNI %q, want foghorn.test", got)
	}
}

// TestTLSDefaultPort binds 443 on a loopback address of its own (we are
// root) to check that an address without a port means 443.
func TestTLSDefaultPort(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.83.5:443")
	if err != nil {
		t.Skipf("cannot listen on 127.0.83.5:443 (%v); default port not tested", err)
	}
	srv := httptest.NewUnstartedServer(nil)
	srv.Listener.Close()
	srv.Listener = l
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{selfSigned(t, time.Now().Add(-time.Hour), time.Now().Add(90*24*time.Hour))}}
	srv.StartTLS()
	defer srv.Close()
	r := probeTLS(context.Background(), probeTarget("tls", "127.0.83.5", 2*time.Second), nil)
	if r.Status != OK || !strings.Contains(r.Msg, "expires in 89d") {
		t.Fatalf("got %v %q", r.Status, r.Msg)
	}
}

func TestTLSFailures(t *testing.T) {
	t.Parallel()
	plain := bannerServer(t)
	refused := closedPort(t)
	cases := []struct {
		name, addr, msg string
	}{
		{"not TLS", plain, "TLS handshake with " + plain + " failed"},
		{"refused", refused, "connection refused by " + refused},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			r := probeTLS(context.Background(), probeTarget("tls", c.addr, 2*time.Second), nil)
			if r.Status != Critical || !strings.Contains(r.Msg, c.msg) {
				t.Fatalf("got %v %q, want Critical containing %q", r.Status, r.Msg, c.msg)
			}
		})
	}
}

func TestTLSTimeout(t *testing.T) {
	t.Parallel()
	dropTo(t, "127.0.83.3")
	start := time.Now()
	r := probeTLS(context.Background(), probeTarget("tls", "127.0.83.3:443", time.Second), nil)
	took := time.Since(start)
	if r.Status != Critical || r.Msg != "no answer from 127.0.83.3:443 within 1s (host down or packets dropped)" {
		t.Fatalf("got %v %q", r.Status, r.Msg)
	}
	if took > 1300*time.Millisecond {
		t.Errorf("took %s, want the 1s timeout", took)
	}
}

// TestTLSHandshakeTimeout is a server that accepts and then says nothing.
func TestTLSHandshakeTimeout(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	start := time.Now()
	r := probeTLS(context.Background(), probeTarget("tls", l.Addr().String(), 500*time.Millisecond), nil)
	if r.Status != Critical || !strings.Contains(r.Msg, "got no answer within 500ms") {
		t.Fatalf("got %v %q", r.Status, r.Msg)
	}
	if took := time.Since(start); took > 800*time.Millisecond {
		t.Errorf("took %s, want the 500ms timeout", took)
	}
}
