package pager

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"foghorn/configs"
	"foghorn/escalation"
	"foghorn/pager/telegramsim"
	"foghorn/store"
)

const (
	daveChat     = 1001
	erinChat     = 1002
	strangerChat = 4242
)

// tgWorld is the world with a Telegram bot on the stand-in: dave and
// erin have chats; the policy pages both on "telegram" only.
type tgWorld struct {
	*world
	tg  *telegramsim.Sim
	pdb *store.DB // the pager's store (pushes, used_links, meta)
}

func newTelegramWorld(t *testing.T, mode string, log ...*slog.Logger) *tgWorld {
	t.Helper()
	tg := telegramsim.New(telegramsim.Options{Chats: []int64{daveChat, erinChat, strangerChat}})
	base, err := tg.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tg.Close() })
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "telegram-token")
	if err := os.WriteFile(tokenFile, []byte(telegramsim.DefaultToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	pdb, err := store.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pdb.Close() })
	policy := fmt.Sprintf(`
[telegram]
token_file = %q
api_base = %q
mode = %q

[[person]]
name = "dave"
phone = "+15550100004"
[person.telegram]
chat_id = %d

[[person]]
name = "erin"
phone = "+15550100005"
timezone = "Europe/Berlin"
[person.telegram]
chat_id = %d

[[policy]]
name = "ops"
  [[policy.step]]
  who = ["dave", "erin"]
  channels = ["telegram"]
  fallback = ["sms"]
  repeat = 1
  interval = "10m"
  [[policy.step]]
  who = ["alice"]
  channels = ["sms"]
  delay = "5m"
  until_ack = true
  interval = "10m"
`, tokenFile, base, mode, daveChat, erinChat)
	wo := worldOpt{opts: Options{Store: pdb}}
	if len(log) > 0 {
		wo.opts.Log = log[0]
	}
	w := newWorld(t, policy, wo)
	c := testConfig(w.cfg)
	c.Telegram = w.cfg.Telegram // as cmd's pagerConfig does
	if err := w.p.SetConfig(c); err != nil {
		t.Fatal(err)
	}
	x := &tgWorld{world: w, tg: tg, pdb: pdb}
	if mode == "webhook" {
		eventually(t, "setWebhook", func() bool { u, s := tg.Webhook(); return u == w.url+TelegramPath && s != "" })
	} else {
		eventually(t, "the first getUpdates", func() bool { return strings.Contains(strings.Join(tg.Calls(), " "), "getUpdates") })
	}
	return x
}

// page fires an incident and waits for dave's message with its buttons.
func (x *tgWorld) page(t *testing.T) (*escalation.Incident, telegramsim.Message) {
	t.Helper()
	inc := x.fire("group:routers")
	x.step()
	var m telegramsim.Message
	eventually(t, "dave's page in Telegram", func() bool {
		ms := x.tg.Messages(daveChat)
		if len(ms) > 0 {
			m = ms[0]
		}
		return len(ms) > 0 && len(x.tg.Messages(erinChat)) > 0
	})
	return inc, m
}

// answer waits for the bot's answer to a press.
func (x *tgWorld) answer(t *testing.T, d telegramsim.Delivery, err error) string {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	var a telegramsim.Answer
	eventually(t, "answerCallbackQuery for "+d.QueryID, func() bool {
		var ok bool
		a, ok = x.tg.Answer(d.QueryID)
		return ok
	})
	return a.Text
}

