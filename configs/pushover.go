package configs

import (
	"regexp"
	"time"
)

// PushoverApp is [pushover]: the Pushover application foghorn sends as. A
// critical page goes out with emergency priority, which the phone repeats
// every Retry until it is acknowledged there (that is the person's ack) or
// Expire has passed.
type PushoverApp struct {
	// TokenFile holds the application's API token (or
	// FOGHORN_PUSHOVER_TOKEN), from https://pushover.net/apps.
	TokenFile string `toml:"token_file"`
	// APIBase replaces https://api.pushover.net, so a stand-in can.
	APIBase string `toml:"api_base"`
	// Retry is how often Pushover repeats an emergency notification until
	// acknowledged (Pushover: at least 30s); Expire is how long it keeps
	// repeating it (at most 3h).
	Retry  Duration `toml:"retry"`
	Expire Duration `toml:"expire"`

	Token Secret `toml:"-"`
}

// PushoverUser is [person.pushover]: where a person gets Pushover pages.
type PushoverUser struct {
	// UserKeyFile holds the person's user key (or
	// FOGHORN_PUSHOVER_USER_KEY_<NAME>): whoever has it can send to them,
	// and it is what Pushover names as the one who acknowledged.
	UserKeyFile string `toml:"user_key_file"`
	// Device sends only to that device of theirs; empty: all of them.
	Device string `toml:"device"`

	UserKey Secret `toml:"-"`
}

// Pushover's own bounds and defaults (https://pushover.net/api#priority).
const (
	DefaultPushoverAPIBase = "https://api.pushover.net"
	DefaultPushoverRetry   = time.Minute
	DefaultPushoverExpire  = time.Hour
	MinPushoverRetry       = 30 * time.Second
	MaxPushoverExpire      = 3 * time.Hour
)

// Pushover's tokens and user keys are 30 letters and digits; device
// names up to 25 letters, digits, '_' and '-'.
var (
	pushoverKeyRE    = regexp.MustCompile(`^[A-Za-z0-9]{30}$`)
	pushoverDeviceRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,25}$`)
)

func defaultPushover(c *Config) {
	if po := c.Pushover; po != nil {
		orString(&po.APIBase, DefaultPushoverAPIBase)
		orDuration(&po.Retry, DefaultPushoverRetry)
		orDuration(&po.Expire, DefaultPushoverExpire)
	}
}

// pushoverUserEnv is the variable that gives a person's user key.
func pushoverUserEnv(person string) string { return "FOGHORN_PUSHOVER_USER_KEY_" + EnvName(person) }

func loadPushoverSecrets(r *report, c *Config, dir string, env func(string) string) {
	if po := c.Pushover; po != nil {
		po.Token = secret(r, "pushover.token_file", "pushover token_file", po.TokenFile, dir, env, "FOGHORN_PUSHOVER_TOKEN")
	}
	for i := range c.People {
		p := &c.People[i]
		if p.Pushover == nil {
			continue
		}
		path := "person[" + itoa(i) + "].pushover.user_key_file"
		p.Pushover.UserKey = secret(r, path, "person "+quote(p.Name)+" pushover user_key_file", p.Pushover.UserKeyFile, dir, env,
			pushoverUserEnv(p.Name))
	}
}

func validatePushover(r *report, c *Config) {
	if po := c.Pushover; po != nil {
		switch tok := po.Token.Reveal(); {
		case tok == "" && po.TokenFile == "" && !r.inline["pushover.token_file"]:
			r.add("pushover", "pushover token_file", `set token_file = "/etc/foghorn/pushover-token" (the API token of your application at https://pushover.net/apps) or export FOGHORN_PUSHOVER_TOKEN`,
				"no application token: Pushover refuses every message without one")
		case tok != "" && !pushoverKeyRE.MatchString(tok):
			r.add("pushover.token_file", "pushover token_file", "put the API Token/Key of your application (https://pushover.net/apps) in the file, alone on one line",
				"the file does not hold a Pushover token (30 letters and digits; it has %d characters)", len(tok))
		}
		checkURL(r, "pushover.api_base", "pushover api_base", po.APIBase)
		if d := po.Retry; d.bad == nil && d.Duration < MinPushoverRetry {
			r.add("pushover.retry", "pushover retry", `use at least "30s" (Pushover refuses less); the default is "1m"`,
				"%s is below Pushover's minimum of 30s between repeats", d.Duration)
		}
		if d := po.Expire; d.bad == nil && (d.Duration > MaxPushoverExpire || d.Duration < po.Retry.Duration) {
			r.add("pushover.expire", "pushover expire", `use between retry and "3h" (Pushover's maximum); the default is "1h"`,
				"%s is outside the range retry (%s) to 3h", d.Duration, po.Retry.Duration)
		}
	}
	for i, p := range c.People {
		pp := p.Pushover
		if pp == nil {
			continue
		}
		path, key := "person["+itoa(i)+"].pushover", "person "+quote(p.Name)+" pushover"
		switch k := pp.UserKey.Reveal(); {
		case k == "" && pp.UserKeyFile == "" && !r.inline[path+".user_key_file"]:
			r.add(path, key+" user_key_file", "set user_key_file to a file holding the user key shown on the person's Pushover dashboard, or export "+pushoverUserEnv(p.Name),
				"no user key: foghorn cannot send to %s on Pushover", p.Name)
		case k != "" && !pushoverKeyRE.MatchString(k):
			r.add(path+".user_key_file", key+" user_key_file", "put the user key from the person's Pushover dashboard (https://pushover.net) in the file, alone on one line",
				"the file does not hold a Pushover user key (30 letters and digits; it has %d characters)", len(k))
		}
		if pp.Device != "" && !pushoverDeviceRE.MatchString(pp.Device) {
			r.add(path+".device", key+" device", "write the device's name as the Pushover app shows it (up to 25 letters, digits, '_' and '-'), or leave it out to reach all of them",
				"%q is not a Pushover device name", pp.Device)
		}
	}
	// A step that names "pushover" needs the section and, for everyone it
	// pages, a user key: like "sms" without a phone, it would page nobody.
	for i, pol := range c.Policies {
		for j, s := range pol.Steps {
			path, key := "policy["+itoa(i)+"].step["+itoa(j)+"]", "policy "+quote(pol.Name)+" step "+itoa(j+1)
			if oneOf(Pushover, s.Channels) {
				path, key = path+".channels", key+" channels"
			} else if oneOf(Pushover, s.Fallback) {
				path, key = path+".fallback", key+" fallback"
			} else {
				continue
			}
			if c.Pushover == nil {
				r.add(path, key, "add a [pushover] section with token_file, or drop \"pushover\" from the step", `"pushover" needs [pushover], but it is not configured`)
				continue
			}
			for _, name := range stepPeople(c, s.Who) {
				if p := c.Person(name); p != nil && p.Pushover == nil {
					r.add(path, key, "add [person.pushover] with user_key_file to "+name+", or drop \"pushover\" from the step",
						"%q has no Pushover user key for the \"pushover\" channel", name)
				}
			}
		}
	}
}
