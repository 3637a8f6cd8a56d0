// Package twiliosim is a Twilio simulator: a real HTTP server that speaks the
// parts of Twilio's REST API foghorn uses (Messages and Calls, 2010-04-01) and
// calls foghorn's webhooks back, signed with X-Twilio-Signature exactly as
// Twilio does. Tests and the demo point twilio-go at it (see Transport) instead
// of api.twilio.com.
//
// Each phone number can be scripted (answer and press 1, busy, voicemail,
// undelivered SMS, reply "ACK" after ten minutes...), the whole API can be
// made to fail or hang, and everything that happened is kept in a log that
// tests read with Messages, Calls and Events, or over HTTP at /sim/log.
//
// The simulator is for loopback tests and demos: its /sim/ control API has no
// authentication, so never expose it to a network you do not trust.
package twiliosim

import (
	"context"
	"foghorn/clock"
	"foghorn/pager/internal/simhttp"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"
)

// Defaults used when Options leaves a field empty. Both are alphanumeric
// because twilio-go refuses credentials that are not.
const (
	DefaultAccountSID = "AC00000000000000000000000000000000"
	DefaultAuthToken  = "simauthtoken0000"
	DefaultNumber     = "+15005550006" // Twilio's magic "valid sender" test number

	// SignalWire's (Options.SignalWire): a project ID and a Signing Key.
	DefaultProjectID  = "0b5a1f3c-6d2e-4a7b-9c8d-1e2f3a4b5c6d"
	DefaultSigningKey = "PSKsimsigningkey0000"
)

// Options configure a Sim. The zero value works for API-only tests.
type Options struct {
	AccountSID string // the account that may use the API (DefaultAccountSID if empty)
	AuthToken  string // the API password and the webhook signing key (DefaultAuthToken if empty)

	// Number is foghorn's Twilio number: the To of an inbound SMS from a
	// phone that foghorn has not texted yet (otherwise the From of the last
	// message sent to that phone is used, as a reply would be).
	Number string

	// InboundSMSURL is the "A message comes in" webhook of Number: where
	// ReplySMS and scripted replies are POSTed.
	InboundSMSURL string

	// PublicURL is foghorn's public base URL; relative URLs in inline TwiML
	// (a Gather action of "/twilio/gather") are resolved against it, as
	// Twilio resolves them against the URL the TwiML came from.
	PublicURL string

	// Ring is how long a phone rings before it answers or gives up
	// (no-answer). Zero makes scripted calls run without delay; the demo
	// sets a few seconds so people can watch.
	Ring time.Duration

	// SignalWire makes the simulator SignalWire's LaML API instead of
	// Twilio's: the same REST API under /api/laml/2010-04-01/, with
	// AccountSID as the project ID (a UUID) and AuthToken as the API
	// token, and webhooks signed by SigningKey (Twilio's algorithm) in
	// X-SignalWire-Signature.
	SignalWire bool
	SigningKey string // SignalWire's webhook Signing Key (DefaultSigningKey if empty)

	Clock  clock.Clock  // time source for every delay; nil means real time
	Logger *slog.Logger // nil discards
	Client *http.Client // used for webhooks; nil means a 15 s timeout, like Twilio's
}

// Sim is a running Twilio simulator. Create it with New, serve it with Start
// or Handler, and always Close it.
type Sim struct {
	opts   Options
	log    *slog.Logger
	clock  clock.Clock
	client *http.Client
	mux    *http.ServeMux

	srv    *simhttp.Server
	ctx    context.Context // srv's: canceled by Close; every goroutine watches it
	faults simhttp.Faults

	mu        sync.Mutex
	phones    map[string]Script
	replies   map[string][]string // scripted SMS replies not yet sent, per phone
	msgs      []*Message
	msgBySID  map[string]*Message
	calls     []*call
	callBySID map[string]*call
	events    []Event
	fault     Fault // the callback faults; the API's are in faults
}

// Message is an SMS as the simulator saw it, outbound (foghorn → phone) or
// inbound (phone → foghorn).
type Message struct {
	SID            string    `json:"sid"`
	Direction      string    `json:"direction"` // outbound-api, outbound-reply or inbound
	From           string    `json:"from"`
	To             string    `json:"to"`
	Body           string    `json:"body"`
	Status         string    `json:"status"` // queued, sent, delivered, undelivered, failed, received
	ErrorCode      int       `json:"error_code,omitempty"`
	StatusCallback string    `json:"status_callback,omitempty"`
	ValidityPeriod int       `json:"validity_period,omitempty"`
	Created        time.Time `json:"created"`
	Updated        time.Time `json:"updated"`
}

