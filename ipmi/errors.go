package ipmi

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/bougou/go-ipmi/pkg/types"
)

// stepError names the step of a call that failed (connect, SEL, ...).
type stepError struct {
	step string
	err  error
}

func (e *stepError) Error() string { return e.step + ": " + e.err.Error() }
func (e *stepError) Unwrap() error { return e.err }

func step(name string, err error) error {
	if err == nil {
		return nil
	}
	return &stepError{name, err}
}

// explained puts go-ipmi's long error chains into words for a page, and
// keeps the chain for errors.Is and errors.As.
type explained struct {
	msg string
	err error
}

func (e *explained) Error() string { return e.msg }
func (e *explained) Unwrap() error { return e.err }

// wrap gives an error from a call its context: "ipmi NAME: OP: [STEP: ]WHY".
func (b *BMC) wrap(op string, start time.Time, err error) error {
	prefix := ""
	var se *stepError
	if errors.As(err, &se) {
		prefix = se.step + ": "
	}
	msg := b.explain(err, time.Since(start))
	if msg == "" {
		return fmt.Errorf("ipmi %s: %s: %w", b.name, op, err)
	}
	return fmt.Errorf("ipmi %s: %s: %w", b.name, op, &explained{prefix + msg, err})
}

// explain says what an error means for the person paged, or "" when it
// has nothing better to say than the error itself.
func (b *BMC) explain(err error, took time.Duration) string {
	addr := b.opt.addr()
	var ne net.Error
	switch {
	case errors.Is(err, ErrClosed):
		return ""
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Sprintf("connection refused by %s (nothing listening on the IPMI port; BMC down or wrong port)", addr)
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return fmt.Sprintf("%s unreachable (%v)", addr, err)
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout(),
		strings.Contains(err.Error(), "no matching IPMI response"),
		strings.Contains(err.Error(), "matched before"):
		return fmt.Sprintf("no answer from %s within %s (BMC hung, unreachable, or packets dropped)",
			addr, took.Round(10*time.Millisecond))
	case strings.Contains(err.Error(), "RAKP2 authentication code mismatch"),
		strings.Contains(err.Error(), "Unauthorized name"), strings.Contains(err.Error(), "unauthorized name"),
		strings.Contains(err.Error(), "Invalid integrity check"):
		return fmt.Sprintf("login to %s refused: check the username and password (ipmi username, password_file)", addr)
	}
	if re, ok := types.IsResponseError(err); ok {
		return fmt.Sprintf("BMC answered completion code %#02x (%s)", uint8(re.CompletionCode()), re.CompletionCode())
	}
	return ""
}

// notPresent reports a BMC's "requested record/sensor not present" answer
// (completion code 0xCB), which is how an empty SEL or SDR says so.
func notPresent(err error) bool {
	re, ok := types.IsResponseError(err)
	return ok && uint8(re.CompletionCode()) == 0xcb
}

// answered reports an error that is a BMC's completion code: the session
// works, the BMC only said no.
func answered(err error) bool {
	_, ok := types.IsResponseError(err)
	return ok
}
