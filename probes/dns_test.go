package probes

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"foghorn/configs"
)

// dnsZone is what the test server knows; anything else is NXDOMAIN.
var dnsZone = map[string][]string{
	"www.foghorn.test. A":          {"www.foghorn.test. 60 IN A 192.0.2.10", "www.foghorn.test. 60 IN A 192.0.2.11"},
	"www.foghorn.test. AAAA":       {"www.foghorn.test. 60 IN AAAA 2001:db8::10"},
	"foghorn.test. MX":             {"foghorn.test. 60 IN MX 10 mx1.foghorn.test.", "foghorn.test. 60 IN MX 20 mx2.foghorn.test."},
	"foghorn.test. TXT":            {`foghorn.test. 60 IN TXT "v=spf1 " "ip4:192.0.2.0/24 -all"`},
	"foghorn.test. NS":             {"foghorn.test. 60 IN NS ns1.foghorn.test."},
	"foghorn.test. SOA":            {"foghorn.test. 60 IN SOA ns1.foghorn.test. admin.foghorn.test. 2024010101 3600 600 86400 60"},
	"alias.foghorn.test. A":        {"alias.foghorn.test. 60 IN CNAME www.foghorn.test.", "www.foghorn.test. 60 IN A 192.0.2.10"},
	"alias.foghorn.test. CNAME":    {"alias.foghorn.test. 60 IN CNAME www.foghorn.test."},
	"_sip._udp.foghorn.test. SRV":  {"_sip._udp.foghorn.test. 60 IN SRV 10 5 5060 sip.foghorn.test."},
	"10.2.0.192.in-addr.arpa. PTR": {"10.2.0.192.in-addr.arpa. 60 IN PTR www.foghorn.test."},
	"empty.foghorn.test. A":        {},
}

// dnsServer answers from dnsZone over UDP on loopback; "broken.foghorn.test."
// gets SERVFAIL and "big.foghorn.test." TXT a reply too large for UDP.
func dnsServer(t *testing.T) string {
	t.Helper()
	pc, l := udpTCPPair(t)
	handler := dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		question := q.Question[0]
		key := question.Name + " " + dns.TypeToString[question.Qtype]
		switch {
		case question.Name == "broken.foghorn.test.":
			m.Rcode = dns.RcodeServerFailure
		case question.Name == "big.foghorn.test.":
			for i := range 40 {
				rr, _ := dns.NewRR("big.foghorn.test. 60 IN TXT \"" + strings.Repeat("x", 40) + string(rune('a'+i%26)) + "\"")
				m.Answer = append(m.Answer, rr)
			}
			if _, udp := w.RemoteAddr().(*net.UDPAddr); udp {
				m.Truncate(512)
			}
		default:
			rrs, ok := dnsZone[key]
			if !ok {
				if _, known := dnsZone[question.Name+" A"]; !known {
					m.Rcode = dns.RcodeNameError
				}
			}
			for _, s := range rrs {
				rr, err := dns.NewRR(s)
				if err != nil {
					panic(err)
				}
				m.Answer = append(m.Answer, rr)
			}
		}
		w.WriteMsg(m)
	})
	for _, s := range []*dns.Server{{PacketConn: pc, Handler: handler}, {Listener: l, Handler: handler}} {
		started := make(chan struct{})
		s.NotifyStartedFunc = func() { close(started) }
		go s.ActivateAndServe()
		<-started
		t.Cleanup(func() { s.Shutdown() })
	}
	return pc.LocalAddr().String()
}

// udpTCPPair binds UDP and TCP on the same loopback port. The UDP port the
// kernel picks may already be taken for TCP by another test, so a few
// ports are tried before giving up.
func udpTCPPair(t *testing.T) (net.PacketConn, net.Listener) {
	t.Helper()
	var last error
	for range 20 {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		l, err := net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			return pc, l
		}
		pc.Close()
		last = err
	}
	t.Fatalf("no loopback port free for both UDP and TCP: %v", last)
	return nil, nil
}

