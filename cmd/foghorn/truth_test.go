package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/notify/webhook"
	"github.com/prometheus/alertmanager/template"

	"foghorn/pager/twiliosim"
)

// Delivery truth across restarts and kills: what foghorn knows of a page
// (delivered, sent, heard from, acked) is in the store before anyone is
// told so, and a restart neither forgets it nor acts on it twice.

// kill9 SIGKILLs foghorn and waits for it to be gone, lock released.
func (p *proc) kill9(t *testing.T) {
	t.Helper()
	p.cmd.Process.Kill()
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Fatal("foghorn did not die on SIGKILL")
	}
}

// truthToken is the example's Twilio auth token: the webhook signing key.
func (x *exampleSite) truthToken(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(x.dir, "twilio-token.example"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// truthPost posts a Twilio webhook to foghorn, signed as Twilio signs it.
func (x *exampleSite) truthPost(t *testing.T, fullURL string, form url.Values) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("POST", fullURL, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Twilio-Signature", twiliosim.Sign(x.truthToken(t), fullURL, form))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

type truthIncident struct {
	ID       int64  `json:"id"`
	Short    int    `json:"short"`
	State    string `json:"state"`
	Summary  string `json:"summary"`
	AckedBy  string `json:"acked_by"`
	Timeline []struct {
		Kind   string `json:"kind"`
		Detail string `json:"detail"`
	} `json:"timeline"`
}

func (x *exampleSite) truthIncidents(t *testing.T) []truthIncident {
	t.Helper()
	req, _ := http.NewRequest("GET", x.base+"/api/v1/incidents", nil)
	req.Header.Set("Authorization", "Bearer "+e2eToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out []truthIncident
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("GET /api/v1/incidents: %v", err)
	}
	return out
}

// truthBatch posts n firing critical alerts in one Alertmanager webhook,
// as a large alert group arrives; summaries are prefix-NNNN. so each page
// and call can be told apart in the simulator's record.
func (x *exampleSite) truthBatch(t *testing.T, prefix string, n int) {
	t.Helper()
	if err := x.postBatch(prefix, n); err != nil {
		t.Fatal(err)
	}
}

func (x *exampleSite) postBatch(prefix string, n int) error {
	var alerts template.Alerts
	for i := range n {
		fp := fmt.Sprintf("%s%04d", prefix, i)
		alerts = append(alerts, template.Alert{Status: "firing", Fingerprint: fp, StartsAt: time.Now(),
			Labels:      template.KV{"alertname": "Batch", "instance": fp, "severity": "critical"},
			Annotations: template.KV{"summary": fmt.Sprintf("%s-%04d.", prefix, i)}})
	}
	m := webhook.Message{Version: "4", GroupKey: "{}:{alertname=\"Batch\"}",
		Data: &template.Data{Receiver: "foghorn", Status: "firing", Alerts: alerts}}
	b, _ := json.Marshal(m)
	req, _ := http.NewRequest("POST", x.base+"/api/v1/alertmanager", bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+e2eToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("alertmanager intake: %s", resp.Status)
	}
	return nil
}

// TestLateCallbackAfterRestartNeverDowngrades: a page's SMS is delivered;
// foghorn is killed and restarted; then Twilio's late "failed" callback
// for that same message arrives. The outcome stays delivered (the late
// word is in the timeline only) and nobody is paged again for it.
func TestLateCallbackAfterRestartNeverDowngrades(t *testing.T) {
	x := newExample(t)
	p := x.run(t)
	x.truthBatch(t, "late", 1)
	var cb twiliosim.Event // the page's "delivered" callback, as the simulator sent it
	until(t, 30*time.Second, "the page's delivered callback in the simulator's log", func() bool {
		for _, e := range x.sim.Events() {
			if e.Kind == twiliosim.KindStatus && e.Status/100 == 2 && e.Params.Get("MessageStatus") == "delivered" {
				cb = e
				return true
			}
		}
		return false
	})
	smsRow := func() string {
		for _, inc := range x.truthIncidents(t) {
			for _, e := range inc.Timeline {
				if e.Kind == "page" && strings.Contains(e.Detail, "step 1: sms to") {
					return e.Detail
				}
			}
		}
		return ""
	}
	// "step 1: sms to carol: delivered — sms delivered"
	until(t, 10*time.Second, "the SMS page recorded as delivered", func() bool { return strings.Contains(smsRow(), ": delivered") })

	p.kill9(t)
	x.run(t)
	late := url.Values{}
	for k, vs := range cb.Params {
		late[k] = vs
	}
	late.Set("MessageStatus", "failed")
	late.Set("SmsStatus", "failed")
	late.Set("ErrorCode", "30008")
	for i := range 2 { // late, then a duplicate of the late one
		if resp := x.truthPost(t, cb.URL, late); resp.StatusCode != http.StatusNoContent {
			t.Fatalf("late callback %d: %s", i, resp.Status)
		}
	}
	// The handler has recorded the report (and any fallback) before it
	// answered: the store says what became of it.
	incs := x.truthIncidents(t)
	if len(incs) != 1 {
		t.Fatalf("open incidents: %d, want 1", len(incs))
	}
	var smsState string
	lateNoted := false
	for _, e := range incs[0].Timeline {
		switch {
		case e.Kind == "page" && strings.Contains(e.Detail, "step 1: sms to"):
			smsState = e.Detail
		case e.Kind == "page.fallback":
			t.Errorf("a late callback after a delivery paged again: %s", e.Detail)
		case e.Kind == "delivery.late":
			lateNoted = true
		}
	}
	if !strings.Contains(smsState, ": delivered") {
		t.Errorf("the SMS page after a late 'failed' callback: %q, want delivered", smsState)
	}
	if !lateNoted {
		t.Errorf("the late callback is not in the timeline: %+v", incs[0].Timeline)
	}
}

// TestRestartResendsOnlyWhatTwilioNeverGot: foghorn is SIGKILLed while a
// large Alertmanager batch is being paged. After the restart every
// incident has its page exactly once in the simulator's own record: what
// never left is sent, what Twilio already had is looked up in its lists
// and not sent again.
func TestRestartResendsOnlyWhatTwilioNeverGot(t *testing.T) {
	const n = 500
	x := newExample(t, func(s string) string {
		// The point is the kill, not the limits: one person gets the
		// whole batch, which the per-person limits would rightly hold.
		for old, new := range map[string]string{
			"sms_per_15m = 5 ":   "sms_per_15m = 5000 ",
			"calls_per_15m = 3 ": "calls_per_15m = 5000 ",
			"max_per_hour = 20 ": "max_per_hour = 50000 ",
		} {
			if !strings.Contains(s, old) {
				t.Fatalf("example.toml no longer has %q", old)
			}
			s = strings.Replace(s, old, new, 1)
		}
		return s
	})
	p := x.run(t)
	// The intake answers once every alert is recorded, by when most pages
	// have gone: the kill is aimed while it is still taking them.
	go x.postBatch("batch", n)
	pages := func() int { return len(x.sms("] #")) }
	for deadline := time.Now().Add(60 * time.Second); pages() < 40; time.Sleep(2 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the batch's first pages did not come")
		}
	}
	p.kill9(t)
	atKill := pages()
	t.Logf("killed with %d of %d pages at the simulator", atKill, n)
	if atKill >= n {
		t.Fatalf("the kill came after the whole batch (%d pages); make the batch larger", atKill)
	}

	// The restart first looks up at Twilio what the kill interrupted and
	// resends the rest, under a storm: its start may take a while.
	p = x.runWithin(t, 90*time.Second)
	// Alertmanager resends a batch whose webhook failed (the kill cut it
	// short); alerts already recorded only update their incidents.
	x.truthBatch(t, "batch", n)
	t.Cleanup(func() {
		if t.Failed() {
			p.mu.Lock()
			for _, l := range p.raw {
				if strings.Contains(l, `"level":"WARN"`) || strings.Contains(l, `"level":"ERROR"`) || strings.Contains(l, "resend") || strings.Contains(l, "looked up") {
					t.Log(l)
				}
			}
			p.mu.Unlock()
		}
	})
	batch := regexp.MustCompile(`batch-(\d{4})\.`)
	count := func() (sms map[string]int, calls map[string]int) {
		sms, calls = map[string]int{}, map[string]int{}
		for _, m := range x.sim.Messages() {
			if m.Direction == "inbound" || !strings.Contains(m.Body, "] #") {
				continue // replies and notices
			}
			if k := batch.FindStringSubmatch(m.Body); k != nil {
				sms[k[1]]++
			}
		}
		for _, c := range x.sim.Calls() {
			if k := batch.FindStringSubmatch(c.Twiml); k != nil {
				calls[k[1]]++
			}
		}
		return sms, calls
	}
	// Settled: every incident paged, and no notification still in flight.
	var incs []truthIncident
	until(t, 3*time.Minute, "every incident's page sent and marked", func() bool {
		sms, _ := count()
		incs = incs[:0]
		for _, inc := range x.truthIncidents(t) {
			if batch.MatchString(inc.Summary) { // not the example's own BMCs and switch, down on loopback
				incs = append(incs, inc)
			}
		}
		claimed := 0
		for _, inc := range incs {
			for _, e := range inc.Timeline {
				if e.Kind == "page" && strings.Contains(e.Detail, ": claimed") {
					claimed++
				}
			}
		}
		return len(sms) == n && len(incs) == n && claimed == 0
	})
	sms, calls := count()
	dup := 0
	for k, c := range sms {
		if c != 1 {
			dup++
			t.Errorf("incident batch-%s: %d SMS pages at the simulator, want 1", k, c)
		}
	}
	voice := 0
	for _, inc := range incs {
		m := batch.FindStringSubmatch(inc.Summary)
		want := 0
		for _, e := range inc.Timeline {
			if e.Kind == "page" && strings.Contains(e.Detail, ": voice to ") {
				want = 1
			}
		}
		voice += want
		if got := calls[m[1]]; got != want {
			t.Errorf("incident #%d (%s): %d calls at the simulator, want %d", inc.Short, m[1], got, want)
		}
	}
	looked, had := 0, 0
	p.mu.Lock()
	for _, l := range p.lines {
		if l != nil && l["msg"] == "interrupted notification looked up at the provider" {
			looked++
			if l["sent"] == true {
				had++
			}
		}
	}
	p.mu.Unlock()
	t.Logf("%d incidents: %d SMS pages, %d calls; %d incidents with a duplicate SMS; after the restart %d looked up at Twilio, %d of them found there",
		n, len(sms), voice, dup, looked, had)
}

// TestHeartbeatPushSurvivesKill: a push answered 204 is on disk: foghorn
// killed right after it (long before the probe memory's once-a-minute
// checkpoint) judges backup-job by that push after the restart, not by an
// older one — which, for a daily job, pages two hours after a push that
// did come.
func TestHeartbeatPushSurvivesKill(t *testing.T) {
	// The example's backup-job, judged every 5 s instead of daily, so the
	// first judgement after the restart comes within the test.
	x := newExample(t, func(s string) string {
		const daily = "interval = \"24h\"        # expected every day...\ntimeout = \"10s\""
		if !strings.Contains(s, daily) {
			t.Fatalf("example.toml no longer has %q", daily)
		}
		return strings.Replace(s, daily, "interval = \"5s\"\ntimeout = \"2s\"", 1)
	})
	token, err := os.ReadFile(filepath.Join(x.dir, "heartbeat-token.example"))
	if err != nil {
		t.Fatal(err)
	}
	debug := func() *proc {
		p := startEnv(t, []string{"FOGHORN_API_TOKEN=" + e2eToken}, "run", "-config", x.path, "-log-format", "json", "-log-level", "debug")
		p.wait(t, 0, "foghorn running", nil)
		return p
	}
	p := debug()
	p.waitWithin(t, 20*time.Second, 0, "probe", map[string]string{"target": "backup-job"})
	pushed := time.Now()
	resp, err := http.Post(x.base+"/heartbeat/backup-job/"+strings.TrimSpace(string(token)), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("heartbeat push: %s", resp.Status)
	}
	p.kill9(t)

	p = debug()
	line, _ := p.waitWithin(t, 20*time.Second, 0, "probe", map[string]string{"target": "backup-job"})
	detail := fmt.Sprint(line["detail"])
	at := []string{pushed.Format(time.TimeOnly), pushed.Add(time.Second).Format(time.TimeOnly)}
	if !strings.EqualFold(fmt.Sprint(line["status"]), "ok") || !strings.Contains(detail, "last heartbeat") || (!strings.Contains(detail, at[0]) && !strings.Contains(detail, at[1])) {
		t.Fatalf("backup-job after a kill right after its push (at %s): %v %q", at[0], line["status"], detail)
	}
}

// TestReplayedSMSDoesNotAckLaterIncident: alice acks #1 by SMS; an
// attacker (or a confused proxy) replays that exact signed webhook — same
// MessageSid — after a restart, while #2 is paging. #2 stays unacked.
func TestReplayedSMSDoesNotAckLaterIncident(t *testing.T) {
	x := newExample(t)
	p := x.run(t)
	x.truthBatch(t, "first", 1)
	until(t, 30*time.Second, "the first page", func() bool { return len(x.sms("first-0000.")) > 0 })
	to := x.sms("first-0000.")[0].To
	if _, err := x.sim.ReplySMS(to, "ACK"); err != nil {
		t.Fatal(err)
	}
	var ack twiliosim.Event
	for _, e := range x.sim.Events() {
		if e.Kind == twiliosim.KindSMS && e.Params.Get("Body") == "ACK" {
			ack = e
		}
	}
	if ack.URL == "" {
		t.Fatal("the ACK webhook is not in the simulator's log")
	}
	until(t, 10*time.Second, "#1 acked", func() bool {
		incs := x.truthIncidents(t)
		return len(incs) == 1 && incs[0].State == "acknowledged"
	})

	p.kill9(t)
	p = x.run(t)
	x.truthBatch(t, "second", 1)
	until(t, 30*time.Second, "the second page", func() bool { return len(x.sms("second-0000.")) > 0 })
	if resp := x.truthPost(t, ack.URL, ack.Params); resp.StatusCode != http.StatusOK {
		t.Fatalf("replayed SMS webhook: %s", resp.Status)
	}
	// The webhook acts before it answers: the store already says.
	for _, inc := range x.truthIncidents(t) {
		if strings.Contains(inc.Summary, "second") && inc.State != "triggered" {
			t.Fatalf("a replayed ACK (MessageSid %s) acted on the later incident: %s by %s", ack.Params.Get("MessageSid"), inc.State, inc.AckedBy)
		}
	}
	p.wait(t, 0, "inbound SMS ignored: this MessageSid was already taken (a replayed webhook)", map[string]string{"sid": ack.Params.Get("MessageSid")})
}
