package pager

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/textproto"
	"time"

	"github.com/twilio/twilio-go/client"
)

// maxBackoff caps one wait between attempts: a page is worth little once
// it is minutes late, and the engine falls back to the next channel.
const maxBackoff = 5 * time.Second

// retryable reports whether err is worth another attempt: a 5xx or 429
// from Twilio, a timeout or a broken connection, a 4xx SMTP reply. A Twilio
// 4xx (bad number, opted out, landline...) will fail the same way again.
func retryable(err error) bool {
	if err == nil {
		return false
	}
	var te *client.TwilioRestError
	if errors.As(err, &te) {
		return te.Status == 429 || te.Status >= 500
	}
	var v1 *client.RestErrorV1
	if errors.As(err, &v1) {
		return v1.HttpStatusCode == 429 || v1.HttpStatusCode >= 500
	}
	var se *textproto.Error
	if errors.As(err, &se) {
		return se.Code >= 400 && se.Code < 500
	}
	var ve vendorError
	if errors.As(err, &ve) {
		return ve.temporary()
	}
	var pe *permanentError
	if errors.As(err, &pe) {
		return false
	}
	// Transport errors, timeouts and bodies that are not Twilio JSON (a
	// proxy's HTML 502) are all "Twilio did not answer properly".
	return true
}

// vendorWide reports whether err says the vendor failed for everyone (down,
// overloaded, unreachable, or refusing our credentials) rather than for
// this one number.
func vendorWide(err error) bool {
	if credentialRefused(err) { // credentials.go: even when twilio-go refuses before sending
		return true
	}
	var te *client.TwilioRestError
	if errors.As(err, &te) {
		return te.Status == 401 || te.Status == 403 || te.Status == 429 || te.Status >= 500
	}
	var pe *permanentError
	if errors.As(err, &pe) {
		return false
	}
	return retryable(err)
}

// vendorError is a push app's answer that says itself whether a retry
// may help (Pushover's 5xx); its refused (credentials.go) says whether it
// fails every send alike.
type vendorError interface {
	error
	temporary() bool
	refused() bool
}

// permanentError is a failure of ours that no retry fixes (no phone number,
// channel not configured, rate limit).
type permanentError struct{ msg string }

func (e *permanentError) Error() string { return e.msg }

func permanent(format string, args ...any) error {
	return &permanentError{msg: fmt.Sprintf(format, args...)}
}

// retry runs fn up to attempts times while it fails with a retryable
// error, waiting base, 2*base, 4*base... (with jitter, capped) between
// tries, and gives up as soon as ctx ends. onRetry is told of each retry.
func retry(ctx context.Context, attempts int, base time.Duration, fn func(context.Context) error, onRetry func(n int, err error, wait time.Duration)) error {
	attempts = max(attempts, 1)
	wait := base
	for n := 1; ; n++ {
		err := fn(ctx)
		if err == nil || !retryable(err) || n >= attempts {
			return err
		}
		if ctx.Err() != nil {
			return err
		}
		d := min(wait/2+rand.N(wait/2+1), maxBackoff)
		if onRetry != nil {
			onRetry(n, err, d)
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (gave up retrying: %v)", err, ctx.Err())
		case <-t.C:
		}
		wait = min(wait*2, maxBackoff)
	}
}

// twilioCodes explains the Twilio error codes people meet when paging; the
// engine records the text, and `foghorn status` shows it.
var twilioCodes = map[int]string{
	20003: "authentication failed: check twilio account_sid and the auth token",
	20429: "too many requests",
	21211: "invalid 'To' phone number",
	21214: "'To' phone number cannot be reached",
	21408: "no permission to send to this region (enable it in Twilio's geo permissions)",
	21610: "the recipient opted out (texted STOP); they must text START to the Twilio number",
	21612: "Twilio cannot route to this number",
	21614: "'To' is not a mobile number (a landline cannot receive SMS)",
	21217: "phone number does not appear to be valid",
	30003: "unreachable handset (off, or out of coverage)",
	30004: "message blocked by the recipient or carrier",
	30005: "unknown destination handset",
	30006: "landline or unreachable carrier",
	30007: "filtered by the carrier as spam",
	30008: "unknown delivery error",
}

// codeText is "21614 'To' is not a mobile number ...".
func codeText(code int) string {
	if t, ok := twilioCodes[code]; ok {
		return fmt.Sprintf("%d %s", code, t)
	}
	return fmt.Sprintf("%d (see https://www.twilio.com/docs/errors/%d)", code, code)
}

// explain shortens twilio-go's verbose error to what a person needs.
func explain(err error) string {
	var te *client.TwilioRestError
	if errors.As(err, &te) {
		if _, ok := twilioCodes[te.Code]; ok {
			return fmt.Sprintf("twilio %d: error %s", te.Status, codeText(te.Code))
		}
		return fmt.Sprintf("twilio %d: error %d: %s", te.Status, te.Code, te.Message)
	}
	return err.Error()
}
