package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"foghorn/ipmi/simtest"
)

// TestQuorumGuardSeesRestoredStateAtOnce: issue 12, point 1. The
// example's three hypervisors, their BMCs three real ipmi_sim, pve3's host
// unreachable (down, its BMC still answering: a hung node). foghorn is
// stopped and started again on the same data dir. Within 5 s of the
// start, by SMS from alice's phone: CYCLE pve1 is refused by the quorum
// guard because pve3 is down, and CYCLE pve3 is allowed (cycling a member
// already down takes nothing from the quorum). Restored state raises
// no change; a guard fed by changes saw every member "pending" then and
// refused both; /status and /metrics showed nothing of them either. The
// code is confirmed and pve3's BMC is cycled.
func TestQuorumGuardSeesRestoredStateAtOnce(t *testing.T) {
	simtest.Require(t)
	sims := []*simtest.Sim{simtest.Start(t), simtest.Start(t), simtest.Start(t)}
	x := newExample(t, withTargetAddress(t, "pve3", fmt.Sprintf("127.0.0.1:%d", closedTCP(t))), bmcsAt(t, sims))
	writeFile(t, filepath.Join(x.dir, "bmc-password.example"), simtest.Password+"\n")

	// The example's intervals: 30 s for the hosts, 1 m for the BMCs
	// (rise 2), so up to two minutes before all is known.
	p := x.run(t)
	for _, w := range []struct{ msg, target string }{
		{"target up", "pve1"}, {"target up", "pve2"}, {"target down", "pve3"}, {"target up", "pve3-bmc"},
	} {
		p.waitWithin(t, 150*time.Second, 0, w.msg, map[string]string{"target": w.target})
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		t.Fatal("no exit within 15s of SIGTERM")
	}

	start := time.Now()
	x.run(t)
	refusal := x.textFrom(t, exampleAlice, "CYCLE pve1")
	offer := x.textFrom(t, exampleAlice, "CYCLE pve3") // the last asked is the one CONFIRM runs
	st := x.status(t)
	metrics := scrape(t, http.DefaultClient, x.base)
	took := time.Since(start)
	t.Logf("%s after the start: CYCLE pve1 %q; CYCLE pve3 %q", took.Round(time.Millisecond), refusal, offer)
	code := regexp.MustCompile(`Reply CONFIRM (\d{4}) `).FindStringSubmatch(offer)
	if code == nil {
		t.Errorf("CYCLE pve3 (down; cycling it keeps the quorum) after the restart: %q, want a confirmation code", offer)
	}
	if !strings.Contains(refusal, "quorum") || !strings.Contains(refusal, "pve3 is already down") {
		t.Errorf("CYCLE pve1 (would leave one of three up) after the restart: %q, want a quorum refusal naming pve3 down", refusal)
	}
	// What the guard sees, /status and /metrics show: the one state.
	seen := map[string]string{}
	for _, e := range st.Targets {
		seen[e.Target] = e.State
	}
	for name, want := range map[string]string{"pve1": "up", "pve2": "up", "pve3": "down"} {
		if seen[name] != want {
			t.Errorf("/api/v1/status after the restart: %s is %q, want %q", name, seen[name], want)
		}
	}
	for _, want := range []string{`foghorn_target_up{target="pve1"} 1`, `foghorn_target_up{target="pve3"} 0`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics after the restart has no %s", want)
		}
	}
	if took > 5*time.Second {
		t.Errorf("the answers came %s after the start, want within 5s", took.Round(time.Millisecond))
	}
	if t.Failed() {
		return
	}

	if got := x.textFrom(t, exampleAlice, "CONFIRM "+code[1]); !strings.HasPrefix(got, "Working on it: CYCLE pve3") {
		t.Fatalf("CONFIRM: %q", got)
	}
	until(t, 30*time.Second, "pve3's BMC sees power off, then on", func() bool {
		return slices.Equal(sims[2].Actions(), []string{"power 0", "power 1"})
	})
	for i, s := range sims[:2] {
		if got := s.Actions(); len(got) != 0 {
			t.Errorf("pve%d's BMC was asked %v", i+1, got)
		}
	}
}

// bmcsAt is an edit for newExample: pve1-bmc..pve3-bmc talk to the
// simulators, with the simulators' user (the password is in the
// example's password file, which the test rewrites).
func bmcsAt(t *testing.T, sims []*simtest.Sim) func(string) string {
	return func(s string) string {
		t.Helper()
		const port = "  port = 623                   # default 623\n"
		if !strings.Contains(s, port) {
			t.Fatalf("the example's pve1-bmc no longer sets port 623; update bmcsAt")
		}
		s = strings.Replace(s, port, "", 1)
		s = strings.ReplaceAll(s, `username = "foghorn"`, fmt.Sprintf("username = %q", simtest.User))
		for i, sim := range sims {
			name := fmt.Sprintf("pve%d-bmc", i+1)
			s = withTargetAddress(t, name, sim.Host)(s)
			head := "[[target]]\nname = \"" + name + "\"\n"
			at := strings.Index(s, head)
			const pw = "  password_file = \"bmc-password.example\""
			j := strings.Index(s[at:], pw)
			if j < 0 || strings.Contains(s[at+len(head):at+j], "[[") {
				t.Fatalf("the example's %s has no password_file; update bmcsAt", name)
			}
			end := at + j + strings.Index(s[at+j:], "\n")
			s = s[:end] + fmt.Sprintf("\n  port = %d", sim.Port) + s[end:]
		}
		return s
	}
}

// textFrom texts body to foghorn from phone, through the simulator, and
// returns foghorn's reply.
func (x *exampleSite) textFrom(t *testing.T, phone, body string) string {
	t.Helper()
	replies := func() []string {
		var out []string
		for _, m := range x.sim.Messages() {
			if m.Direction == "outbound-reply" && m.To == phone {
				out = append(out, m.Body)
			}
		}
		return out
	}
	before := len(replies())
	if _, err := x.sim.ReplySMS(phone, body); err != nil {
		t.Fatalf("SMS %q: %v", body, err)
	}
	got := replies()
	if len(got) <= before {
		t.Fatalf("no reply to %q", body)
	}
	return got[len(got)-1]
}

// status is /api/v1/status, read with the API token: the example has one.
func (x *exampleSite) status(t *testing.T) status {
	t.Helper()
	req, _ := http.NewRequest("GET", x.base+"/api/v1/status", nil)
	req.Header.Set("Authorization", "Bearer "+e2eToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var s status
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("/api/v1/status: %s, %v", resp.Status, err)
	}
	return s
}
