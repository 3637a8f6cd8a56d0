package configs

import (
	"fmt"
	"regexp"
)

// twilioTokenRE is the shape of a Twilio auth token as the console shows
// it: 32 hex digits (the account SID is "AC" and 32 more, sidRE).
var twilioTokenRE = regexp.MustCompile(`^[0-9a-f]{32}$`)

// checkTwilioToken refuses an auth token that cannot be Twilio's. A token
// with anything but letters and digits in it (a dash, a quote, a label
// pasted along) is refused by twilio-go itself before any request leaves
// (error 21224), and one of the wrong length is refused by Twilio (20003):
// either way not one page would go out, and check-config is the place to
// say so, not a WARN line at 3 a.m. The message names where the token came
// from and what is wrong with its shape, never any of its characters.
//
// With simulator = true and no token, the simulator's own default is used
// (pager.credentials): there is nothing to check then.
func checkTwilioToken(r *report, tw *Twilio) {
	v := tw.AuthToken.Reveal()
	if v == "" || (tw.AccountSID == "" && !tw.Simulator) || twilioTokenRE.MatchString(v) {
		return
	}
	const want = "does not hold a Twilio auth token (32 hex digits, 0-9 and a-f)"
	if tw.AuthTokenFile != "" {
		r.add("twilio.auth_token_file", "twilio auth_token_file",
			"put the Auth Token from the Twilio console (Account > API keys & tokens) in the file, alone on one line",
			"file %q %s: %s", tw.AuthTokenFile, want, tokenShape(v))
		return
	}
	r.add("twilio", "twilio auth token",
		"export FOGHORN_TWILIO_AUTH_TOKEN with the Auth Token from the Twilio console (Account > API keys & tokens), nothing else",
		"FOGHORN_TWILIO_AUTH_TOKEN %s: %s", want, tokenShape(v))
}

// tokenShape says what is wrong with a token without showing any of it:
// its length, and where the first character that is not a hex digit is.
func tokenShape(v string) string {
	rs := []rune(v)
	bad := 0
	for i, c := range rs {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			bad = i + 1
			break
		}
	}
	switch {
	case bad > 0 && len(rs) == 32:
		return fmt.Sprintf("character %d is not a hex digit", bad)
	case bad > 0:
		return fmt.Sprintf("it is %d characters long, and character %d is not a hex digit", len(rs), bad)
	}
	return fmt.Sprintf("it is %d characters long", len(rs))
}
