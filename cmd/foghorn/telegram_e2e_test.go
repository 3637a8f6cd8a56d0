package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"foghorn/pager/telegramsim"
	"foghorn/pager/twiliosim"
)

// Issue 16, the Telegram bot, on the real binary with the example config
// (its default limits), the Twilio simulator and the Telegram stand-in.

// The example's people's Telegram user ids in these tests.
var tgChats = map[string]int64{"+4915112345671": 7001, "+4915112345672": 7002, "+14155550123": 7003}

const tgStranger = 7999

// withTelegram is an edit for newExample: [telegram] on the stand-in at
// api in mode, a chat id for each person, and the first step's channels
// ["sms", "voice", "telegram"].
func withTelegram(t *testing.T, dir, api, mode string) func(string) string {
	return func(s string) string {
		t.Helper()
		writeFile(t, filepath.Join(dir, "telegram-token"), telegramsim.DefaultToken+"\n")
		rep := func(old, new string) {
			if !strings.Contains(s, old) {
				t.Fatalf("the example has no %q", old)
			}
			s = strings.Replace(s, old, new, 1)
		}
		rep("[[person]]\nname = \"bob\"", fmt.Sprintf("[person.telegram]\nchat_id = %d\n\n[[person]]\nname = \"bob\"", tgChats["+4915112345671"]))
		rep("[[person]]\nname = \"carol\"", fmt.Sprintf("[person.telegram]\nchat_id = %d\n\n[[person]]\nname = \"carol\"", tgChats["+4915112345672"]))
		rep("[[rotation]]\nname = \"ops\"", fmt.Sprintf("[person.telegram]\nchat_id = %d\n\n[[rotation]]\nname = \"ops\"", tgChats["+14155550123"]))
		rep(`  channels = ["sms", "voice"]  #`, `  channels = ["sms", "voice", "telegram"]  #`)
		return s + fmt.Sprintf("\n[telegram]\ntoken_file = %q\napi_base = %q\nmode = %q\n", filepath.Join(dir, "telegram-token"), api, mode)
	}
}

type tgSite struct {
	*exampleSite
	tg *telegramsim.Sim
	p  *proc
	r  *pagerRun
}

func runTelegram(t *testing.T, mode string) *tgSite {
	t.Helper()
	tg := telegramsim.New(telegramsim.Options{Chats: []int64{7001, 7002, 7003, tgStranger}})
	api, err := tg.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tg.Close() })
	dir := t.TempDir()
	x := newExample(t, quietWorld, withoutQuietHours, withTelegram(t, dir, api, mode))
	for phone := range tgChats {
		if err := x.sim.SetPhone(phone, twiliosim.Script{Call: "wait"}); err != nil { // rings until hung up
			t.Fatal(err)
		}
	}
	p := x.run(t)
	if mode == "webhook" {
		p.wait(t, 0, "Telegram webhook set", map[string]string{"url": x.base + "/telegram/webhook"})
	} else {
		p.wait(t, 0, "Telegram: polling for updates", nil)
	}
	return &tgSite{exampleSite: x, tg: tg, p: p, r: &pagerRun{proc: p, base: x.base, sim: x.simURL}}
}

// page raises a critical alert and waits for its Telegram message to the
// person on call, while the call to them still rings.
func (s *tgSite) page(t *testing.T, summary string) (phone string, chat int64, msg telegramsim.Message, call twiliosim.Call) {
	t.Helper()
	s.alert(t, "firing", "fp-"+summary, "critical", summary)
	until(t, 30*time.Second, "the SMS page", func() bool {
		if ms := s.sms(summary); len(ms) > 0 {
			phone = ms[0].To
		}
		return phone != ""
	})
	chat = tgChats[phone]
	until(t, 30*time.Second, "the Telegram page to "+phone, func() bool {
		for _, m := range s.tg.Messages(chat) {
			if strings.Contains(m.Text, summary) {
				msg = m
				return true
			}
		}
		return false
	})
	for _, c := range s.callsTo(phone) {
		if strings.Contains(c.Twiml+strings.Join(c.Said, " "), summary) || c.Ended.IsZero() {
			call = c
		}
	}
	if call.SID == "" || !call.Ended.IsZero() {
		t.Fatalf("no call to %s still ringing when the Telegram page came: %+v", phone, s.callsTo(phone))
	}
	return phone, chat, msg, call
}

