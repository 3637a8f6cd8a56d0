package twiliosim

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// maxWebhookBody bounds what the simulator reads of a webhook's answer
// (TwiML is small; a runaway handler must not eat memory).
const maxWebhookBody = 1 << 20

// webhook is one request the simulator makes to foghorn.
type webhook struct {
	kind   string // KindStatus, KindSMS, KindTwiml or KindGather
	sid    string
	url    string
	method string // POST unless the TwiML or API asked for GET
	params url.Values
}

// sendHook sends a webhook signed as Twilio signs it and logs it with the
// answer. It returns the HTTP status and body; err is a transport failure
// or a non-2xx answer, already logged. hook (faults.go) is the way in.
func (s *Sim) sendHook(ctx context.Context, h webhook) (int, []byte, error) {
	status, body, err := s.send(ctx, h)
	ev := Event{Kind: h.kind, Method: h.method, URL: h.url, SID: h.sid, Params: h.params, Status: status}
	if err == nil && status/100 != 2 {
		err = fmt.Errorf("twiliosim: %s webhook %s answered %d", h.kind, h.url, status)
	}
	if err != nil {
		ev.Err = err.Error()
		s.log.Warn("twiliosim: webhook failed", "kind", h.kind, "url", h.url, "sid", h.sid, "err", err)
	} else {
		s.log.Debug("twiliosim: webhook", "kind", h.kind, "url", h.url, "sid", h.sid, "status", status)
	}
	s.record(ev)
	return status, body, err
}

// sigHeader and sigKey are how webhooks are signed: Twilio signs with the
// auth token in X-Twilio-Signature, SignalWire with the Signing Key in
// X-SignalWire-Signature.
func (s *Sim) sigHeader() string {
	if s.opts.SignalWire {
		return "X-SignalWire-Signature"
	}
	return "X-Twilio-Signature"
}

func (s *Sim) sigKey() string {
	if s.opts.SignalWire {
		return s.opts.SigningKey
	}
	return s.opts.AuthToken
}

func (s *Sim) send(ctx context.Context, h webhook) (int, []byte, error) {
	if h.method == "" {
		h.method = http.MethodPost
	}
	var req *http.Request
	var err error
	switch strings.ToUpper(h.method) {
	case http.MethodGet:
		// Twilio adds the parameters to the query and signs the URL alone.
		u, perr := url.Parse(h.url)
		if perr != nil {
			return 0, nil, fmt.Errorf("twiliosim: webhook URL %q: %w", h.url, perr)
		}
		q := u.Query()
		for k, vs := range h.params {
			q[k] = append(q[k], vs...)
		}
		u.RawQuery = q.Encode()
		req, err = http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
		if err == nil {
			req.Header.Set(s.sigHeader(), Sign(s.sigKey(), u.String(), nil))
		}
	case http.MethodPost:
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, h.url, strings.NewReader(h.params.Encode()))
		if err == nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set(s.sigHeader(), Sign(s.sigKey(), h.url, h.params))
		}
	default:
		return 0, nil, fmt.Errorf("twiliosim: webhook method %q not supported (GET or POST)", h.method)
	}
	if err != nil {
		return 0, nil, fmt.Errorf("twiliosim: webhook request to %q: %w", h.url, err)
	}
	req.Header.Set("User-Agent", "TwilioProxy/1.1")
	req.Header.Set("I-Twilio-Idempotency-Token", newSID(""))
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("twiliosim: webhook %s: %w", h.url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxWebhookBody))
	if err != nil {
		return resp.StatusCode, body, fmt.Errorf("twiliosim: read webhook %s answer: %w", h.url, err)
	}
	return resp.StatusCode, body, nil
}