func TestTelegramPageHasButtonsAndAckEditsEveryPage(t *testing.T) {
	for _, mode := range []string{"webhook", "poll"} {
		t.Run(mode, func(t *testing.T) {
			x := newTelegramWorld(t, mode)
			inc, m := x.page(t)
			if !strings.Contains(m.Text, fmt.Sprintf("#%d router pair DOWN", inc.Short)) || !strings.Contains(m.Text, "[CRIT]") {
				t.Errorf("page text: %q", m.Text)
			}
			var labels []string
			for _, b := range m.Buttons[0] {
				labels = append(labels, b.Text+"="+b.CallbackData)
			}
			want := fmt.Sprintf("Ack #%d=ack:%d Escalate=esc:%d Snooze 30m=snz:%d", inc.Short, inc.ID, inc.ID, inc.ID)
			if got := strings.Join(labels, " "); got != want {
				t.Errorf("buttons %q, want %q", got, want)
			}
			d, err := x.tg.Press(daveChat, daveChat, m.ID, "Ack")
			if mode == "webhook" && d.Status != http.StatusOK {
				t.Errorf("webhook answered %d", d.Status)
			}
			if got := x.answer(t, d, err); !strings.Contains(got, "acked, paging stopped") {
				t.Errorf("answer %q", got)
			}
			if got := x.incident(inc.ID); got.State != escalation.Acknowledged || got.AckedBy != "dave" {
				t.Fatalf("incident after the press: %s by %q", got.State, got.AckedBy)
			}
			for _, chat := range []int64{daveChat, erinChat} {
				eventually(t, "the page edited in every chat", func() bool {
					ms := x.tg.Messages(chat)
					return len(ms) == 1 && ms[0].Buttons == nil && strings.HasPrefix(ms[0].Text, fmt.Sprintf("✔️ #%d ACKED by dave ", inc.Short))
				})
			}
			// Resolved later: edited again.
			if _, err := x.eng.Resolve(context.Background(), inc.ID, "dave", "web"); err != nil {
				t.Fatal(err)
			}
			eventually(t, "the page says RESOLVED", func() bool {
				ms := x.tg.Messages(erinChat)
				return strings.HasPrefix(ms[0].Text, fmt.Sprintf("✅ #%d RESOLVED by dave", inc.Short)) && strings.Contains(ms[0].Text, "router pair DOWN")
			})
			if mode == "poll" {
				var off string
				x.pdb.QueryRow(`SELECT value FROM meta WHERE key = 'telegram_offset'`).Scan(&off)
				if off != fmt.Sprint(d.UpdateID+1) {
					t.Errorf("stored offset %q, want %d (the next update after the press)", off, d.UpdateID+1)
				}
			}
		})
	}
}

// TestTelegramOnlyThePersonInTheirChatActs: another configured person, a
// stranger, the right user in the wrong chat, and forged button data on
// the person's own message are all answered "not allowed" and act on
// nothing.
func TestTelegramOnlyThePersonInTheirChatActs(t *testing.T) {
	for _, mode := range []string{"webhook", "poll"} {
		t.Run(mode, func(t *testing.T) {
			x := newTelegramWorld(t, mode)
			inc, m := x.page(t)
			other := x.fire("target:nas") // not paged yet: dave was not paged for it
			presses := []struct {
				name       string
				chat, from int64
				data       string
			}{
				{"erin presses dave's button", daveChat, erinChat, ""},
				{"a stranger in their own chat", strangerChat, strangerChat, ""},
				{"a stranger in dave's chat", daveChat, strangerChat, ""},
				{"dave's user id from erin's chat", erinChat, daveChat, ""},
				{"dave from a group chat", -100200300, daveChat, ""},
				{"forged data: an incident dave was not paged for", daveChat, daveChat, fmt.Sprintf("ack:%d", other.ID)},
				{"forged data: no such incident", daveChat, daveChat, "ack:987654"},
				{"forged data: unknown verb", daveChat, daveChat, fmt.Sprintf("resolve:%d", inc.ID)},
				{"forged data: garbage", daveChat, daveChat, "ack:1e9;DROP"},
			}
			for _, pr := range presses {
				data := pr.data
				if data == "" {
					data = m.Buttons[0][0].CallbackData
				}
				d, err := x.tg.PressData(pr.chat, pr.from, m.ID, m.Text, data)
				if got := x.answer(t, d, err); got != "Not allowed: this button is not yours." {
					t.Errorf("%s: answered %q", pr.name, got)
				}
			}
			for _, id := range []int64{inc.ID, other.ID} {
				if got := x.incident(id); got.State != escalation.Triggered {
					t.Fatalf("incident %d changed: %s by %q", id, got.State, got.AckedBy)
				}
			}
			if n := x.p.Stats().Counts["telegram/not_allowed"]; n != float64(len(presses)) {
				t.Errorf("not_allowed counted %v, want %d", n, len(presses))
			}
		})
	}
}

