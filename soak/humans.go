package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"foghorn/pager/twiliosim"
)

// ---- the people: phones that answer, and acks four ways ----

// ack is one acknowledgement that foghorn took (its answer said so).
type ack struct {
	short  int
	method string // sms, key, dashboard, api
	at     time.Time
	tries  int
}

// humans read the pages as they reach the phones (the simulator's record)
// and ack every critical incident once its first call has come (or a
// while after the first SMS), by SMS reply, key press, the dashboard or
// the API in turn. Warnings are left to resolve by themselves.
type humans struct {
	o      options
	sim    *twiliosim.Sim
	base   string // foghorn's HTTP listener
	client *http.Client

	mu      sync.Mutex
	started map[int]bool
	acks    []ack
	failed  map[string]int // method -> attempts foghorn did not take
	skipped int            // resolved before anyone acked
	next    int
}

var (
	pageSMS   = regexp.MustCompile(`^\[([A-Z]+)\] #(\d+) `)
	pageCall  = regexp.MustCompile(`This is foghorn\. (\w+) alert, incident (\d+):`)
	csrfInput = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	methods   = []string{"sms", "key", "dashboard", "api"}
)

// phones re-draws each phone's fate every half second: a call is
// answered by voicemail with probability vmRate, otherwise by a person who
// listens (and presses 1 only when the acker says so).
func (h *humans) phones(ctx context.Context) {
	for ctx.Err() == nil {
		for _, ph := range []string{alicePhone, bobPhone} {
			sc := twiliosim.Script{Call: "answer"}
			if rand.Float64() < h.o.vmRate {
				sc = twiliosim.Script{Call: "voicemail"}
			}
			h.sim.SetPhone(ph, sc)
		}
		sleep(ctx, 500*time.Millisecond)
	}
}

// run starts an acker for every critical incident seen on a phone.
func (h *humans) run(ctx context.Context, wg *sync.WaitGroup) {
	for ctx.Err() == nil {
		for _, m := range h.sim.Messages() {
			if m.Direction != "outbound-api" {
				continue
			}
			sm := pageSMS.FindStringSubmatch(m.Body)
			if sm == nil || sm[1] != "CRIT" {
				continue
			}
			short, _ := strconv.Atoi(sm[2])
			h.mu.Lock()
			if h.started[short] {
				h.mu.Unlock()
				continue
			}
			h.started[short] = true
			method := methods[h.next%len(methods)]
			h.next++
			h.mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				h.ackOne(ctx, short, m.To, m.Created, method)
			}()
		}
		sleep(ctx, time.Second)
	}
}

// callFor is the newest call to phone for incident short, if any.
func (h *humans) callFor(short int, phone string) (twiliosim.Call, bool) {
	calls := h.sim.Calls()
	for i := len(calls) - 1; i >= 0; i-- {
		c := calls[i]
		if m := pageCall.FindStringSubmatch(c.Twiml); m != nil && m[2] == strconv.Itoa(short) && c.To == phone {
			return c, true
		}
	}
	return twiliosim.Call{}, false
}

func (h *humans) ackOne(ctx context.Context, short int, phone string, first time.Time, method string) {
	// Wait for the first call (the policy's step is SMS then call), or
	// give up waiting after a while: a person reads the SMS and acks.
	for ctx.Err() == nil && time.Since(first) < h.o.ackAfter {
		if _, ok := h.callFor(short, phone); ok {
			break
		}
		sleep(ctx, 200*time.Millisecond)
	}
	sleep(ctx, time.Duration(rand.N(3000))*time.Millisecond)
	tries := 0
	for ctx.Err() == nil && time.Since(first) < h.o.ackGiveUp {
		tries++
		ok, gone, err := h.try(ctx, short, phone, method)
		if ok {
			h.mu.Lock()
			h.acks = append(h.acks, ack{short: short, method: method, at: time.Now(), tries: tries})
			h.mu.Unlock()
			return
		}
		if gone {
			h.mu.Lock()
			h.skipped++
			h.mu.Unlock()
			return
		}
		if err != nil {
			h.mu.Lock()
			h.failed[method]++
			h.mu.Unlock()
		}
		if method == "key" && tries >= 8 {
			method = "sms" // no live call to press on: read the SMS instead
		}
		sleep(ctx, 3*time.Second)
	}
}

