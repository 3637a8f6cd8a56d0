package twiliosim

import (
	"testing"
	"time"

	api "github.com/twilio/twilio-go/rest/api/v2010"
)

// twilio-go's own ListMessage and ListCall read the simulator's lists:
// filters by To, From and date, newest first, across pages.
func TestListsServeTwilioGoPaging(t *testing.T) {
	clk := newFakeClock()
	sim, base := newSim(t, Options{Clock: clk})
	c := rest(t, base, testSID, testToken, 5*time.Second)
	send := func(to, body string) string {
		p := &api.CreateMessageParams{}
		p.SetTo(to).SetFrom(foghornNr).SetBody(body)
		m, err := c.Api.CreateMessage(p)
		if err != nil {
			t.Fatal(err)
		}
		return *m.Sid
	}
	t0 := clk.Now()
	var aliceSIDs []string
	for i := range 7 {
		aliceSIDs = append(aliceSIDs, send(alice, "page "+string(rune('a'+i))))
		send(bob, "other")
		clk.Add(time.Second)
	}
	waitFor(t, func() bool {
		for _, m := range sim.Messages() {
			if m.Status != "delivered" {
				return false
			}
		}
		return true
	}, "messages delivered")

	lp := &api.ListMessageParams{}
	lp.SetTo(alice).SetFrom(foghornNr).SetPageSize(3) // three pages: twilio-go follows next_page_uri
	ms, err := c.Api.ListMessage(lp)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 7 || *ms[0].Sid != aliceSIDs[6] || *ms[6].Sid != aliceSIDs[0] {
		t.Fatalf("alice's messages, newest first: got %d", len(ms))
	}
	for _, m := range ms {
		if *m.To != alice {
			t.Fatalf("To filter let through %s", *m.To)
		}
	}

	// date_sent follows the fake clock: nothing was sent after t0+1h.
	lp = &api.ListMessageParams{}
	lp.SetTo(alice).SetDateSentAfter(t0.Add(time.Hour))
	if ms, err = c.Api.ListMessage(lp); err != nil || len(ms) != 0 {
		t.Fatalf("DateSent> in the future: %d, %v", len(ms), err)
	}
	lp = &api.ListMessageParams{}
	lp.SetTo(alice).SetDateSentAfter(t0.Add(-time.Second))
	if ms, err = c.Api.ListMessage(lp); err != nil || len(ms) != 7 {
		t.Fatalf("DateSent> before all: %d, %v", len(ms), err)
	}

	cp := &api.CreateCallParams{}
	cp.SetTo(alice).SetFrom(foghornNr).SetTwiml("<Response><Say>hi</Say></Response>")
	call, err := c.Api.CreateCall(cp)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return len(sim.Calls()) == 1 && sim.Calls()[0].Status != "queued" }, "call dialed")
	lc := &api.ListCallParams{}
	lc.SetTo(alice).SetFrom(foghornNr).SetStartTimeAfter(t0.Add(-time.Minute))
	cs, err := c.Api.ListCall(lc)
	if err != nil || len(cs) != 1 || *cs[0].Sid != *call.Sid {
		t.Fatalf("calls to alice: %d, %v", len(cs), err)
	}
	lc = &api.ListCallParams{}
	lc.SetTo(bob)
	if cs, err = c.Api.ListCall(lc); err != nil || len(cs) != 0 {
		t.Fatalf("calls to bob: %d, %v", len(cs), err)
	}
	lc = &api.ListCallParams{}
	lc.SetTo(alice).SetStartTimeAfter(t0.Add(time.Hour))
	if cs, err = c.Api.ListCall(lc); err != nil || len(cs) != 0 {
		t.Fatalf("StartTime> in the future: %d, %v", len(cs), err)
	}
}
