package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// host is a loopback TCP listener standing for a hypervisor: down while
// the file down-NAME exists in dir (the rolling script, or the test,
// makes it), up again once it is gone.
type host struct {
	name, addr, dir string
	mu              sync.Mutex
	ln              net.Listener
	stop            chan struct{}
}

func newHost(t *testing.T, name, dir string) *host {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &host{name: name, addr: ln.Addr().String(), dir: dir, ln: ln, stop: make(chan struct{})}
	go h.serve(ln)
	go h.follow(t)
	t.Cleanup(func() {
		close(h.stop)
		h.mu.Lock()
		if h.ln != nil {
			h.ln.Close()
		}
		h.mu.Unlock()
	})
	return h
}

func (h *host) serve(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		c.Close()
	}
}

// follow opens and closes the listener as down-NAME comes and goes.
func (h *host) follow(t *testing.T) {
	for {
		select {
		case <-h.stop:
			return
		case <-time.After(50 * time.Millisecond):
		}
		_, err := os.Stat(filepath.Join(h.dir, "down-"+h.name))
		down := err == nil
		h.mu.Lock()
		switch {
		case down && h.ln != nil:
			h.ln.Close()
			h.ln = nil
		case !down && h.ln == nil:
			ln, err := net.Listen("tcp", h.addr)
			if err == nil { // the port may linger a moment: the next turn tries again
				h.ln = ln
				go h.serve(ln)
			}
		}
		h.mu.Unlock()
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

type leaseView struct {
	ID        int64     `json:"id"`
	Target    string    `json:"target"`
	Holder    string    `json:"holder"`
	State     string    `json:"state"`
	GrantedAt time.Time `json:"granted_at"`
	EndsAt    time.Time `json:"ends_at"`
	DownAt    time.Time `json:"down_at"`
}

// The scenario on the real binary: three hosts in a quorum group
// (min_up 2) whose leases need a heal check; a rolling script takes the
// leases one by one with --wait, the next waiter served when the host
// before comes back; a second lease is refused while the first host is
// down; a lease is refused while the heal check is CRITICAL and granted
// within a probe interval of it turning OK; kill -9 in the middle keeps
// every lease; a host that does not come back pages once at the lease's
// end; a token of role lease cannot ack or power.
func TestLeasesRollingUpgradeOnTheBinary(t *testing.T) {
	dir := t.TempDir()
	heal := filepath.Join(dir, "heal")
	writeFile(t, heal, "2") // CRITICAL: not healed
	hosts := map[string]*host{}
	var targets []string
	for _, n := range []string{"pve1", "pve2", "pve3"} {
		hosts[n] = newHost(t, n, dir)
		targets = append(targets, fmt.Sprintf("[[target]]\nname = %q\nkind = \"tcp\"\naddress = %q\ninterval = \"1s\"\ntimeout = \"500ms\"\nrise = 1\nfall = 1\n", n, hosts[n].addr))
	}
	mk := exec.Command(bin, "token", "ci", "lease")
	var block, tokOut bytes.Buffer
	mk.Stdout, mk.Stderr = &block, &tokOut
	if err := mk.Run(); err != nil {
		t.Fatal(err)
	}
	token := strings.Split(tokOut.String(), "\n")[1]
	listen := freeAddr(t)
	cfg := strings.Replace(siteConfig(filepath.Join(dir, "data"), targets...), `listen = "127.0.0.1:0"`, fmt.Sprintf("listen = %q", listen), 1)
	cfg += fmt.Sprintf(`[[target]]
name = "gluster-heal"
kind = "command"
interval = "1s"
timeout = "900ms"
rise = 1
fall = 1
  [target.command]
  argv = ["/bin/sh", "-c", "exit $(cat %s)"]
[[group]]
name = "pve"
members = ["pve1", "pve2", "pve3"]
quorum = true
min_up = 2
lease_requires = ["gluster-heal"]
[leases]
allow = ["ci"]
`, heal) + block.String()
	cfgPath := filepath.Join(dir, "foghorn.toml")
	writeFile(t, cfgPath, cfg)
	base := "http://" + listen
	env := []string{"FOGHORN_URL=" + base, "FOGHORN_API_TOKEN=" + token}
	p := start(t, "run", "-config", cfgPath, "-log-format", "json")
	p.wait(t, 0, "foghorn running", nil)

	call := func(method, path, body string, out any) int {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if out != nil {
			json.NewDecoder(resp.Body).Decode(out)
		}
		return resp.StatusCode
	}
	leases := func() []leaseView {
		t.Helper()
		var out struct{ Leases []leaseView }
		call("GET", "/api/v1/leases", "", &out)
		return out.Leases
	}
	until := func(what string, d time.Duration, ok func() bool) {
		t.Helper()
		end := time.Now().Add(d)
		for !ok() {
			if time.Now().After(end) {
				t.Fatalf("not within %s: %s", d, what)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	state := func(target string) (string, time.Time) {
		t.Helper()
		var st struct {
			Targets []struct {
				Target, State string
				Since         time.Time
			}
		}
		call("GET", "/api/v1/status", "", &st)
		for _, s := range st.Targets {
			if s.Target == target {
				return s.State, s.Since
			}
		}
		return "", time.Time{}
	}
	cli := func(args ...string) (string, int) {
		cmd := exec.Command(bin, append([]string{"lease"}, args...)...)
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.CombinedOutput()
		return string(out), exitCode(err)
	}
	for _, n := range []string{"pve1", "pve2", "pve3"} {
		until(n+" up", 20*time.Second, func() bool { s, _ := state(n); return s == "up" })
	}
	until("gluster-heal down", 20*time.Second, func() bool { s, _ := state("gluster-heal"); return s == "down" })

	// A token of role lease may read and lease, nothing else.
	if c := call("POST", "/api/v1/incidents/1/ack", "", nil); c != http.StatusForbidden {
		t.Errorf("ack with a lease token: %d, want 403", c)
	}
	var e struct{ Error string }
	if c := call("POST", "/api/v1/power", `{"target":"pve1","action":"cycle"}`, &e); c != http.StatusForbidden || !strings.Contains(e.Error, "role lease") {
		t.Errorf("power with a lease token: %d %q, want 403 naming the role", c, e.Error)
	}

	// Refused while the heal check is CRITICAL; a waiter is granted
	// within one probe interval of it turning OK.
	out, code := cli("pve1", "--for", "30s", "--reason", "kernel 6.12")
	if code != 3 || !strings.Contains(out, "refused: gluster-heal (lease_requires of group pve) is not OK") {
		t.Fatalf("lease while heal is CRITICAL: exit %d\n%s", code, out)
	}
	waiter := exec.Command(bin, "lease", "pve1", "--for", "1m", "--reason", "kernel 6.12", "--wait", "30s")
	waiter.Env = append(os.Environ(), env...)
	var wout bytes.Buffer
	waiter.Stdout, waiter.Stderr = &wout, &wout
	if err := waiter.Start(); err != nil {
		t.Fatal(err)
	}
	until("the waiter queued", 10*time.Second, func() bool {
		var l struct{ Waiting []any }
		call("GET", "/api/v1/leases", "", &l)
		return len(l.Waiting) == 1
	})
	writeFile(t, heal, "0")
	if err := waiter.Wait(); err != nil {
		t.Fatalf("the waiter: %v\n%s", err, wout.String())
	}
	if !strings.Contains(wout.String(), "waiting: refused: gluster-heal") || !strings.Contains(wout.String(), "lease #1 granted: pve1 until") {
		t.Fatalf("the waiter said:\n%s", wout.String())
	}
	_, okSince := state("gluster-heal")
	quiet := p.count() // the heal check's own page came before: from here on, nothing pages but an overrun
	ls := leases()
	if len(ls) != 1 || ls[0].Target != "pve1" {
		t.Fatalf("leases: %+v", ls)
	}
	if d := ls[0].GrantedAt.Sub(okSince); d > time.Second {
		t.Fatalf("granted %s after the heal check turned OK; want within one probe interval (1s)", d)
	}

	// pve1 goes down under its lease: expected, not paged; a second
	// lease is refused meanwhile.
	writeFile(t, filepath.Join(dir, "down-pve1"), "")
	until("pve1 seen down under its lease", 10*time.Second, func() bool { l := leases(); return len(l) == 1 && !l[0].DownAt.IsZero() })
	if out, code := cli("pve2", "--for", "30s"); code != 3 || !strings.Contains(out, "refused:") || !strings.Contains(out, "pve1 (lease #1 by ci") {
		t.Fatalf("a second lease while pve1 is down: exit %d\n%s", code, out)
	}
	os.Remove(filepath.Join(dir, "down-pve1"))
	until("pve1's lease ends when it is back", 10*time.Second, func() bool { return len(leases()) == 0 })

	// The rolling script of the README, with a reboot the test holds
	// until it lets the host come back.
	script := fmt.Sprintf(`set -e
for h in pve1 pve2 pve3; do
  %s lease $h --for 20s --reason "kernel 6.12" --wait 1m && touch %s/down-$h
  while [ ! -f %s/back-$h ]; do sleep 0.1; done
  rm %s/down-$h
done`, bin, dir, dir, dir)
	roll := exec.Command("/bin/sh", "-c", script)
	roll.Env = append(os.Environ(), env...)
	var rout bytes.Buffer
	roll.Stdout, roll.Stderr = &rout, &rout
	if err := roll.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { roll.Process.Kill() })
	down := func(n string) leaseView {
		t.Helper()
		var got leaseView
		until(n+" leased and down", 20*time.Second, func() bool {
			for _, l := range leases() {
				if l.Target == n && !l.DownAt.IsZero() {
					got = l
					return true
				}
			}
			return false
		})
		return got
	}
	down("pve1")
	writeFile(t, filepath.Join(dir, "back-pve1"), "")
	second := down("pve2")
	if n := pages(p, quiet); n != 0 {
		var incs []map[string]any
		call("GET", "/api/v1/incidents", "", &incs)
		t.Fatalf("%d pages for hosts that went down under their leases; incidents %v\nlog:\n%s", n, incs, strings.Join(p.raw[quiet:], "\n"))
	}

	// kill -9 in the middle: pve2's lease stands after the restart, and
	// the script goes on.
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
	p = start(t, "run", "-config", cfgPath, "-log-format", "json")
	p.wait(t, 0, "foghorn running", nil)
	if ls := leases(); len(ls) != 1 || ls[0].ID != second.ID || !ls[0].EndsAt.Equal(second.EndsAt) || ls[0].Holder != "ci" {
		t.Fatalf("after kill -9 and restart: %+v, want %+v", ls, second)
	}
	writeFile(t, filepath.Join(dir, "back-pve2"), "")
	down("pve3")
	writeFile(t, filepath.Join(dir, "back-pve3"), "")
	if err := roll.Wait(); err != nil {
		t.Fatalf("the rolling script: %v\n%s", err, rout.String())
	}
	if n := strings.Count(rout.String(), "granted:"); n != 3 {
		t.Fatalf("the rolling script got %d leases, want 3:\n%s", n, rout.String())
	}
	until("pve3's lease ends", 10*time.Second, func() bool { return len(leases()) == 0 })
	if n := pages(p, 0); n != 0 {
		t.Fatalf("%d pages after the restart for hosts that went down under their leases", n)
	}

	// A waiter across a restart: its ticket is gone, so the CLI asks
	// again with the wait left, and gets the lease once pve1's is
	// released.
	out, code = cli("pve1", "--for", "1m", "--reason", "firmware")
	if code != 0 || !strings.Contains(out, "granted: pve1") {
		t.Fatalf("lease pve1: exit %d\n%s", code, out)
	}
	held := leases()[0]
	waiter = exec.Command(bin, "lease", "pve2", "--for", "30s", "--wait", "1m")
	waiter.Env = append(os.Environ(), env...)
	wout.Reset()
	waiter.Stdout, waiter.Stderr = &wout, &wout
	if err := waiter.Start(); err != nil {
		t.Fatal(err)
	}
	until("pve2's waiter queued", 10*time.Second, func() bool {
		var l struct{ Waiting []any }
		call("GET", "/api/v1/leases", "", &l)
		return len(l.Waiting) == 1
	})
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
	p = start(t, "run", "-config", cfgPath, "-log-format", "json")
	p.wait(t, 0, "foghorn running", nil)
	if out, code := cli("list"); code != 0 || !strings.Contains(out, fmt.Sprintf("#%d pve1 held by ci until", held.ID)) {
		t.Fatalf("lease list after the restart: exit %d\n%s", code, out)
	}
	if out, code := cli("extend", fmt.Sprint(held.ID), "--for", "10s"); code != 0 || !strings.Contains(out, "extended: pve1 held") {
		t.Fatalf("extend: exit %d\n%s", code, out)
	}
	if out, code := cli("extend", fmt.Sprint(held.ID), "--for", "10s"); code != 3 || !strings.Contains(out, "already extended once") {
		t.Fatalf("a second extend: exit %d\n%s", code, out)
	}
	until("pve2's waiter queued again", 20*time.Second, func() bool {
		var l struct{ Waiting []struct{ Target string } }
		call("GET", "/api/v1/leases", "", &l)
		return len(l.Waiting) == 1 && l.Waiting[0].Target == "pve2"
	})
	if out, code := cli("release", fmt.Sprint(held.ID)); code != 0 || !strings.Contains(out, "released") {
		t.Fatalf("release: exit %d\n%s", code, out)
	}
	// The kill finds the waiter polling its ticket (then the restarted
	// foghorn has lost it: "asking again with ... of the wait left") or, on
	// a slow run, still posting its request ("trying again"): either way
	// it asks again and is granted.
	werr := waiter.Wait() // before wout is read: the CLI's output is copied in until it exits
	again := strings.Contains(wout.String(), "asking again with") || strings.Contains(wout.String(), "; trying again")
	if werr != nil || !again || !strings.Contains(wout.String(), "granted: pve2") {
		t.Fatalf("the waiter across a restart: %v\n%s", werr, wout.String())
	}
	if ls := leases(); len(ls) != 1 || ls[0].Target != "pve2" {
		t.Fatalf("leases: %+v", ls)
	}
	if out, code := cli("release", fmt.Sprint(leases()[0].ID)); code != 0 {
		t.Fatalf("release pve2: exit %d\n%s", code, out)
	}

	// A host that does not come back pages once, at the lease's end.
	out, code = cli("pve2", "--for", "4s", "--reason", "kernel 6.12")
	if code != 0 {
		t.Fatalf("lease pve2: exit %d\n%s", code, out)
	}
	writeFile(t, filepath.Join(dir, "down-pve2"), "")
	until("the overrun page", 20*time.Second, func() bool { return pages(p, 0) >= 1 })
	var incs []struct {
		Summary, Key, Silenced string
	}
	call("GET", "/api/v1/incidents", "", &incs)
	var summaries []string
	paged := 0
	for _, i := range incs {
		summaries = append(summaries, i.Key+": "+i.Summary+" ["+i.Silenced+"]")
		switch {
		case strings.HasPrefix(i.Key, "lease:"):
			if !strings.HasPrefix(i.Summary, "pve2 did not come back from maintenance (lease by ci, kernel 6.12, ended ") || i.Silenced != "" {
				t.Errorf("the overrun's incident: %+v", i)
			}
			paged++
		case !strings.HasPrefix(i.Silenced, "lease #"):
			t.Errorf("an incident of pve2 not kept quiet by its lease: %+v", i)
		}
	}
	if paged != 1 {
		t.Fatalf("open incidents: %q; want one for the overrun", summaries)
	}
	os.Remove(filepath.Join(dir, "down-pve2"))
	until("the overrun resolved once pve2 is back", 20*time.Second, func() bool {
		var open []any
		call("GET", "/api/v1/incidents", "", &open)
		return len(open) == 0 && len(leases()) == 0
	})
	if n := pages(p, 0); n != 1 {
		t.Fatalf("%d pages for one overrun, want 1", n)
	}
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	var m bytes.Buffer
	m.ReadFrom(resp.Body)
	resp.Body.Close()
	// Since the last restart: pve2's waiter (queued, then granted) and
	// the lease that overran.
	for _, want := range []string{"foghorn_leases_active 0", `foghorn_lease_requests_total{result="granted"} 2`, `foghorn_lease_requests_total{result="queued"} 1`} {
		if !strings.Contains(m.String(), want) {
			t.Errorf("/metrics has no %q", want)
		}
	}
}

// pages counts the page SMS this run of the binary sent, from log line
// from on.
func pages(p *proc, from int) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, m := range p.lines[from:] {
		if m != nil && m["msg"] == "SMS sent" && m["kind"] == "page" {
			n++
		}
	}
	return n
}
