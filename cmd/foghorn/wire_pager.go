package main

import (
	"net"
	"strings"

	"foghorn/configs"
	"foghorn/pager"
	"foghorn/pager/twiliosim"
)

// pagerConfig is the pager's part of cfg: people, [twilio] and [[provider]], [smtp] and the push apps,
// and where Twilio reaches the webhooks. For the in-process simulator it
// fills in the simulator's default account and token when the file sets
// none, so the pager knows nothing of twiliosim.
func pagerConfig(cfg *configs.Config) pager.Config {
	c := pager.Config{People: cfg.People, Twilio: cfg.Twilio, Providers: cfg.Providers, SMTP: cfg.SMTP, PublicURL: pagerPublicURL(cfg)}
	c.Telegram = cfg.Telegram // [telegram]: its own section only
	c.Ntfy = cfg.Ntfy
	c.Pushover = cfg.Pushover
	if c.Twilio.Simulator {
		if c.Twilio.AccountSID == "" {
			c.Twilio.AccountSID = twiliosim.DefaultAccountSID
		}
		if c.Twilio.AuthToken.Empty() {
			c.Twilio.AuthToken = configs.NewSecret(twiliosim.DefaultAuthToken)
		}
	}
	return c
}

// pagerPublicURL is where Twilio reaches the webhooks: [server]
// public_url, or for a simulator on the same machine the listen address.
func pagerPublicURL(cfg *configs.Config) string {
	if u := strings.TrimSuffix(cfg.Server.PublicURL, "/"); u != "" {
		return u
	}
	if !cfg.Twilio.Simulator {
		return ""
	}
	host, port, err := net.SplitHostPort(cfg.Server.Listen)
	if err != nil {
		return ""
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// simulatorOptions are the twiliosim options that match the pager's
// config, for the demo's in-process simulator: the same account and token
// (so the pager's API calls are accepted and the simulator's webhooks pass
// the signature check), the Twilio number, and the webhooks at the public
// URL.
func simulatorOptions(c pager.Config) twiliosim.Options {
	pub := strings.TrimSuffix(c.PublicURL, "/")
	o := twiliosim.Options{AccountSID: c.Twilio.AccountSID, AuthToken: c.Twilio.AuthToken.Reveal(), Number: c.Twilio.From, PublicURL: pub}
	if pub != "" {
		o.InboundSMSURL = pub + pager.SMSPath
	}
	return o
}
