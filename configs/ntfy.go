package configs

import (
	"regexp"
	"slices"
	"time"
)

// NtfyConfig is [ntfy]: the ntfy server pages are published to (ntfy.sh or a
// self-hosted one), its default access token, and how long the "Ack"
// button of a page stays good.
type NtfyConfig struct {
	// Server is the ntfy server's base URL; pages are published to its root.
	Server string `toml:"server"`
	// TokenFile holds the default access token (or FOGHORN_NTFY_TOKEN),
	// sent as "Authorization: Bearer"; a person's own token overrides it.
	TokenFile string `toml:"token_file"`
	// LinkTTL is how long a page's signed Ack link can be used.
	LinkTTL Duration `toml:"link_ttl"`

	Token Secret `toml:"-"`
}

// NtfyPerson is [person.ntfy]: where a person's pages are published.
// The topic is a password (whoever knows it reads the pages), so it
// lives in a file, never in the config.
type NtfyPerson struct {
	TopicFile string `toml:"topic_file"`
	// TokenFile is this person's access token, instead of [ntfy]'s.
	TokenFile string `toml:"token_file"`

	Topic Secret `toml:"-"`
	Token Secret `toml:"-"`
}

// DefaultNtfyServer is [ntfy] server when it is not set.
const DefaultNtfyServer = "https://ntfy.sh"

// DefaultLinkTTL is [ntfy] link_ttl when it is not set: an hour. A page's
// SMS is dropped by Twilio after sms_validity (15m) if undelivered, but a
// notification that did arrive is often read later than that (the phone
// on the night stand, the person finding it after a shower); acking an
// incident that is still open stays useful for as long as its pages
// repeat. Longer than an hour, a leaked link (a screenshot, a shared
// screen) would ack something long after anyone meant it; each new page
// carries a fresh link anyway.
const DefaultLinkTTL = time.Hour

// ntfyTopicRE is the topic name ntfy accepts (its server's topicRegex).
var ntfyTopicRE = regexp.MustCompile(`^[-_A-Za-z0-9]{1,64}$`)

// minNtfyTopic is the shortest topic that is not guessable: on ntfy.sh a
// topic without access control is read by whoever names it.
const minNtfyTopic = 16

func defaultNtfy(c *Config) {
	orString(&c.Ntfy.Server, DefaultNtfyServer)
	orDuration(&c.Ntfy.LinkTTL, DefaultLinkTTL)
}

func loadNtfySecrets(r *report, c *Config, dir string, env func(string) string) {
	c.Ntfy.Token = secret(r, "ntfy.token_file", "ntfy token_file", c.Ntfy.TokenFile, dir, env, "FOGHORN_NTFY_TOKEN")
	for i := range c.People {
		p := &c.People[i]
		if p.Ntfy == nil {
			continue
		}
		path, key, n := "person["+itoa(i)+"].ntfy", "person "+quote(p.Name)+" ntfy", EnvName(p.Name)
		p.Ntfy.Topic = secret(r, path+".topic_file", key+" topic_file", p.Ntfy.TopicFile, dir, env, "FOGHORN_NTFY_TOPIC_"+n)
		p.Ntfy.Token = secret(r, path+".token_file", key+" token_file", p.Ntfy.TokenFile, dir, env, "FOGHORN_NTFY_TOKEN_"+n)
	}
}

func validateNtfy(r *report, c *Config) {
	n := c.Ntfy
	checkURL(r, "ntfy.server", "ntfy server", n.Server)
	if v := n.LinkTTL.Duration; n.LinkTTL.bad == nil && (v < time.Minute || v > 24*time.Hour) {
		r.add("ntfy.link_ttl", "ntfy link_ttl", `pick between "1m" and "24h"; "1h" (the default) outlives a page's repeats without leaving an old link usable for days`,
			"%s is outside 1m..24h", v)
	}
	for i, p := range c.People {
		if p.Ntfy == nil {
			continue
		}
		path, key := "person["+itoa(i)+"].ntfy", "person "+quote(p.Name)+" ntfy"
		t := p.Ntfy.Topic.Reveal()
		switch {
		case t == "" && p.Ntfy.TopicFile == "" && !r.inline[path+".topic_file"]:
			r.add(path, key+" topic_file", `add topic_file = "/etc/foghorn/ntfy-`+p.Name+`" holding the topic alone on one line (make one with `+"`openssl rand -hex 12`"+`), or export FOGHORN_NTFY_TOPIC_`+EnvName(p.Name),
				"missing: the topic the person's ntfy app subscribes to")
		case t != "" && !ntfyTopicRE.MatchString(t):
			r.add(path+".topic_file", key+" topic_file", "use letters, digits, '-' and '_' only, at most 64 (ntfy refuses other topics)",
				"the topic is not a valid ntfy topic name (%d characters)", len(t))
		case t != "" && len(t) < minNtfyTopic && p.Ntfy.Token.Empty() && n.Token.Empty():
			r.warn(path+".topic_file", key+" topic_file", "use a long random topic (`openssl rand -hex 12`), or protect it with an access token (token_file)",
				"the topic is %d characters and no access token protects it: on a public server anyone who guesses it reads the pages", len(t))
		}
	}
	uses := false
	for i, pol := range c.Policies {
		for j, s := range pol.Steps {
			chans := append(slices.Clone(s.Channels), s.Fallback...)
			if !slices.Contains(chans, Ntfy) {
				continue
			}
			uses = true
			path, key := "policy["+itoa(i)+"].step["+itoa(j)+"]", "policy "+quote(pol.Name)+" step "+itoa(j+1)
			for _, name := range stepPeople(c, s.Who) {
				if p := c.Person(name); p != nil && p.Ntfy == nil { // a [person.ntfy] without its topic is reported above
					r.add(path+".who", key+" who", `add [person.ntfy] with topic_file under `+quote(name)+`'s [[person]], or drop "ntfy" from the step`,
						"%q has no ntfy topic for the \"ntfy\" channel", name)
				}
			}
		}
	}
	if !uses || c.Server.PublicURL != "" {
		return
	}
	if c.Twilio.Simulator {
		r.warn("server", "server public_url", `set public_url to the https address phones reach this foghorn at, e.g. "https://foghorn.example.net"`,
			"missing: the ntfy Ack button points at the listen address %s, which only this machine reaches", c.Server.Listen)
		return
	}
	r.add("server", "server public_url", `set public_url to the https address phones reach this foghorn at, e.g. "https://foghorn.example.net"`,
		"missing: a step pages by ntfy, and its Ack button must call foghorn back; without it nobody could ack from the notification")
}
