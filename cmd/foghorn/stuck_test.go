package main

import (
	"strings"
	"testing"
	"time"

	"foghorn/pager/twiliosim"
)

// routerPages is the outbound SMS about the router pair that are pages,
// not the "resolved" notices that follow them.
func (x *exampleSite) routerPages() []twiliosim.Message {
	var out []twiliosim.Message
	for _, m := range x.sim.Messages() {
		if m.Direction == "inbound" || strings.Contains(m.Body, " resolved") {
			continue
		}
		if strings.Contains(m.Body, "rt1") || strings.Contains(m.Body, "rt2") || strings.Contains(m.Body, "routers") {
			out = append(out, m)
		}
	}
	return out
}

// TestKillAfterPageStillResolves: found by the soak. Both routers of the
// example's pair go silent, the page SMS goes out, and foghorn is
// SIGKILLed at once — before its batched checkpoint of the probes' state
// could say the routers went down. The routers answer again, foghorn
// restarts on the same data dir: the incident open at the engine must
// resolve once the routers are seen up (rise good probes), with a
// "resolved" notice to whoever was paged, and without paging again.
func TestKillAfterPageStillResolves(t *testing.T) {
	// Without quiet hours the first router down is paged at once (the
	// pair's warning), whatever the hour: the kill lands right after the
	// transition that paged, which is what the soak hit.
	x := newExample(t, withoutQuietHours, quietWorld)
	p := x.run(t)
	p.waitWithin(t, time.Minute, 0, "target up", map[string]string{"target": "rt1"})
	p.waitWithin(t, time.Minute, 0, "target up", map[string]string{"target": "rt2"})
	heal1 := nftRemovable(t, "input", "ip saddr "+x.addr["rt1"]+" icmp type echo-reply drop")
	heal2 := nftRemovable(t, "input", "ip saddr "+x.addr["rt2"]+" icmp type echo-reply drop")

	// Poll the simulator in-process, tightly: the kill must follow the
	// page as closely as the soak's did.
	deadline := time.Now().Add(60 * time.Second)
	for len(x.routerPages()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no page about the routers within 60s of silencing both")
		}
		time.Sleep(2 * time.Millisecond)
	}
	p.kill9(t)
	pages, calls := len(x.routerPages()), len(x.sim.Calls())
	t.Logf("killed with %d router page(s), %d call(s) at the simulator", pages, calls)
	for _, m := range x.sim.Messages() {
		t.Logf("at the kill: %s %s to %s: %q", m.Created.Format("15:04:05.000"), m.Direction, m.To, m.Body)
	}

	heal1()
	heal2()
	p2 := x.run(t)
	p2.wait(t, 0, "target state restored", nil)
	if n := len(x.truthIncidents(t)); n == 0 {
		p2.mu.Lock()
		defer p2.mu.Unlock()
		t.Fatalf("no incident open after the restart: the test needs the page's incident still open; log:\n%s", strings.Join(p2.raw, "\n"))
	}

	// rise 2 at a 10 s interval, the first probe within an interval: the
	// routers are up within ~25 s; the group's incident resolves then.
	var open []truthIncident
	until(t, 75*time.Second, "the router incident resolved after the restart", func() bool {
		open = x.truthIncidents(t)
		return len(open) == 0
	})
	until(t, 15*time.Second, "a \"resolved\" notice by SMS to whoever was paged", func() bool {
		for _, m := range x.sim.Messages() {
			if m.Direction != "inbound" && strings.Contains(m.Body, " resolved") {
				return true
			}
		}
		return false
	})
	if got := len(x.routerPages()); got != pages {
		for _, m := range x.routerPages() {
			t.Logf("page to %s: %q", m.To, m.Body)
		}
		t.Errorf("%d router pages after the restart, %d before it: the restart paged again", got, pages)
	}
	if got := len(x.sim.Calls()); got != calls {
		t.Errorf("%d calls after the restart, %d before it: the restart paged again", got, calls)
	}
}
