package configs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const telegramBase = `[server]
data_dir = "/tmp/foghorn-test"
public_url = "https://foghorn.example.net"
[twilio]
simulator = true
from = "+15005550006"
[self_check]
canaries = ["127.0.0.1"]
[escalation]
default_policy = "ops"
[telegram]
token_file = "tg-token"
[[person]]
name = "alice"
phone = "+4915112345671"
[person.telegram]
chat_id = 1001
[[person]]
name = "bob"
phone = "+4915112345672"
[person.telegram]
chat_id = 1002
[[person]]
name = "carol"
phone = "+4915112345673"
[[policy]]
name = "ops"
  [[policy.step]]
  who = ["alice", "bob"]
  channels = ["sms", "telegram"]
`

const goodBotToken = "123456789:AAexampleexampleexampleexample0123"

func parseTelegram(t *testing.T, text, token string, env map[string]string) (*Config, error) {
	t.Helper()
	dir := t.TempDir()
	if token != "" {
		if err := os.WriteFile(filepath.Join(dir, "tg-token"), []byte(token+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return Parse("t.toml", dir, []byte(text), func(k string) string { return env[k] })
}

func TestTelegramConfig(t *testing.T) {
	c, err := parseTelegram(t, telegramBase, goodBotToken, nil)
	if err != nil {
		t.Fatal(err)
	}
	tg := c.Telegram
	if tg.Mode != TelegramWebhook || tg.APIBase != DefaultTelegramAPI || tg.Token.Reveal() != goodBotToken {
		t.Errorf("defaults: mode %q api_base %q", tg.Mode, tg.APIBase)
	}
	if s := tg.TelegramSecret(); len(s) != 64 || !telegramSecretRE.MatchString(s) || s == goodBotToken {
		t.Errorf("derived secret %q", s)
	}
	if c.People[0].TelegramChat() != 1001 || c.People[2].TelegramChat() != 0 {
		t.Errorf("chat ids: %d %d", c.People[0].TelegramChat(), c.People[2].TelegramChat())
	}
	// Without public_url the default is polling; the env var gives the token.
	noURL := strings.Replace(telegramBase, "public_url = \"https://foghorn.example.net\"\n", "", 1)
	noURL = strings.Replace(noURL, "token_file = \"tg-token\"\n", "", 1)
	c, err = parseTelegram(t, noURL, "", map[string]string{"FOGHORN_TELEGRAM_TOKEN": goodBotToken})
	if err != nil {
		t.Fatal(err)
	}
	if c.Telegram.Mode != TelegramPoll || c.Telegram.Token.Reveal() != goodBotToken {
		t.Errorf("without public_url: mode %q", c.Telegram.Mode)
	}
}

// TestTelegramConfigRefusals: check-config refuses what would leave a
// Telegram page unsent or let the wrong person act, with the fix.
func TestTelegramConfigRefusals(t *testing.T) {
	for name, tc := range map[string]struct {
		edit  func(string) string
		token string
		want  string
	}{
		"a telegram step to a person without a chat id": {
			func(s string) string {
				return strings.Replace(s, `who = ["alice", "bob"]`, `who = ["alice", "carol"]`, 1)
			}, goodBotToken,
			`t.toml:29: policy "ops" step 1 who: "carol" has no Telegram chat id for the "telegram" channel; fix: add [person.telegram] chat_id = 123456789 under the person`,
		},
		"two people with one chat id": {
			func(s string) string { return strings.Replace(s, "chat_id = 1002", "chat_id = 1001", 1) }, goodBotToken,
			`t.toml:22: person "bob" telegram chat_id: 1001 is also "alice"'s chat id; fix: give each person their own chat id`,
		},
		"a group's chat id": {
			func(s string) string { return strings.Replace(s, "chat_id = 1002", "chat_id = -1002", 1) }, goodBotToken,
			`person "bob" telegram chat_id: -1002 is a group's or channel's id (negative), not a person's private chat`,
		},
		"webhook without public_url": {
			func(s string) string {
				s = strings.Replace(s, "public_url = \"https://foghorn.example.net\"\n", "", 1)
				return strings.Replace(s, "[telegram]\n", "[telegram]\nmode = \"webhook\"\n", 1)
			}, goodBotToken,
			`telegram mode: webhook needs [server] public_url: Telegram posts the buttons' presses to public_url + /telegram/webhook; fix: set [server] public_url to the https address Telegram reaches this foghorn at, or set mode = "poll"`,
		},
		"an unknown mode": {
			func(s string) string { return strings.Replace(s, "[telegram]\n", "[telegram]\nmode = \"push\"\n", 1) }, goodBotToken,
			`telegram mode: unknown mode "push"; fix: use "webhook" (needs [server] public_url) or "poll"`,
		},
		"no token": {
			func(s string) string { return strings.Replace(s, "token_file = \"tg-token\"\n", "", 1) }, "",
			`telegram token_file: no bot token: [telegram] is set but neither token_file nor FOGHORN_TELEGRAM_TOKEN gives it; fix: set token_file`,
		},
		"a token of the wrong shape": {
			func(s string) string { return s }, "not-a-bot-token",
			`telegram token_file: the bot token is not of the shape digits, ':', and 20 or more letters, digits, '_' or '-' (it is 15 characters long)`,
		},
		"a telegram step without [telegram]": {
			func(s string) string {
				s = strings.Replace(s, "[telegram]\ntoken_file = \"tg-token\"\n", "", 1)
				return strings.ReplaceAll(s, "[person.telegram]\n", "[person.telegram]\n")
			}, "",
			`policy "ops" step 1 channels: "telegram" needs [telegram], but it is not configured; fix: configure [telegram]`,
		},
		"the token inline": {
			func(s string) string {
				return strings.Replace(s, "[telegram]\n", "[telegram]\ntoken = \"123:abc\"\n", 1)
			}, goodBotToken,
			`secrets go in token_file or FOGHORN_TELEGRAM_TOKEN, not in the config`,
		},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := parseTelegram(t, tc.edit(telegramBase), tc.token, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want\n%s\ngot\n%v", tc.want, err)
			}
			if strings.Contains(err.Error(), "not-a-bot-token") || strings.Contains(err.Error(), "123:abc") {
				t.Errorf("the error shows the token: %v", err)
			}
		})
	}
}
