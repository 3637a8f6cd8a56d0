package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"foghorn/pager"
	"foghorn/pager/twiliosim"
)

// The promises of the README and DESIGN are tested on the real binary
// with configs/example.toml itself: the same people, policy, limits and
// targets, with only the addresses swapped for loopback peers the test
// runs (and the Twilio API pointed at a simulator, as the example's
// api_base comment says). A promise the example cannot keep fails here.

// exampleSite is configs/example.toml made runnable on loopback.
type exampleSite struct {
	dir, path string
	text      string // the config as written
	base      string // foghorn's HTTP listener
	sim       *twiliosim.Sim
	simURL    string
	addr      map[string]string // target name -> the loopback address it probes
}

// Loopback addresses standing in for the example's documentation ones.
// Every 127.x answers ping; a test makes one silent with nftables.
var exampleIPs = map[string]string{
	"203.0.113.1":  "127.0.0.61", // rt1
	"203.0.113.2":  "127.0.0.62", // rt2 (and core-switch's SNMP: nothing listens there)
	"203.0.113.21": "127.0.0.81", // BMCs: nothing answers IPMI there
	"203.0.113.22": "127.0.0.82",
	"203.0.113.23": "127.0.0.83",
}

var exampleCanaries = []string{"127.0.0.71", "127.0.0.72", "127.0.0.73"}

// newExample writes configs/example.toml with loopback peers into a
// temporary folder; edits, if any, change the text further (each test
// says why). Start it with run.
func newExample(t *testing.T, edits ...func(string) string) *exampleSite {
	t.Helper()
	raw, err := os.ReadFile("../../configs/example.toml")
	if err != nil {
		t.Fatal(err)
	}
	x := &exampleSite{dir: t.TempDir(), addr: map[string]string{}}
	for _, f := range []string{"twilio-token.example", "bmc-password.example", "heartbeat-token.example"} {
		b, err := os.ReadFile(filepath.Join("../../configs", f))
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(x.dir, f), string(b))
	}
	token, _ := os.ReadFile(filepath.Join(x.dir, "twilio-token.example"))
	port := freePort(t)
	x.base = fmt.Sprintf("http://127.0.0.1:%d", port)

	x.sim = twiliosim.New(twiliosim.Options{
		AccountSID: "AC0123456789abcdef0123456789abcdef", AuthToken: strings.TrimSpace(string(token)),
		Number: "+14155550100", PublicURL: x.base, InboundSMSURL: x.base + pager.SMSPath,
	})
	x.simURL, err = x.sim.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { x.sim.Close() })

	s := string(raw)
	sub := func(old, new string) {
		if !strings.Contains(s, old) {
			t.Fatalf("example.toml no longer has %q; update newExample", old)
		}
		s = strings.ReplaceAll(s, old, new)
	}
	sub(`listen = "127.0.0.1:8080"`, fmt.Sprintf("listen = \"127.0.0.1:%d\"", port))
	sub(`public_url = "https://foghorn.example.net"`, fmt.Sprintf("public_url = %q", x.base))
	sub(`data_dir = "/var/lib/foghorn"`, fmt.Sprintf("data_dir = %q", filepath.Join(x.dir, "data")))
	sub(`# api_base = "https://api.twilio.com"`, fmt.Sprintf("api_base = %q", x.simURL))
	sub(`host = "mail.example.net"`, `host = "127.0.0.1"`)
	sub(`port = 587 `, fmt.Sprintf("port = %d ", closedTCP(t)))
	sub(`canaries = ["9.9.9.9", "1.1.1.1", "8.8.8.8"]`, `canaries = ["`+strings.Join(exampleCanaries, `", "`)+`"]`)
	hb := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(hb.Close)
	sub(`heartbeat_url = "https://hc-ping.example.org/5f1c0e7a"`, fmt.Sprintf("heartbeat_url = %q", hb.URL))

	tlsAddr := tlsListener(t)
	ssh := bannerListener(t, "SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n")
	zabbix := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "<html><title>Zabbix</title>© 2001–2026, Zabbix SIA</html>")
	}))
	t.Cleanup(zabbix.Close)
	dnsAddr := dnsServer(t, "www.example.net.", "203.0.113.80")

	sub(`"203.0.113.11:8006"`, fmt.Sprintf("%q", tlsAddr))
	sub(`"203.0.113.12:22"`, fmt.Sprintf("%q", ssh))
	sub(`"203.0.113.13:22"`, fmt.Sprintf("%q", ssh))
	sub(`"https://zabbix.example.net/zabbix/index.php"`, fmt.Sprintf("%q", zabbix.URL+"/zabbix/index.php"))
	sub(`address = "203.0.113.53"`, fmt.Sprintf("address = %q", dnsAddr))
	sub(`address = "www.example.net:443"`, fmt.Sprintf("address = %q", tlsAddr))
	for doc, lo := range exampleIPs {
		sub(`"`+doc+`"`, `"`+lo+`"`)
	}
	for _, f := range edits {
		s = f(s)
	}
	for _, m := range regexp.MustCompile(`203\.0\.113\.\d+`).FindAllString(s, -1) {
		if m != "203.0.113.80" { // dns1's expected answer, which the test's server gives
			t.Fatalf("the example still names %s after the swap; add it to exampleIPs", m)
		}
	}
	x.text = s
	x.path = filepath.Join(x.dir, "foghorn.toml")
	writeFile(t, x.path, s)
	for _, name := range []string{"rt1", "rt2"} {
		x.addr[name] = exampleIPs[map[string]string{"rt1": "203.0.113.1", "rt2": "203.0.113.2"}[name]]
	}
	return x
}