// try acks once; gone means the incident resolved first.
func (h *humans) try(ctx context.Context, short int, phone, method string) (ok, gone bool, err error) {
	switch method {
	case "sms":
		m, err := h.sim.ReplySMS(phone, strconv.Itoa(short))
		if err != nil {
			return false, false, err
		}
		// foghorn answers in TwiML; its reply says whether it took it.
		return h.ackedByReply(phone, m.Created)
	case "key":
		c, found := h.callFor(short, phone)
		if !found || c.Status == "completed" || c.Status == "busy" || c.Status == "no-answer" || c.Status == "failed" || c.Status == "canceled" {
			return false, false, fmt.Errorf("no live call for #%d", short)
		}
		if err := h.sim.Press(phone, "1"); err != nil {
			return false, false, err
		}
		// The key reaches foghorn at the call's Gather.
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) && ctx.Err() == nil {
			for _, e := range h.sim.Events() {
				if e.Kind == twiliosim.KindGather && e.SID == c.SID && e.Params.Get("Digits") == "1" {
					if e.Status/100 == 2 && e.Err == "" {
						return true, false, nil
					}
					return false, false, fmt.Errorf("gather answered %d %s", e.Status, e.Err)
				}
			}
			sleep(ctx, 200*time.Millisecond)
		}
		return false, false, fmt.Errorf("the key never reached foghorn (voicemail?)")
	}
	id, state, err := h.lookup(ctx, short)
	switch {
	case err != nil:
		return false, false, err
	case id == 0 || state == "resolved":
		return false, true, nil
	case state == "acknowledged":
		return true, false, nil // someone else got there (a key pressed earlier)
	}
	if method == "api" {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, fmt.Sprintf("%s/api/v1/incidents/%d/ack", h.base, id), nil)
		req.Header.Set("Authorization", "Bearer "+apiToken)
		req.Header.Set("X-Foghorn-User", "alice")
		resp, err := h.client.Do(req)
		if err != nil {
			return false, false, err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusConflict {
			return false, true, nil
		}
		if resp.StatusCode/100 != 2 {
			return false, false, fmt.Errorf("api ack: %s", resp.Status)
		}
		return true, false, nil
	}
	return h.dashboardAck(ctx, id)
}

// ackedByReply looks for foghorn's TwiML reply to an SMS sent at t.
func (h *humans) ackedByReply(phone string, t time.Time) (bool, bool, error) {
	for _, m := range h.sim.Messages() {
		if m.Direction == "outbound-reply" && m.To == phone && !m.Created.Before(t) {
			low := strings.ToLower(m.Body)
			switch {
			case strings.Contains(low, "acked"):
				return true, false, nil
			case strings.Contains(low, "already resolved"):
				return false, true, nil
			}
			return false, false, fmt.Errorf("reply: %q", m.Body)
		}
	}
	return false, false, fmt.Errorf("no reply to the ack SMS")
}

// lookup finds an incident's id by its short number (foghorn's API: the
// dashboard and the API take the id).
func (h *humans) lookup(ctx context.Context, short int) (int64, string, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, h.base+"/api/v1/incidents", nil)
	req.Header.Set("Authorization", "Bearer "+apiToken)
	resp, err := h.client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, "", fmt.Errorf("GET /api/v1/incidents: %s", resp.Status)
	}
	var incs []struct {
		ID    int64  `json:"id"`
		Short int    `json:"short"`
		State string `json:"state"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&incs); err != nil {
		return 0, "", err
	}
	for _, in := range incs {
		if in.Short == short {
			return in.ID, in.State, nil
		}
	}
	return 0, "resolved", nil // not open any more
}

// dashboardAck logs in as alice and presses Ack on the incident's page,
// with the form's CSRF token, as a browser would.
func (h *humans) dashboardAck(ctx context.Context, id int64) (bool, bool, error) {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(path string) (string, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, h.base+path, nil)
		resp, err := c.Do(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			return "", fmt.Errorf("GET %s: %s", path, resp.Status)
		}
		return string(b), nil
	}
	post := func(path string, form url.Values) (int, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, h.base+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := c.Do(req)
		if err != nil {
			return 0, err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	page, err := get("/login")
	if err != nil {
		return false, false, err
	}
	m := csrfInput.FindStringSubmatch(page)
	if m == nil {
		return false, false, fmt.Errorf("no csrf field on /login")
	}
	if st, err := post("/login", url.Values{"csrf": {m[1]}, "name": {"alice"}, "password": {alicePass}, "next": {"/"}}); err != nil || st != http.StatusSeeOther {
		return false, false, fmt.Errorf("login: %d %v", st, err)
	}
	page, err = get(fmt.Sprintf("/incidents/%d", id))
	if err != nil {
		return false, false, err
	}
	if m = csrfInput.FindStringSubmatch(page); m == nil {
		return false, false, fmt.Errorf("no csrf field on the incident page")
	}
	st, err := post(fmt.Sprintf("/incidents/%d/ack", id), url.Values{"csrf": {m[1]}})
	if err != nil || st != http.StatusSeeOther {
		return false, false, fmt.Errorf("dashboard ack: %d %v", st, err)
	}
	return true, false, nil
}

func (h *humans) report() (acks []ack, failed map[string]int, skipped int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	f := map[string]int{}
	for k, v := range h.failed {
		f[k] = v
	}
	return append([]ack(nil), h.acks...), f, h.skipped
}
