package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"foghorn/ipmi/simtest"
)

// editTarget is an edit for newExample: the [[target]] block of name goes
// through f.
func editTarget(t *testing.T, name string, f func(block string) string) func(string) string {
	return func(s string) string {
		parts := regexp.MustCompile(`(?m)^\[\[`).Split(s, -1)
		found := false
		for i, p := range parts {
			if strings.HasPrefix(p, "target]]") && strings.Contains(p, "\nname = \""+name+"\"\n") {
				parts[i], found = f(p), true
			}
		}
		if !found {
			t.Fatalf("the example has no target %s", name)
		}
		return strings.Join(parts, "[[")
	}
}

// replaceIn replaces old (which must be there) in a block.
func replaceIn(t *testing.T, block, old, new string) string {
	t.Helper()
	if !strings.Contains(block, old) {
		t.Fatalf("no %q in the example's block:\n%s", old, block)
	}
	return strings.Replace(block, old, new, 1)
}

// hostPageRun is the example with pve1's BMC a real ipmi_sim and pve1 a
// TLS listener the test can stop: a hung hypervisor. pve1 is taken out of
// the hypervisors group (its role label dropped) so that it is paged on
// its own, as a host outside a group is; the other BMCs and the SNMP
// switch, which nothing answers for on loopback, are left out. pve1 and
// its BMC are probed every 2 s (the example's 30 s and 1 m would make ten
// runs take an hour); the BMC's fall is 10 so that, in the host-first
// order, the host is down by its results well before the BMC is.
type hostPageRun struct {
	x    *exampleSite
	p    *proc
	bmc  *simtest.Sim
	host *httptest.Server
}

func startHostPageRun(t *testing.T) *hostPageRun {
	t.Helper()
	bmc := simtest.Start(t)
	host := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(host.Close)
	x := newExample(t, withoutTargets("pve2-bmc", "pve3-bmc", "core-switch"), withoutQuietHours,
		editTarget(t, "pve1", func(b string) string {
			b = regexp.MustCompile(`(?m)^address = "[^"]*"`).ReplaceAllString(b, fmt.Sprintf("address = %q\ninterval = \"2s\"\ntimeout = \"1s\"", host.Listener.Addr().String()))
			return replaceIn(t, b, "labels = { role = \"hypervisor\" }\n", "")
		}),
		editTarget(t, "pve1-bmc", func(b string) string {
			b = replaceIn(t, b, `address = "127.0.0.81"`, fmt.Sprintf("address = %q", bmc.Host))
			b = replaceIn(t, b, `interval = "1m"`, `interval = "2s"`)
			b = replaceIn(t, b, `timeout = "10s"`, "timeout = \"1s\"\nfall = 10")
			b = replaceIn(t, b, `username = "foghorn"`, fmt.Sprintf("username = %q", simtest.User))
			return replaceIn(t, b, `port = 623 `, fmt.Sprintf("port = %d ", bmc.Port))
		}))
	writeFile(t, filepath.Join(x.dir, "bmc-password.example"), simtest.Password+"\n")
	p := startEnv(t, []string{"FOGHORN_API_TOKEN=" + e2eToken}, "run", "-config", x.path, "-log-format", "json", "-log-level", "debug")
	p.waitWithin(t, 15*time.Second, 0, "foghorn running", nil)
	p.waitWithin(t, 30*time.Second, 0, "target up", map[string]string{"target": "pve1"})
	p.waitWithin(t, 30*time.Second, 0, "target up", map[string]string{"target": "pve1-bmc"})
	return &hostPageRun{x: x, p: p, bmc: bmc, host: host}
}

// hostPageWords is an SMS with what changes from run to run (the
// incident's number, the time) taken out.
func hostPageWords(body string) string {
	body = regexp.MustCompile(`#\d+ `).ReplaceAllString(body, "#N ")
	body = regexp.MustCompile(`Reply \d+ to ack, \d+R resolve`).ReplaceAllString(body, "Reply N to ack, NR resolve")
	return regexp.MustCompile(`since \d\d:\d\d`).ReplaceAllString(body, "since HH:MM")
}

// A hung host whose BMC answers and reports an uncorrectable ECC is paged
// the same way whichever is seen first, five runs each, through the
// binary on the example: its one incident says what is down, what the
// BMC says (the finding once), and offers the cycle, uncut. The BMC is
// never "pve1-bmc DOWN" and never folds with its host into a storm.
func TestHungHostPageIsTheSameInEitherOrderThroughTheBinary(t *testing.T) {
	simtest.Require(t)
	const want = "[CRIT] #N pve1 DOWN; BMC up; power on; SEL: DIMM A1 Uncorrectable ECC since HH:MM. Reply CYCLE pve1 to power-cycle. Reply N to ack, NR resolve, HELP."
	for _, order := range []string{"bmc first", "host first"} {
		for run := 1; run <= 5; run++ {
			t.Run(fmt.Sprintf("%s/%d", order, run), func(t *testing.T) {
				t.Parallel()
				r := startHostPageRun(t)
				if order == "bmc first" {
					r.bmc.Console(simtest.UncorrectableECC)
					// Told as pve1's news, at warning: pve1 still answers.
					until(t, 60*time.Second, "the BMC's report by SMS", func() bool {
						return len(r.x.sms("[WARN]")) > 0 && len(r.x.sms("pve1's BMC reports SEL: DIMM A1 Uncorrectable ECC")) > 0
					})
					r.host.Close()
				} else {
					r.bmc.Console(simtest.UncorrectableECC)
					// The BMC has seen it (not yet down: fall 10); then the host stops.
					until(t, 30*time.Second, "the BMC's probe seeing the ECC", func() bool {
						r.p.mu.Lock()
						defer r.p.mu.Unlock()
						for _, m := range r.p.lines {
							if m != nil && m["msg"] == "probe" && m["target"] == "pve1-bmc" &&
								strings.Contains(fmt.Sprint(m["detail"]), "SEL: DIMM A1 Uncorrectable ECC") {
								return true
							}
						}
						return false
					})
					r.host.Close()
				}
				until(t, 60*time.Second, "the critical page about pve1", func() bool { return len(r.x.sms("pve1 DOWN")) > 0 })
				page := r.x.sms("pve1 DOWN")[0]
				t.Logf("%s: %q", order, page.Body)
				if got := hostPageWords(page.Body); got != want {
					t.Errorf("page\n got  %q\n want %q", got, want)
				}
				if !fitsOneSMS(page.Body) {
					t.Errorf("%d characters: should fit one SMS", len(page.Body))
				}
				// Let the BMC be down by its own results too: it joins nothing.
				r.p.waitWithin(t, 60*time.Second, 0, "target down", map[string]string{"target": "pve1-bmc"})
				for _, m := range r.x.sim.Messages() {
					if strings.Contains(m.Body, "pve1-bmc") || strings.Contains(m.Body, "targets down") {
						t.Errorf("a message about the BMC on its own, or a storm: %q", m.Body)
					}
				}
				if order == "host first" && len(r.x.sms("pve1's BMC reports")) > 0 {
					t.Errorf("host first: the BMC's report came first after all; the run did not test this order")
				}
			})
		}
	}
}

// fitsOneSMS: GSM-7 text of at most 160 characters (the page is ASCII).
func fitsOneSMS(s string) bool {
	return len(s) <= 160 && !strings.ContainsFunc(s, func(r rune) bool { return r > 127 })
}
