package pager

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"foghorn/configs"
	"foghorn/escalation"
	"foghorn/pager/ntfysim"
	"foghorn/pager/twiliosim"
	"foghorn/store"
)

const (
	daveTopic = "foghorn-dave-3f9a1c07b2e4"
	daveToken = "tk_davedavedavedavedavedavedave1"
	ntfyTok   = "tk_defaultdefaultdefaultdefault"
	davePh    = "+15550100004"
)

// ntfyWorld is the world with an ntfy stand-in and dave, who is paged by
// SMS, a call and ntfy in one step; the pager keeps its links in a store.
type ntfyWorld struct {
	*world
	ntfy *ntfysim.Sim
	ldb  *store.DB
}

func newNtfyWorld(t *testing.T, so ntfysim.Options, wo worldOpt, extra string) *ntfyWorld {
	t.Helper()
	if so.Tokens == nil {
		so.Tokens = []string{ntfyTok, daveToken}
	}
	sim := ntfysim.New(so)
	base, err := sim.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	dir := t.TempDir()
	topic := filepath.Join(dir, "dave-topic")
	token := filepath.Join(dir, "dave-token")
	os.WriteFile(topic, []byte(daveTopic+"\n"), 0o600)
	os.WriteFile(token, []byte(daveToken+"\n"), 0o600)
	ldb, err := store.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ldb.Close() })
	wo.opts.Store = ldb
	policy := fmt.Sprintf(`
[ntfy]
server = %q
link_ttl = "30m"

[[person]]
name = "dave"
phone = %q
  [person.ntfy]
  topic_file = %q
  token_file = %q

[[policy]]
name = "ops"
  [[policy.step]]
  who = ["dave"]
  channels = ["sms", "voice", "ntfy"]
  until_ack = true
  interval = "5m"
%s`, base, davePh, topic, token, extra)
	return &ntfyWorld{world: newWorld(t, policy, wo), ntfy: sim, ldb: ldb}
}

func (w *ntfyWorld) pages() []ntfysim.Message { return w.ntfy.Messages(daveTopic) }

func (w *ntfyWorld) lastPage(t *testing.T) ntfysim.Message {
	t.Helper()
	eventually(t, "a page on dave's topic", func() bool { return len(w.pages()) > 0 })
	ms := w.pages()
	return ms[len(ms)-1]
}

func (w *ntfyWorld) ackURL(t *testing.T) string {
	t.Helper()
	m := w.lastPage(t)
	if len(m.Actions) != 1 {
		t.Fatalf("page actions %+v", m.Actions)
	}
	return m.Actions[0].URL
}

func do(t *testing.T, method, u string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, u, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return resp.StatusCode, b.String()
}

func TestNtfyPageHasPriorityTagsClickAndAckButton(t *testing.T) {
	w := newNtfyWorld(t, ntfysim.Options{}, worldOpt{}, "")
	w.sim.SetPhone(davePh, twiliosim.Script{Call: "wait"})
	inc := w.fire("group:routers")
	w.step()
	m := w.lastPage(t)
	if m.Priority != 5 || !slices.Contains(m.Tags, "rotating_light") || m.Title != "[CRIT] #1 router pair DOWN (rt1, rt2)" {
		t.Fatalf("page %+v", m)
	}
	if want := fmt.Sprintf("%s/incidents/%d", w.url, inc.ID); m.Click != want {
		t.Fatalf("click %q, want %q", m.Click, want)
	}
	if !strings.Contains(m.Message, "Tap Ack #1, or text 1") || !strings.Contains(m.Message, "both unreachable by ICMP") {
		t.Fatalf("message %q", m.Message)
	}
	a := m.Actions[0]
	if a.Action != "http" || a.Label != "Ack #1" || a.Method != "POST" || !a.Clear || !strings.HasPrefix(a.URL, w.url+LinkAckPath+"?") {
		t.Fatalf("action %+v", a)
	}
	if m.Auth != "token:"+daveToken {
		t.Fatalf("published as %q: the person's own token overrides [ntfy]'s", m.Auth)
	}
	eventually(t, "ntfy send recorded", func() bool { return w.hasNote("page ntfy dave sent") })
}