// run starts foghorn on the example, JSON logs, and waits until it runs.
func (x *exampleSite) run(t *testing.T, env ...string) *proc {
	t.Helper()
	return x.runWithin(t, 15*time.Second, env...)
}

// runWithin is run with its own wait for the start: a restart into a
// storm first looks up and resends what the kill interrupted.
func (x *exampleSite) runWithin(t *testing.T, d time.Duration, env ...string) *proc {
	t.Helper()
	p := startEnv(t, append([]string{"FOGHORN_API_TOKEN=" + e2eToken}, env...), "run", "-config", x.path, "-log-format", "json")
	p.waitWithin(t, d, 0, "foghorn running", nil)
	return p
}

// withoutQuietHours drops the example's quiet hours, so a test of
// warnings does not depend on the hour it runs at.
func withoutQuietHours(s string) string {
	return regexp.MustCompile(`(?m)^quiet_hours = .*$`).ReplaceAllString(s, "")
}

// silence makes a loopback address drop every ICMP echo reply from it:
// a router that stopped answering, not one that refuses.
func silence(t *testing.T, ip string) {
	t.Helper()
	nft(t, "input", "ip saddr "+ip+" icmp type echo-reply drop")
}

var nftTables atomic.Int64

// nft adds rule to hook in an nftables table of the test's own and
// removes it when the test ends.
func nft(t *testing.T, hook, rule string) {
	t.Helper()
	nftRemovable(t, hook, rule)
}

// requirePeer skips, or fails in CI (FOGHORN_REQUIRE_PEERS=1).
func requirePeer(t *testing.T, msg string) {
	t.Helper()
	if os.Getenv("FOGHORN_REQUIRE_PEERS") == "1" {
		t.Fatalf("%s (FOGHORN_REQUIRE_PEERS=1: CI must install it; see .ci/run)", msg)
	}
	t.Skip(msg)
}

func closedTCP(t *testing.T) int {
	t.Helper()
	return freePort(t)
}

// tlsListener accepts TLS handshakes (httptest's certificate) on loopback.
func tlsListener(t *testing.T) string {
	t.Helper()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

// bannerListener answers every connection with banner, like sshd.
func bannerListener(t *testing.T, banner string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			io.WriteString(c, banner)
			c.Close()
		}
	}()
	return l.Addr().String()
}

// dnsServer answers name A with ip over UDP on loopback.
func dnsServer(t *testing.T, name, ip string) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		if len(q.Question) == 1 && q.Question[0].Name == name {
			rr, _ := dns.NewRR(name + " 60 IN A " + ip)
			m.Answer = append(m.Answer, rr)
		}
		w.WriteMsg(m)
	})}
	go srv.ActivateAndServe()
	t.Cleanup(func() { srv.Shutdown() })
	return pc.LocalAddr().String()
}

