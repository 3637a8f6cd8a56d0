package pager

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"foghorn/configs"
	"foghorn/escalation"
)

// The Telegram channel: a bot writes each page to the person's private
// chat with buttons under it (Ack #42, Escalate, Snooze 30m); a press comes
// back as a callback_query, by webhook (TelegramPath, with Telegram's
// secret-token header) or by long polling getUpdates when foghorn has no
// public URL. Only the configured person's own user, in their own chat,
// may press, and only on a page foghorn sent them (pushes). Once the
// incident is acked, snoozed or resolved, dismiss edits every message of
// it: the buttons go, a status line comes.
//
// The Bot API is a handful of JSON-over-HTTPS methods; net/http and
// encoding/json do it in less code than a client library would take to
// configure, and keep the request timeouts, the base URL (the stand-in)
// and the error bodies in our hands.

// TelegramPath is where Telegram posts updates in webhook mode.
const TelegramPath = "/telegram/webhook"

const (
	vendorTelegram = "telegram"
	// tgPollTimeout is getUpdates' long-poll timeout, in seconds.
	tgPollTimeout = 30
	// tgSnooze is the Snooze button's duration.
	tgSnooze = 30 * time.Minute
	// tgMaxRetryAfter is the longest 429 retry_after one request waits
	// out itself; a longer one fails the send, which deliver retries.
	tgMaxRetryAfter = 5 * time.Second
	tgReplayWindow  = 24 * time.Hour
	tgMaxUpdate     = 1 << 20
	tgOffsetKey     = "telegram_offset"
)

// telegramChannel sends pages to people's Telegram chats.
type telegramChannel struct{ p *Pager }

func (telegramChannel) name() configs.Channel { return configs.Telegram }
func (telegramChannel) vendor() string        { return vendorTelegram }

func (c telegramChannel) ready(st *state, m *outgoing) error {
	if st.tg == nil {
		return permanent("Telegram is not configured ([telegram] token_file)")
	}
	if m == nil {
		return nil
	}
	per := st.cfg.person(m.in.Person)
	if per == nil || per.TelegramChat() == 0 {
		return permanent("%s has no Telegram chat id ([person.telegram] chat_id)", m.in.Person)
	}
	if m.text == "" {
		m.text = noticeSMS(m.in)
		if m.in.Kind == escalation.KindPage {
			m.text = tgPage(m.in, c.p.clock.Now(), c.p.zone(per.TimeZone))
		}
	}
	return nil
}

func (c telegramChannel) send(ctx context.Context, st *state, m *outgoing) (string, error) {
	chat := st.cfg.person(m.in.Person).TelegramChat()
	req := map[string]any{"chat_id": chat, "text": m.text}
	if m.in.Kind == escalation.KindPage && m.in.Incident > 0 {
		req["reply_markup"] = tgButtons(m.in)
	}
	var msg tgMessage
	if err := st.tg.api.call(ctx, "sendMessage", req, &msg); err != nil {
		return "", err
	}
	return tgRef(chat, msg.ID), nil
}

func (telegramChannel) before(*outgoing) {}

// after records a page's message, so its buttons can be checked and
// edited away later.
func (c telegramChannel) after(ctx context.Context, _ *state, m *outgoing, ref string, err error) {
	if err != nil || !m.told {
		return
	}
	c.p.log.Info("Telegram message sent", "notification", m.in.ID, "incident", m.in.Incident, "kind", m.in.Kind,
		"person", m.in.Person, "message", ref)
	if m.in.Kind != escalation.KindPage || m.in.Incident == 0 {
		return
	}
	db := c.p.opts.Store
	if db == nil {
		c.p.tg.remember(tgPush{ref: ref, incident: m.in.Incident, person: m.in.Person, text: m.text, state: "live"})
		return
	}
	extra, _ := json.Marshal(map[string]string{"text": m.text})
	if _, err := db.ExecContext(context.WithoutCancel(ctx), `INSERT INTO pushes (channel, ref, notification, incident, person, at, state, extra)
		VALUES ('telegram', ?, ?, ?, ?, ?, 'live', ?) ON CONFLICT (channel, ref) DO NOTHING`,
		ref, m.in.ID, m.in.Incident, m.in.Person, c.p.clock.Now().UnixMilli(), string(extra)); err != nil {
		c.p.log.Error("cannot record a Telegram page; its buttons will not act and it will not be edited", "message", ref, "err", err)
	}
}

