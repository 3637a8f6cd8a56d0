package twiliosim

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// maxDocs bounds the TwiML documents one call follows (Gather actions and
// Redirects), so a menu that always answers "wrong key, again" ends.
const maxDocs = 10

// call is a Call plus what its goroutine needs. Everything is guarded by
// Sim.mu except the channels.
type call struct {
	Call
	script    Script
	timeout   time.Duration   // the API's Timeout: how long a "wait" phone rings
	events    map[string]bool // status callback events asked for
	cbMethod  string
	urlMethod string
	keyIdx    int           // next Script.Keys entry
	pending   []string      // keys sent with Press, not yet used
	press     chan struct{} // wakes a waiting Gather after Press (buffered 1)
	stop      chan struct{} // closed when the API hangs up the call
	stopped   bool
	seq       int // SequenceNumber of the next status callback
}

func (c *call) snapshot() Call {
	out := c.Call
	out.Events = slices.Clone(c.Events)
	out.Said = slices.Clone(c.Said)
	out.Digits = slices.Clone(c.Digits)
	return out
}

func final(status string) bool {
	switch status {
	case "completed", "busy", "no-answer", "failed", "canceled":
		return true
	}
	return false
}

// callJSON is the Call resource as Twilio renders it.
type callJSON struct {
	AccountSID      string            `json:"account_sid"`
	AnsweredBy      *string           `json:"answered_by"`
	APIVersion      string            `json:"api_version"`
	CallerName      *string           `json:"caller_name"`
	DateCreated     *string           `json:"date_created"`
	DateUpdated     *string           `json:"date_updated"`
	Direction       string            `json:"direction"`
	Duration        *string           `json:"duration"`
	EndTime         *string           `json:"end_time"`
	ForwardedFrom   *string           `json:"forwarded_from"`
	From            string            `json:"from"`
	FromFormatted   string            `json:"from_formatted"`
	GroupSID        *string           `json:"group_sid"`
	ParentCallSID   *string           `json:"parent_call_sid"`
	PhoneNumberSID  *string           `json:"phone_number_sid"`
	Price           *string           `json:"price"`
	PriceUnit       string            `json:"price_unit"`
	QueueTime       string            `json:"queue_time"`
	SID             string            `json:"sid"`
	StartTime       *string           `json:"start_time"`
	Status          string            `json:"status"`
	SubresourceURIs map[string]string `json:"subresource_uris"`
	To              string            `json:"to"`
	ToFormatted     string            `json:"to_formatted"`
	TrunkSID        *string           `json:"trunk_sid"`
	URI             string            `json:"uri"`
}

// renderCall must be called with s.mu held.
func (s *Sim) renderCall(c *call) callJSON {
	uri := fmt.Sprintf("%s/Accounts/%s/Calls/%s", s.prefix(), s.opts.AccountSID, c.SID)
	updated := c.Created
	for _, t := range []time.Time{c.Answered, c.Ended} {
		if t.After(updated) {
			updated = t
		}
	}
	j := callJSON{
		AccountSID:    s.opts.AccountSID,
		APIVersion:    apiVersion,
		DateCreated:   fmtTime(c.Created),
		DateUpdated:   fmtTime(updated),
		Direction:     "outbound-api",
		EndTime:       fmtTime(c.Ended),
		From:          c.From,
		FromFormatted: c.From,
		PriceUnit:     "USD",
		QueueTime:     "0",
		SID:           c.SID,
		StartTime:     fmtTime(c.started()),
		Status:        c.Status,
		SubresourceURIs: map[string]string{
			"notifications": uri + "/Notifications.json",
			"recordings":    uri + "/Recordings.json",
		},
		To:          c.To,
		ToFormatted: c.To,
		URI:         uri + ".json",
	}
	if c.AnsweredBy != "" {
		by := c.AnsweredBy // a copy: the JSON is written after the lock is released
		j.AnsweredBy = &by
	}
	if final(c.Status) {
		d := strconv.Itoa(c.duration())
		j.Duration = &d
	}
	return j
}

// duration is the answered time in whole seconds, rounded up as Twilio bills.
func (c *call) duration() int {
	if c.Answered.IsZero() || c.Ended.IsZero() {
		return 0
	}
	return int(math.Ceil(c.Ended.Sub(c.Answered).Seconds()))
}

