package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/sys/unix"

	"foghorn/pager"
	"foghorn/pager/twiliosim"
)

// When the VPS itself loses its network, foghorn must doubt itself: its
// canaries fail (an echo the kernel will not send is a failure, not a
// broken canary), it goes blind, pages nobody about the targets, and once
// it sees again it reports the blind window. Before, a send error made
// the canary "broken", the self-check switched itself off and every
// target paged.

const (
	blindLog = "foghorn cannot see the outside world: canaries do not answer; target alerts are held until they do"
	seesLog  = "foghorn sees again"
)

// The targets the example probes over the network (the BMCs and the SNMP
// switch are left out by quietWorld: nothing answers for them here).
var exampleNetTargets = []string{"rt1", "rt2", "pve1", "pve2", "pve3", "zabbix", "dns1"}

// TestUplinkDownGoesBlindNotPaging: foghorn in a network namespace of its
// own (the VPS), the canaries and every target in a second one behind a
// veth pair (the world), the Twilio simulator on the VPS's loopback. The
// test sets the VPS's end of the link down: every ping fails at send time
// with ENETUNREACH and every connect at once.
func TestUplinkDownGoesBlindNotPaging(t *testing.T) {
	w := newUplink(t)
	peers := w.world.peers(t, worldPeer)
	edits := []func(string) string{withoutQuietHours, quietWorld, swapAddresses(map[string]string{
		"127.0.0.61": "10.29.0.61", "127.0.0.62": "10.29.0.62", // rt1, rt2
		"127.0.0.71": "10.29.0.71", "127.0.0.72": "10.29.0.72", "127.0.0.73": "10.29.0.73", // canaries
	})}
	for _, name := range []string{"pve1", "pve2", "pve3", "zabbix", "dns1", "www-cert"} {
		edits = append(edits, withTargetAddress(t, name, peers[name]))
	}
	var x *exampleSite
	// Everything newExample listens on (foghorn's port, the heartbeat URL)
	// is on the VPS; so is the simulator foghorn pages through, whose
	// webhooks dial into the VPS too.
	w.vps.do(t, func() { x = newExample(t, edits...) })
	x.simOn(t, w.vps)
	var p *proc
	w.vps.do(t, func() { p = x.run(t) }) // forked on a thread in the VPS namespace: foghorn runs there

	blindWindow(t, x, p, w.vps.client(), func() {
		w.vps.ip(t, "link", "set", "uplink", "down")
	}, func() {
		w.vps.ip(t, "link", "set", "uplink", "up")
	}, "network is unreachable")
}

// TestFirewallDropGoesBlindNotPaging: on loopback, an nftables output rule
// drops everything foghorn sends to its canaries and targets, so every
// send fails with EPERM, as a local firewall gone wrong does.
func TestFirewallDropGoesBlindNotPaging(t *testing.T) {
	// Addresses of this test's own: other tests use the example's
	// 127.0.0.x stand-ins at the same time, and a drop must not reach them.
	x := newExample(t, withoutQuietHours, quietWorld, swapAddresses(map[string]string{
		"127.0.0.61": "127.0.29.61", "127.0.0.62": "127.0.29.62",
		"127.0.0.71": "127.0.29.71", "127.0.0.72": "127.0.29.72", "127.0.0.73": "127.0.29.73",
	}))
	var ports, dnsPort []string
	for _, name := range []string{"pve1", "pve2", "pve3", "zabbix", "dns1"} {
		_, port, err := net.SplitHostPort(hostPort(t, targetAddress(t, x.text, name)))
		if err != nil {
			t.Fatal(err)
		}
		if name == "dns1" {
			dnsPort = append(dnsPort, port)
		} else if !slices.Contains(ports, port) {
			ports = append(ports, port)
		}
	}
	rules := "ip daddr 127.0.29.0/24 drop\n" +
		"  ip daddr 127.0.0.1 tcp dport { " + strings.Join(ports, ", ") + " } drop\n" +
		"  ip daddr 127.0.0.1 udp dport { " + strings.Join(dnsPort, ", ") + " } drop"
	p := x.run(t)

	var fw *nftTable
	blindWindow(t, x, p, http.DefaultClient, func() {
		fw = nftOn(t, "output", rules)
	}, func() {
		fw.remove(t)
	}, "operation not permitted")
}