// tgPage is a page as the chat shows it: severity, number, summary, since
// when, and the cause.
func tgPage(in escalation.Intent, now time.Time, loc *time.Location) string {
	summary := clean(in.Summary)
	if summary == "" {
		summary = "incident"
	}
	s := fmt.Sprintf("🚨 [%s] #%d %s", sevTag(in.Severity), in.Short, summary)
	if at := since(in.Since, now, loc); at != "" {
		s += " since " + at
	}
	if cause := firstLine(in.Detail); cause != "" && cause != summary {
		s += "\n" + cut(clean(cause), 500)
	}
	return cut(s, 3500)
}

func tgButtons(in escalation.Intent) map[string]any {
	id := strconv.FormatInt(in.Incident, 10)
	return map[string]any{"inline_keyboard": [][]map[string]string{{
		{"text": fmt.Sprintf("Ack #%d", in.Short), "callback_data": "ack:" + id},
		{"text": "Escalate", "callback_data": "esc:" + id},
		{"text": "Snooze 30m", "callback_data": "snz:" + id},
	}}}
}

func tgRef(chat, msg int64) string {
	return strconv.FormatInt(chat, 10) + ":" + strconv.FormatInt(msg, 10)
}

// telegramBot is what one config makes of [telegram].
type telegramBot struct {
	api    *tgAPI
	mode   string
	secret string // the webhook's secret token
	hook   string // the webhook URL, in webhook mode
	key    string // what a reload compares: a change restarts the runner
	byChat map[int64]*configs.Person
}

// newTelegramBot is st's bot, or nil without [telegram].
func newTelegramBot(cfg *configs.TelegramBot, st *state, timeout time.Duration) *telegramBot {
	if cfg == nil || cfg.Token.Empty() {
		return nil
	}
	b := &telegramBot{api: newTgAPI(cfg.APIBase, cfg.Token.Reveal(), timeout), mode: cfg.Mode,
		secret: cfg.TelegramSecret(), byChat: map[int64]*configs.Person{}}
	if b.mode == "" {
		b.mode = configs.TelegramPoll
		if st.public != "" {
			b.mode = configs.TelegramWebhook
		}
	}
	if b.mode == configs.TelegramWebhook {
		b.hook = st.public + TelegramPath
	}
	for i := range st.cfg.People {
		if id := st.cfg.People[i].TelegramChat(); id > 0 {
			b.byChat[id] = &st.cfg.People[i]
		}
	}
	b.key = strings.Join([]string{b.api.base, b.api.token, b.mode, b.secret, b.hook}, "\x00")
	return b
}

// telegramRun is the running side of the bot: the poller or the webhook
// registration of the config in force, and what it remembers without a
// store.
type telegramRun struct {
	mu     sync.Mutex
	key    string
	cancel context.CancelFunc
	seen   map[string]time.Time // update and callback ids taken, without a store
	pushes []tgPush             // pages sent, without a store
	offset int64                // without a store
}

type tgPush struct {
	ref, person, text, state string
	incident                 int64
}

func (r *telegramRun) remember(p tgPush) {
	r.mu.Lock()
	r.pushes = append(r.pushes, p)
	r.mu.Unlock()
}

// telegramStart starts what st's bot needs, once per change: setWebhook in
// webhook mode, the getUpdates poller in poll mode. The old config's
// runner stops first.
func (p *Pager) telegramStart(st *state) {
	r := &p.tg
	r.mu.Lock()
	defer r.mu.Unlock()
	key := ""
	if st.tg != nil {
		key = st.tg.key
	}
	if key == r.key {
		return
	}
	if r.cancel != nil {
		r.cancel()
		r.cancel = nil
	}
	r.key = key
	if st.tg == nil {
		return
	}
	bot := st.tg
	ctx, cancel := context.WithCancel(p.ctx)
	r.cancel = cancel
	p.background(func(context.Context) {
		defer cancel()
		if bot.mode == configs.TelegramWebhook {
			p.tgSetWebhook(ctx, bot)
			return
		}
		p.tgPoll(ctx, bot)
	})
}

