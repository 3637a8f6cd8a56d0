package twiliosim

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// Script is how one phone behaves. The zero value answers calls without
// pressing anything and receives every SMS.
type Script struct {
	// Call is what the phone does when called:
	//   "answer" (default) answers, then enters Keys at the call's Gathers;
	//   "wait" rings until Press (or the call's Timeout, then no-answer), for
	//          a human driving the demo;
	//   "no-answer", "busy";
	//   "voicemail" is answered by a machine (AnsweredBy machine_end_beep
	//          under MachineDetection=DetectMessageEnd, machine_start under
	//          Enable) that hears the TwiML but never presses a key;
	//   "fail" ends the call failed, with CallError as ErrorCode if set.
	Call      string `json:"call,omitempty"`
	CallError int    `json:"call_error,omitempty"`

	// Keys are entered one per <Gather>, in order, on every call to this
	// phone: {"9", "1"} is a wrong key, then 1 at the repeated menu. When
	// they run out a Gather gets no input, unless Press sent some.
	Keys []string `json:"keys,omitempty"`

	// SMS is what becomes of a message to this phone: "deliver" (default),
	// "undelivered" or "failed", with SMSError as ErrorCode (30003 and
	// 30008 if unset).
	SMS      string `json:"sms,omitempty"`
	SMSError int    `json:"sms_error,omitempty"`

	// Replies are texted back, one per delivered message and each once,
	// ReplyAfter the delivery. Being used up keeps a phone that always
	// answers "ACK" from looping forever with foghorn's confirmations.
	Replies    []string      `json:"replies,omitempty"`
	ReplyAfter time.Duration `json:"-"` // "reply_after" in JSON, as "10m" or nanoseconds

	// Reject makes the API refuse messages and calls to this phone at once
	// with 400 and this Twilio error code (21211 invalid number, 21610
	// unsubscribed, 21614 not a mobile number...).
	Reject int `json:"reject,omitempty"`
}

// Call and SMS behaviours a Script may name.
var (
	callActions = []string{"", "answer", "wait", "no-answer", "busy", "voicemail", "fail"}
	smsActions  = []string{"", "deliver", "undelivered", "failed"}
)

func (sc Script) check() error {
	if !slices.Contains(callActions, sc.Call) {
		return fmt.Errorf("unknown call behaviour %q (want one of answer, wait, no-answer, busy, voicemail, fail)", sc.Call)
	}
	if !slices.Contains(smsActions, sc.SMS) {
		return fmt.Errorf("unknown sms behaviour %q (want one of deliver, undelivered, failed)", sc.SMS)
	}
	if sc.ReplyAfter < 0 {
		return fmt.Errorf("negative reply_after %s", sc.ReplyAfter)
	}
	return nil
}

// scriptJSON is Script with ReplyAfter as a readable duration.
type scriptJSON struct {
	scriptAlias
	ReplyAfter any `json:"reply_after,omitempty"`
}

type scriptAlias Script

// MarshalJSON writes ReplyAfter as a Go duration string ("10m0s").
func (sc Script) MarshalJSON() ([]byte, error) {
	j := scriptJSON{scriptAlias: scriptAlias(sc)}
	if sc.ReplyAfter != 0 {
		j.ReplyAfter = sc.ReplyAfter.String()
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads ReplyAfter as a duration string ("90s") or nanoseconds.
func (sc *Script) UnmarshalJSON(b []byte) error {
	var j scriptJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*sc = Script(j.scriptAlias)
	switch v := j.ReplyAfter.(type) {
	case nil:
	case string:
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("reply_after: %w", err)
		}
		sc.ReplyAfter = d
	case float64:
		sc.ReplyAfter = time.Duration(v)
	default:
		return fmt.Errorf("reply_after: want a duration like \"10m\", got %v", v)
	}
	return nil
}

// SetPhone scripts how number behaves from now on; calls and messages
// already under way keep the script they started with. It replaces the
// phone's pending Replies.
func (s *Sim) SetPhone(number string, sc Script) error {
	if err := sc.check(); err != nil {
		return fmt.Errorf("twiliosim: script for %s: %w", number, err)
	}
	sc.Keys = append([]string(nil), sc.Keys...)
	sc.Replies = append([]string(nil), sc.Replies...)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.phones[number] = sc
	s.replies[number] = append([]string(nil), sc.Replies...)
	return nil
}

// script returns the phone's script (zero if none); callers hold no lock.
func (s *Sim) script(number string) Script {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.phones[number]
}

// nextReply takes the phone's next scripted reply, if any is left.
func (s *Sim) nextReply(number string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.replies[number]
	if len(q) == 0 {
		return "", false
	}
	s.replies[number] = q[1:]
	return q[0], true
}