func (s *tgSite) answer(t *testing.T, d telegramsim.Delivery, err error) string {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	var a telegramsim.Answer
	until(t, 10*time.Second, "the bot's answer to the press", func() bool {
		var ok bool
		a, ok = s.tg.Answer(d.QueryID)
		return ok
	})
	return a.Text
}

// TestTelegramAckStopsTwilioCallWithinASecond: the page comes with
// buttons; pressing Ack acks, the Twilio call still ringing is hung up
// within a second, and the message is edited (buttons gone). Both ways
// presses reach foghorn: webhook and long polling.
func TestTelegramAckStopsTwilioCallWithinASecond(t *testing.T) {
	for _, mode := range []string{"webhook", "poll"} {
		t.Run(mode, func(t *testing.T) {
			s := runTelegram(t, mode)
			_, chat, msg, call := s.page(t, "database primary down")
			if len(msg.Buttons) != 1 || len(msg.Buttons[0]) != 3 || !strings.HasPrefix(msg.Buttons[0][0].Text, "Ack #") {
				t.Fatalf("buttons: %+v", msg.Buttons)
			}
			pressed := time.Now()
			d, err := s.tg.Press(chat, chat, msg.ID, "Ack")
			var hungUp time.Duration
			until(t, 5*time.Second, "the ringing call hung up", func() bool {
				for _, c := range s.sim.Calls() {
					if c.SID == call.SID && !c.Ended.IsZero() {
						hungUp = c.Ended.Sub(pressed) // the simulator's own record of the hang-up
						return true
					}
				}
				return false
			})
			t.Logf("%s: Ack pressed -> Twilio call %s hung up in %s", mode, call.SID, hungUp.Round(time.Millisecond))
			if hungUp > time.Second {
				t.Errorf("the call was hung up %s after the press; want < 1s", hungUp)
			}
			if got := s.answer(t, d, err); !strings.Contains(got, "acked, paging stopped") {
				t.Errorf("answer: %q", got)
			}
			incs := s.r.incidents(t)
			if len(incs) != 1 || incs[0].State != "acknowledged" {
				t.Fatalf("incidents: %+v", incs)
			}
			until(t, 5*time.Second, "the page edited: ACKED, no buttons", func() bool {
				for _, m := range s.tg.Messages(chat) {
					if m.ID == msg.ID {
						return m.Buttons == nil && strings.Contains(m.Text, "ACKED by "+incs[0].AckedBy)
					}
				}
				return false
			})
		})
	}
}