// tgUntil calls fn until it succeeds or ctx ends, backing off 1 s to 1 min.
func (p *Pager) tgUntil(ctx context.Context, what string, fn func() error) bool {
	wait := time.Second
	for {
		err := fn()
		if err == nil {
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		var te *tgError
		if errors.As(err, &te) && te.RetryAfter > 0 {
			wait = max(wait, time.Duration(te.RetryAfter)*time.Second)
		}
		p.stats.add("telegram", "api_error")
		p.log.Warn("Telegram: "+what+" failed; trying again", "wait", wait, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return false
		case <-t.C:
		}
		wait = min(wait*2, time.Minute)
	}
}

func (p *Pager) tgSetWebhook(ctx context.Context, bot *telegramBot) {
	ok := p.tgUntil(ctx, "setWebhook", func() error {
		return bot.api.call(ctx, "setWebhook", map[string]any{"url": bot.hook, "secret_token": bot.secret,
			"allowed_updates": []string{"message", "callback_query"}}, nil)
	})
	if ok {
		p.log.Info("Telegram webhook set", "url", bot.hook)
	}
}

// tgPoll long-polls getUpdates until ctx ends. The offset of the last
// update taken is kept in the store, so a restart neither replays nor
// loses presses.
func (p *Pager) tgPoll(ctx context.Context, bot *telegramBot) {
	if !p.tgUntil(ctx, "deleteWebhook", func() error { return bot.api.call(ctx, "deleteWebhook", map[string]any{}, nil) }) {
		return
	}
	// Presses made while foghorn was down wait at Telegram until the
	// engine that acts on them is there: taken before, they would be lost.
	for p.engine() == nil {
		select {
		case <-ctx.Done():
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
	offset := p.tgOffset(ctx)
	p.log.Info("Telegram: polling for updates", "offset", offset)
	for ctx.Err() == nil {
		var ups []json.RawMessage
		ok := p.tgUntil(ctx, "getUpdates", func() error {
			return bot.api.call(ctx, "getUpdates", map[string]any{"offset": offset, "timeout": tgPollTimeout,
				"allowed_updates": []string{"message", "callback_query"}}, &ups)
		})
		if !ok {
			return
		}
		for _, raw := range ups {
			var head struct {
				ID int64 `json:"update_id"`
			}
			if json.Unmarshal(raw, &head) != nil || head.ID < offset {
				continue
			}
			p.telegramUpdate(ctx, p.state(), raw)
			offset = head.ID + 1
		}
		if len(ups) > 0 {
			p.tgSaveOffset(ctx, offset)
		}
	}
}

func (p *Pager) tgOffset(ctx context.Context) int64 {
	if db := p.opts.Store; db != nil {
		var v string
		if err := db.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = ?`, tgOffsetKey).Scan(&v); err == nil {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
		return 0
	}
	p.tg.mu.Lock()
	defer p.tg.mu.Unlock()
	return p.tg.offset
}

func (p *Pager) tgSaveOffset(ctx context.Context, offset int64) {
	if db := p.opts.Store; db != nil {
		if _, err := db.ExecContext(context.WithoutCancel(ctx), `INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)`,
			tgOffsetKey, strconv.FormatInt(offset, 10)); err != nil {
			p.log.Error("cannot keep the Telegram update offset; a restart may see the last updates again (replays are refused)", "err", err)
		}
		return
	}
	p.tg.mu.Lock()
	p.tg.offset = offset
	p.tg.mu.Unlock()
}

// telegramWebhook takes Telegram's POSTs in webhook mode. Every one must
// carry the secret token given to setWebhook, else 403: anyone can find
// the URL, only Telegram knows the secret.
func (p *Pager) telegramWebhook(w http.ResponseWriter, r *http.Request) {
	refuse := func(status int, result, why string, args ...any) {
		p.stats.add("webhooks", "telegram", result)
		p.log.Warn("Telegram webhook refused: "+why, append([]any{"remote", r.RemoteAddr, "status", status}, args...)...)
		http.Error(w, http.StatusText(status), status)
	}
	st := p.state()
	if st.tg == nil || st.tg.mode != configs.TelegramWebhook {
		refuse(http.StatusNotFound, "unavailable", "Telegram webhook mode is not configured")
		return
	}
	got := r.Header.Get("X-Telegram-Bot-Api-Secret-Token")
	if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(st.tg.secret)) != 1 {
		p.stats.add("telegram", "forbidden")
		refuse(http.StatusForbidden, "forbidden", "missing or wrong X-Telegram-Bot-Api-Secret-Token (not from Telegram, or the webhook was set by someone else)",
			"has_header", got != "")
		return
	}
	if p.engine() == nil {
		refuse(http.StatusServiceUnavailable, "unavailable", "no escalation engine yet")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, tgMaxUpdate))
	if err != nil || !json.Valid(body) {
		refuse(http.StatusBadRequest, "bad_request", "unreadable update")
		return
	}
	// Telegram waits for the answer before it sends the next update; the
	// engine goes on in the background after an ack.
	p.telegramUpdate(context.WithoutCancel(r.Context()), st, body)
	p.stats.add("webhooks", "telegram", "ok")
	w.WriteHeader(http.StatusOK)
}

// Telegram's update, as far as foghorn reads it.
type tgUpdate struct {
	ID       int64       `json:"update_id"`
	Callback *tgCallback `json:"callback_query"`
	Message  *tgMessage  `json:"message"`
}

type tgCallback struct {
	ID      string     `json:"id"`
	From    tgUser     `json:"from"`
	Message *tgMessage `json:"message"`
	Data    string     `json:"data"`
}

type tgUser struct {
	ID    int64 `json:"id"`
	IsBot bool  `json:"is_bot"`
}

type tgMessage struct {
	ID   int64   `json:"message_id"`
	From *tgUser `json:"from"`
	Chat struct {
		ID   int64  `json:"id"`
		Type string `json:"type"`
	} `json:"chat"`
	Text string `json:"text"`
}

// telegramUpdate acts on one update, once: a replayed update_id (a
// webhook retried, a recording posted again) or callback query does
// nothing the second time.
func (p *Pager) telegramUpdate(ctx context.Context, st *state, raw []byte) {
	var u tgUpdate
	if err := json.Unmarshal(raw, &u); err != nil || u.ID == 0 {
		p.stats.add("telegram", "bad_update")
		p.log.Warn("Telegram: unreadable update ignored", "err", err)
		return
	}
	eng := p.engine()
	if eng == nil {
		p.log.Warn("Telegram update ignored: no escalation engine yet", "update", u.ID)
		return
	}
	if p.tgTaken(ctx, "telegram-update:"+strconv.FormatInt(u.ID, 10)) {
		p.stats.add("telegram", "replayed")
		p.log.Warn("Telegram update ignored: already taken (a replay)", "update", u.ID)
		return
	}
	switch {
	case u.Callback != nil:
		if p.tgTaken(ctx, "telegram-callback:"+u.Callback.ID) {
			p.stats.add("telegram", "replayed")
			p.log.Warn("Telegram button press ignored: this callback was already taken (a replay)", "update", u.ID)
			return
		}
		text := p.telegramPress(ctx, st, eng, u.Callback)
		if err := st.tg.api.call(ctx, "answerCallbackQuery", map[string]any{"callback_query_id": u.Callback.ID, "text": text}, nil); err != nil {
			p.log.Warn("Telegram: answerCallbackQuery failed (the phone shows a spinner for a while)", "err", err)
		}
	case u.Message != nil:
		p.telegramText(ctx, st, eng, u.Message)
	}
}

// tgTaken reports whether id was taken already, and marks it taken. The
// store's used_links keeps them for a day, across restarts.
func (p *Pager) tgTaken(ctx context.Context, id string) bool {
	now := p.clock.Now()
	if db := p.opts.Store; db != nil {
		ctx = context.WithoutCancel(ctx)
		db.ExecContext(ctx, `DELETE FROM used_links WHERE expires < ?`, now.UnixMilli())
		res, err := db.ExecContext(ctx, `INSERT INTO used_links (id, at, expires) VALUES (?, ?, ?) ON CONFLICT (id) DO NOTHING`,
			id, now.UnixMilli(), now.Add(tgReplayWindow).UnixMilli())
		if err != nil {
			p.log.Error("cannot record a Telegram update; a replay of it would not be recognised", "id", id, "err", err)
			return false
		}
		n, err := res.RowsAffected()
		return err == nil && n == 0
	}
	p.tg.mu.Lock()
	defer p.tg.mu.Unlock()
	if p.tg.seen == nil {
		p.tg.seen = map[string]time.Time{}
	}
	for k, at := range p.tg.seen {
		if now.Sub(at) > tgReplayWindow {
			delete(p.tg.seen, k)
		}
	}
	if _, ok := p.tg.seen[id]; ok {
		return true
	}
	p.tg.seen[id] = now
	return false
}

// telegramPress acts on a button press and returns what the phone shows.
// Only the person whose chat id is both the presser's user id and the
// message's chat may act, as that person, and only on a page foghorn sent
// them; anything else changes nothing.
func (p *Pager) telegramPress(ctx context.Context, st *state, eng Engine, cq *tgCallback) string {
	const notAllowed = "Not allowed: this button is not yours."
	person := st.tg.byChat[cq.From.ID]
	chat := int64(0)
	if cq.Message != nil {
		chat = cq.Message.Chat.ID
	}
	deny := func(why string) string {
		p.stats.add("telegram", "not_allowed")
		p.log.Warn("Telegram button press refused: "+why, "from", cq.From.ID, "chat", chat, "data", cut(clean(cq.Data), 64))
		return notAllowed
	}
	switch {
	case person == nil:
		return deny("the presser is no configured person's chat id")
	case cq.Message == nil || chat != cq.From.ID:
		return deny("not pressed in the person's own private chat with the bot")
	case person.Role == "viewer":
		return deny("the person is a viewer")
	}
	verb, idText, _ := strings.Cut(cq.Data, ":")
	id, err := strconv.ParseInt(idText, 10, 64)
	if err != nil || id <= 0 || (verb != "ack" && verb != "esc" && verb != "snz") {
		return deny("unknown button data")
	}
	inc, err := eng.Get(ctx, id)
	switch {
	case errors.Is(err, escalation.ErrNotFound):
		return deny("no such incident")
	case err != nil:
		p.log.Error("Telegram button press failed", "person", person.Name, "incident", id, "err", err)
		return "Sorry, foghorn could not do that (internal error). Try again, or reply by SMS."
	}
	if !p.tgPaged(ctx, tgRef(chat, cq.Message.ID), id, person.Name) {
		// Not a message foghorn recorded: a page whose send timed out
		// after Telegram took it (the retry's message is the recorded
		// one), or data the person's client made up. Either way the
		// person may act on what they were paged for, as by SMS.
		if mine, err := eng.ByShort(ctx, person.Name, inc.Short); err != nil || mine.ID != inc.ID {
			return deny("the person was not paged for that incident")
		}
	}
	loc := p.zone(person.TimeZone)
	switch {
	case inc.State == escalation.Resolved:
		return fmt.Sprintf("#%d is already resolved.", inc.Short)
	case inc.State == escalation.Acknowledged && verb == "ack" && inc.AckedBy != "":
		return fmt.Sprintf("#%d was already acked by %s at %s.", inc.Short, inc.AckedBy, inc.Acked.In(loc).Format("15:04"))
	}
	var text string
	switch verb {
	case "ack":
		after, err := eng.Ack(ctx, inc.ID, person.Name, "telegram")
		switch {
		case err != nil:
			text = p.tgOutcome(inc, person, verb, err)
		case after != nil && after.AckedBy != "" && after.AckedBy != person.Name:
			text = fmt.Sprintf("#%d was already acked by %s at %s.", inc.Short, after.AckedBy, after.Acked.In(loc).Format("15:04"))
		default:
			text = fmt.Sprintf("#%d acked, paging stopped.", inc.Short)
		}
	case "esc":
		after, err := eng.Escalate(ctx, inc.ID, -1, person.Name)
		step := inc.Step + 2
		if after != nil {
			step = after.Step + 1
		}
		text = fmt.Sprintf("#%d escalated: paging step %d now.", inc.Short, step)
		if err == nil && after != nil && after.Step == inc.Step && after.Due.Equal(inc.Due) {
			// Someone (or the policy) moved it on already.
			text = fmt.Sprintf("#%d is already past that step: step %d pages at %s.", inc.Short, after.Step+1, after.Due.In(loc).Format("15:04"))
		}
		if err != nil {
			text = p.tgOutcome(inc, person, verb, err)
		}
	case "snz":
		_, err := eng.Snooze(ctx, inc.ID, tgSnooze, person.Name)
		text = fmt.Sprintf("#%d snoozed for 30m: paging resumes at %s unless resolved.", inc.Short, p.clock.Now().Add(tgSnooze).In(loc).Format("15:04"))
		if err != nil {
			text = p.tgOutcome(inc, person, verb, err)
		}
	}
	p.stats.add("telegram", verb)
	p.log.Info("Telegram button", "person", person.Name, "verb", verb, "incident", inc.ID, "short", inc.Short, "reply", text)
	return text
}

func (p *Pager) tgOutcome(inc *escalation.Incident, person *configs.Person, verb string, err error) string {
	switch {
	case errors.Is(err, escalation.ErrResolved):
		return fmt.Sprintf("#%d is already resolved.", inc.Short)
	case errors.Is(err, escalation.ErrNotFound):
		return fmt.Sprintf("#%d no longer exists.", inc.Short)
	case errors.Is(err, escalation.ErrElsewhere):
		return fmt.Sprintf("#%d is kept by the other foghorn: Ack works from here, the rest on its web page.", inc.Short)
	}
	p.log.Error("Telegram button press failed", "person", person.Name, "verb", verb, "incident", inc.ID, "err", err)
	return "Sorry, foghorn could not do that (internal error). Try again, or reply by SMS."
}

// tgPaged reports whether ref is a page of incident that foghorn sent to
// person.
func (p *Pager) tgPaged(ctx context.Context, ref string, incident int64, person string) bool {
	if db := p.opts.Store; db != nil {
		var n int
		err := db.QueryRowContext(ctx, `SELECT count(*) FROM pushes WHERE channel = 'telegram' AND ref = ? AND incident = ? AND person = ?`,
			ref, incident, person).Scan(&n)
		return err == nil && n > 0
	}
	p.tg.mu.Lock()
	defer p.tg.mu.Unlock()
	for _, x := range p.tg.pushes {
		if x.ref == ref && x.incident == incident && x.person == person {
			return true
		}
	}
	return false
}

// telegramText runs a text written to the bot by a configured person as
// an SMS command ("ACK 42", "STATUS") and replies in the chat. Power
// commands stay with SMS: their confirmation code goes to the phone.
func (p *Pager) telegramText(ctx context.Context, st *state, eng Engine, m *tgMessage) {
	if m.From == nil || m.Text == "" {
		return
	}
	person := st.tg.byChat[m.From.ID]
	if person == nil || m.Chat.ID != m.From.ID {
		p.stats.add("telegram", "unknown_chat")
		p.log.Warn("Telegram message from an unknown chat ignored (only configured people's chat ids may send commands)",
			"from", m.From.ID, "chat", m.Chat.ID, "chars", len(m.Text))
		return
	}
	var text string
	cmd, err := Parse(m.Text)
	var pe *ParseError
	switch {
	case strings.HasPrefix(m.Text, "/start"):
		text = "foghorn pages you here. " + HelpText
	case errors.As(err, &pe):
		text = pe.Reply
	case err != nil:
		return
	case cmd.Verb == VerbPower || cmd.Verb == VerbConfirm:
		text = "Power actions only by SMS from your phone (the confirmation code goes there)."
	case person.Role == "viewer" && !readOnlyCommand(cmd):
		text = "You are a viewer in foghorn's config: STATUS, ONCALL and HELP only."
	default:
		text = p.execute(ctx, eng, person, configs.Telegram, cmd)
		p.stats.add("telegram", "command_"+cmd.Verb)
		p.log.Info("Telegram command", "person", person.Name, "verb", cmd.Verb, "incident", cmd.Short)
	}
	if text == "" {
		return
	}
	if err := st.tg.api.call(ctx, "sendMessage", map[string]any{"chat_id": m.Chat.ID, "text": text}, nil); err != nil {
		p.log.Warn("Telegram: reply not sent", "person", person.Name, "err", err)
	}
}

// dismiss edits the incident's pages once it was acked, snoozed or
// resolved: the buttons go, a status line comes. It runs in the
// background: Cancel hangs up the calls right after, and a slow Telegram
// must not keep a phone ringing.
func (c telegramChannel) dismiss(ctx context.Context, st *state, incident int64) {
	p := c.p
	if st.tg == nil || p.engine() == nil {
		return
	}
	p.background(func(pctx context.Context) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), noticeTimeout)
		defer cancel()
		stop := context.AfterFunc(pctx, cancel)
		defer stop()
		p.tgDismiss(ctx, st, incident)
	})
}

func (p *Pager) tgDismiss(ctx context.Context, st *state, incident int64) {
	inc, err := p.engine().Get(ctx, incident)
	if err != nil {
		p.log.Warn("Telegram: cannot read the incident to edit its pages", "incident", incident, "err", err)
		return
	}
	state, line := tgStatus(inc, p.clock.Now())
	if state == "" {
		return
	}
	for _, x := range p.tgPushes(ctx, incident) {
		if x.state == state || x.state == "resolved" {
			continue
		}
		chat, msg, _ := strings.Cut(x.ref, ":")
		loc := p.personZone(st, x.person)
		text := fmt.Sprintf(line, inc.Short, inc.Acked.In(loc).Format("15:04"), inc.Snoozed.In(loc).Format("15:04"),
			inc.Resolved.In(loc).Format("15:04")) + "\n\n" + x.text
		err := st.tg.api.call(ctx, "editMessageText", map[string]any{"chat_id": json.Number(chat), "message_id": json.Number(msg),
			"text": cut(text, 4000)}, nil)
		var te *tgError
		if errors.As(err, &te) && strings.Contains(te.Description, "message is not modified") {
			err = nil
		}
		if err != nil {
			p.stats.add("telegram", "edit_failed")
			p.log.Warn("Telegram: page not edited; its buttons still show (pressing them answers what became of the incident)",
				"incident", incident, "message", x.ref, "err", err)
			continue
		}
		p.stats.add("telegram", "edited")
		p.tgSetState(ctx, x.ref, state)
	}
}

// tgStatus is what became of inc, as a pushes state and a status line
// format (short, acked, snoozed, resolved times); "" when it still pages.
func tgStatus(inc *escalation.Incident, now time.Time) (state, format string) {
	switch {
	case inc.State == escalation.Resolved:
		by := ""
		if inc.ResolvedBy != "" {
			by = " by " + clean(inc.ResolvedBy)
		}
		return "resolved", "✅ #%[1]d RESOLVED" + by + " %[4]s"
	case inc.State == escalation.Acknowledged && inc.Snoozed.After(now):
		return "snoozed:" + inc.Snoozed.UTC().Format(time.RFC3339), "💤 #%[1]d SNOOZED by " + clean(inc.AckedBy) + " until %[3]s"
	case inc.State == escalation.Acknowledged:
		return "acked", "✔️ #%[1]d ACKED by " + clean(inc.AckedBy) + " %[2]s"
	}
	return "", ""
}

func (p *Pager) tgPushes(ctx context.Context, incident int64) []tgPush {
	if db := p.opts.Store; db != nil {
		rows, err := db.QueryContext(ctx, `SELECT ref, person, state, extra FROM pushes WHERE channel = 'telegram' AND incident = ? ORDER BY at`, incident)
		if err != nil {
			p.log.Error("Telegram: cannot list the incident's pages", "incident", incident, "err", err)
			return nil
		}
		defer rows.Close()
		var out []tgPush
		for rows.Next() {
			x := tgPush{incident: incident}
			var extra string
			if rows.Scan(&x.ref, &x.person, &x.state, &extra) != nil {
				continue
			}
			var e struct{ Text string }
			json.Unmarshal([]byte(extra), &e)
			x.text = e.Text
			out = append(out, x)
		}
		return out
	}
	p.tg.mu.Lock()
	defer p.tg.mu.Unlock()
	var out []tgPush
	for _, x := range p.tg.pushes {
		if x.incident == incident {
			out = append(out, x)
		}
	}
	return out
}

func (p *Pager) tgSetState(ctx context.Context, ref, state string) {
	if db := p.opts.Store; db != nil {
		db.ExecContext(context.WithoutCancel(ctx), `UPDATE pushes SET state = ? WHERE channel = 'telegram' AND ref = ?`, state, ref)
		return
	}
	p.tg.mu.Lock()
	defer p.tg.mu.Unlock()
	for i := range p.tg.pushes {
		if p.tg.pushes[i].ref == ref {
			p.tg.pushes[i].state = state
		}
	}
}

// tgAPI calls the Bot API: POST base/bot<token>/<method> with a JSON body.
type tgAPI struct {
	base, token string
	timeout     time.Duration
	client      *http.Client
}

func newTgAPI(base, token string, timeout time.Duration) *tgAPI {
	if base == "" {
		base = configs.DefaultTelegramAPI
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	return &tgAPI{base: strings.TrimSuffix(base, "/"), token: token, timeout: timeout, client: &http.Client{Transport: tr}}
}

// tgError is the Bot API's error answer, or a status without one.
type tgError struct {
	Method      string
	Code        int
	Description string
	RetryAfter  int
}

func (e *tgError) Error() string {
	if e.Code == 401 || e.Code == 404 {
		return fmt.Sprintf("telegram %s: %d %s: Telegram refuses the bot token; check [telegram] token_file or FOGHORN_TELEGRAM_TOKEN (the token @BotFather gave)",
			e.Method, e.Code, e.Description)
	}
	s := fmt.Sprintf("telegram %s: %d %s", e.Method, e.Code, e.Description)
	if e.RetryAfter > 0 {
		s += fmt.Sprintf(" (retry after %ds)", e.RetryAfter)
	}
	if strings.Contains(e.Description, "chat not found") {
		s += ": the person must send /start to the bot first, and [person.telegram] chat_id must be their user id"
	}
	return s
}

// 429 and 5xx pass; 401 and 404 (a wrong or revoked token) fail every
// send alike; other 4xx (chat not found, bot blocked by the user: 403)
// are this person's only.
func (e *tgError) retryable() bool  { return e.Code == 429 || e.Code >= 500 }
func (e *tgError) vendorWide() bool { return e.refused() || e.retryable() }
func (e *tgError) refused() bool    { return e.Code == 401 || e.Code == 404 }

// call runs method with req as JSON and decodes the result into out. A
// 429 with a short retry_after is waited out once here.
func (a *tgAPI) call(ctx context.Context, method string, req any, out any) error {
	err := a.once(ctx, method, req, out)
	var te *tgError
	if errors.As(err, &te) && te.Code == 429 && te.RetryAfter > 0 && time.Duration(te.RetryAfter)*time.Second <= tgMaxRetryAfter {
		t := time.NewTimer(time.Duration(te.RetryAfter) * time.Second)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		err = a.once(ctx, method, req, out)
	}
	return err
}

func (a *tgAPI) once(ctx context.Context, method string, req any, out any) error {
	timeout := a.timeout
	if method == "getUpdates" {
		timeout += tgPollTimeout * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	body, err := json.Marshal(req)
	if err != nil {
		return permanent("telegram %s: %v", method, err)
	}
	r, err := http.NewRequestWithContext(ctx, "POST", a.base+"/bot"+a.token+"/"+method, bytes.NewReader(body))
	if err != nil {
		return permanent("telegram api_base %q is not a URL", a.base) // err would show the token in the path
	}
	r.Header.Set("Content-Type", "application/json")
	resp, err := a.client.Do(r)
	if err != nil {
		// The URL holds the token: say the method and the cause only.
		var ue interface{ Unwrap() error }
		if errors.As(err, &ue) {
			err = ue.Unwrap()
		}
		return fmt.Errorf("telegram %s: %w", method, err)
	}
	defer resp.Body.Close()
	var ans struct {
		OK          bool            `json:"ok"`
		Result      json.RawMessage `json:"result"`
		ErrorCode   int             `json:"error_code"`
		Description string          `json:"description"`
		Parameters  struct {
			RetryAfter int `json:"retry_after"`
		} `json:"parameters"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 4<<20)).Decode(&ans); err != nil {
		return &tgError{Method: method, Code: resp.StatusCode, Description: "answer is not Bot API JSON (" + resp.Status + ")"}
	}
	if !ans.OK {
		code := ans.ErrorCode
		if code == 0 {
			code = resp.StatusCode
		}
		return &tgError{Method: method, Code: code, Description: ans.Description, RetryAfter: ans.Parameters.RetryAfter}
	}
	if out != nil {
		if err := json.Unmarshal(ans.Result, out); err != nil {
			return fmt.Errorf("telegram %s: unexpected result: %w", method, err)
		}
	}
	return nil
}
