package main

import (
	"context"
	"strconv"
	"time"

	"foghorn/pager/twiliosim"
)

// story plays the demo: rt1 goes down, alice gets an SMS and two calls she
// does not answer, bob gets an SMS and replies ACK, and when rt1 comes back
// everyone paged hears it is resolved. The simulated phones are scripted
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
	say("in 15 s router rt1 goes down; watch the log, the dashboard and the phones")
	if !sleep(15 * time.Second) {
		return
	}
	site.setDown("rt1", true)
	say("rt1 is down (its health URL answers 503); alice will get an SMS, then calls she does not answer, then bob is paged and replies ACK")
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
			if inc.Key == "target:rt1" && inc.State == "acknowledged" {
				acked = true
				say("incident #" + strconv.Itoa(inc.Short) + " acknowledged by " + inc.AckedBy + "; paging stopped. rt1 comes back in 15 s")
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
	say("rt1 is back; once it is seen up, everyone paged gets \"resolved\". The demo keeps running: break things with curl -X POST http://" + cfg.Demo.Listen + "/down/NAME")
}
