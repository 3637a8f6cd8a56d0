package twiliosim

import (
	"math/rand/v2"
	"net/http"
)

// Fault makes the REST API misbehave, for retry and outage tests. It applies
// to /2010-04-01/ requests only, never to /sim/. The zero value is healthy.
type Fault struct {
	Status int     `json:"status,omitempty"` // HTTP status of a failed request: 500 (default), 429, 503...
	Next   int     `json:"next,omitempty"`   // fail the next Next requests
	Rate   float64 `json:"rate,omitempty"`   // then fail this fraction (0..1) of requests
	Hang   bool    `json:"hang,omitempty"`   // hold every request until the client gives up
}

// SetFault replaces the current fault; SetFault(Fault{}) heals the API.
func (s *Sim) SetFault(f Fault) {
	if f.Status == 0 {
		f.Status = http.StatusInternalServerError
	}
	s.mu.Lock()
	s.fault = f
	s.mu.Unlock()
}

// Fault returns the fault in force, with Next counting down.
func (s *Sim) Fault() Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fault
}

// injectFault decides the fate of one API request: a status to fail it
// with, or hung=true once it has held the request until the client (or
// Close) gave up — which is how an unreachable API looks to a client with a
// timeout.
func (s *Sim) injectFault(r *http.Request) (status int, hung bool) {
	s.mu.Lock()
	f := &s.fault
	switch {
	case f.Hang:
	case f.Next > 0:
		f.Next--
		status = f.Status
	case f.Rate > 0 && rand.Float64() < f.Rate:
		status = f.Status
	}
	hang := f.Hang
	s.mu.Unlock()
	if hang {
		select {
		case <-r.Context().Done():
		case <-s.ctx.Done():
		}
		return 0, true
	}
	return status, false
}

// faultError is the body Twilio sends with such a status.
func faultError(status int) *apiError {
	switch status {
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
