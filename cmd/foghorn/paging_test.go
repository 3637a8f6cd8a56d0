package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/notify/webhook"
	"github.com/prometheus/alertmanager/template"

	"foghorn/pager/twiliosim"
)

// These keep the core promise — a page reaches a human — with the
// example config, its default limits, and a world that fails.

// alert posts one Alertmanager alert to foghorn's intake, the way an
// Alertmanager webhook receiver does.
func (x *exampleSite) alert(t *testing.T, status, fingerprint, severity, summary string) {
	t.Helper()
	a := template.Alert{Status: status, Fingerprint: fingerprint, StartsAt: time.Now(),
		Labels:      template.KV{"alertname": "Test", "instance": fingerprint, "severity": severity},
		Annotations: template.KV{"summary": summary}}
	m := webhook.Message{Version: "4", GroupKey: "{}:{alertname=\"Test\"}",
		Data: &template.Data{Receiver: "foghorn", Status: status, Alerts: template.Alerts{a}}}
	b, _ := json.Marshal(m)
	req, _ := http.NewRequest("POST", x.base+"/api/v1/alertmanager", bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+e2eToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("alertmanager intake: %s", resp.Status)
	}
}

// sms is the outbound messages whose body contains s.
func (x *exampleSite) sms(s string) []twiliosim.Message {
	var out []twiliosim.Message
	for _, m := range x.sim.Messages() {
		if m.Direction != "inbound" && strings.Contains(m.Body, s) {
			out = append(out, m)
		}
	}
	return out
}

// callsTo is the calls placed to a number.
func (x *exampleSite) callsTo(number string) []twiliosim.Call {
	var out []twiliosim.Call
	for _, c := range x.sim.Calls() {
		if c.To == number {
			out = append(out, c)
		}
	}
	return out
}

