package probes

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"foghorn/configs"
)

// maxBody is how much of a response http reads for body_regex: enough for
// any status page, bounded so 10,000 targets cannot exhaust memory.
const maxBody = 1 << 20

// probeHTTP requests a URL and asserts on status, body and the TLS
// certificate's expiry.
//
// Each run gets its own Transport with keep-alives off: connections never
// outlive the probe, so 10,000 targets cannot pile up idle sockets, and a
// probe always measures a fresh connect (what a user would see after an
// outage). Proxies from the environment are ignored on purpose: foghorn
// checks the direct path from outside.
func probeHTTP(ctx context.Context, t *configs.Target, _ *Memory) Result {
	start := time.Now()
	ctx, cancel := bound(ctx, t)
	defer cancel()
	o := t.HTTP
	if o == nil {
		o = &configs.HTTP{}
	}
	u, err := url.Parse(t.Address)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return unknown(t, start, "config: address %q is not an http(s) URL", t.Address)
	}
	var bodyRE *regexp.Regexp
	if o.BodyRegex != "" {
		if bodyRE, err = compile(o.BodyRegex); err != nil {
			return unknown(t, start, "config: http.body_regex %q: %v", o.BodyRegex, err)
		}
	}
	method := o.Method
	if method == "" {
		method = http.MethodGet
	}
	var body io.Reader
	if o.Body != "" {
		body = strings.NewReader(o.Body)
	}
	req, err := http.NewRequestWithContext(ctx, method, t.Address, body)
	if err != nil {
		return unknown(t, start, "config: cannot build request: %v", err)
	}
	for k, v := range o.Headers {
		if strings.EqualFold(k, "Host") {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", "foghorn")
	}

	tr := &http.Transport{
		DialContext:            dialer(ctx).DialContext,
		TLSClientConfig:        &tls.Config{InsecureSkipVerify: o.Insecure},
		DisableKeepAlives:      true,
		MaxResponseHeaderBytes: 64 << 10,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	if o.FollowRedirects != nil && !*o.FollowRedirects {
		client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	}

	// Whether a connection was made tells a silent host from a silent
	// server; the client reports both as the context's deadline.
	var connected atomic.Bool
	req = req.WithContext(httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		ConnectDone: func(_, _ string, err error) {
			if err == nil {
				connected.Store(true)
			}
		},
	}))
	resp, err := client.Do(req)
	if err != nil {
		return fail(t, start, "%s", requestError(ctx, err, u, connected.Load()))
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	took := time.Since(start)
	perf := []Perf{seconds("time", took), {Label: "status", Value: float64(resp.StatusCode)}}
	if err != nil {
		return finish(t, start, Critical, fmt.Sprintf("%s: reading the body failed after %s: %v", resp.Status, took.Round(time.Millisecond), err), perf...)
	}

	// Problems lead the message; the response line ends it, unless the
	// status is itself the problem.
	status, msgs := OK, []string{}
	summary := fmt.Sprintf("%s in %s", resp.Status, took.Round(time.Millisecond))
	if !statusOK(resp.StatusCode, o.Status) {
		status = Critical
		msgs = append(msgs, fmt.Sprintf("status %s, want %s", resp.Status, wantStatus(o.Status)))
		summary = ""
	}
	if bodyRE != nil && !bodyRE.Match(got) {
		status = Critical
		msgs = append(msgs, fmt.Sprintf("body (%d bytes read) does not match /%s/", len(got), o.BodyRegex))
	}
	if resp.TLS != nil && len(resp.TLS.PeerCertificates) > 0 {
		s, m, days := certExpiry(resp.TLS.PeerCertificates[0], o.CertExpiryWarn.Duration, time.Now())
		status = max(status, s)
		if s != OK {
			msgs = append(msgs, m)
		}
		perf = append(perf, Perf{Label: "cert_days", Value: days, Unit: "d"})
	}
	if summary != "" {
		msgs = append(msgs, summary)
	}
	return finish(t, start, status, strings.Join(msgs, "; "), perf...)
}

// statusOK: an empty list means any 2xx or 3xx, as a browser would accept.
func statusOK(code int, want []int) bool {
	if len(want) == 0 {
		return code >= 200 && code <= 399
	}
	return slices.Contains(want, code)
}

func wantStatus(want []int) string {
	if len(want) == 0 {
		return "200-399"
	}
	s := make([]string, len(want))
	for i, c := range want {
		s[i] = strconv.Itoa(c)
	}
	return strings.Join(s, " or ")
}

// requestError turns a client error into what failed: connect, TLS
// verification (expired, untrusted, wrong name) or a silent server.
func requestError(ctx context.Context, err error, u *url.URL, connected bool) string {
	var (
		op        *net.OpError
		expired   x509.CertificateInvalidError
		untrusted x509.UnknownAuthorityError
		name      x509.HostnameError
		ue        *url.Error
	)
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), map[string]string{"http": "80", "https": "443"}[u.Scheme])
	}
	switch {
	case errors.As(err, &op) && op.Op == "dial", isTimeout(err) && !connected:
		return dialError(ctx, err, addr)
	case errors.As(err, &expired) && expired.Reason == x509.Expired:
		c := expired.Cert
		if time.Now().Before(c.NotBefore) {
			return fmt.Sprintf("certificate of %s is not valid before %s", u.Hostname(), c.NotBefore.UTC().Format("2006-01-02 15:04 UTC"))
		}
		return fmt.Sprintf("certificate of %s expired on %s", u.Hostname(), c.NotAfter.UTC().Format("2006-01-02 15:04 UTC"))
	case errors.As(err, &untrusted):
		return fmt.Sprintf("certificate of %s is not trusted (%v); set http.insecure for a self-signed one", u.Hostname(), untrusted)
	case errors.As(err, &name):
		return fmt.Sprintf("certificate does not match %s: %v", u.Hostname(), name.Error())
	case isTimeout(err):
		return fmt.Sprintf("no response from %s within %s", u.Redacted(), budget(ctx))
	}
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return fmt.Sprintf("request %s: %v", u.Redacted(), err)
}