func TestDNS(t *testing.T) {
	t.Parallel()
	server := dnsServer(t)
	cases := []struct {
		name   string
		opts   *configs.DNS
		status Status
		msg    string
	}{
		{"A default type", &configs.DNS{Name: "www.foghorn.test"}, OK, "A www.foghorn.test. @" + server + ": 192.0.2.10, 192.0.2.11 in "},
		{"A expected", &configs.DNS{Name: "www.foghorn.test", Expect: []string{"192.0.2.11", "192.0.2.10"}}, OK, "192.0.2.10"},
		{"A missing value", &configs.DNS{Name: "www.foghorn.test", Expect: []string{"192.0.2.10", "192.0.2.1"}}, Critical, `answer lacks "192.0.2.1"; got 192.0.2.10, 192.0.2.11`},
		{"AAAA", &configs.DNS{Name: "www.foghorn.test", Type: "aaaa", Expect: []string{"2001:db8::10"}}, OK, "2001:db8::10"},
		{"MX host without dot", &configs.DNS{Name: "foghorn.test", Type: "MX", Expect: []string{"MX2.foghorn.test"}}, OK, "10 mx1.foghorn.test., 20 mx2.foghorn.test."},
		{"MX whole value", &configs.DNS{Name: "foghorn.test", Type: "MX", Expect: []string{"10 mx1.foghorn.test."}}, OK, "MX"},
		{"TXT field", &configs.DNS{Name: "foghorn.test", Type: "TXT", Expect: []string{"v=spf1"}}, OK, "v=spf1 ip4:192.0.2.0/24 -all"},
		{"TXT substring is not enough", &configs.DNS{Name: "foghorn.test", Type: "TXT", Expect: []string{"spf"}}, Critical, `lacks "spf"`},
		{"NS", &configs.DNS{Name: "foghorn.test", Type: "NS", Expect: []string{"ns1.foghorn.test."}}, OK, "ns1.foghorn.test."},
		{"SOA", &configs.DNS{Name: "foghorn.test", Type: "SOA", Expect: []string{"2024010101"}}, OK, "admin.foghorn.test."},
		{"CNAME", &configs.DNS{Name: "alias.foghorn.test", Type: "CNAME", Expect: []string{"www.foghorn.test"}}, OK, "www.foghorn.test."},
		{"A through CNAME", &configs.DNS{Name: "alias.foghorn.test", Expect: []string{"192.0.2.10"}}, OK, "192.0.2.10 in"},
		{"SRV", &configs.DNS{Name: "_sip._udp.foghorn.test", Type: "SRV", Expect: []string{"5060", "sip.foghorn.test"}}, OK, "10 5 5060 sip.foghorn.test."},
		{"PTR of an IP", &configs.DNS{Name: "192.0.2.10", Type: "PTR", Expect: []string{"www.foghorn.test"}}, OK, "PTR 10.2.0.192.in-addr.arpa."},
		{"NXDOMAIN", &configs.DNS{Name: "nope.foghorn.test"}, Critical, "A nope.foghorn.test. @" + server + ": NXDOMAIN"},
		{"SERVFAIL", &configs.DNS{Name: "broken.foghorn.test"}, Critical, ": SERVFAIL"},
		{"no records", &configs.DNS{Name: "empty.foghorn.test"}, Critical, "no A records in the answer"},
		{"truncated, retried over TCP", &configs.DNS{Name: "big.foghorn.test", Type: "TXT", Expect: []string{strings.Repeat("x", 40) + "z"}}, OK, "TXT"},
		{"unknown type", &configs.DNS{Name: "foghorn.test", Type: "BOGUS"}, Unknown, `unknown dns.type "BOGUS"`},
		{"no name", nil, Unknown, "dns.name is required"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			tg := probeTarget("dns", server, 2*time.Second)
			tg.DNS = c.opts
			r := probeDNS(context.Background(), tg, nil)
			if r.Status != c.status || !strings.Contains(r.Msg, c.msg) {
				t.Fatalf("got %v %q, want %v containing %q", r.Status, r.Msg, c.status, c.msg)
			}
		})
	}
}

func TestDNSNoServer(t *testing.T) {
	t.Parallel()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	pc.Close()
	tg := probeTarget("dns", addr, time.Second)
	tg.DNS = &configs.DNS{Name: "www.foghorn.test"}
	start := time.Now()
	r := probeDNS(context.Background(), tg, nil)
	// On loopback the kernel answers a closed UDP port with ICMP port
	// unreachable, which shows up as a refused read.
	if r.Status != Critical || !strings.Contains(r.Msg, "connection refused by "+addr) {
		t.Fatalf("got %v %q", r.Status, r.Msg)
	}
	if took := time.Since(start); took > 500*time.Millisecond {
		t.Errorf("took %s, want immediate", took)
	}
}

func TestDNSSilentServer(t *testing.T) {
	t.Parallel()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0") // never answers
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	tg := probeTarget("dns", pc.LocalAddr().String(), 500*time.Millisecond)
	tg.DNS = &configs.DNS{Name: "www.foghorn.test"}
	start := time.Now()
	r := probeDNS(context.Background(), tg, nil)
	if r.Status != Critical || !strings.Contains(r.Msg, "no answer from "+pc.LocalAddr().String()+" within 500ms") {
		t.Fatalf("got %v %q", r.Status, r.Msg)
	}
	if took := time.Since(start); took > 800*time.Millisecond {
		t.Errorf("took %s, want the 500ms timeout", took)
	}
}

func TestDNSDefaultPort(t *testing.T) {
	t.Parallel()
	pc, err := net.ListenPacket("udp", "127.0.83.7:53")
	if err != nil {
		t.Skipf("cannot listen on 127.0.83.7:53 (%v); default port not tested", err)
	}
	s := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		rr, _ := dns.NewRR(q.Question[0].Name + " 60 IN A 192.0.2.53")
		m.Answer = append(m.Answer, rr)
		w.WriteMsg(m)
	})}
	started := make(chan struct{})
	s.NotifyStartedFunc = func() { close(started) }
	go s.ActivateAndServe()
	<-started
	defer s.Shutdown()
	tg := probeTarget("dns", "127.0.83.7", time.Second)
	tg.DNS = &configs.DNS{Name: "x.foghorn.test", Expect: []string{"192.0.2.53"}}
	if r := probeDNS(context.Background(), tg, nil); r.Status != OK || !strings.Contains(r.Msg, "@127.0.83.7:53") {
		t.Fatalf("got %v %q", r.Status, r.Msg)
	}
}
