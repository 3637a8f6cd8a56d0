package configs

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"regexp"
	"strings"
)

// TelegramBot is [telegram]: a bot that pages people in their private chat
// with it, with Ack / Escalate / Snooze buttons under each page. It is nil
// without the table.
type TelegramBot struct {
	// TokenFile holds the bot token @BotFather gave (or
	// FOGHORN_TELEGRAM_TOKEN): "123456789:AA...".
	TokenFile string `toml:"token_file"`
	// APIBase replaces https://api.telegram.org, so a stand-in can answer.
	APIBase string `toml:"api_base"`
	// Mode is how the buttons' presses reach foghorn: "webhook" (Telegram
	// posts them to [server] public_url + /telegram/webhook) or "poll"
	// (foghorn long-polls getUpdates: no public URL needed). Default:
	// webhook when public_url is set, else poll.
	Mode string `toml:"mode"`
	// SecretTokenFile holds the webhook's secret token (or
	// FOGHORN_TELEGRAM_SECRET_TOKEN), which Telegram sends back in
	// X-Telegram-Bot-Api-Secret-Token with every update. Without one it is
	// derived from the bot token (TelegramSecret): stable across restarts
	// and nodes, and known only to whoever holds the bot token, who could
	// point the webhook anywhere anyway.
	SecretTokenFile string `toml:"secret_token_file"`

	Token       Secret `toml:"-"`
	SecretToken Secret `toml:"-"`
}

// PersonTelegram is [person.telegram]: the person's private chat with the
// bot. ChatID is their Telegram user id (a private chat's id is the user's
// id); only a button pressed by that user in that chat acts, as them.
type PersonTelegram struct {
	ChatID int64 `toml:"chat_id"`
}

// The Telegram modes.
const (
	TelegramWebhook = "webhook"
	TelegramPoll    = "poll"
)

// DefaultTelegramAPI is [telegram] api_base when it is not set.
const DefaultTelegramAPI = "https://api.telegram.org"

// TelegramSecret is the webhook secret token: the configured one, or one
// derived from the bot token (64 hex digits, within Telegram's 1-256
// characters of A-Z a-z 0-9 _ -).
func (t *TelegramBot) TelegramSecret() string {
	if s := t.SecretToken.Reveal(); s != "" {
		return s
	}
	m := hmac.New(sha256.New, []byte(t.Token.Reveal()))
	m.Write([]byte("foghorn telegram webhook secret"))
	return hex.EncodeToString(m.Sum(nil))
}

// TelegramChat is the person's chat id, 0 when they have none.
func (p *Person) TelegramChat() int64 {
	if p.Telegram == nil {
		return 0
	}
	return p.Telegram.ChatID
}

