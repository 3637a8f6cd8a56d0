package twiliosim

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"net/http"
	"regexp"
	"strings"
)

const apiVersion = "2010-04-01"

// apiError is Twilio's JSON error body; twilio-go decodes it into
// client.TwilioRestError.
type apiError struct {
	Code     int    `json:"code"`
	Message  string `json:"message"`
	MoreInfo string `json:"more_info"`
	Status   int    `json:"status"`
}

func twErr(status, code int, msg string) *apiError {
	return &apiError{
		Code:     code,
		Message:  msg,
		MoreInfo: fmt.Sprintf("https://www.twilio.com/docs/errors/%d", code),
		Status:   status,
	}
}

// apiFunc answers one REST API request: an HTTP status, the JSON value to
// send (an *apiError for failures) and the SID concerned, for the log.
type apiFunc func(r *http.Request) (status int, v any, sid string)

// prefix is where the REST API lives: /2010-04-01 at api.twilio.com,
// /api/laml/2010-04-01 at SPACE.signalwire.com.
func (s *Sim) prefix() string {
	if s.opts.SignalWire {
		return "/api/laml/" + apiVersion
	}
	return "/" + apiVersion
}

func (s *Sim) routeAPI(mux *http.ServeMux) {
	acct := s.prefix() + "/Accounts/{account}/"
	mux.Handle("POST "+acct+"Messages.json", s.api(s.createMessage))
	mux.Handle("GET "+acct+"Messages.json", s.api(s.listMessages)) // lists.go
	mux.Handle("GET "+acct+"Calls.json", s.api(s.listCalls))
	mux.Handle("GET "+acct+"Messages/{file}", s.api(s.fetchMessage))
	mux.Handle("POST "+acct+"Calls.json", s.api(s.createCall))
	mux.Handle("GET "+acct+"Calls/{file}", s.api(s.fetchCall))
	mux.Handle("POST "+acct+"Calls/{file}", s.api(s.updateCall))
	mux.Handle(s.prefix()+"/", s.api(func(r *http.Request) (int, any, string) {
		return http.StatusNotFound, twErr(http.StatusNotFound, 20404,
			fmt.Sprintf("The requested resource %s was not found", r.URL.Path)), ""
	}))
}

// api wraps a REST handler with what every Twilio request goes through:
// injected faults, Basic auth, the account in the path, form parsing, the
// JSON answer and the log.
func (s *Sim) api(fn apiFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
		parseErr := r.ParseForm()
		ev := Event{Kind: KindAPI, Method: r.Method, URL: r.URL.Path, Params: r.Form}

		if status, hung := s.faults.Inject(r, s.srv); hung {
			ev.Err = "hung until the client gave up (injected)"
			s.record(ev)
			return
		} else if status != 0 {
			ev.Status, ev.Err = status, "injected fault"
			s.record(ev)
			writeJSON(w, status, faultError(status))
			return
		}

		status, v, sid := s.authorize(r)
		if status == 0 && parseErr != nil {
			status, v = http.StatusBadRequest, twErr(http.StatusBadRequest, 20001, "Could not parse the request body: "+parseErr.Error())
		}
		if status == 0 {
			status, v, sid = fn(r)
		}
		if s.holdAccepted(r, ev, status, sid) {
			return
		}
		if e, ok := v.(*apiError); ok {
			ev.Err = fmt.Sprintf("%d: %s", e.Code, e.Message)
			if status == http.StatusUnauthorized {
				w.Header().Set("WWW-Authenticate", `Basic realm="Twilio API"`)
			}
		}
		ev.Status, ev.SID = status, sid
		s.record(ev)
		s.log.Debug("twiliosim: api", "method", r.Method, "path", r.URL.Path, "status", status, "sid", sid)
		writeJSON(w, status, v)
	})
}

func (s *Sim) authorize(r *http.Request) (int, any, string) {
	user, pass, ok := r.BasicAuth()
	if !ok || !equal(user, s.opts.AccountSID) || !equal(pass, s.opts.AuthToken) {
		return http.StatusUnauthorized, twErr(http.StatusUnauthorized, 20003, "Authenticate"), "" // SignalWire answers the same
	}
	if acct := r.PathValue("account"); acct != "" && acct != s.opts.AccountSID {
		return http.StatusNotFound, twErr(http.StatusNotFound, 20404,
			fmt.Sprintf("The requested resource %s was not found", r.URL.Path)), ""
	}
	return 0, nil, ""
}

func equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

// sidFile takes the SID out of a "{Sid}.json" path segment: ServeMux
// wildcards must be whole segments, so the ".json" comes along.
func sidFile(r *http.Request) string {
	return strings.TrimSuffix(r.PathValue("file"), ".json")
}

var e164 = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)

func newSID(prefix string) string {
	var b [16]byte
	rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}