// Call is a voice call as the simulator saw it.
type Call struct {
	SID              string    `json:"sid"`
	From             string    `json:"from"`
	To               string    `json:"to"`
	Status           string    `json:"status"` // queued, initiated, ringing, in-progress, completed, busy, no-answer, failed, canceled
	AnsweredBy       string    `json:"answered_by,omitempty"`
	ErrorCode        int       `json:"error_code,omitempty"`
	Twiml            string    `json:"twiml,omitempty"` // inline TwiML given at creation
	URL              string    `json:"url,omitempty"`   // or the URL the TwiML was fetched from
	StatusCallback   string    `json:"status_callback,omitempty"`
	Events           []string  `json:"events,omitempty"` // StatusCallbackEvent as asked
	MachineDetection string    `json:"machine_detection,omitempty"`
	Said             []string  `json:"said,omitempty"`   // every <Say> played, in order
	Digits           []string  `json:"digits,omitempty"` // every key sequence entered, one per <Gather>
	Created          time.Time `json:"created"`
	Answered         time.Time `json:"answered,omitzero"`
	Ended            time.Time `json:"ended,omitzero"`
}

// Event is one line of the simulator's log: an API request it answered, or a
// webhook it called and what came back.
type Event struct {
	Time   time.Time  `json:"time"`
	Kind   string     `json:"kind"` // api, status, sms, twiml, gather
	Method string     `json:"method"`
	URL    string     `json:"url"`    // API path, or the webhook URL called
	SID    string     `json:"sid"`    // message or call concerned, if any
	Params url.Values `json:"params"` // form sent or received
	Status int        `json:"status"` // HTTP status answered (api) or received (webhooks); 0 if none
	Err    string     `json:"err,omitempty"`
}

// The kinds of Event.
const (
	KindAPI    = "api"    // a REST API request to the simulator
	KindStatus = "status" // a message or call status callback
	KindSMS    = "sms"    // the inbound SMS webhook
	KindTwiml  = "twiml"  // a TwiML fetch (the call's Url, or a <Redirect>)
	KindGather = "gather" // the keys of a <Gather> posted to its action
)

// New returns a simulator that is not yet serving; see Start and Handler.
func New(opts Options) *Sim {
	if opts.AccountSID == "" {
		opts.AccountSID = DefaultAccountSID
	}
	if opts.AuthToken == "" {
		opts.AuthToken = DefaultAuthToken
	}
	if opts.SignalWire && opts.AccountSID == DefaultAccountSID {
		opts.AccountSID = DefaultProjectID
	}
	if opts.SignalWire && opts.SigningKey == "" {
		opts.SigningKey = DefaultSigningKey
	}
	if opts.Number == "" {
		opts.Number = DefaultNumber
	}
	s := &Sim{
		opts:      opts,
		log:       opts.Logger,
		clock:     clock.Or(opts.Clock),
		client:    opts.Client,
		phones:    map[string]Script{},
		replies:   map[string][]string{},
		msgBySID:  map[string]*Message{},
		callBySID: map[string]*call{},
	}
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if s.client == nil {
		s.client = &http.Client{Transport: newTransport(), Timeout: 15 * time.Second}
	}
	s.mux = http.NewServeMux()
	s.routeAPI(s.mux)
	s.routeControl(s.mux)
	s.routeView(s.mux)
	s.srv = simhttp.NewServer("twiliosim", s.mux, s.log)
	s.ctx = s.srv.Context()
	return s
}

// Handler serves the REST API, /sim/ control API and /sim/ page, for use
// with httptest.NewServer or a mux of one's own.
func (s *Sim) Handler() http.Handler { return s.mux }

// Start listens on addr ("127.0.0.1:0" picks a free port) and serves until
// Close. It returns the base URL to give Transport.
func (s *Sim) Start(addr string) (string, error) { return s.srv.Start(addr) }

// Close stops the server (if Start was used), cancels every pending callback,
// ringing call and scheduled reply, and waits for their goroutines to end.
// It is safe to call more than once.
func (s *Sim) Close() error {
	err := s.srv.Close()
	s.client.CloseIdleConnections()
	return err
}

// goroutine runs fn in a goroutine that Close waits for; fn must return soon
// after ctx is done. It does nothing once Close has begun.
func (s *Sim) goroutine(fn func(ctx context.Context)) { s.srv.Go(fn) }

// sleep waits d on the sim's clock; false means ctx ended first.
func (s *Sim) sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	select {
	case <-s.clock.After(d):
		return true
	case <-ctx.Done():
		return false
	}
}

// Messages returns a copy of every SMS so far, oldest first.
func (s *Sim) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Message, len(s.msgs))
	for i, m := range s.msgs {
		out[i] = *m
	}
	return out
}

// Calls returns a copy of every call so far, oldest first.
func (s *Sim) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Call, len(s.calls))
	for i, c := range s.calls {
		out[i] = c.snapshot()
	}
	return out
}

// Events returns a copy of the log: API requests and webhooks, oldest first.
func (s *Sim) Events() []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Event, len(s.events))
	for i, e := range s.events {
		e.Params = cloneValues(e.Params)
		out[i] = e
	}
	return out
}

func (s *Sim) record(e Event) {
	if e.Time.IsZero() {
		e.Time = s.clock.Now()
	}
	e.Params = cloneValues(e.Params)
	s.mu.Lock()
	s.events = append(s.events, e)
	s.mu.Unlock()
}

func cloneValues(v url.Values) url.Values {
	if v == nil {
		return nil
	}
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = slices.Clone(vs)
	}
	return out
}