func (s *Sim) createCall(r *http.Request) (int, any, string) {
	f := r.PostForm
	to, from := f.Get("To"), f.Get("From")
	inline, twimlURL := f.Get("Twiml"), f.Get("Url")
	bad := func(code int, msg string, args ...any) (int, any, string) {
		return http.StatusBadRequest, twErr(http.StatusBadRequest, code, fmt.Sprintf(msg, args...)), ""
	}
	switch {
	case to == "":
		return bad(21201, "No 'To' number is specified")
	case !e164.MatchString(to):
		return bad(21211, "Invalid 'To' Phone Number: %s", to)
	case from == "":
		return bad(21213, "No 'From' number is specified")
	case !e164.MatchString(from):
		return bad(21212, "Invalid 'From' Phone Number: %s", from)
	case inline == "" && twimlURL == "":
		return bad(21205, "Url or Twiml is required (the simulator does not run ApplicationSid)")
	}
	if inline != "" {
		if _, err := parseTwiML([]byte(inline)); err != nil {
			return bad(12100, "Document parse failure: %v", err)
		}
	} else if u, err := url.Parse(twimlURL); err != nil || !u.IsAbs() {
		return bad(21205, "Url is not a valid URL: %s", twimlURL)
	}
	sc := s.script(to)
	if sc.Reject != 0 {
		return bad(sc.Reject, "Call to %s refused (scripted error %d)", to, sc.Reject)
	}
	timeout := 60
	if t, err := strconv.Atoi(f.Get("Timeout")); err == nil && t > 0 {
		timeout = min(t, 600)
	}
	events := map[string]bool{"completed": true} // Twilio's default, and always sent
	var asked []string
	for _, v := range f["StatusCallbackEvent"] {
		for _, e := range strings.Fields(v) {
			events[e] = true
			asked = append(asked, e)
		}
	}
	c := &call{
		Call: Call{
			SID:              newSID("CA"),
			From:             from,
			To:               to,
			Status:           "queued",
			Twiml:            inline,
			StatusCallback:   f.Get("StatusCallback"),
			Events:           asked,
			MachineDetection: f.Get("MachineDetection"),
			Created:          s.clock.Now(),
		},
		script:    sc,
		timeout:   time.Duration(timeout) * time.Second,
		events:    events,
		cbMethod:  f.Get("StatusCallbackMethod"),
		urlMethod: f.Get("Method"),
		press:     make(chan struct{}, 1),
		stop:      make(chan struct{}),
	}
	if inline == "" {
		c.URL = twimlURL
	}
	s.mu.Lock()
	s.calls = append(s.calls, c)
	s.callBySID[c.SID] = c
	j := s.renderCall(c)
	s.mu.Unlock()
	s.goroutine(func(ctx context.Context) { s.runCall(ctx, c) })
	return http.StatusCreated, j, c.SID
}

func (s *Sim) fetchCall(r *http.Request) (int, any, string) {
	sid := sidFile(r)
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.callBySID[sid]
	if !ok {
		return http.StatusNotFound, twErr(http.StatusNotFound, 20404,
			fmt.Sprintf("The requested resource %s was not found", r.URL.Path)), sid
	}
	return http.StatusOK, s.renderCall(c), sid
}

// updateCall hangs up (Status=completed) or cancels (Status=canceled) a
// call. The new status is set at once, so the answer shows it and foghorn
// may hang up from inside one of the call's own webhooks without waiting on
// the simulator; the final status callback follows from the call goroutine.
func (s *Sim) updateCall(r *http.Request) (int, any, string) {
	sid := sidFile(r)
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.callBySID[sid]
	if !ok {
		return http.StatusNotFound, twErr(http.StatusNotFound, 20404,
			fmt.Sprintf("The requested resource %s was not found", r.URL.Path)), sid
	}
	switch st := r.PostForm.Get("Status"); st {
	case "":
		if r.PostForm.Get("Url") != "" || r.PostForm.Get("Twiml") != "" {
			s.log.Warn("twiliosim: redirecting a live call is not simulated", "sid", sid)
		}
	case "canceled", "completed":
		answered := c.Status == "in-progress"
		if final(c.Status) || (st == "canceled" && answered) {
			break // Twilio ignores a cancel of an answered call
		}
		c.Status = "canceled"
		if answered {
			c.Status = "completed"
		}
		c.Ended = s.clock.Now()
		if !c.stopped {
			c.stopped = true
			close(c.stop)
		}
	default:
		return http.StatusBadRequest, twErr(http.StatusBadRequest, 20001,
			fmt.Sprintf("Invalid Status %q (completed or canceled)", st)), sid
	}
	return http.StatusOK, s.renderCall(c), sid
}

var keysRE = regexp.MustCompile(`^[0-9*#w]+$`)

// Press enters digits on the newest live call to phone, as its person would:
// it answers a call ringing on a "wait" phone, or feeds the call's next
// <Gather>.
func (s *Sim) Press(phone, digits string) error {
	if !keysRE.MatchString(digits) {
		return fmt.Errorf("twiliosim: press %q on %s: keys are 0-9, * and #", digits, phone)
	}
	s.mu.Lock()
	var c *call
	for i := len(s.calls) - 1; i >= 0; i-- {
		if s.calls[i].To == phone && !final(s.calls[i].Status) {
			c = s.calls[i]
			break
		}
	}
	if c == nil {
		s.mu.Unlock()
		return fmt.Errorf("twiliosim: press %q on %s: no call in progress", digits, phone)
	}
	c.pending = append(c.pending, digits)
	s.mu.Unlock()
	select {
	case c.press <- struct{}{}:
	default: // already woken
	}
	return nil
}

