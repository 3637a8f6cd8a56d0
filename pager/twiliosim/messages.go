package twiliosim

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"
	"unicode/utf8"
)

// Twilio's timestamps in API answers: RFC 2822, in GMT.
const twilioTime = "Mon, 02 Jan 2006 15:04:05 -0700"

func fmtTime(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := t.UTC().Format(twilioTime)
	return &s
}

// messageJSON is the Message resource as Twilio renders it (null fields
// included, as twilio-go's ApiV2010Message expects).
type messageJSON struct {
	AccountSID          string            `json:"account_sid"`
	APIVersion          string            `json:"api_version"`
	Body                string            `json:"body"`
	DateCreated         *string           `json:"date_created"`
	DateSent            *string           `json:"date_sent"`
	DateUpdated         *string           `json:"date_updated"`
	Direction           string            `json:"direction"`
	ErrorCode           *int              `json:"error_code"`
	ErrorMessage        *string           `json:"error_message"`
	From                string            `json:"from"`
	MessagingServiceSID *string           `json:"messaging_service_sid"`
	NumMedia            string            `json:"num_media"`
	NumSegments         string            `json:"num_segments"`
	Price               *string           `json:"price"`
	PriceUnit           string            `json:"price_unit"`
	SID                 string            `json:"sid"`
	Status              string            `json:"status"`
	SubresourceURIs     map[string]string `json:"subresource_uris"`
	To                  string            `json:"to"`
	URI                 string            `json:"uri"`
}

// render must be called with s.mu held.
func (s *Sim) renderMessage(m *Message) messageJSON {
	uri := fmt.Sprintf("%s/Accounts/%s/Messages/%s", s.prefix(), s.opts.AccountSID, m.SID)
	j := messageJSON{
		AccountSID:      s.opts.AccountSID,
		APIVersion:      apiVersion,
		Body:            m.Body,
		DateCreated:     fmtTime(m.Created),
		DateUpdated:     fmtTime(m.Updated),
		Direction:       m.Direction,
		From:            m.From,
		NumMedia:        "0",
		NumSegments:     strconv.Itoa(segments(m.Body)),
		PriceUnit:       "USD",
		SID:             m.SID,
		Status:          m.Status,
		SubresourceURIs: map[string]string{"media": uri + "/Media.json", "feedback": uri + "/Feedback.json"},
		To:              m.To,
		URI:             uri + ".json",
	}
	if m.Status != "queued" && m.Status != "failed" {
		j.DateSent = fmtTime(m.Updated)
	}
	if m.ErrorCode != 0 {
		code := m.ErrorCode
		j.ErrorCode = &code
	}
	return j
}

// segments counts SMS parts as Twilio bills them for GSM-7 text.
func segments(body string) int {
	n := utf8.RuneCountInString(body)
	if n <= 160 {
		return 1
	}
	return (n + 152) / 153
}

func (s *Sim) createMessage(r *http.Request) (int, any, string) {
	f := r.PostForm
	to, from, body := f.Get("To"), f.Get("From"), f.Get("Body")
	switch {
	case to == "":
		return http.StatusBadRequest, twErr(http.StatusBadRequest, 21604, "A 'To' phone number is required."), ""
	case !e164.MatchString(to):
		return http.StatusBadRequest, twErr(http.StatusBadRequest, 21211, fmt.Sprintf("Invalid 'To' Phone Number: %s", to)), ""
	case from == "" && f.Get("MessagingServiceSid") == "":
		return http.StatusBadRequest, twErr(http.StatusBadRequest, 21603, "A 'From' phone number is required."), ""
	case body == "" && f.Get("MediaUrl") == "" && f.Get("ContentSid") == "":
		return http.StatusBadRequest, twErr(http.StatusBadRequest, 21602, "Message body is required."), ""
	case utf8.RuneCountInString(body) > 1600:
		return http.StatusBadRequest, twErr(http.StatusBadRequest, 21617, "The concatenated message body exceeds the 1600 character limit."), ""
	}
	if from == "" {
		from = s.opts.Number
	}
	sc := s.script(to)
	if sc.Reject != 0 {
		return http.StatusBadRequest, twErr(http.StatusBadRequest, sc.Reject,
			fmt.Sprintf("Message to %s refused (scripted error %d)", to, sc.Reject)), ""
	}
	validity, _ := strconv.Atoi(f.Get("ValidityPeriod"))
	now := s.clock.Now()
	m := &Message{
		SID:            newSID("SM"),
		Direction:      "outbound-api",
		From:           from,
		To:             to,
		Body:           body,
		Status:         "queued",
		StatusCallback: f.Get("StatusCallback"),
		ValidityPeriod: validity,
		Created:        now,
		Updated:        now,
	}
	s.mu.Lock()
	s.addMessage(m)
	j := s.renderMessage(m)
	s.mu.Unlock()
	s.goroutine(func(ctx context.Context) { s.deliver(ctx, m.SID, sc) })
	return http.StatusCreated, j, m.SID
}

// addMessage must be called with s.mu held.
func (s *Sim) addMessage(m *Message) {
	s.msgs = append(s.msgs, m)
	s.msgBySID[m.SID] = m
}

