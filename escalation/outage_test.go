package escalation_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"foghorn/clock"
	"foghorn/configs"
	"foghorn/escalation"
	"foghorn/pager"
	"foghorn/pager/twiliosim"
	"foghorn/store"
)

// Twilio unreachable for ten minutes, then back, with the real pager and
// the Twilio simulator (its Hang fault: every API request held until the
// client gives up) and the engine on a fake clock: the incident's page goes
// out once Twilio is back, pages that waited longer than [twilio]
// sms_validity are marked expired instead of sent, and nobody gets a
// backlog of SMS at once.

var start = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

type outage struct {
	t   *testing.T
	clk *clock.Fake
	cfg *configs.Config
	db  *store.DB
	sim *twiliosim.Sim
	pg  *pager.Pager
}

const alice = "+15550100001"

func newOutage(t *testing.T) *outage {
	t.Helper()
	var hooks http.Handler = http.NotFoundHandler()
	var hmu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hmu.Lock()
		h := hooks
		hmu.Unlock()
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	cfg, err := configs.Parse("t.toml", t.TempDir(), []byte(fmt.Sprintf(`
[server]
listen = "127.0.0.1:0"
public_url = %q
[twilio]
simulator = true
from = "+15005550006"
sms_validity = "2m"
[self_check]
canaries = ["127.0.0.1"]
[escalation]
default_policy = "ops"
max_per_hour = 1000
[[person]]
name = "alice"
phone = %q
[[policy]]
name = "ops"
  [[policy.step]]
  who = ["alice"]
  channels = ["sms"]
  until_ack = true
  interval = "1m"
`, srv.URL, alice)), func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	o := &outage{t: t, clk: clock.NewFake(start), cfg: cfg}
	pc := pager.Config{People: cfg.People, Twilio: cfg.Twilio, SMTP: cfg.SMTP, PublicURL: cfg.Server.PublicURL}
	pc.Twilio.AccountSID, pc.Twilio.AuthToken = twiliosim.DefaultAccountSID, configs.NewSecret(twiliosim.DefaultAuthToken)
	o.sim = twiliosim.New(twiliosim.Options{AccountSID: pc.Twilio.AccountSID, AuthToken: pc.Twilio.AuthToken.Reveal(),
		Number: pc.Twilio.From, PublicURL: pc.PublicURL, InboundSMSURL: pc.PublicURL + pager.SMSPath})
	base, err := o.sim.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.sim.Close() })
	// A short API timeout and no retries: a hung request fails in 2s.
	o.pg, err = pager.New(pc, nil, pager.Options{APIBase: base, APITimeout: 2 * time.Second, Retries: -1, Clock: o.clk})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.pg.Close() })
	hmu.Lock()
	hooks = o.pg.Handler()
	hmu.Unlock()
	if o.db, err = store.Open(context.Background(), t.TempDir()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.db.Close() })
	return o
}

func (o *outage) engine(n escalation.Notifier, sends int) *escalation.Engine {
	e := escalation.New(o.db, escalation.ConfigOf(o.cfg), n, escalation.Options{Clock: o.clk, Sends: sends})
	o.pg.SetEngine(e)
	return e
}

func (o *outage) step(e *escalation.Engine) {
	o.t.Helper()
	if _, err := e.Step(context.Background()); err != nil {
		o.t.Fatal(err)
	}
}

// states lists the incident's page notifications' states, oldest first.
func (o *outage) states(incident int64) []string {
	o.t.Helper()
	rows, err := o.db.Query(`SELECT state FROM notifications WHERE incident = ? AND kind = 'page' ORDER BY id`, incident)
	if err != nil {
		o.t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		rows.Scan(&s)
		out = append(out, s)
	}
	return out
}

func (o *outage) smsTo(phone string) int {
	n := 0
	for _, m := range o.sim.Messages() {
		if m.To == phone && m.Direction == "outbound-api" {
			n++
		}
	}
	return n
}

func (o *outage) expiredEvents(incident int64) int {
	var n int
	o.db.QueryRow(`SELECT count(*) FROM events WHERE kind = 'page.expired' AND subject = ?`, fmt.Sprint(incident)).Scan(&n)
	return n
}