// TestTelegramForgedWebhookIsRefused: an update without the secret
// token, or with another, is 403 and acts on nothing.
func TestTelegramForgedWebhookIsRefused(t *testing.T) {
	x := newTelegramWorld(t, "webhook")
	inc, m := x.page(t)
	_, secret := x.tg.Webhook()
	body, _ := json.Marshal(map[string]any{"update_id": 77, "callback_query": map[string]any{
		"id": "forged", "from": map[string]any{"id": daveChat}, "data": m.Buttons[0][0].CallbackData,
		"message": map[string]any{"message_id": m.ID, "chat": map[string]any{"id": daveChat, "type": "private"}}}})
	for name, s := range map[string]string{"no header": "", "wrong secret": "x" + secret[1:], "short": secret[:10]} {
		code, err := x.tg.PostWebhook(body, s)
		if err != nil || code != http.StatusForbidden {
			t.Errorf("%s: %d %v, want 403", name, code, err)
		}
	}
	if got := x.incident(inc.ID); got.State != escalation.Triggered {
		t.Fatalf("a forgery acked: %s", got.State)
	}
	if n := x.p.Stats().Counts["telegram/forbidden"]; n != 3 {
		t.Errorf("forbidden counted %v, want 3", n)
	}
	// With the secret (Telegram itself) the same body acts.
	if code, _ := x.tg.PostWebhook(body, secret); code != http.StatusOK {
		t.Fatalf("with the secret: %d", code)
	}
	if got := x.incident(inc.ID); got.State != escalation.Acknowledged {
		t.Fatalf("Telegram's own update did not ack: %s", got.State)
	}
}

// TestTelegramReplayedUpdateIsHarmless: the same update delivered again
// (a webhook retried, a recording) escalates once, not twice.
func TestTelegramReplayedUpdateIsHarmless(t *testing.T) {
	x := newTelegramWorld(t, "webhook")
	inc, m := x.page(t)
	d, err := x.tg.Press(daveChat, daveChat, m.ID, "Escalate")
	if got := x.answer(t, d, err); !strings.Contains(got, "escalated: paging step 2") {
		t.Fatalf("answer %q", got)
	}
	step := x.incident(inc.ID).Step
	for range 3 {
		r, err := x.tg.Replay(d.UpdateID)
		if err != nil || r.Status != http.StatusOK {
			t.Fatalf("replay: %v %d (Telegram would retry anything but 200)", err, r.Status)
		}
	}
	if got := x.incident(inc.ID).Step; got != step {
		t.Fatalf("replays moved the incident from step %d to %d", step, got)
	}
	if n := x.p.Stats().Counts["telegram/replayed"]; n != 3 {
		t.Errorf("replayed counted %v, want 3", n)
	}
}

// TestTelegramEscalateAndSnooze: Escalate pages the next step; Snooze
// holds paging 30 minutes and says so on the page.
func TestTelegramEscalateAndSnooze(t *testing.T) {
	x := newTelegramWorld(t, "poll")
	inc, m := x.page(t)
	d, err := x.tg.Press(daveChat, daveChat, m.ID, "Escalate")
	if got := x.answer(t, d, err); !strings.Contains(got, "escalated") {
		t.Fatalf("answer %q", got)
	}
	x.step()
	eventually(t, "alice (step 2) paged by SMS", func() bool { return len(x.messagesTo(alicePh)) > 0 })
	d, err = x.tg.Press(erinChat, erinChat, x.tg.Messages(erinChat)[0].ID, "Snooze")
	if got := x.answer(t, d, err); !strings.Contains(got, "snoozed for 30m: paging resumes at 10:30") { // erin is in Berlin
		t.Fatalf("answer %q", got)
	}
	got := x.incident(inc.ID)
	if got.Snoozed.Sub(monday) != 30*time.Minute {
		t.Fatalf("snoozed until %s", got.Snoozed)
	}
	eventually(t, "dave's page says SNOOZED", func() bool {
		ms := x.tg.Messages(daveChat)
		return ms[0].Buttons == nil && strings.HasPrefix(ms[0].Text, fmt.Sprintf("💤 #%d SNOOZED by erin until 09:30", inc.Short))
	})
}

