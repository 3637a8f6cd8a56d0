package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"foghorn/configs"
	"foghorn/pager"
)

// cmdCheck validates a config and prints every problem at once. It never
// prints a secret: Problems carry file names and variable names only.
func cmdCheck(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("check-config", stdout, stderr)
	if code, ok := fs.parse(args); !ok {
		return code
	}
	args = fs.Args()
	cfg, err := configs.LoadArmed(args[0]) // what run would refuse, check-config refuses
	var ps configs.Problems
	switch {
	case errors.As(err, &ps):
		fmt.Fprintln(stderr, ps.Error())
		n, w := ps.Count()
		also := ""
		if w > 0 {
			also = fmt.Sprintf(" and %d warning(s)", w)
		}
		fmt.Fprintf(stderr, "%s: %d problem(s)%s; nothing was started\n", args[0], n, also)
		return 1
	case err != nil:
		fmt.Fprintf(stderr, "foghorn: %v\n", err)
		return 1
	}
	if len(cfg.Warnings) > 0 { // they do not stop the config; say them anyway
		fmt.Fprintln(stderr, cfg.Warnings.Error())
	}
	fmt.Fprintf(stdout, "%s: ok: %d targets, %d groups, %d people, %d rotations, %d policies, %d maintenance windows\n",
		args[0], len(cfg.Targets), len(cfg.Groups), len(cfg.People), len(cfg.Rotations), len(cfg.Policies), len(cfg.Maintenance))
	if len(cfg.Targets) == 0 {
		fmt.Fprintf(stdout, "%s: no targets of its own: it pages for Alertmanager's alerts only (POST /api/v1/alertmanager)\n", args[0])
	}
	if u := smsWebhookURL(cfg); u != "" {
		fmt.Fprintf(stdout, "%s: Twilio console: set number %s's \"A message comes in\" webhook to %s (HTTP POST)\n", args[0], cfg.Twilio.From, u)
	}
	if pub := strings.TrimSuffix(cfg.Server.PublicURL, "/"); pub != "" {
		for _, p := range cfg.Providers {
			console := "Twilio console"
			if p.Kind == configs.KindSignalWire {
				console = "SignalWire dashboard (Phone Numbers > number > Messaging: LaML Webhooks)"
			}
			fmt.Fprintf(stdout, "%s: provider %q: %s: set number %s's \"A message comes in\" webhook to %s (HTTP POST)\n",
				args[0], p.Name, console, p.From, pub+pager.SMSPath)
		}
	}
	return 0
}

// smsWebhookURL is the URL to paste into the Twilio console for inbound
// SMS, built the way the pager signs it (public_url without a trailing
// slash, then the route), so what the operator pastes is what is checked.
// A simulator needs none.
func smsWebhookURL(cfg *configs.Config) string {
	if cfg.Twilio.Simulator || cfg.Twilio.AccountSID == "" || cfg.Server.PublicURL == "" {
		return ""
	}
	return strings.TrimSuffix(cfg.Server.PublicURL, "/") + pager.SMSPath
}