// TestTelegramOnlyThePersonsChatActs: a forged webhook (no secret, a
// wrong one) is 403; a press from another person, a stranger, or the
// person's id from another chat acts on nothing; a replayed update is
// harmless; Escalate and Snooze work.
func TestTelegramOnlyThePersonsChatActs(t *testing.T) {
	s := runTelegram(t, "webhook")
	phone, chat, msg, _ := s.page(t, "storage heal stuck")
	_, secret := s.tg.Webhook()
	body, _ := json.Marshal(map[string]any{"update_id": 1, "callback_query": map[string]any{
		"id": "forged", "from": map[string]any{"id": chat}, "data": msg.Buttons[0][0].CallbackData,
		"message": map[string]any{"message_id": msg.ID, "chat": map[string]any{"id": chat, "type": "private"}}}})
	for name, h := range map[string]string{"no secret": "", "wrong secret": strings.Repeat("a", len(secret))} {
		if code, err := s.tg.PostWebhook(body, h); err != nil || code != http.StatusForbidden {
			t.Errorf("%s: %d %v, want 403", name, code, err)
		}
	}
	other := int64(7001)
	if other == chat {
		other = 7002
	}
	for name, pr := range map[string][2]int64{
		"another person's user": {chat, other}, "a stranger": {chat, tgStranger},
		"the person's id from another chat": {other, chat}, "a stranger's own chat": {tgStranger, tgStranger},
	} {
		d, err := s.tg.PressData(pr[0], pr[1], msg.ID, msg.Text, msg.Buttons[0][0].CallbackData)
		if got := s.answer(t, d, err); got != "Not allowed: this button is not yours." {
			t.Errorf("%s: answered %q", name, got)
		}
	}
	if incs := s.r.incidents(t); len(incs) != 1 || incs[0].State != "triggered" {
		t.Fatalf("a forgery or a stranger changed the incident: %+v", incs)
	}
	s.p.wait(t, 0, "Telegram webhook refused: missing or wrong X-Telegram-Bot-Api-Secret-Token (not from Telegram, or the webhook was set by someone else)", nil)

	// Escalate, then the same update again: one escalation.
	d, err := s.tg.Press(chat, chat, msg.ID, "Escalate")
	if got := s.answer(t, d, err); !strings.Contains(got, "escalated") && !strings.Contains(got, "already past") {
		t.Fatalf("escalate: %q", got)
	}
	s.p.wait(t, 0, "Telegram button", map[string]string{"verb": "esc"})
	if r, err := s.tg.Replay(d.UpdateID); err != nil || r.Status != http.StatusOK {
		t.Fatalf("replay: %v %d", err, r.Status)
	}
	s.p.wait(t, 0, "Telegram update ignored: already taken (a replay)", nil)
	escalations := 0
	for _, e := range s.r.incidents(t)[0].Timeline {
		if e.Kind == "incident.escalate" {
			escalations++
		}
	}
	if escalations != 1 {
		t.Errorf("%d escalations after a press and its replay; want 1", escalations)
	}

	// Snooze: paging held, the page says so.
	d, err = s.tg.Press(chat, chat, msg.ID, "Snooze")
	if got := s.answer(t, d, err); !strings.Contains(got, "snoozed for 30m") {
		t.Fatalf("snooze: %q", got)
	}
	until(t, 5*time.Second, "the page edited: SNOOZED", func() bool {
		for _, m := range s.tg.Messages(chat) {
			if m.ID == msg.ID {
				return m.Buttons == nil && strings.Contains(m.Text, "SNOOZED by")
			}
		}
		return false
	})
	if incs := s.r.incidents(t); incs[0].State != "acknowledged" {
		t.Fatalf("after snooze: %+v (phone %s)", incs[0], phone)
	}
}

// TestTelegramCheckConfigRefusesAStepThatCannotReach: `foghorn
// check-config` on the example with a Telegram step refuses a person on
// the rotation without a chat id, two people sharing one, and webhook
// mode without [server] public_url, each with its fix, and never prints the token.
func TestTelegramCheckConfigRefusesAStepThatCannotReach(t *testing.T) {
	dir := t.TempDir()
	x := newExample(t, withTelegram(t, dir, "https://api.telegram.org", "webhook"), func(s string) string {
		s = strings.Replace(s, "[person.telegram]\nchat_id = 7003\n", "", 1)       // carol has none
		s = strings.Replace(s, "chat_id = 7002", "chat_id = 7001", 1)              // bob has alice's
		return regexp.MustCompile(`(?m)^public_url = .*$`).ReplaceAllString(s, "") // no public URL
	})
	out, err := exec.Command(bin, "check-config", x.path).CombinedOutput()
	if exitCode(err) == 0 {
		t.Fatalf("accepted:\n%s", out)
	}
	for _, want := range []string{
		`"carol" has no Telegram chat id for the "telegram" channel; fix: add [person.telegram] chat_id = 123456789`,
		`person "bob" telegram chat_id: 7001 is also "alice"'s chat id`,
		`telegram mode: webhook needs [server] public_url`,
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
	if strings.Contains(string(out), strings.SplitN(telegramsim.DefaultToken, ":", 2)[1]) {
		t.Error("check-config printed the bot token")
	}
}