// blindWindow runs the example until its routers are up, cuts foghorn's
// network with cut, and checks that foghorn goes blind and pages nobody
// about it; then it mends the network and checks that the blind window is
// reported. why is the send error the canaries must name.
func blindWindow(t *testing.T, x *exampleSite, p *proc, c *http.Client, cut, mend func(), why string) {
	t.Helper()
	_, n := p.waitWithin(t, 40*time.Second, 0, "target up", map[string]string{"target": "rt1"})
	if _, m := p.waitWithin(t, 40*time.Second, 0, "target up", map[string]string{"target": "rt2"}); m > n {
		n = m
	}
	open := openIncidents(t, c, x.base)
	cutAt := time.Now()
	cut()

	// Blind, and says why: the canaries' own send errors.
	line, _ := p.waitWithin(t, 30*time.Second, n, blindLog, nil)
	if s := fmt.Sprint(line["why"]); !strings.Contains(s, why) {
		t.Errorf("the blind line does not name the send error %q: %s", why, s)
	}
	// Every target is seen failing while foghorn is blind: this is when,
	// before, they paged. The TCP ones (30s interval, fall 3) come last,
	// after the routers' wait for proof has run out.
	for _, name := range exampleNetTargets {
		p.waitWithin(t, 50*time.Second, n, "target down", map[string]string{"target": name})
	}
	if got := metric(scrape(t, c, x.base), "foghorn_blind"); got != 1 {
		t.Errorf("foghorn_blind = %v while blind, want 1", got)
	}
	mendAt := time.Now()
	mend()

	line, _ = p.waitWithin(t, 30*time.Second, n, seesLog, nil)
	notice := x.waitSMS(t, 30*time.Second, "foghorn was offline")
	t.Logf("blind window %v–%v; notice: %s", line["blind_from"], line["blind_to"], notice.Body)
	if !strings.Contains(notice.Body, "checks of ") {
		t.Errorf("the notice does not say what did not run: %q", notice.Body)
	}

	// Nothing paged about what the cut broke: every SMS and call made
	// while the network was down belongs to an incident open before.
	for _, pg := range x.pages() {
		if pg.at.Before(cutAt) || !pg.at.Before(mendAt) {
			continue
		}
		if pg.incident == 0 || !open[pg.incident] {
			t.Errorf("paged while blind (%s after the cut): %s", pg.at.Sub(cutAt).Round(time.Millisecond), pg.text)
		}
	}
	for _, l := range p.find("cannot probe a canary, so the self-check cannot use it; fix [self_check]") {
		t.Errorf("a send error called a config problem: %v", l["why"])
	}
}

// find returns the log lines with msg so far.
func (p *proc) find(msg string) []map[string]any {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []map[string]any
	for _, l := range p.lines {
		if l != nil && l["msg"] == msg {
			out = append(out, l)
		}
	}
	return out
}

// page is one SMS or call the simulator was asked for.
type page struct {
	at       time.Time
	incident int // its number as the page says it ("#12", "incident 12"); 0 none
	text     string
}

var pageNumber = regexp.MustCompile(`#(\d+)\b|[Ii]ncident (\d+)\b`)

func (x *exampleSite) pages() []page {
	var out []page
	add := func(at time.Time, text string) {
		pg := page{at: at, text: text}
		if m := pageNumber.FindStringSubmatch(text); m != nil {
			pg.incident, _ = strconv.Atoi(m[1] + m[2])
		}
		out = append(out, pg)
	}
	for _, m := range x.sim.Messages() {
		if m.Direction != "inbound" {
			add(m.Created, "SMS to "+m.To+": "+m.Body)
		}
	}
	for _, c := range x.sim.Calls() {
		add(c.Created, "call to "+c.To+": "+c.Twiml+" "+c.URL+" "+strings.Join(c.Said, " "))
	}
	return out
}

