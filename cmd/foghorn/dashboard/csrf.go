package dashboard

import (
	"crypto/subtle"
	"net/http"
)

// csrfField is the hidden form field every POST form carries.
const csrfField = "csrf"

// sameToken compares in constant time, so the token cannot be guessed a
// byte at a time from response times. An empty token never matches.
func sameToken(got, want string) bool {
	if got == "" || want == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// csrfOK checks a state-changing request two ways: the browser's own
// cross-origin signals (Sec-Fetch-Site, Origin), and the token from the
// form against want, the session's token. Either failing refuses it.
func (d *Dashboard) csrfOK(r *http.Request, want string) bool {
	if err := d.xo.Check(r); err != nil {
		d.log.Warn("cross-origin form post refused", "path", r.URL.Path, "ip", d.o.ClientIP(r), "origin", r.Header.Get("Origin"), "err", err)
		return false
	}
	if !sameToken(r.PostFormValue(csrfField), want) {
		d.log.Warn("form post with a missing or wrong csrf token refused", "path", r.URL.Path, "ip", d.o.ClientIP(r))
		return false
	}
	return true
}