// TestTelegramSendHungAfterAccept: Telegram took the message but never
// answered; the retry sends it again. The first message's buttons act
// too (foghorn never learnt its id, so it is not edited afterwards).
func TestTelegramSendHungAfterAccept(t *testing.T) {
	x := newTelegramWorld(t, "webhook")
	x.tg.SetFault(telegramsim.Fault{AcceptHang: true, Next: 1})
	inc := x.fire("group:routers")
	x.step()
	eventually(t, "two messages to dave or erin", func() bool { return len(x.tg.Messages(daveChat))+len(x.tg.Messages(erinChat)) == 3 })
	var first telegramsim.Message
	for _, chat := range []int64{daveChat, erinChat} {
		if ms := x.tg.Messages(chat); len(ms) == 2 {
			first = ms[0]
		}
	}
	d, err := x.tg.Press(first.Chat, first.Chat, first.ID, "Ack")
	if got := x.answer(t, d, err); !strings.Contains(got, "acked") {
		t.Fatalf("the unrecorded message's Ack: %q", got)
	}
	if got := x.incident(inc.ID); got.State != escalation.Acknowledged {
		t.Fatalf("not acked: %s", got.State)
	}
}

// TestTelegramAlreadyAcked: a press after someone else acked says who.
func TestTelegramAlreadyAcked(t *testing.T) {
	x := newTelegramWorld(t, "webhook")
	inc, m := x.page(t)
	if _, err := x.eng.Ack(context.Background(), inc.ID, "bob", "sms"); err != nil {
		t.Fatal(err)
	}
	d, err := x.tg.PressData(daveChat, daveChat, m.ID, m.Text, m.Buttons[0][0].CallbackData)
	if got := x.answer(t, d, err); got != fmt.Sprintf("#%d was already acked by bob at 09:00.", inc.Short) {
		t.Fatalf("answer %q", got)
	}
	if got := x.incident(inc.ID); got.AckedBy != "bob" {
		t.Fatalf("acked by %q", got.AckedBy)
	}
}

// TestTelegramAPIFailures: 500s and a short 429 are retried and the page
// goes out; a wrong token takes the vendor down at once; "chat not found"
// falls back to the step's fallback without retrying; a hung API times out.
func TestTelegramAPIFailures(t *testing.T) {
	t.Run("500 then ok", func(t *testing.T) {
		x := newTelegramWorld(t, "webhook")
		x.tg.SetFault(telegramsim.Fault{Status: 500, Next: 2})
		x.page(t)
		if x.p.Stats().Counts["retries/telegram"] < 1 {
			t.Error("no retry counted")
		}
	})
	t.Run("429 retry_after", func(t *testing.T) {
		x := newTelegramWorld(t, "webhook")
		x.tg.SetFault(telegramsim.Fault{Status: 429, Next: 1, RetryAfter: 1})
		start := time.Now()
		x.page(t)
		if time.Since(start) < time.Second {
			t.Error("did not wait out retry_after")
		}
	})
	t.Run("wrong token", func(t *testing.T) {
		x := newTelegramWorld(t, "webhook")
		c := testConfig(x.cfg)
		bad := *x.cfg.Telegram
		bad.Token = configs.NewSecret("999:wrongwrongwrongwrongwrongwrong")
		c.Telegram = &bad
		if err := x.p.SetConfig(c); err != nil {
			t.Fatal(err)
		}
		x.fire("group:routers")
		x.step()
		eventually(t, "Telegram down", func() bool { return strings.Contains(strings.Join(x.p.Stats().Down, " "), "telegram") })
		eventually(t, "dave's page falls back to SMS", func() bool { return len(x.messagesTo("+15550100004")) > 0 })
		eventually(t, "the outage announced by SMS", func() bool {
			const want = "foghorn cannot send through the Telegram bot"
			return anyContains(x.messagesTo(alicePh), want) && anyContains(x.messagesTo(bobPh), want)
		})
	})
	t.Run("chat not found", func(t *testing.T) {
		x := newTelegramWorld(t, "webhook")
		c := testConfig(x.cfg)
		c.Telegram = x.cfg.Telegram
		for i := range c.People {
			if c.People[i].Name == "dave" {
				tg := *c.People[i].Telegram
				tg.ChatID = 5555 // never sent /start
				c.People[i].Telegram = &tg
			}
		}
		if err := x.p.SetConfig(c); err != nil {
			t.Fatal(err)
		}
		x.fire("group:routers")
		x.step()
		eventually(t, "dave's page falls back to SMS", func() bool { return len(x.messagesTo("+15550100004")) > 0 })
		if n := x.p.Stats().Counts["retries/telegram"]; n != 0 {
			t.Errorf("chat not found was retried %v times", n)
		}
		if len(x.p.Stats().Down) != 0 {
			t.Errorf("one person's chat took the vendor down: %v", x.p.Stats().Down)
		}
	})
	t.Run("hang", func(t *testing.T) {
		x := newTelegramWorld(t, "webhook")
		x.tg.SetFault(telegramsim.Fault{Hang: true, Next: 1})
		x.page(t) // the first attempt times out (APITimeout 2s), the retry goes
	})
}