// waitSMS waits for an outbound SMS whose body contains s.
func (x *exampleSite) waitSMS(t *testing.T, d time.Duration, s string) twiliosim.Message {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		for _, m := range x.sim.Messages() {
			if m.Direction != "inbound" && strings.Contains(m.Body, s) {
				return m
			}
		}
		if time.Now().After(deadline) {
			var got []string
			for _, pg := range x.pages() {
				got = append(got, pg.text)
			}
			t.Fatalf("no SMS containing %q within %s; the simulator has:\n%s", s, d, strings.Join(got, "\n"))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// openIncidents are the numbers of the incidents open now.
func openIncidents(t *testing.T, c *http.Client, base string) map[int]bool {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/api/v1/incidents", nil)
	req.Header.Set("Authorization", "Bearer "+e2eToken)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var incs []struct{ Short int }
	if err := json.NewDecoder(resp.Body).Decode(&incs); err != nil {
		t.Fatalf("incidents: %s: %v", resp.Status, err)
	}
	open := map[int]bool{}
	for _, inc := range incs {
		open[inc.Short] = true
	}
	return open
}

// scrape is /metrics, fetched with c.
func scrape(t *testing.T, c *http.Client, base string) string {
	t.Helper()
	resp, err := c.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// simOn replaces the example's Twilio simulator by one listening in ns,
// whose webhooks dial into ns too, and points the config's api_base at it.
func (x *exampleSite) simOn(t *testing.T, ns *netns) {
	t.Helper()
	token, err := os.ReadFile(filepath.Join(x.dir, "twilio-token.example"))
	if err != nil {
		t.Fatal(err)
	}
	sim := twiliosim.New(twiliosim.Options{
		AccountSID: "AC0123456789abcdef0123456789abcdef", AuthToken: strings.TrimSpace(string(token)),
		Number: "+14155550100", PublicURL: x.base, InboundSMSURL: x.base + pager.SMSPath,
		Client: ns.client(),
	})
	var simURL string
	ns.do(t, func() { simURL, err = sim.Start("127.0.0.1:0") })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	old := fmt.Sprintf("api_base = %q", x.simURL)
	if !strings.Contains(x.text, old) {
		t.Fatalf("the config has no %s", old)
	}
	x.text = strings.Replace(x.text, old, fmt.Sprintf("api_base = %q", simURL), 1)
	writeFile(t, x.path, x.text)
	x.sim, x.simURL = sim, simURL
}

// hostPort is the host:port of a target address (a URL's, for http).
func hostPort(t *testing.T, addr string) string {
	t.Helper()
	if u, err := url.Parse(addr); err == nil && u.Host != "" {
		return u.Host
	}
	return addr
}

// ---- network namespaces ------------------------------------------------------

// netns is a network namespace of the test's own, deleted at the end.
type netns struct {
	name string
	f    *os.File
}

func newNetns(t *testing.T, name string) *netns {
	t.Helper()
	if _, err := exec.LookPath("ip"); err != nil {
		requirePeer(t, "ip is not installed (Debian package iproute2)")
	}
	exec.Command("ip", "netns", "delete", name).Run() // left by a killed run
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		requirePeer(t, fmt.Sprintf("cannot make a network namespace: ip netns add: %v: %s", err, out))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "delete", name).CombinedOutput(); err != nil {
			t.Errorf("ip netns delete %s: %v: %s", name, err, out)
		}
	})
	f, err := os.Open("/run/netns/" + name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	n := &netns{name: name, f: f}
	n.ip(t, "link", "set", "lo", "up")
	return n
}

// ip runs ip -n NAME args.
func (n *netns) ip(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", append([]string{"-n", n.name}, args...)...).CombinedOutput(); err != nil {
		t.Fatalf("ip -n %s %s: %v: %s", n.name, strings.Join(args, " "), err, out)
	}
}

func setns(f *os.File) error {
	return os.NewSyscallError("setns", unix.Setns(int(f.Fd()), unix.CLONE_NEWNET))
}

// do runs fn on the calling goroutine with its OS thread moved into n:
// the sockets fn opens live in n, and so do the processes it starts
// (exec forks from this thread), as with `ip netns exec`. New threads the
// runtime starts meanwhile do not inherit n (Go starts them from a
// template thread while one is locked).
func (n *netns) do(t *testing.T, fn func()) {
	t.Helper()
	runtime.LockOSThread()
	home, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatal(err)
	}
	defer home.Close()
	if err := setns(n.f); err != nil {
		runtime.UnlockOSThread()
		t.Fatal(err)
	}
	defer func() {
		if err := setns(home); err != nil {
			return // stay locked: the thread ends with the test rather than run others in n
		}
		runtime.UnlockOSThread()
	}()
	fn()
}

// dial connects from inside n, on a thread of its own that is never
// unlocked, so it ends with the goroutine.
func (n *netns) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	type result struct {
		c   net.Conn
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		if err := setns(n.f); err != nil {
			ch <- result{nil, err}
			return
		}
		var d net.Dialer
		c, err := d.DialContext(ctx, network, addr)
		ch <- result{c, err}
	}()
	r := <-ch
	return r.c, r.err
}

// client is an HTTP client whose connections start inside n.
func (n *netns) client() *http.Client {
	return &http.Client{Transport: &http.Transport{DialContext: n.dial, DisableKeepAlives: true}, Timeout: 10 * time.Second}
}