// runCall plays a call's life as its phone's script says. It is the call's
// only goroutine; updateCall can end the call under it.
func (s *Sim) runCall(ctx context.Context, c *call) {
	defer s.endCall(ctx, c)
	if !s.setStatus(c, "initiated") {
		return
	}
	s.callStatus(ctx, c, "initiated")
	switch c.script.Call {
	case "busy":
		s.finish(c, "busy", 0)
		return
	case "fail":
		s.finish(c, "failed", c.script.CallError)
		return
	}
	if !s.setStatus(c, "ringing") {
		return
	}
	s.callStatus(ctx, c, "ringing")
	switch c.script.Call {
	case "no-answer":
		if s.wait(ctx, c, s.opts.Ring) {
			s.finish(c, "no-answer", 0)
		}
		return
	case "wait":
		if !s.ringUntilPressed(ctx, c) {
			return
		}
	default:
		if !s.wait(ctx, c, s.opts.Ring) {
			return
		}
	}
	if !s.setStatus(c, "in-progress") {
		return
	}
	s.callStatus(ctx, c, "answered")
	s.play(ctx, c)
}

// endCall gives the call its final status if nothing else did and sends the
// "completed" status callback, which Twilio always sends.
func (s *Sim) endCall(ctx context.Context, c *call) {
	s.mu.Lock()
	if !final(c.Status) {
		c.Status = "completed"
		if c.Answered.IsZero() {
			c.Status = "canceled" // only Close gets here before an answer
		}
		c.Ended = s.clock.Now()
	}
	s.mu.Unlock()
	if ctx.Err() == nil {
		s.callStatus(ctx, c, "completed")
	}
}

// setStatus moves a live call on; false if it has already ended.
func (s *Sim) setStatus(c *call, status string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if final(c.Status) {
		return false
	}
	c.Status = status
	if status == "in-progress" {
		c.Answered = s.clock.Now()
		c.AnsweredBy = answeredBy(c.MachineDetection, c.script.Call == "voicemail")
	}
	return true
}

// answeredBy is what Twilio's answering machine detection reports; nothing
// when it was not asked for.
func answeredBy(detection string, machine bool) string {
	switch {
	case detection == "":
		return ""
	case !machine:
		return "human"
	case detection == "DetectMessageEnd":
		return "machine_end_beep"
	default:
		return "machine_start"
	}
}

func (s *Sim) finish(c *call, status string, code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !final(c.Status) {
		c.Status, c.ErrorCode, c.Ended = status, code, s.clock.Now()
	}
}

// wait lets d pass on the clock; false if the call was hung up or the
// simulator closed first.
func (s *Sim) wait(ctx context.Context, c *call, d time.Duration) bool {
	if d <= 0 {
		select {
		case <-c.stop:
			return false
		default:
			return ctx.Err() == nil
		}
	}
	select {
	case <-s.clock.After(d):
		return true
	case <-c.stop:
		return false
	case <-ctx.Done():
		return false
	}
}

// ringUntilPressed rings a "wait" phone until Press answers it, or the
// call's Timeout makes it a no-answer.
func (s *Sim) ringUntilPressed(ctx context.Context, c *call) bool {
	timeout := s.clock.After(c.timeout)
	for {
		s.mu.Lock()
		n := len(c.pending)
		s.mu.Unlock()
		if n > 0 {
			return true
		}
		select {
		case <-c.press:
		case <-timeout:
			s.finish(c, "no-answer", 0)
			return false
		case <-c.stop:
			return false
		case <-ctx.Done():
			return false
		}
	}
}

// callParams are the parameters of every voice webhook for this call.
func (s *Sim) callParams(c Call) url.Values {
	p := url.Values{
		"AccountSid": {s.opts.AccountSID},
		"ApiVersion": {apiVersion},
		"CallSid":    {c.SID},
		"CallStatus": {c.Status},
		"Called":     {c.To},
		"Caller":     {c.From},
		"Direction":  {"outbound-api"},
		"From":       {c.From},
		"To":         {c.To},
	}
	if c.AnsweredBy != "" {
		p.Set("AnsweredBy", c.AnsweredBy)
	}
	return p
}

// callStatus sends the status callback for event if the call asked for it.
func (s *Sim) callStatus(ctx context.Context, c *call, event string) {
	s.mu.Lock()
	if c.StatusCallback == "" || !c.events[event] {
		s.mu.Unlock()
		return
	}
	snap, seq, dur := c.snapshot(), c.seq, c.duration()
	c.seq++
	s.mu.Unlock()
	p := s.callParams(snap)
	p.Set("CallbackSource", "call-progress-events")
	p.Set("SequenceNumber", strconv.Itoa(seq))
	p.Set("Timestamp", s.clock.Now().UTC().Format(twilioTime))
	if event == "completed" {
		p.Set("CallDuration", strconv.Itoa(dur))
		p.Set("Duration", strconv.Itoa((dur+59)/60))
		if code := map[string]string{"completed": "200", "busy": "486", "no-answer": "487", "canceled": "487"}[snap.Status]; code != "" {
			p.Set("SipResponseCode", code)
		}
		if snap.ErrorCode != 0 {
			p.Set("ErrorCode", strconv.Itoa(snap.ErrorCode))
		}
	}
	s.hook(ctx, webhook{kind: KindStatus, sid: snap.SID, url: snap.StatusCallback, method: c.cbMethod, params: p})
}