func TestTwilioOutageQueuedPagesExpire(t *testing.T) {
	o := newOutage(t)
	o.sim.SetFault(twiliosim.Fault{Hang: true})
	// The real pager; the test only learns when a page reaches it.
	reached := make(chan int64, 16)
	e := o.engine(escalation.NotifierFunc(func(ctx context.Context, in escalation.Intent) error {
		reached <- in.ID
		return o.pg.Notify(ctx, in)
	}), 1) // one send at a time: the next page queues behind a hung one
	ctx := context.Background()
	inc, err := e.Handle(ctx, escalation.Alert{Key: "target:rt1", Firing: true, Severity: "critical", Summary: "rt1 DOWN"})
	if err != nil {
		t.Fatal(err)
	}
	o.step(e) // page 1 is claimed; its request hangs
	select {
	case <-reached:
	case <-time.After(5 * time.Second):
		t.Fatal("page 1 never reached the pager")
	}

	// Five minutes on, still down: page 2 is claimed and waits for the
	// only send slot, held by page 1's hung request.
	o.clk.Jump(start.Add(5 * time.Minute))
	stepped := make(chan struct{})
	go func() {
		defer close(stepped)
		e.Step(ctx)
	}()
	for deadline := time.Now().Add(5 * time.Second); len(o.states(inc.ID)) < 2; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("page 2 was not claimed")
		}
	}
	// Ten minutes into the outage, Twilio is back. Page 1's request gives
	// up and is held for another try, by then older than sms_validity;
	// page 2, queued for five minutes, too: neither goes out now.
	o.clk.Jump(start.Add(10 * time.Minute))
	o.sim.SetFault(twiliosim.Fault{})
	<-stepped
	e.Wait()
	if got := o.states(inc.ID); len(got) != 2 || got[0] != "expired" || got[1] != "expired" {
		t.Fatalf("page states after the outage: %v, want [expired expired]", got)
	}
	if n := o.expiredEvents(inc.ID); n != 2 {
		t.Fatalf("page.expired events: %d", n)
	}
	if n := o.smsTo(alice); n != 0 {
		t.Fatalf("%d SMS went out for stale pages", n)
	}

	// The incident still needs alice: its next round pages her, once.
	o.step(e)
	e.Wait()
	for range 3 {
		o.step(e)
		e.Wait()
	}
	if n := o.smsTo(alice); n != 1 {
		t.Fatalf("after Twilio came back alice got %d SMS, want 1", n)
	}
	if got := o.states(inc.ID); len(got) != 3 || got[2] == "expired" || got[2] == "failed" {
		t.Fatalf("page states: %v", got)
	}
}

// A page claimed just before foghorn died in the outage is found claimed at
// the restart, ten minutes later: it is expired, not resent; the incident
// pages afresh, once.
func TestTwilioOutageCrashedPageExpiresOnRecover(t *testing.T) {
	o := newOutage(t)
	ctx := context.Background()
	never := make(chan struct{})
	inSend := make(chan struct{}, 1)
	dead := o.engine(escalation.NotifierFunc(func(ctx context.Context, in escalation.Intent) error {
		inSend <- struct{}{}
		<-never // foghorn is killed mid-send
		return fmt.Errorf("killed")
	}), 0)
	inc, err := dead.Handle(ctx, escalation.Alert{Key: "target:rt1", Firing: true, Severity: "critical", Summary: "rt1 DOWN"})
	if err != nil {
		t.Fatal(err)
	}
	o.step(dead)
	// Wait until the send is under way, not only claimed: a send goroutine
	// scheduled after the clock jump would find its page out of date and
	// expire it itself, and Recover would have nothing left to find.
	select {
	case <-inSend:
	case <-time.After(5 * time.Second):
		t.Fatalf("no page handed to the notifier; states %v", o.states(inc.ID))
	}

	o.clk.Jump(start.Add(10 * time.Minute))
	e := o.engine(o.pg, 0)
	if n, err := e.Recover(ctx); err != nil || n != 1 {
		t.Fatalf("Recover: %d, %v", n, err)
	}
	e.Wait()
	if got := o.states(inc.ID); len(got) != 1 || got[0] != "expired" {
		t.Fatalf("the interrupted page after a 10-minute gap: %v, want [expired]", got)
	}
	o.step(e)
	e.Wait()
	o.step(e)
	e.Wait()
	if n := o.smsTo(alice); n != 1 {
		t.Fatalf("alice got %d SMS, want 1", n)
	}
	close(never)
	dead.Wait()
}
