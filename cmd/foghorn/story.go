package main

import (
	"context"
	"strconv"
	"time"

	"foghorn/pager/twiliosim"
)

// story plays the demo: router rt1 goes down (one of a pair: a warning by
// SMS), then rt2 (the pair is down: critical, the hosts behind it are
// unreachable, not paged), alice gets calls she does not answer, bob gets
// an SMS and replies ACK, and when the routers come back everyone paged
// hears it is resolved. The simulated phones are scripted
// here; the rest is foghorn doing its job.
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
	say("in 15 s router rt1 goes down, then its twin rt2; watch the log, the dashboard and the phones")
	if !sleep(15 * time.Second) {
		return
	}
	site.setDown("rt1", true)
	say("rt1 is down (its health URL answers 503): one of the pair, a warning by SMS to alice")
	if !sleep(10 * time.Second) {
		return
	}
	site.setDown("rt2", true)
	say("rt2 is down too: the router pair is DOWN, critical; the hosts behind are unreachable, not paged. alice gets calls she does not answer, then bob is paged and replies ACK")
	for {
		if !sleep(time.Second) {
			return
		}
		incs, err := d.eng.Open(ctx)
		if err != nil {
			continue
		}
		acked := false
		for _, inc := range incs {
			if inc.State == "acknowledged" {
				acked = true
				say("incident #" + strconv.Itoa(inc.Short) + " acknowledged by " + inc.AckedBy + "; paging stopped. The routers come back in 15 s")
			}
		}
		if acked {
			break
		}
	}
	if !sleep(15 * time.Second) {
		return
	}
	site.setDown("rt1", false)
	site.setDown("rt2", false)
	say("the routers are back; once they are seen up, everyone paged gets \"resolved\". The demo keeps running: break things with curl -X POST http://" + cfg.Demo.Listen + "/down/NAME")
}