// until polls ok for up to d, then fails with what.
func until(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", d, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// routersDown silences both routers of the example's pair: critical.
func (x *exampleSite) routersDown(t *testing.T, p *proc) {
	t.Helper()
	p.waitWithin(t, time.Minute, 0, "target up", map[string]string{"target": "rt1"})
	p.waitWithin(t, time.Minute, 0, "target up", map[string]string{"target": "rt2"})
	silence(t, x.addr["rt1"])
	silence(t, x.addr["rt2"])
}

// TestExampleConfigCallsAfterSMS: the example's first step says
// channels = ["sms", "voice"]; a critical outage (both routers of the
// pair down) sends the SMS and then, a few seconds later, calls.
func TestExampleConfigCallsAfterSMS(t *testing.T) {
	x := newExample(t)
	p := x.run(t)
	x.routersDown(t, p)

	var page twiliosim.Message
	until(t, 60*time.Second, "an SMS about the router pair", func() bool {
		ms := x.sms("rt1")
		if len(ms) > 0 {
			page = ms[0]
		}
		return len(ms) > 0
	})
	// The example's SNMP switch and BMCs, with nothing answering on
	// loopback, page too: the call wanted is the one about the routers.
	var call twiliosim.Call
	until(t, 30*time.Second, "a call to "+page.To+" about the routers after the SMS", func() bool {
		for _, c := range x.callsTo(page.To) {
			if strings.Contains(strings.Join(c.Said, " "), "rt1") || strings.Contains(c.Twiml, "rt1") {
				call = c
				return true
			}
		}
		return false
	})
	gap := call.Created.Sub(page.Created)
	if gap < time.Second || gap > 15*time.Second {
		t.Errorf("the call came %s after the SMS; want a few seconds (1s..15s)", gap)
	}
}

// TestWarningBurstDoesNotSilenceCritical: 25 warnings use up what the
// limits allow warnings; a critical router outage right after is still
// paged by SMS and by call, and every page the limits dropped is logged.
func TestWarningBurstDoesNotSilenceCritical(t *testing.T) {
	// Quiet hours would hold the warnings depending on the hour the test
	// runs at; the limits are the example's defaults.
	x := newExample(t, withoutQuietHours, quietWorld)
	p := x.run(t)
	_, n := p.waitWithin(t, time.Minute, 0, "target up", map[string]string{"target": "rt1"})
	p.waitWithin(t, time.Minute, 0, "target up", map[string]string{"target": "rt2"})
	for i := range 25 {
		x.alert(t, "firing", fmt.Sprintf("warn%02d", i), "warning", fmt.Sprintf("disk %02d almost full", i))
	}
	var phone string
	until(t, 30*time.Second, "the warnings paged by SMS", func() bool {
		ms := x.sms("almost full")
		if len(ms) > 0 {
			phone = ms[0].To
		}
		return len(ms) >= 4
	})
	p.wait(t, n, "page failed on a channel with no fallback left", nil)
	if got := len(x.sms("almost full")); got > 4 {
		t.Errorf("%d warning SMS in 15 minutes; sms_per_15m = 5 leaves warnings 4", got)
	}

	silence(t, x.addr["rt1"])
	silence(t, x.addr["rt2"])
	until(t, 60*time.Second, "the critical router page by SMS to "+phone, func() bool {
		for _, m := range x.sms("rt1") {
			if m.To == phone {
				return true
			}
		}
		return false
	})
	until(t, 30*time.Second, "the critical router page by call to "+phone, func() bool {
		return len(x.callsTo(phone)) > 0
	})
}

// TestNoticesDoNotUseUpPages: "acked by" and "resolved" notices have their
// own share of sms_per_15m; after three incidents paged and resolved
// within 15 minutes, the fourth is still paged by SMS, and the notice
// that found its share used up is dropped and said so.
func TestNoticesDoNotUseUpPages(t *testing.T) {
	x := newExample(t, withoutQuietHours, quietWorld)
	p := x.run(t)
	r := &pagerRun{proc: p, base: x.base, sim: x.simURL}
	var phone string
	for i := range 4 {
		summary := fmt.Sprintf("backup %d failed", i)
		x.alert(t, "firing", fmt.Sprintf("bk%d", i), "warning", summary)
		until(t, 30*time.Second, "the page for "+summary, func() bool {
			ms := x.sms(summary)
			if len(ms) > 0 {
				phone = ms[0].To
			}
			return len(ms) > 0
		})
		if i == 3 {
			break
		}
		x.alert(t, "resolved", fmt.Sprintf("bk%d", i), "warning", summary)
		r.until(t, "the incident for "+summary+" resolved", func(incs []incident) bool { return len(incs) == 0 })
	}
	if phone == "" {
		t.Fatal("no page")
	}
	p.wait(t, 0, "notice dropped", nil)
}

// TestPageWaitsOutTwilioOutage: with Twilio unreachable (every connection
// refused, as when the VPS's route to it is gone), a critical page is held
// and tried again, not abandoned after a few quick retries; when the
// network returns it goes out, SMS and call, well within sms_validity.
func TestPageWaitsOutTwilioOutage(t *testing.T) {
	x := newExample(t, quietWorld)
	p := x.run(t)
	port := x.simURL[strings.LastIndex(x.simURL, ":")+1:]
	heal := nftRemovable(t, "output", "ip daddr 127.0.0.1 tcp dport "+port+" reject with tcp reset")
	x.alert(t, "firing", "db1", "critical", "database primary down")
	first, n := p.wait(t, 0, "critical page held", nil)
	t0, _ := time.Parse(time.RFC3339Nano, fmt.Sprint(first["time"]))
	// It keeps trying, backing off, long after the quick retries of one
	// attempt (1.4 s) would have given up: a try 15 s into the outage.
	for {
		var m map[string]any
		m, n = p.waitWithin(t, 40*time.Second, n, "notification not sent", nil)
		if at, _ := time.Parse(time.RFC3339Nano, fmt.Sprint(m["time"])); at.Sub(t0) > 15*time.Second {
			break
		}
	}
	heal()
	var phone string
	until(t, 45*time.Second, "the held SMS once Twilio is reachable again", func() bool {
		ms := x.sms("database primary down")
		if len(ms) > 0 {
			phone = ms[0].To
		}
		return len(ms) > 0
	})
	until(t, 45*time.Second, "the held call once Twilio is reachable again", func() bool { return len(x.callsTo(phone)) > 0 })
	if got := len(x.sms("database primary down")); got != 1 {
		t.Errorf("%d SMS for one page; want exactly 1", got)
	}
}
