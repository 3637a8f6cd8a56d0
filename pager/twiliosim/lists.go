package twiliosim

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"
)

// The Messages and Calls lists, as Twilio serves them (GET Messages.json,
// Calls.json): filtered by To, From and a date (Messages by DateSent,
// Calls by StartTime, each exact, "<" for on or before and ">" for on or
// after; a bare YYYY-MM-DD means the whole day, in UTC), newest first, in
// pages of PageSize (default 50, at most 1000) with the paging fields
// twilio-go follows (next_page_uri).

// dateFilter is one of DateSent / DateSent< / DateSent> (or StartTime...).
type dateFilter struct {
	name     string
	from, to time.Time // zero: open
}

// parseDates reads the three forms of a date filter from q.
func parseDates(q url.Values, name string) (*dateFilter, error) {
	f := &dateFilter{name: name}
	set := false
	for _, op := range []string{"", "<", ">"} {
		v := q.Get(name + op)
		if v == "" {
			continue
		}
		set = true
		start, day, err := parseDate(v)
		if err != nil {
			//lint:ignore ST1005 Twilio's own wording, which clients may match
			return nil, fmt.Errorf("Invalid %s%s %q: %v", name, op, v, err)
		}
		end := start // an instant: inclusive
		if day {
			end = start.Add(24*time.Hour - time.Nanosecond)
		}
		switch op {
		case "":
			f.from, f.to = start, end
		case "<":
			f.to = end
		case ">":
			f.from = start
		}
	}
	if !set {
		return nil, nil
	}
	return f, nil
}

func parseDate(v string) (t time.Time, day bool, err error) {
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		return t, true, nil
	}
	for _, layout := range []string{time.RFC3339Nano, twilioTime} {
		if t, err := time.Parse(layout, v); err == nil {
			return t, false, nil
		}
	}
	return time.Time{}, false, fmt.Errorf("want YYYY-MM-DD or an RFC 3339 time")
}

// match reports whether t passes; a resource without the date (a message
// not sent yet, a call not dialed yet) never does, as on Twilio.
func (f *dateFilter) match(t time.Time) bool {
	if f == nil {
		return true
	}
	if t.IsZero() {
		return false
	}
	return (f.from.IsZero() || !t.Before(f.from)) && (f.to.IsZero() || !t.After(f.to))
}

// listPage cuts items to the page the query asks for and renders Twilio's
// paging fields around them under key.
func listPage[T any](r *http.Request, key string, items []T) (int, any) {
	q := r.URL.Query()
	size := 50
	if v := q.Get("PageSize"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return http.StatusBadRequest, twErr(http.StatusBadRequest, 20001, "PageSize must be a positive number")
		}
		size = min(n, 1000)
	}
	num := 0
	if v := q.Get("Page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return http.StatusBadRequest, twErr(http.StatusBadRequest, 20001, "Page must be a number")
		}
		num = n
	}
	start := min(num*size, len(items))
	end := min(start+size, len(items))
	uriAt := func(n int) string {
		v := url.Values{}
		for k, vs := range q {
			if k != "Page" && k != "PageToken" && k != "PageSize" {
				v[k] = vs
			}
		}
		v.Set("PageSize", strconv.Itoa(size))
		v.Set("Page", strconv.Itoa(n))
		if n > 0 {
			v.Set("PageToken", fmt.Sprintf("PA%d", n*size))
		}
		return r.URL.Path + "?" + v.Encode()
	}
	body := map[string]any{
		key:                 items[start:end],
		"page":              num,
		"page_size":         size,
		"start":             start,
		"end":               max(end-1, start),
		"uri":               uriAt(num),
		"first_page_uri":    uriAt(0),
		"next_page_uri":     nil,
		"previous_page_uri": nil,
	}
	if end < len(items) {
		body["next_page_uri"] = uriAt(num + 1)
	}
	if num > 0 {
		body["previous_page_uri"] = uriAt(num - 1)
	}
	return http.StatusOK, body
}

// dateSent is the message's date_sent as rendered: none while queued or
// failed before sending.
func dateSent(m *Message) time.Time {
	if m.Status == "queued" || m.Status == "failed" {
		return time.Time{}
	}
	return m.Updated
}

func (s *Sim) listMessages(r *http.Request) (int, any, string) {
	q := r.URL.Query()
	df, err := parseDates(q, "DateSent")
	if err != nil {
		return http.StatusBadRequest, twErr(http.StatusBadRequest, 20001, err.Error()), ""
	}
	to, from := q.Get("To"), q.Get("From")
	s.mu.Lock()
	out := []messageJSON{}
	for _, m := range slices.Backward(s.msgs) {
		if (to == "" || m.To == to) && (from == "" || m.From == from) && df.match(dateSent(m)) {
			out = append(out, s.renderMessage(m))
		}
	}
	s.mu.Unlock()
	status, v := listPage(r, "messages", out)
	return status, v, ""
}

// started is the call's start_time: when it was dialed (Twilio leaves it
// empty while a call is queued).
func (c *call) started() time.Time {
	if c.Status == "queued" {
		return time.Time{}
	}
	return c.Created
}

func (s *Sim) listCalls(r *http.Request) (int, any, string) {
	q := r.URL.Query()
	df, err := parseDates(q, "StartTime")
	if err != nil {
		return http.StatusBadRequest, twErr(http.StatusBadRequest, 20001, err.Error()), ""
	}
	to, from, status := q.Get("To"), q.Get("From"), q.Get("Status")
	s.mu.Lock()
	out := []callJSON{}
	for _, c := range slices.Backward(s.calls) {
		if (to == "" || c.To == to) && (from == "" || c.From == from) && (status == "" || c.Status == status) && df.match(c.started()) {
			out = append(out, s.renderCall(c))
		}
	}
	s.mu.Unlock()
	st, v := listPage(r, "calls", out)
	return st, v, ""
}