func TestNtfyAckButtonAcksAndHangsUpTheCall(t *testing.T) {
	w := newNtfyWorld(t, ntfysim.Options{}, worldOpt{}, "")
	w.sim.SetPhone(davePh, twiliosim.Script{Call: "wait"})
	inc := w.fire("group:routers")
	w.step()
	eventually(t, "dave's phone rings", func() bool { c := w.callsTo(davePh); return len(c) == 1 && c[0].Status == "ringing" })
	m := w.lastPage(t)
	status, body, err := w.ntfy.Press(daveTopic, m.ID, "Ack #1")
	if err != nil || status != http.StatusOK || !strings.Contains(body, "#1 acknowledged by dave") {
		t.Fatalf("press: %d %q %v", status, body, err)
	}
	got := w.incident(inc.ID)
	if got.State != escalation.Acknowledged || got.AckedBy != "dave" {
		t.Fatalf("incident %s by %q", got.State, got.AckedBy)
	}
	eventually(t, "the ringing call is hung up", func() bool { return w.callsTo(davePh)[0].Status == "canceled" })
	if !w.ntfy.Messages(daveTopic)[0].Cleared {
		t.Fatal("clear=true: the app clears the notification after a 2xx")
	}
	if w.p.Stats().Counts["links/ok"] != 1 {
		t.Fatalf("stats %v", w.p.Stats().Counts)
	}
}

func TestNtfyLinkRefusesForgedReplayedExpiredAndGet(t *testing.T) {
	w := newNtfyWorld(t, ntfysim.Options{}, worldOpt{}, "")
	inc := w.fire("group:routers")
	w.step()
	good := w.ackURL(t)
	u, _ := url.Parse(good)
	q := u.Query()

	// A GET (a link previewer, a mail scanner) shows the button, acts never.
	code, body := do(t, http.MethodGet, good)
	if code != http.StatusOK || !strings.Contains(body, `<form method="post"`) || !strings.Contains(body, "Ack #1") {
		t.Fatalf("GET: %d %q", code, body)
	}
	// Forged: another person, another incident, a made-up MAC.
	for k, v := range map[string]string{"p": "alice", "i": "99", "s": "AAAA", "e": "9999999999"} {
		f := u.Query()
		f.Set(k, v)
		code, body := do(t, http.MethodPost, w.url+LinkAckPath+"?"+f.Encode())
		if code != http.StatusForbidden || !strings.Contains(body, "not signed by this foghorn") {
			t.Fatalf("forged %s=%s: %d %q", k, v, code, body)
		}
	}
	// A cut link.
	q.Del("n")
	if code, _ := do(t, http.MethodPost, w.url+LinkAckPath+"?"+q.Encode()); code != http.StatusBadRequest {
		t.Fatalf("cut link: %d", code)
	}
	if got := w.incident(inc.ID); got.State != escalation.Triggered {
		t.Fatalf("a refused link acted: %s by %s", got.State, got.AckedBy)
	}
	// The real one acts once; its replay is refused.
	if code, body := do(t, http.MethodPost, good); code != http.StatusOK || !strings.Contains(body, "acknowledged by dave") {
		t.Fatalf("press: %d %q", code, body)
	}
	code, body = do(t, http.MethodPost, good)
	if code != http.StatusGone || !strings.Contains(body, "already used at") {
		t.Fatalf("replay: %d %q", code, body)
	}
	if code, _ := do(t, http.MethodGet, good); code != http.StatusGone {
		t.Fatalf("GET of a used link: %d", code)
	}
	// Expired: the next page's link, pressed after link_ttl.
	w.eng.Resolve(context.Background(), inc.ID, "alice", "test")
	inc2 := w.fire("group:storage")
	w.step()
	late := w.ackURL(t)
	w.clk.Add(31 * time.Minute)
	code, body = do(t, http.MethodPost, late)
	if code != http.StatusGone || !strings.Contains(body, "expired at") {
		t.Fatalf("expired: %d %q", code, body)
	}
	if got := w.incident(inc2.ID); got.State == escalation.Acknowledged {
		t.Fatal("an expired link acked")
	}
	c := w.p.Stats().Counts
	if c["links/forged"] != 4 || c["links/replayed"] != 2 || c["links/expired"] != 1 || c["links/confirm_page"] != 1 || c["links/ok"] != 1 || c["links/bad_request"] != 1 {
		t.Fatalf("counts %v", c)
	}
}