// uplink is a VPS (foghorn's namespace) with one link to the world (a
// second namespace holding the canaries and targets), as TESTING-NOTES
// "The poller's own network failing" describes.
type uplink struct {
	vps, world *netns
}

// worldPeer is the world's address for the listening peers; the routers
// and canaries have theirs (10.29.0.61..73), which answer ping.
const worldPeer = "10.29.0.2"

func newUplink(t *testing.T) *uplink {
	t.Helper()
	id := os.Getpid()
	w := &uplink{vps: newNetns(t, fmt.Sprintf("fh-vps-%d", id)), world: newNetns(t, fmt.Sprintf("fh-world-%d", id))}
	w.vps.ip(t, "link", "add", "uplink", "type", "veth", "peer", "name", "world", "netns", w.world.name)
	w.vps.ip(t, "addr", "add", "10.29.0.1/24", "dev", "uplink")
	for _, a := range []string{worldPeer, "10.29.0.61", "10.29.0.62", "10.29.0.71", "10.29.0.72", "10.29.0.73"} {
		w.world.ip(t, "addr", "add", a+"/24", "dev", "world")
	}
	w.vps.ip(t, "link", "set", "uplink", "up")
	w.world.ip(t, "link", "set", "world", "up")
	return w
}

// peers starts, inside n on host, what the example's network targets
// answer with: a TLS server (pve1, www-cert), an SSH banner (pve2, pve3),
// the Zabbix page and a DNS server. It returns each target's address.
func (n *netns) peers(t *testing.T, host string) map[string]string {
	t.Helper()
	var tlsAddr, ssh, zabbix, dnsAddr string
	n.do(t, func() {
		listen := func() net.Listener {
			l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
			if err != nil {
				t.Fatal(err)
			}
			return l
		}
		tlsSrv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
		tlsSrv.Listener.Close()
		tlsSrv.Listener = listen()
		tlsSrv.StartTLS()
		t.Cleanup(tlsSrv.Close)
		tlsAddr = tlsSrv.Listener.Addr().String()

		l := listen()
		t.Cleanup(func() { l.Close() })
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				io.WriteString(c, "SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n")
				c.Close()
			}
		}()
		ssh = l.Addr().String()

		web := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "<html><title>Zabbix</title>© 2001–2026, Zabbix SIA</html>")
		}))
		web.Listener.Close()
		web.Listener = listen()
		web.Start()
		t.Cleanup(web.Close)
		zabbix = web.URL + "/zabbix/index.php"

		pc, err := net.ListenPacket("udp", net.JoinHostPort(host, "0"))
		if err != nil {
			t.Fatal(err)
		}
		srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
			m := new(dns.Msg)
			m.SetReply(q)
			if len(q.Question) == 1 && q.Question[0].Name == "www.example.net." {
				rr, _ := dns.NewRR("www.example.net. 60 IN A 203.0.113.80")
				m.Answer = append(m.Answer, rr)
			}
			w.WriteMsg(m)
		})}
		go srv.ActivateAndServe()
		t.Cleanup(func() { srv.Shutdown() })
		dnsAddr = pc.LocalAddr().String()
	})
	return map[string]string{"pve1": tlsAddr, "www-cert": tlsAddr, "pve2": ssh, "pve3": ssh, "zabbix": zabbix, "dns1": dnsAddr}
}

// ---- nftables ---------------------------------------------------------------

// nftTable is a table of the test's own with one chain on a hook.
type nftTable struct{ name string }

// nftOn adds rules to hook in a new table, removed at the end of the test
// if remove was not called first.
func nftOn(t *testing.T, hook, rules string) *nftTable {
	t.Helper()
	if _, err := exec.LookPath("nft"); err != nil {
		requirePeer(t, "nft is not installed (Debian package nftables)")
	}
	tb := &nftTable{name: fmt.Sprintf("foghorn_e2e_%d_%d", os.Getpid(), nftTables.Add(1))}
	cmd := exec.Command("nft", "-f", "-")
	cmd.Stdin = strings.NewReader(fmt.Sprintf("table inet %s {\n chain c {\n  type filter hook %s priority 0;\n  %s\n }\n}\n", tb.name, hook, rules))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nft -f: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("nft", "delete", "table", "inet", tb.name).Run() })
	return tb
}

func (tb *nftTable) remove(t *testing.T) {
	t.Helper()
	if out, err := exec.Command("nft", "delete", "table", "inet", tb.name).CombinedOutput(); err != nil {
		t.Fatalf("nft delete table %s: %v: %s", tb.name, err, out)
	}
}
