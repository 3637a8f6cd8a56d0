package pager

import (
	"strings"

	"foghorn/configs"
)

// Config is the part of foghorn's config the pager reads, built by cmd
// from the loaded file (as each Alertmanager receiver gets its own config
// struct only): who can be paged and how, and the two vendors. The pager
// never sees targets, policies or the rest.
type Config struct {
	// People are everyone who can be paged or answer: their phone numbers
	// (which also say who an inbound SMS is from), email and time zone.
	People []configs.Person
	// Twilio is [twilio]. With Simulator on, cmd fills AccountSID and
	// AuthToken with the simulator's defaults when the file sets none.
	Twilio configs.Twilio
	// Providers are the [[provider]] entries, tried after [twilio] in
	// this order (providers.go).
	Providers []configs.Provider
	// SMTP is [smtp]; no Host means no email channel.
	SMTP configs.SMTP
	// Telegram is [telegram]; nil means no Telegram channel. The people's
	// chat ids are in People.
	Telegram *configs.TelegramBot
	// Ntfy is [ntfy] (ntfy.go); the topics are the people's [person.ntfy].
	Ntfy configs.NtfyConfig
	// Pushover is [pushover]; nil: no Pushover channel. The people's
	// user keys are in People.
	Pushover *configs.PushoverApp
	// PublicURL is where Twilio reaches the webhooks: [server] public_url,
	// or for a simulator on the same machine the listen address; empty
	// when unknown.
	PublicURL string
}

// person is the person called name, or nil.
func (c *Config) person(name string) *configs.Person {
	for i := range c.People {
		if c.People[i].Name == name {
			return &c.People[i]
		}
	}
	return nil
}

// public is PublicURL without a trailing slash, the base of every
// webhook URL.
func (c *Config) public() string { return strings.TrimSuffix(c.PublicURL, "/") }
