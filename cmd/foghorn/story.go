package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"foghorn/configs"
	"foghorn/escalation"
	"foghorn/pager/twiliosim"
)

// story plays the demo: router rt1 goes down (one of a pair: a warning),
// then rt2 (the pair is down: critical; the hosts behind it stop
// answering and are unreachable, not paged), alice gets calls she does
// not answer, bob gets an SMS and replies ACK, and when the routers come
// back everyone paged hears it is resolved. The simulated phones are
// scripted here; the rest is foghorn doing its job.
//
// The narration says only what it has seen: each line waits until
// foghorn shows the state it describes (the targets' states, the open
// incidents) and is written from that state, so the log, the dashboard
// and the words agree; what is yet to happen is said as "next".
func (d *daemon) story(ctx context.Context, site *demoSite) {
	cfg := d.cfg.Load()
	alice, bob := cfg.Person("alice"), cfg.Person("bob")
	if d.sim == nil || alice == nil || bob == nil {
		return
	}
	d.sim.SetPhone(alice.Phone, twiliosim.Script{Call: "no-answer"})
	d.sim.SetPhone(bob.Phone, twiliosim.Script{Replies: []string{"ACK"}, ReplyAfter: 10 * time.Second})
	say := func(msg string) { d.log.Info("demo: " + msg) }
	sleep := func(dur time.Duration) bool {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(dur):
			return true
		}
	}
	// await polls ok until it holds or within passes; false when the
	// demo is stopping. A timeout is not an error: the line that follows
	// says what is so either way.
	awaitWithin := func(within time.Duration, ok func() bool) bool {
		for end := time.Now().Add(within); !ok() && time.Now().Before(end); {
			if !sleep(500 * time.Millisecond) {
				return false
			}
		}
		return ctx.Err() == nil
	}
	await := func(ok func() bool) bool { return awaitWithin(time.Minute, ok) }
	behind := behindRouters(cfg)
	routerIncident := func(sev configs.Severity) *escalation.Incident {
		incs, _ := d.eng.Open(ctx)
		for i := range incs {
			if mentions(&incs[i], "rt1") && (sev == "" || incs[i].Severity == sev) {
				return &incs[i]
			}
		}
		return nil
	}

	say("in 15 s router rt1 goes down, then its twin rt2; watch the log, the dashboard and the phones")
	if !sleep(15 * time.Second) {
		return
	}
	site.setDown("rt1", true)
	if !await(func() bool { return d.targetState("rt1") == "down" && routerIncident("") != nil }) {
		return
	}
	say(fmt.Sprintf("rt1 is %s (its health URL answers 503), rt2 is %s: %s. Behind the pair: %s",
		d.targetState("rt1"), d.targetState("rt2"), incidentWords(routerIncident("")), d.hostWords(ctx, site, behind)))

	if !sleep(10 * time.Second) {
		return
	}
	site.setDown("rt2", true)
	if !await(func() bool {
		if d.targetState("rt2") != "down" || routerIncident("critical") == nil {
			return false
		}
		for _, h := range behind {
			if d.targetState(h) != "down" {
				return false
			}
		}
		return true
	}) {
		return
	}
	say(fmt.Sprintf("rt2 is %s too: %s. Behind the pair: %s. Next: alice gets calls she does not answer, then bob is paged and replies ACK",
		d.targetState("rt2"), incidentWords(routerIncident("")), d.hostWords(ctx, site, behind)))

	var acked *escalation.Incident
	// Two unanswered calls 30 s apart, bob 30 s later, his reply 10 s on.
	if !awaitWithin(4*time.Minute, func() bool {
		acked = routerIncident("")
		return acked != nil && acked.State == escalation.Acknowledged
	}) {
		return
	}
	if acked == nil || acked.State != escalation.Acknowledged {
		say("nobody has acked yet; the routers come back in 15 s anyway")
	} else {
		say(fmt.Sprintf("incident #%d acknowledged by %s; paging stopped. The routers come back in 15 s", acked.Short, acked.AckedBy))
	}
	if !sleep(15 * time.Second) {
		return
	}
	site.setDown("rt1", false)
	site.setDown("rt2", false)
	if !await(func() bool {
		return d.targetState("rt1") == "up" && d.targetState("rt2") == "up" && routerIncident("") == nil
	}) {
		return
	}
	say(fmt.Sprintf("the routers are back (rt1 %s, rt2 %s) and nothing about them is open: everyone paged was told \"resolved\". Behind the pair: %s. "+
		"The demo keeps running: break things with curl -X POST http://%s/down/NAME",
		d.targetState("rt1"), d.targetState("rt2"), d.hostWords(ctx, site, behind), cfg.Demo.Listen))
}

// behindRouters is the targets reached through rt1 or rt2, directly, via
// their group or via another target behind them, in config order.
func behindRouters(cfg *configs.Config) []string {
	through := map[string]bool{"rt1": true, "rt2": true}
	for _, g := range cfg.Groups {
		if slices.Contains(g.Resolved, "rt1") || slices.Contains(g.Resolved, "rt2") {
			through[g.Name] = true
		}
	}
	var out []string
	for changed := true; changed; {
		changed = false
		for _, t := range cfg.Targets {
			if through[t.Parent] && !through[t.Name] {
				through[t.Name], changed = true, true
				out = append(out, t.Name)
			}
		}
	}
	return out
}

// hostWords says, for each host, what the site, the dashboard and the
// pager make of it: "pve1 answers, up" or "pve1 answers nothing, down
// (unreachable: no incident of its own, not paged)".
func (d *daemon) hostWords(ctx context.Context, site *demoSite, hosts []string) string {
	incs, _ := d.eng.Open(ctx)
	var words []string
	for _, h := range hosts {
		w := h + " answers, " + d.targetState(h)
		if !site.answers(h) {
			w = h + " answers nothing, " + d.targetState(h)
		}
		own := false
		for i := range incs {
			if incs[i].Key == "target:"+h {
				own = true
			}
		}
		switch {
		case own:
			w += " (its own incident is open)"
		case d.targetState(h) == "down":
			w += " (unreachable: no incident of its own, not paged)"
		}
		words = append(words, w)
	}
	return strings.Join(words, "; ")
}

// incidentWords names an incident as the phones and the dashboard do.
func incidentWords(inc *escalation.Incident) string {
	if inc == nil {
		return "no incident is open about the routers"
	}
	return fmt.Sprintf("incident #%d %s %s: %s", inc.Short, strings.ToUpper(string(inc.Severity)), inc.State, inc.Summary)
}

// mentions reports whether inc is about name: its key, its name label or
// its summary (the routers group's incident names its members).
func mentions(inc *escalation.Incident, name string) bool {
	return inc.Key == "target:"+name || inc.Labels["name"] == name || strings.Contains(inc.Summary, name)
}