func (s *Sim) fetchMessage(r *http.Request) (int, any, string) {
	sid := sidFile(r)
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.msgBySID[sid]
	if !ok {
		return http.StatusNotFound, twErr(http.StatusNotFound, 20404,
			fmt.Sprintf("The requested resource %s was not found", r.URL.Path)), sid
	}
	return http.StatusOK, s.renderMessage(m), sid
}

// deliver plays an outbound message's life: its status callbacks, then the
// phone's scripted reply.
func (s *Sim) deliver(ctx context.Context, sid string, sc Script) {
	steps := []string{"sent", "delivered"}
	code := 0
	switch sc.SMS {
	case "undelivered":
		steps, code = []string{"sent", "undelivered"}, orDefault(sc.SMSError, 30003)
	case "failed":
		steps, code = []string{"failed"}, orDefault(sc.SMSError, 30008)
	}
	s.messageCallback(ctx, sid) // queued
	for _, st := range steps {
		if ctx.Err() != nil {
			return
		}
		s.mu.Lock()
		m := s.msgBySID[sid]
		m.Status, m.Updated = st, s.clock.Now()
		if st == "undelivered" || st == "failed" {
			m.ErrorCode = code
		}
		s.mu.Unlock()
		s.messageCallback(ctx, sid)
	}
	if steps[len(steps)-1] != "delivered" {
		return
	}
	s.mu.Lock()
	m := *s.msgBySID[sid]
	s.mu.Unlock()
	reply, ok := s.nextReply(m.To)
	if !ok || !s.sleep(ctx, sc.ReplyAfter) {
		return
	}
	if _, err := s.inbound(ctx, m.To, m.From, reply); err != nil {
		s.log.Warn("twiliosim: scripted reply", "from", m.To, "err", err)
	}
}

func orDefault(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

// messageCallback posts the message's current status to its StatusCallback.
func (s *Sim) messageCallback(ctx context.Context, sid string) {
	s.mu.Lock()
	m := *s.msgBySID[sid]
	s.mu.Unlock()
	if m.StatusCallback == "" {
		return
	}
	p := url.Values{
		"AccountSid":    {s.opts.AccountSID},
		"ApiVersion":    {apiVersion},
		"From":          {m.From},
		"To":            {m.To},
		"MessageSid":    {m.SID},
		"SmsSid":        {m.SID},
		"MessageStatus": {m.Status},
		"SmsStatus":     {m.Status},
	}
	if m.ErrorCode != 0 {
		p["ErrorCode"] = []string{strconv.Itoa(m.ErrorCode)}
	}
	s.hook(ctx, webhook{kind: KindStatus, sid: m.SID, url: m.StatusCallback, params: p})
}

// ReplySMS texts body to foghorn from phone, as if the person typed it: the
// inbound SMS webhook is POSTed (signed) before ReplySMS returns. The
// message goes to the number that last texted phone, else Options.Number.
// A TwiML <Message> in the webhook's answer is sent back to phone.
func (s *Sim) ReplySMS(phone, body string) (Message, error) {
	to := s.opts.Number
	s.mu.Lock()
	for i := len(s.msgs) - 1; i >= 0; i-- {
		if m := s.msgs[i]; m.To == phone && m.Direction != "inbound" {
			to = m.From
			break
		}
	}
	s.mu.Unlock()
	return s.inbound(s.ctx, phone, to, body)
}

// inbound delivers an SMS from a phone to foghorn's inbound webhook.
func (s *Sim) inbound(ctx context.Context, from, to, body string) (Message, error) {
	if s.opts.InboundSMSURL == "" {
		return Message{}, errors.New("twiliosim: inbound SMS: Options.InboundSMSURL is not set")
	}
	now := s.clock.Now()
	m := &Message{SID: newSID("SM"), Direction: "inbound", From: from, To: to, Body: body,
		Status: "received", Created: now, Updated: now}
	s.mu.Lock()
	s.addMessage(m)
	s.mu.Unlock()
	p := url.Values{
		"AccountSid":    {s.opts.AccountSID},
		"ApiVersion":    {apiVersion},
		"Body":          {body},
		"From":          {from},
		"To":            {to},
		"MessageSid":    {m.SID},
		"SmsMessageSid": {m.SID},
		"SmsSid":        {m.SID},
		"SmsStatus":     {"received"},
		"NumMedia":      {"0"},
		"NumSegments":   {strconv.Itoa(segments(body))},
	}
	_, answer, err := s.hook(ctx, webhook{kind: KindSMS, sid: m.SID, url: s.opts.InboundSMSURL, params: p})
	if err != nil {
		return *m, fmt.Errorf("twiliosim: inbound SMS from %s: %w", from, err)
	}
	// Twilio sends the <Message>s of the answer as replies.
	for _, text := range smsReplies(answer) {
		now := s.clock.Now()
		r := &Message{SID: newSID("SM"), Direction: "outbound-reply", From: to, To: from, Body: text,
			Status: "queued", Created: now, Updated: now}
		s.mu.Lock()
		s.addMessage(r)
		s.mu.Unlock()
		sc := s.script(from)
		s.goroutine(func(ctx context.Context) { s.deliver(ctx, r.SID, sc) })
	}
	return *m, nil
}
