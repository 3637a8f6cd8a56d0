package twiliosim

import (
	"context"
	"fmt"
	"foghorn/pager/internal/simhttp"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"
)

// Fault makes the REST API misbehave, for retry and outage tests. It applies
// to /2010-04-01/ requests only, never to /sim/. The zero value is healthy.
type Fault struct {
	Status int     `json:"status,omitempty"` // HTTP status of a failed request: 500 (default), 429, 503...
	Next   int     `json:"next,omitempty"`   // fail the next Next requests
	Rate   float64 `json:"rate,omitempty"`   // then fail this fraction (0..1) of requests
	Hang   bool    `json:"hang,omitempty"`   // hold every request until the client gives up

	// AcceptHang is the share of create requests (Messages, Calls) that
	// are carried out — the SMS goes, the phone rings — and then never
	// answered: the client times out not knowing it was sent, as when a
	// connection dies after Twilio accepted.
	AcceptHang float64 `json:"accept_hang,omitempty"`

	// Status callbacks: the share never sent (Drop), sent twice (Dup), and
	// sent LateBy (at most; a random share of it) after the fact, so the
	// next callback of the same message or call overtakes it (Late).
	DropCallbacks float64       `json:"drop_callbacks,omitempty"`
	DupCallbacks  float64       `json:"dup_callbacks,omitempty"`
	LateCallbacks float64       `json:"late_callbacks,omitempty"`
	LateBy        time.Duration `json:"late_by,omitempty"` // nanoseconds in JSON; default 30s
}

// KindFault is a log entry for an injected fault that left no other trace
// (a callback dropped, delayed or doubled; a create hung after it was
// carried out); Err says which.
const KindFault = "fault"

// SetFault replaces the current fault; SetFault(Fault{}) heals the API.
func (s *Sim) SetFault(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.Set(simhttp.Fault{Status: f.Status, Next: f.Next, Rate: f.Rate, Hang: f.Hang, AcceptHang: f.AcceptHang})
	s.fault = f
}

// Fault returns the fault in force, with Next counting down.
func (s *Sim) Fault() Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, api := s.fault, s.faults.Get()
	f.Status, f.Next, f.Rate, f.Hang, f.AcceptHang = api.Status, api.Next, api.Rate, api.Hang, api.AcceptHang
	return f
}

// faultError is the body Twilio sends with such a status.
func faultError(status int) *apiError {
	switch status {
	case http.StatusUnauthorized:
		return twErr(status, 20003, "Authenticate")
	case http.StatusTooManyRequests:
		return twErr(status, 20429, "Too Many Requests")
	case http.StatusServiceUnavailable:
		return twErr(status, 20503, "Service Unavailable")
	case http.StatusInternalServerError:
		return twErr(status, 20500, "Internal Server Error")
	default:
		return twErr(status, 20500, http.StatusText(status))
	}
}

// chance draws one fault of probability p.
func chance(p float64) bool { return p > 0 && rand.Float64() < p }

// holdAccepted is AcceptHang for a create request the API has carried out
// (status 2xx): when the fault strikes, it logs the request as accepted
// and holds the answer until the client gives up. It reports whether it
// held it (then the caller writes nothing).
func (s *Sim) holdAccepted(r *http.Request, ev Event, status int, sid string) bool {
	if status/100 != 2 || r.Method != http.MethodPost ||
		!(strings.HasSuffix(r.URL.Path, "/Messages.json") || strings.HasSuffix(r.URL.Path, "/Calls.json")) {
		return false
	}
	if !s.faults.AcceptHang() {
		return false
	}
	ev.Status, ev.SID, ev.Err = status, sid, "accepted, then hung until the client gave up (injected)"
	s.record(ev)
	s.record(Event{Kind: KindFault, Method: r.Method, URL: r.URL.Path, SID: sid, Err: "accept-hang"})
	s.srv.Hold(r)
	return true
}

// hook sends a webhook, unless a callback fault takes it: a status
// callback may be dropped, doubled or sent late (in a goroutine of its
// own, so that the next callback overtakes it).
func (s *Sim) hook(ctx context.Context, h webhook) (int, []byte, error) {
	if h.kind != KindStatus {
		return s.sendHook(ctx, h)
	}
	f := s.Fault()
	mark := func(what string) {
		s.record(Event{Kind: KindFault, Method: h.method, URL: h.url, SID: h.sid, Params: h.params, Err: what})
	}
	switch {
	case chance(f.DropCallbacks):
		mark("callback-dropped")
		return http.StatusOK, nil, nil
	case chance(f.LateCallbacks):
		late := f.LateBy
		if late <= 0 {
			late = 30 * time.Second
		}
		d := late/4 + rand.N(late-late/4+1)
		mark(fmt.Sprintf("callback-late %s", d.Round(time.Millisecond)))
		s.goroutine(func(ctx context.Context) {
			if s.sleep(ctx, d) {
				s.sendHook(ctx, h)
			}
		})
		return http.StatusOK, nil, nil
	case chance(f.DupCallbacks):
		mark("callback-duplicated")
		status, body, err := s.sendHook(ctx, h)
		s.goroutine(func(ctx context.Context) {
			if s.sleep(ctx, time.Duration(rand.N(2000))*time.Millisecond) {
				s.sendHook(ctx, h)
			}
		})
		return status, body, err
	}
	return s.sendHook(ctx, h)
}