var (
	telegramTokenRE  = regexp.MustCompile(`^[0-9]{3,}:[A-Za-z0-9_-]{20,}$`)
	telegramSecretRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,256}$`)
)

func defaultTelegram(c *Config) {
	tg := c.Telegram
	if tg == nil {
		return
	}
	orString(&tg.APIBase, DefaultTelegramAPI)
	if tg.Mode == "" {
		tg.Mode = TelegramPoll
		if c.Server.PublicURL != "" {
			tg.Mode = TelegramWebhook
		}
	}
}

func loadTelegramSecrets(r *report, c *Config, dir string, env func(string) string) {
	tg := c.Telegram
	if tg == nil {
		return
	}
	tg.Token = secret(r, "telegram.token_file", "telegram token_file", tg.TokenFile, dir, env, "FOGHORN_TELEGRAM_TOKEN")
	tg.SecretToken = secret(r, "telegram.secret_token_file", "telegram secret_token_file", tg.SecretTokenFile, dir, env, "FOGHORN_TELEGRAM_SECRET_TOKEN")
	const fix = "put the token @BotFather gave the bot (\"123456789:AA...\") in the file, alone on one line, or export FOGHORN_TELEGRAM_TOKEN"
	switch v := tg.Token.Reveal(); {
	case v == "" && tg.TokenFile == "" && !r.inline["telegram.token_file"]:
		r.add("telegram", "telegram token_file", `set token_file = "/etc/foghorn/telegram-token" or export FOGHORN_TELEGRAM_TOKEN`,
			"no bot token: [telegram] is set but neither token_file nor FOGHORN_TELEGRAM_TOKEN gives it")
	case v != "" && !telegramTokenRE.MatchString(v):
		// Its shape only, never a character of it.
		r.add("telegram.token_file", "telegram token_file", fix,
			"the bot token is not of the shape digits, ':', and 20 or more letters, digits, '_' or '-' (it is %d characters long)", len(v))
	}
	if v := tg.SecretToken.Reveal(); v != "" && !telegramSecretRE.MatchString(v) {
		r.add("telegram.secret_token_file", "telegram secret_token_file",
			"use 1 to 256 characters of A-Z, a-z, 0-9, '_' and '-', e.g. from `openssl rand -hex 32`, or leave the key out to derive one from the bot token",
			"Telegram refuses this secret token (%d characters)", len(v))
	}
}

func validateTelegram(r *report, c *Config) {
	tg := c.Telegram
	if tg != nil {
		switch tg.Mode {
		case TelegramPoll:
		case TelegramWebhook:
			if c.Server.PublicURL == "" {
				r.add("telegram.mode", "telegram mode",
					`set [server] public_url to the https address Telegram reaches this foghorn at, or set mode = "poll" (foghorn asks Telegram for the presses; no public URL needed)`,
					"webhook needs [server] public_url: Telegram posts the buttons' presses to public_url + /telegram/webhook")
			} else if tg.APIBase == DefaultTelegramAPI && !strings.HasPrefix(c.Server.PublicURL, "https://") {
				r.warn("telegram.mode", "telegram mode", `serve foghorn over https (ports 443, 80, 88 or 8443), or set mode = "poll"`,
					"Telegram delivers webhooks over https only, and [server] public_url is %q", c.Server.PublicURL)
			}
		default:
			r.add("telegram.mode", "telegram mode", `use "webhook" (needs [server] public_url) or "poll"`, "unknown mode %q", tg.Mode)
		}
		if u, err := url.Parse(tg.APIBase); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			r.add("telegram.api_base", "telegram api_base", `write a full URL such as "https://api.telegram.org", or leave it out`, "%q is not an http(s) URL", tg.APIBase)
		}
	}
	chats := map[int64]string{}
	for i := range c.People {
		p := &c.People[i]
		if p.Telegram == nil {
			continue
		}
		path, key := "person["+itoa(i)+"].telegram.chat_id", "person "+quote(p.Name)+" telegram chat_id"
		id := p.Telegram.ChatID
		switch {
		case id == 0:
			r.add("person["+itoa(i)+"].telegram", key,
				"add chat_id = 123456789 (the person's Telegram user id: they send /start to the bot, and the bot's getUpdates shows message.from.id)",
				"missing: the bot cannot write to this person")
		case id < 0:
			r.add(path, key, "use the person's own user id (their private chat with the bot): only they may press their page's buttons",
				"%d is a group's or channel's id (negative), not a person's private chat", id)
		default:
			if other, dup := chats[id]; dup {
				r.add(path, key, "give each person their own chat id: a button press is matched to the person by it",
					"%d is also %q's chat id", id, other)
			}
			chats[id] = p.Name
		}
	}
}

// checkTelegramReach reports a person a "telegram" step cannot reach.
func checkTelegramReach(r *report, c *Config, path, key string, p *Person, channels []Channel) {
	if oneOf(Telegram, channels) && c.Telegram != nil && p.TelegramChat() == 0 {
		r.add(path, key, "add [person.telegram] chat_id = 123456789 under the person (their Telegram user id), or drop \"telegram\" from the step's channels",
			"%q has no Telegram chat id for the \"telegram\" channel", p.Name)
	}
}