// TestTelegramPollRestartDoesNotReplay: a new pager on the same store
// (a restart) polls on from the stored offset: an update taken before is
// not acted on again, and the next press is.
func TestTelegramPollRestartDoesNotReplay(t *testing.T) {
	x := newTelegramWorld(t, "poll")
	inc, m := x.page(t)
	d, err := x.tg.Press(daveChat, daveChat, m.ID, "Escalate")
	if got := x.answer(t, d, err); !strings.Contains(got, "escalated") {
		t.Fatalf("answer %q", got)
	}
	step := x.incident(inc.ID).Step
	// The first pager stops polling; the second starts from the store.
	c := testConfig(x.cfg)
	if err := x.p.SetConfig(c); err != nil {
		t.Fatal(err)
	}
	c.Telegram = x.cfg.Telegram
	p2, err := New(c, x.eng, Options{Store: x.pdb, Clock: x.clk, APIBase: x.p.opts.APIBase, APITimeout: 2 * time.Second, Log: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer p2.Close()
	if _, err := x.tg.Replay(d.UpdateID); err != nil { // still queued at Telegram: never confirmed by a later offset
		t.Fatal(err)
	}
	d2, err := x.tg.Press(erinChat, erinChat, x.tg.Messages(erinChat)[0].ID, "Snooze")
	if got := x.answer(t, d2, err); !strings.Contains(got, "snoozed") {
		t.Fatalf("the press after the restart: %q", got)
	}
	if got := x.incident(inc.ID).Step; got != step {
		t.Fatalf("the restart replayed the escalation: step %d -> %d", step, got)
	}
}

// TestTelegramTokenNeverLogged: the bot token is in every API URL; no
// failure (a hang, the API gone, a refusal) puts it in the log.
func TestTelegramTokenNeverLogged(t *testing.T) {
	var buf syncBuffer
	x := newTelegramWorld(t, "poll", slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	x.tg.SetFault(telegramsim.Fault{Hang: true, Next: 1})
	x.page(t)
	x.tg.SetFault(telegramsim.Fault{Status: 401, Next: 1000})
	x.fire("target:nas")
	x.step()
	eventually(t, "a refused send logged", func() bool { return strings.Contains(buf.String(), "Telegram refuses the bot token") })
	x.tg.Close() // the API gone: the poller's getUpdates fails
	eventually(t, "the poller's failure logged", func() bool { return strings.Contains(buf.String(), "getUpdates failed") })
	secret := strings.SplitN(telegramsim.DefaultToken, ":", 2)[1]
	if strings.Contains(buf.String(), secret) {
		t.Fatalf("the log shows the bot token:\n%s", buf.String())
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestTelegramTextCommands: a configured person may write SMS commands to
// the bot; a stranger's text is ignored, and power stays with SMS.
func TestTelegramTextCommands(t *testing.T) {
	x := newTelegramWorld(t, "poll")
	inc, _ := x.page(t)
	if _, err := x.tg.SendText(strangerChat, "ACK"); err != nil {
		t.Fatal(err)
	}
	if _, err := x.tg.SendText(daveChat, "CYCLE pve1"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the reply to CYCLE", func() bool {
		ms := x.tg.Messages(daveChat)
		return len(ms) == 2 && strings.HasPrefix(ms[1].Text, "Power actions only by SMS")
	})
	if _, err := x.tg.SendText(daveChat, "ack"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the reply to ACK", func() bool {
		ms := x.tg.Messages(daveChat)
		return len(ms) == 3 && strings.HasPrefix(ms[2].Text, fmt.Sprintf("#%d acked, paging stopped", inc.Short))
	})
	if got := x.incident(inc.ID); got.AckedBy != "dave" {
		t.Fatalf("acked by %q", got.AckedBy)
	}
	var via string
	x.db.QueryRow(`SELECT detail FROM events WHERE kind = 'incident.ack' AND subject = ?`, fmt.Sprint(inc.ID)).Scan(&via)
	if via != "via telegram" {
		t.Errorf("the timeline says the ack came %q, want via telegram", via)
	}
	if len(x.tg.Messages(strangerChat)) != 0 || x.p.Stats().Counts["telegram/unknown_chat"] != 1 {
		t.Errorf("the stranger got %d replies; unknown_chat %v", len(x.tg.Messages(strangerChat)), x.p.Stats().Counts["telegram/unknown_chat"])
	}
}

// TestTelegramReloadSetsWebhookAgain: a reload that changes the secret
// token registers the webhook again with it, and the old secret is
// refused from then on.
func TestTelegramReloadSetsWebhookAgain(t *testing.T) {
	x := newTelegramWorld(t, "webhook")
	_, old := x.tg.Webhook()
	c := testConfig(x.cfg)
	tg := *x.cfg.Telegram
	tg.SecretToken = configs.NewSecret("a-new-secret-0123456789")
	c.Telegram = &tg
	if err := x.p.SetConfig(c); err != nil {
		t.Fatal(err)
	}
	eventually(t, "setWebhook with the new secret", func() bool { _, s := x.tg.Webhook(); return s == "a-new-secret-0123456789" })
	if code, _ := x.tg.PostWebhook([]byte(`{"update_id": 5}`), old); code != http.StatusForbidden {
		t.Errorf("the old secret: %d, want 403", code)
	}
	// A reload that changes nothing of the bot does not call setWebhook.
	n := strings.Count(strings.Join(x.tg.Calls(), " "), "setWebhook")
	if err := x.p.SetConfig(c); err != nil {
		t.Fatal(err)
	}
	inc, m := x.page(t)
	d, err := x.tg.Press(daveChat, daveChat, m.ID, "Ack")
	x.answer(t, d, err)
	if got := strings.Count(strings.Join(x.tg.Calls(), " "), "setWebhook"); got != n {
		t.Errorf("setWebhook called %d times after an unchanged reload, want %d", got, n)
	}
	if x.incident(inc.ID).State != escalation.Acknowledged {
		t.Error("the press after the reload did not ack")
	}
}

// TestTelegramPollerSurvivesErrors: getUpdates failing (500s, a 429) is
// retried with backoff; the next press still arrives.
func TestTelegramPollerSurvivesErrors(t *testing.T) {
	x := newTelegramWorld(t, "poll")
	inc, m := x.page(t)
	x.tg.SetFault(telegramsim.Fault{Status: 502, Next: 2, Method: "getUpdates"})
	// A press wakes the long poll in flight; the polls after it fail.
	d, err := x.tg.Press(erinChat, erinChat, x.tg.Messages(erinChat)[0].ID, "Escalate")
	x.answer(t, d, err)
	eventually(t, "the poller's errors counted", func() bool { return x.p.Stats().Counts["telegram/api_error"] >= 1 })
	d, err = x.tg.Press(daveChat, daveChat, m.ID, "Ack")
	x.answer(t, d, err)
	if x.incident(inc.ID).State != escalation.Acknowledged {
		t.Fatal("not acked")
	}
}

// TestTelegramPressWhileDownActsAfterStart: a press made while foghorn
// was down waits at Telegram; the pager takes it once its engine is set
// (cmd sets it after New), not before, when it would be lost.
func TestTelegramPressWhileDownActsAfterStart(t *testing.T) {
	x := newTelegramWorld(t, "poll")
	inc, m := x.page(t)
	c := testConfig(x.cfg)
	if err := x.p.SetConfig(c); err != nil { // "down": nobody polls
		t.Fatal(err)
	}
	d, err := x.tg.Press(daveChat, daveChat, m.ID, "Ack")
	if err != nil {
		t.Fatal(err)
	}
	c.Telegram = x.cfg.Telegram
	p2, err := New(c, nil, Options{Store: x.pdb, Clock: x.clk, APIBase: x.p.opts.APIBase, APITimeout: 2 * time.Second, Log: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer p2.Close()
	p2.SetEngine(x.eng)
	if got := x.answer(t, d, nil); !strings.Contains(got, "acked") {
		t.Fatalf("answer %q", got)
	}
	if x.incident(inc.ID).AckedBy != "dave" {
		t.Fatal("the press made while down did not ack")
	}
}