// The key is in the store: a link made before a restart still works
// after it, and one used before it is still refused.
func TestNtfyLinksSurviveARestart(t *testing.T) {
	w := newNtfyWorld(t, ntfysim.Options{}, worldOpt{}, "")
	w.fire("group:routers")
	w.step()
	link := w.ackURL(t)
	p2, err := New(testConfig(w.cfg), w.eng, Options{Store: w.ldb, Clock: w.clk, APIBase: "http://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	defer p2.Close()
	l, _ := parseLink(linkAck, mustQuery(t, link))
	key, err := p2.linkKey(context.Background())
	if err != nil || !l.valid(key) {
		t.Fatalf("a restarted pager does not know its links: %v", err)
	}
}

func mustQuery(t *testing.T, link string) url.Values {
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query()
}

func TestNtfy500sAreRetried(t *testing.T) {
	w := newNtfyWorld(t, ntfysim.Options{}, worldOpt{}, "")
	w.ntfy.SetFault(ntfysim.Fault{Status: 500, Next: 2})
	w.fire("group:routers")
	w.step()
	w.lastPage(t)
	var st []int
	for _, r := range w.ntfy.Requests() {
		st = append(st, r.Status)
	}
	if !slices.Equal(st, []int{500, 500, 200}) {
		t.Fatalf("publishes %v", st)
	}
	if w.p.Stats().Counts["retries/ntfy"] != 2 {
		t.Fatalf("stats %v", w.p.Stats().Counts)
	}
}

func TestNtfy429IsRetriedAfterTheBurst(t *testing.T) {
	w := newNtfyWorld(t, ntfysim.Options{Burst: 1, Refill: 300 * time.Millisecond}, worldOpt{opts: Options{RetryBase: 100 * time.Millisecond}}, "")
	// Someone else with dave's token used up the burst just now.
	req, _ := http.NewRequest(http.MethodPost, w.ntfy.URL()+"/"+daveTopic, strings.NewReader("hello"))
	req.Header.Set("Authorization", "Bearer "+daveToken)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("first publish: %v %v", resp, err)
	}
	w.fire("group:routers")
	w.step()
	eventually(t, "the page published", func() bool { return len(w.pages()) == 2 })
	var st []int
	for _, r := range w.ntfy.Requests() {
		st = append(st, r.Status)
	}
	if st[1] != 429 || st[len(st)-1] != 200 {
		t.Fatalf("publishes %v: want a 429, retried until the burst refilled", st)
	}
	if d := w.p.Stats().Down; len(d) != 0 {
		t.Fatalf("down %v", d)
	}
}

// A refused token fails every page alike: one is proof. The outage is
// told through another vendor (SMS), and the page waits (held) rather
// than being given up.
func TestNtfy401IsAnOutageToldBySMS(t *testing.T) {
	w := newNtfyWorld(t, ntfysim.Options{Tokens: []string{"tk_someoneelse"}}, worldOpt{}, "")
	w.fire("group:routers")
	w.step()
	eventually(t, "dave told by SMS that ntfy fails", func() bool { return anyContains(w.messagesTo(davePh), "ntfy is failing") })
	if d := w.p.Stats().Down; !slices.Contains(d, "ntfy") {
		t.Fatalf("down %v", d)
	}
	msgs := w.messagesTo(davePh)
	if !anyContains(msgs, "ntfy 401: error 40101: unauthorized") {
		t.Fatalf("SMS %q", msgs)
	}
	if n := len(w.ntfy.Requests()); n != 1 {
		t.Fatalf("a 401 is not retried: %d requests", n)
	}
}

func TestNtfy400IsPermanentAndNamesTheReason(t *testing.T) {
	w := newNtfyWorld(t, ntfysim.Options{}, worldOpt{}, "")
	// A topic ntfy refuses (the config check refuses it too; this is
	// the server changing its mind).
	w.p.state().cfg.person("dave").Ntfy.Topic = badTopic
	w.fire("group:routers")
	w.step()
	eventually(t, "the send failed", func() bool { return w.p.Stats().Counts["sends/ntfy/failed"] == 1 })
	if n := len(w.ntfy.Requests()); n != 1 {
		t.Fatalf("a 400 is not retried: %d requests", n)
	}
	if d := w.p.Stats().Down; len(d) != 0 {
		t.Fatalf("a 400 is not an outage: %v", d)
	}
}

var badTopic = configs.NewSecret("bad/topic")

func TestNtfyHangAfterAcceptTimesOut(t *testing.T) {
	w := newNtfyWorld(t, ntfysim.Options{}, worldOpt{opts: Options{APITimeout: 200 * time.Millisecond, Retries: -1}}, "")
	w.ntfy.SetFault(ntfysim.Fault{AcceptHang: 1})
	start := time.Now()
	w.fire("group:routers")
	w.step()
	eventually(t, "the send failed", func() bool { return w.p.Stats().Counts["sends/ntfy/failed"] == 1 })
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("a hung ntfy held the page %s", d)
	}
	if len(w.pages()) != 1 {
		t.Fatal("the stand-in published it before hanging")
	}
}

