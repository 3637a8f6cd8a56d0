package pager

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"foghorn/clock"
	"foghorn/configs"
	"foghorn/escalation"
	"foghorn/pager/pushoversim"
	"foghorn/store"
)

const (
	poToken = "azGDORePK8gMaC0QOYAMyEEuzJnyUi" // 30 letters and digits, as Pushover's are
	poAlice = "uQiRzpo4DXghDmr9QzzfQu27cmVRsG"
	poBob   = "gznej3rKEVAvPUxu9vvNnqpmZpokzF"
)

// poWorld is the pager with only the Pushover channel, the real engine
// over a real store, and the Pushover stand-in, on loopback.
type poWorld struct {
	t   *testing.T
	sim *pushoversim.Sim
	p   *Pager
	eng *escalation.Engine
	db  *store.DB
	clk *clock.Fake
	url string
}

func newPoWorld(t *testing.T, public bool, severity string) *poWorld {
	t.Helper()
	w := &poWorld{t: t, clk: clock.NewFake(monday)}
	w.sim = pushoversim.New(pushoversim.Options{Token: poToken, Clock: w.clk})
	w.sim.AddUser(poAlice, "iphone")
	w.sim.AddUser(poBob)
	base, err := w.sim.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var h atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if hh, ok := h.Load().(http.Handler); ok {
			hh.ServeHTTP(rw, r)
			return
		}
		http.Error(rw, "not ready", http.StatusServiceUnavailable)
	}))
	w.url = srv.URL
	dir := t.TempDir()
	for f, v := range map[string]string{"token": poToken, "alice": poAlice, "bob": poBob} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(v+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	pub := ""
	if public {
		pub = fmt.Sprintf("public_url = %q", srv.URL)
	}
	text := fmt.Sprintf(`[server]
%s
[pushover]
token_file = "token"
api_base = %q
[escalation]
default_policy = "ops"
max_per_hour = 1000
[[person]]
name = "alice"
phone = "+15550100001"
  [person.pushover]
  user_key_file = "alice"
  device = "iphone"
[[person]]
name = "bob"
phone = "+15550100002"
  [person.pushover]
  user_key_file = "bob"
[[policy]]
name = "ops"
  [[policy.step]]
  who = ["alice"]
  channels = ["pushover"]
`, pub, base)
	cfg, err := configs.Parse("test.toml", dir, []byte(text), func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	w.db, err = store.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	w.p, err = New(Config{People: cfg.People, Pushover: cfg.Pushover, PublicURL: strings.TrimSuffix(cfg.Server.PublicURL, "/")}, nil,
		Options{Clock: w.clk, Store: w.db, RetryBase: 5 * time.Millisecond, APITimeout: 2 * time.Second, Log: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	w.eng = escalation.New(w.db, engineConfig(cfg), w.p, escalation.Options{Clock: w.clk, Log: testLogger(t), Gap: -1})
	w.p.SetEngine(w.eng)
	h.Store(w.p.Handler())
	t.Cleanup(func() {
		w.sim.Close()
		srv.Close()
		w.p.StopAnswers() // before the engine, as cmd does
		w.eng.Stop()
		w.eng.Wait()
		w.p.Close()
		w.db.Close()
	})
	return w
}

// page fires an alert of severity and waits for the push it makes.
func (w *poWorld) page(severity string) (*escalation.Incident, pushoversim.Message) {
	w.t.Helper()
	before := len(w.sim.Messages())
	inc, err := w.eng.Handle(context.Background(), escalation.Alert{Key: "k-" + severity, Firing: true, Severity: configs.Severity(severity),
		Summary: "router pair DOWN (rt1, rt2)", Detail: "both unreachable by ICMP", Source: "probe"})
	if err != nil {
		w.t.Fatal(err)
	}
	if _, err := w.eng.Step(context.Background()); err != nil {
		w.t.Fatal(err)
	}
	var m pushoversim.Message
	eventually(w.t, "a Pushover message", func() bool {
		ms := w.sim.Messages()
		if len(ms) > before {
			m = ms[before]
			return true
		}
		return false
	})
	if m.Receipt != "" {
		eventually(w.t, "the receipt followed", func() bool { return w.state(m.Receipt) == "live" })
	}
	return inc, m
}

func (w *poWorld) state(ref string) string {
	var s string
	w.db.QueryRow(`SELECT state FROM pushes WHERE channel = 'pushover' AND ref = ?`, ref).Scan(&s)
	return s
}

func (w *poWorld) incident(id int64) *escalation.Incident {
	inc, err := w.eng.Get(context.Background(), id)
	if err != nil {
		w.t.Fatal(err)
	}
	return inc
}

func (w *poWorld) callback(f url.Values, query string) int {
	w.t.Helper()
	resp, err := http.PostForm(w.url+PushoverCallbackPath+query, f)
	if err != nil {
		w.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestPushoverCriticalIsEmergencyAndThePhonesAckIsThePersonsAck(t *testing.T) {
	w := newPoWorld(t, true, "critical")
	inc, m := w.page("critical")
	if m.Priority != 2 || m.Retry != 60 || m.Expire != 3600 || m.User != poAlice || m.Device != "iphone" {
		t.Fatalf("message %+v: want priority 2, retry 60, expire 3600, alice's key and device", m)
	}
	if !strings.HasPrefix(m.Title, "[CRIT] #") || !strings.Contains(m.Message, "Acknowledge this notification") {
		t.Errorf("title %q, message %q", m.Title, m.Message)
	}
	if want := w.url + PushoverCallbackPath + "?n="; !strings.HasPrefix(m.Callback, want) {
		t.Errorf("callback %q, want %s…", m.Callback, want)
	}
	w.clk.Add(2 * time.Minute) // the phone repeats every retry until acknowledged
	eventually(t, "the poll the 2 minutes made due", func() bool {
		got, _ := w.sim.Receipt(m.Receipt)
		return len(got.Polls) == 1 && !w.busy(m.Receipt)
	})
	w.clk.Add(pushoverMinGap) // a callback within 5 s of that poll would wait out Pushover's gap
	if got, _ := w.sim.Receipt(m.Receipt); got.Deliveries != 3 {
		t.Errorf("%d deliveries after 2 minutes of retry 60s, want 3", got.Deliveries)
	}
	status, err := w.sim.Acknowledge(m.Receipt)
	if err != nil || status/100 != 2 {
		t.Fatalf("callback: %d %v", status, err)
	}
	eventually(t, "the incident acked by alice via pushover", func() bool {
		i := w.incident(inc.ID)
		return i.State == escalation.Acknowledged && i.AckedBy == "alice"
	})
	eventually(t, "the receipt marked acked", func() bool { return w.state(m.Receipt) == "acked" })
	if got, _ := w.sim.Receipt(m.Receipt); len(got.Polls) != 2 {
		t.Errorf("%d GETs of the receipt, want 2: the backstop poll and the one the callback asked for", len(got.Polls))
	}
}

// A callback is unsigned: for a receipt foghorn does not follow it is
// refused, and for one it follows it only makes foghorn ask Pushover,
// which says it is not acknowledged. A flood of them asks Pushover no more
// often than once per 5 s.
func TestPushoverForgedCallbackAcksNothing(t *testing.T) {
	w := newPoWorld(t, true, "critical")
	inc, m := w.page("critical")
	forged := url.Values{"receipt": {m.Receipt}, "acknowledged": {"1"}, "acknowledged_by": {poAlice}, "acknowledged_at": {"1772442000"}}
	n := strings.TrimPrefix(m.Callback, w.url+PushoverCallbackPath)
	if got := w.callback(url.Values{"receipt": {"r0000000000000000000000000000x"}, "acknowledged": {"1"}}, n); got != http.StatusNotFound {
		t.Errorf("unknown receipt: %d, want 404", got)
	}
	if got := w.callback(forged, "?n=999"); got != http.StatusNotFound {
		t.Errorf("known receipt with another notification's URL: %d, want 404", got)
	}
	for range 20 {
		if got := w.callback(forged, n); got != http.StatusNoContent {
			t.Fatalf("forged callback for a live receipt: %d, want 204 (a hint)", got)
		}
	}
	eventually(t, "Pushover asked once", func() bool {
		got, _ := w.sim.Receipt(m.Receipt)
		return len(got.Polls) == 1
	})
	eventually(t, "the follower idle again", func() bool {
		w.p.channel(configs.Pushover).(*pushoverChannel).mu.Lock()
		defer w.p.channel(configs.Pushover).(*pushoverChannel).mu.Unlock()
		r := w.p.channel(configs.Pushover).(*pushoverChannel).live[m.Receipt]
		return r != nil && !r.busy
	})
	if got, _ := w.sim.Receipt(m.Receipt); len(got.Polls) != 1 {
		t.Errorf("%d GETs for 20 forged callbacks within 5 s, want 1", len(got.Polls))
	}
	if i := w.incident(inc.ID); i.State != escalation.Triggered || w.state(m.Receipt) != "live" {
		t.Fatalf("a forged callback changed things: incident %s, receipt %s", i.State, w.state(m.Receipt))
	}
	// The real acknowledgement still acks, once Pushover's 5 s gap since
	// the last request has passed.
	w.sim.Acknowledge(m.Receipt)
	w.clk.Add(pushoverMinGap)
	eventually(t, "the real ack", func() bool { return w.incident(inc.ID).State == escalation.Acknowledged })
}

func TestPushoverAckByAnotherUserKeyIsIgnored(t *testing.T) {
	w := newPoWorld(t, true, "critical")
	inc, m := w.page("critical")
	if _, err := w.sim.AcknowledgeAs(m.Receipt, poBob); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the receipt given up as acknowledged by someone else", func() bool { return w.state(m.Receipt) == "foreign" })
	if i := w.incident(inc.ID); i.State != escalation.Triggered {
		t.Fatalf("bob's key acked alice's page: %s by %s", i.State, i.AckedBy)
	}
	if got := w.p.Stats().Counts["pushover_receipts/foreign_ack"]; got != 1 {
		t.Errorf("foreign_ack counted %v, want 1", got)
	}
}

func TestPushoverWebAckCancelsTheReceipt(t *testing.T) {
	w := newPoWorld(t, true, "critical")
	inc, m := w.page("critical")
	if _, err := w.eng.Ack(context.Background(), inc.ID, "bob", "web"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the receipt cancelled at Pushover", func() bool {
		got, _ := w.sim.Receipt(m.Receipt)
		return !got.CancelledAt.IsZero()
	})
	eventually(t, "the row marked cancelled", func() bool { return w.state(m.Receipt) == "cancelled" })
	w.clk.Add(10 * time.Minute)
	if got, _ := w.sim.Receipt(m.Receipt); got.Deliveries != 1 {
		t.Errorf("%d deliveries after the cancel, want 1: the phone stopped", got.Deliveries)
	}
}

// Without a public URL there is no callback: the follower polls, no
// faster than Pushover allows, and the ack still arrives.
func TestPushoverWithoutPublicURLPollsTheReceipt(t *testing.T) {
	w := newPoWorld(t, false, "critical")
	inc, m := w.page("critical")
	if m.Callback != "" || m.URL != "" {
		t.Fatalf("callback %q, url %q without a public URL", m.Callback, m.URL)
	}
	for range 3 {
		w.clk.Add(pushoverPollAlone)
		polls := 0
		eventually(t, "a poll each 5 s", func() bool {
			got, _ := w.sim.Receipt(m.Receipt)
			polls = len(got.Polls)
			return polls > 0 && !w.busy(m.Receipt)
		})
	}
	w.sim.Acknowledge(m.Receipt)
	w.clk.Add(pushoverPollAlone)
	eventually(t, "the ack found by polling", func() bool { return w.incident(inc.ID).State == escalation.Acknowledged })
	got, _ := w.sim.Receipt(m.Receipt)
	for i := 1; i < len(got.Polls); i++ {
		if d := got.Polls[i].Sub(got.Polls[i-1]); d < pushoverMinGap {
			t.Errorf("polls %d and %d %s apart, Pushover asks for at least 5 s", i-1, i, d)
		}
	}
}

func (w *poWorld) busy(ref string) bool {
	c := w.p.channel(configs.Pushover).(*pushoverChannel)
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.live[ref]
	return r != nil && r.busy
}

func TestPushoverPriorityBySeverity(t *testing.T) {
	w := newPoWorld(t, true, "warning")
	_, m := w.page("warning")
	if m.Priority != 1 || m.Receipt != "" || m.Retry != 0 {
		t.Errorf("warning: %+v, want priority 1 and no receipt", m)
	}
	_, m = w.page("info")
	if m.Priority != 0 {
		t.Errorf("info: priority %d, want 0", m.Priority)
	}
}

// Pushover's errors: a 500 is retried, a refused token is the vendor down
// at once, a user key Pushover does not know fails that send only.
func TestPushoverErrors(t *testing.T) {
	w := newPoWorld(t, true, "critical")
	w.sim.SetFault(pushoversim.Fault{Status: 500, Next: 2})
	in := escalation.Intent{ID: 0, Kind: escalation.KindNotice, Channel: configs.Pushover, Person: "alice", Text: "hello"}
	if err := w.p.Notify(context.Background(), in); err != nil {
		t.Fatalf("two 500s then success: %v", err)
	}
	if got := w.p.Stats().Counts["retries/pushover"]; got != 2 {
		t.Errorf("%v retries, want 2", got)
	}

	st := w.p.state()
	bad := *st.cfg.Pushover
	bad.Token = configs.NewSecret("wrongtoken0000000000000000000x")
	if err := w.p.SetConfig(Config{People: st.cfg.People, Pushover: &bad, PublicURL: st.cfg.PublicURL}); err != nil {
		t.Fatal(err)
	}
	err := w.p.Notify(context.Background(), in)
	if err == nil || !strings.Contains(err.Error(), "application token is invalid") || !strings.Contains(err.Error(), "FOGHORN_PUSHOVER_TOKEN") {
		t.Fatalf("refused token: %v", err)
	}
	if down := w.p.Stats().Down; len(down) != 1 || down[0] != "pushover" {
		t.Errorf("down %v after a refused token, want [pushover]", down)
	}

	w.p.SetConfig(Config{People: st.cfg.People, Pushover: st.cfg.Pushover, PublicURL: st.cfg.PublicURL})
	w.sim.SetFault(pushoversim.Fault{Status: 429, Next: 1})
	if err := w.p.Notify(context.Background(), in); err == nil || !strings.Contains(err.Error(), "monthly message limit") {
		t.Errorf("429: %v", err)
	}
}

// A Pushover that carries a message out and then never answers leaves a
// receipt foghorn never learnt, repeating on the phone; the retry sends
// another. Both carry the notification's tag, so an ack cancels both.
func TestPushoverHangAfterAcceptingIsStillCancelled(t *testing.T) {
	w := newPoWorld(t, true, "critical")
	w.sim.SetFault(pushoversim.Fault{AcceptHang: 1})
	inc, err := w.eng.Handle(context.Background(), escalation.Alert{Key: "k", Firing: true, Severity: "critical", Summary: "router pair DOWN"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.eng.Step(context.Background()); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the retried send followed", func() bool {
		return len(w.sim.Messages()) == 2 && w.state(w.sim.Messages()[1].Receipt) == "live"
	})
	ms := w.sim.Messages()
	if len(ms[0].Tags) != 1 || ms[0].Tags[0] != ms[1].Tags[0] {
		t.Fatalf("tags %v and %v: want one, the same on both attempts", ms[0].Tags, ms[1].Tags)
	}
	if w.state(ms[0].Receipt) != "" {
		t.Fatalf("the lost answer's receipt is known: %s", w.state(ms[0].Receipt))
	}
	if _, err := w.eng.Ack(context.Background(), inc.ID, "bob", "web"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "both sends cancelled at Pushover", func() bool {
		for _, m := range w.sim.Messages() {
			if m.CancelledAt.IsZero() {
				return false
			}
		}
		return true
	})
}

// An emergency notification nobody acknowledged expires at Pushover; the
// follower then stops asking about it.
func TestPushoverExpiredReceiptIsNoLongerFollowed(t *testing.T) {
	w := newPoWorld(t, true, "critical")
	inc, m := w.page("critical")
	w.clk.Add(time.Hour + time.Second)
	eventually(t, "the receipt marked expired", func() bool { return w.state(m.Receipt) == "expired" })
	if got, _ := w.sim.Receipt(m.Receipt); !got.Expired || got.Deliveries != 61 {
		t.Errorf("stand-in: expired %v after %d deliveries, want expired after 61 (1h at 1m)", got.Expired, got.Deliveries)
	}
	if i := w.incident(inc.ID); i.State != escalation.Triggered {
		t.Errorf("an expired receipt changed the incident: %s", i.State)
	}
	// A late or replayed callback for it is answered, and does nothing.
	if got := w.callback(url.Values{"receipt": {m.Receipt}, "acknowledged": {"1"}}, strings.TrimPrefix(m.Callback, w.url+PushoverCallbackPath)); got != http.StatusNoContent {
		t.Errorf("callback for a receipt followed to its end: %d, want 204", got)
	}
}

// The token rides in the query of a receipt GET: an error that quotes the
// URL (connection refused) must not carry it into the log or /healthz.
func TestPushoverErrorsDoNotCarryTheToken(t *testing.T) {
	w := newPoWorld(t, true, "critical")
	st := w.p.state()
	dead := *st.cfg.Pushover
	dead.APIBase = "http://127.0.0.1:1"
	st2 := &state{cfg: Config{People: st.cfg.People, Pushover: &dead}}
	c := w.p.channel(configs.Pushover).(*pushoverChannel)
	err := c.call(context.Background(), st2, http.MethodGet, "/1/receipts/abc.json", url.Values{"token": {poToken}}, nil)
	if err == nil || strings.Contains(err.Error(), poToken) {
		t.Fatalf("error %v: want one, without the token", err)
	}
}