// TestExampleRunsHealthy: the example, on loopback peers, starts, and its
// routers, hypervisors, monitoring server and DNS are seen up.
func TestExampleRunsHealthy(t *testing.T) {
	x := newExample(t)
	p := x.run(t)
	for _, name := range []string{"rt1", "rt2", "pve1", "pve2", "pve3", "zabbix", "dns1"} {
		p.waitWithin(t, 90*time.Second, 0, "target up", map[string]string{"target": name})
	}
}

// withoutTargets drops the named [[target]] blocks from the example. The
// tests of limits use it for the BMCs and the SNMP switch: with nothing
// answering IPMI or SNMP on loopback they go down and page, and a test
// that counts SMS against a limit must count only the pages it caused.
func withoutTargets(names ...string) func(string) string {
	return func(s string) string {
		parts := regexp.MustCompile(`(?m)^\[\[`).Split(s, -1)
		out := parts[0]
		for _, p := range parts[1:] {
			drop := false
			for _, n := range names {
				if strings.HasPrefix(p, "target]]") && strings.Contains(p, "\nname = \""+n+"\"\n") {
					drop = true
				}
			}
			if !drop {
				out += "[[" + p
			}
		}
		for _, n := range names { // and the links to them (a host's bmc)
			out = regexp.MustCompile(`(?m)^bmc = "`+regexp.QuoteMeta(n)+`".*$`).ReplaceAllString(out, "")
		}
		return out
	}
}

// quietWorld is the example without the targets that no loopback peer
// answers for (the BMCs and the SNMP switch).
var quietWorld = withoutTargets("pve1-bmc", "pve2-bmc", "pve3-bmc", "core-switch")

// nftRemovable is nft with a way to lift the rule before the test ends.
func nftRemovable(t *testing.T, hook, rule string) (remove func()) {
	t.Helper()
	if _, err := exec.LookPath("nft"); err != nil {
		requirePeer(t, "nft is not installed (Debian package nftables)")
	}
	table := fmt.Sprintf("foghorn_e2e_%d_%d", os.Getpid(), nftTables.Add(1))
	rules := fmt.Sprintf("table inet %s {\n chain c {\n  type filter hook %s priority 0;\n  %s\n }\n}\n", table, hook, rule)
	cmd := exec.Command("nft", "-f", "-")
	cmd.Stdin = strings.NewReader(rules)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nft -f: %v: %s", err, out)
	}
	var once sync.Once
	remove = func() { once.Do(func() { exec.Command("nft", "delete", "table", "inet", table).Run() }) }
	t.Cleanup(remove)
	return remove
}

// swapAddresses is an edit for newExample: every quoted address of m's
// keys becomes its value (the loopback stand-ins moved to a test's own
// addresses or a network namespace's).
func swapAddresses(m map[string]string) func(string) string {
	return func(s string) string {
		for old, new := range m {
			s = strings.ReplaceAll(s, `"`+old+`"`, `"`+new+`"`)
		}
		return s
	}
}

// withTargetAddress is an edit for newExample that sets the address of
// the target name.
func withTargetAddress(t *testing.T, name, addr string) func(string) string {
	return func(s string) string {
		t.Helper()
		i := strings.Index(s, "[[target]]\nname = \""+name+"\"\n")
		if i < 0 {
			t.Fatalf("the example has no target %q", name)
		}
		j := strings.Index(s[i:], "\naddress = ")
		if j < 0 || (strings.Contains(s[i+1:i+j], "\n[[")) {
			t.Fatalf("the example's target %q has no address", name)
		}
		j += i + 1
		k := j + strings.Index(s[j:], "\n")
		return s[:j] + fmt.Sprintf("address = %q", addr) + s[k:]
	}
}

// targetAddress is the address of the target name in the config s.
func targetAddress(t *testing.T, s, name string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^\[\[target\]\]\nname = "` + regexp.QuoteMeta(name) + `"\n(?:[^\[].*\n|\n)*?address = "([^"]*)"`).FindStringSubmatch(s)
	if m == nil {
		t.Fatalf("the config has no address for target %q", name)
	}
	return m[1]
}