// Two presses at once (the app retrying, a double tap): one acks, the
// other finds the link used.
func TestNtfyLinkActsOnceUnderConcurrentPresses(t *testing.T) {
	w := newNtfyWorld(t, ntfysim.Options{}, worldOpt{}, "")
	w.fire("group:routers")
	w.step()
	link := w.ackURL(t)
	codes := make(chan int, 8)
	for range 8 {
		go func() {
			req, _ := http.NewRequest(http.MethodPost, link, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				codes <- 0
				return
			}
			resp.Body.Close()
			codes <- resp.StatusCode
		}()
	}
	got := map[int]int{}
	for range 8 {
		got[<-codes]++
	}
	if got[http.StatusOK] != 1 || got[http.StatusGone] != 7 {
		t.Fatalf("answers %v: want one 200 and seven 410", got)
	}
}

// A viewer may read but never act, by link as by SMS.
func TestNtfyLinkOfAViewerActsNever(t *testing.T) {
	w := newNtfyWorld(t, ntfysim.Options{}, worldOpt{}, "")
	inc := w.fire("group:routers")
	w.step()
	link := w.ackURL(t)
	st := w.p.state()
	st.cfg.person("dave").Role = "viewer"
	if code, body := do(t, http.MethodPost, link); code != http.StatusForbidden || !strings.Contains(body, "viewer") {
		t.Fatalf("viewer: %d %q", code, body)
	}
	if got := w.incident(inc.ID); got.State == escalation.Acknowledged {
		t.Fatal("a viewer's link acked")
	}
}

// A valid link for an incident that is gone, or already resolved, or
// already acked by someone else, changes nothing and says so.
func TestNtfyLinkForAGoneResolvedOrTakenIncident(t *testing.T) {
	w := newNtfyWorld(t, ntfysim.Options{}, worldOpt{}, "")
	inc := w.fire("group:routers")
	w.step()
	link := w.ackURL(t)
	ctx := context.Background()
	gone, err := w.p.signLink(ctx, w.p.state(), linkAck, 999, "dave", "ntfy")
	if err != nil {
		t.Fatal(err)
	}
	if code, body := do(t, http.MethodPost, gone); code != http.StatusNotFound || !strings.Contains(body, "No such incident") {
		t.Fatalf("gone: %d %q", code, body)
	}
	if _, err := w.eng.Ack(ctx, inc.ID, "alice", "web"); err != nil {
		t.Fatal(err)
	}
	if code, body := do(t, http.MethodPost, link); code != http.StatusOK || !strings.Contains(body, "#1 was already acked by alice") {
		t.Fatalf("taken: %d %q", code, body)
	}
	if got := w.incident(inc.ID); got.AckedBy != "alice" {
		t.Fatalf("acked by %q", got.AckedBy)
	}
	again, _ := w.p.signLink(ctx, w.p.state(), linkAck, inc.ID, "dave", "ntfy")
	w.eng.Resolve(ctx, inc.ID, "alice", "web")
	if code, body := do(t, http.MethodPost, again); code != http.StatusOK || !strings.Contains(body, "#1 is already resolved") {
		t.Fatalf("resolved: %d %q", code, body)
	}
}
