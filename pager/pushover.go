package pager

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"foghorn/configs"
	"foghorn/escalation"
)

// Pushover (https://pushover.net/api). Its API is three small form posts
// and a GET that answer JSON; net/http and encoding/json say it plainly,
// and no Go client for it is among the well-kept libraries we may use.
//
// A critical page goes out with emergency priority: the phone repeats it
// every [pushover] retry until it is acknowledged there, and Pushover
// gives a receipt. The receipt is kept in the store (pushes) and followed
// until acknowledged, expired or cancelled:
//
//   - Pushover POSTs the callback URL when the person acknowledges. The
//     callback is not signed, so it is only a hint: foghorn then asks
//     Pushover itself for the receipt and acts only on its answer, and
//     only when the one who acknowledged is the person's own user key.
//   - Live receipts are also polled: the backstop for a lost callback, and
//     the way acks arrive without a public URL. Pushover asks for at most
//     one request per receipt every 5 s; foghorn never asks more often
//     (a flood of forged callbacks included).
//   - When the incident no longer needs anyone (acked elsewhere, resolved,
//     snoozed), dismiss cancels its live receipts so the phone stops.
const (
	// PushoverCallbackPath is where Pushover posts an acknowledgement.
	PushoverCallbackPath = "/pushover/callback"

	// pushoverMinGap is Pushover's "no faster than once every 5 seconds"
	// per receipt.
	pushoverMinGap = 5 * time.Second
	// With callbacks, polling is only the backstop for a lost one: every
	// 30 s (Pushover's shortest retry) costs at most about one more repeat
	// on the phone. Without a public URL polling is the only way an ack
	// arrives, so it goes as fast as Pushover allows.
	pushoverPollWithCallback = 30 * time.Second
	pushoverPollAlone        = pushoverMinGap
)

// pushoverChannel sends through Pushover and follows emergency receipts.
type pushoverChannel struct {
	p      *Pager
	client *http.Client
	kick   chan struct{} // wakes the follower: a callback came, or a receipt was added

	mu   sync.Mutex
	live map[string]*receipt // by receipt: what is followed now
	salt string              // saltOnce
}

// receipt is one emergency notification being followed.
type receipt struct {
	ref, person            string
	notification, incident int64
	next, last             time.Time // when to ask Pushover next; when it was last asked
	cancel                 bool      // dismissed, but the cancel has not gone through yet
	hint                   bool      // a callback came while a request was in flight
	busy                   bool      // a request about it is in flight
}

func newPushover(p *Pager) *pushoverChannel {
	t := http.DefaultTransport.(*http.Transport).Clone()
	return &pushoverChannel{p: p, client: &http.Client{Transport: t, Timeout: p.opts.APITimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		kick: make(chan struct{}, 1), live: map[string]*receipt{}}
}

func (*pushoverChannel) name() configs.Channel { return configs.Pushover }
func (*pushoverChannel) vendor() string        { return vendorPushover }

func (c *pushoverChannel) ready(st *state, m *outgoing) error {
	if st.cfg.Pushover == nil || st.cfg.Pushover.Token.Empty() {
		return permanent("Pushover is not configured ([pushover] token_file)")
	}
	if m == nil {
		return nil
	}
	if c.user(st, m.in.Person) == nil {
		return permanent("%s has no Pushover user key ([person.pushover] user_key_file)", m.in.Person)
	}
	if m.text == "" {
		m.subject, m.text = pushoverText(m.in, st.public, c.p.clock.Now(), c.p.personZone(st, m.in.Person))
		if emergency(m) && st.public != "" {
			m.callback = st.public + PushoverCallbackPath + "?n=" + strconv.FormatInt(m.in.ID, 10)
		}
	}
	return nil
}

// user is a person's [person.pushover], or nil when they have no key.
func (c *pushoverChannel) user(st *state, person string) *configs.PushoverUser {
	if p := st.cfg.person(person); p != nil && p.Pushover != nil && !p.Pushover.UserKey.Empty() {
		return p.Pushover
	}
	return nil
}

// emergency reports whether m goes out with priority 2: a critical page,
// the one kind that must not be slept through.
func emergency(m *outgoing) bool {
	// A severity foghorn does not know ranks as critical: it must wake.
	return m.in.Kind == escalation.KindPage && m.in.Severity.Rank() >= configs.Critical.Rank() && !m.once
}

// priority is Pushover's: 2 repeats until acknowledged, 1 bypasses the
// person's quiet hours, 0 is a plain notification.
func priority(m *outgoing) int {
	switch {
	case emergency(m):
		return 2
	case m.in.Kind == escalation.KindPage && m.in.Severity == configs.Warning, m.in.Kind == escalation.KindTest, m.once:
		return 1
	}
	return 0
}

func (c *pushoverChannel) send(ctx context.Context, st *state, m *outgoing) (string, error) {
	cfg, u := st.cfg.Pushover, c.user(st, m.in.Person)
	f := url.Values{
		"token":    {cfg.Token.Reveal()},
		"user":     {u.UserKey.Reveal()},
		"title":    {cut(m.subject, 250)},
		"message":  {cut(m.text, 1024)},
		"priority": {strconv.Itoa(priority(m))},
	}
	if u.Device != "" {
		f.Set("device", u.Device)
	}
	if st.public != "" {
		f.Set("url", st.public+"/")
		f.Set("url_title", "foghorn dashboard")
	}
	if emergency(m) {
		f.Set("retry", strconv.Itoa(int(cfg.Retry.Duration/time.Second)))
		f.Set("expire", strconv.Itoa(int(cfg.Expire.Duration/time.Second)))
		if m.callback != "" {
			f.Set("callback", m.callback)
		}
		f.Set("tags", c.tagged(ctx, m.in))
	}
	var out struct {
		Request string `json:"request"`
		Receipt string `json:"receipt"`
	}
	if err := c.call(ctx, st, http.MethodPost, "/1/messages.json", f, &out); err != nil {
		return "", err
	}
	if emergency(m) {
		if out.Receipt == "" {
			return "", fmt.Errorf("pushover accepted an emergency message (request %s) but gave no receipt", out.Request)
		}
		return out.Receipt, nil
	}
	return out.Request, nil
}

func (*pushoverChannel) before(*outgoing) {}

func (c *pushoverChannel) after(ctx context.Context, st *state, m *outgoing, id string, err error) {
	if err != nil || !m.told {
		return
	}
	lg := c.p.log.With("notification", m.in.ID, "incident", m.in.Incident, "kind", m.in.Kind, "person", m.in.Person)
	if !emergency(m) {
		lg.Info("Pushover sent", "request", id, "priority", priority(m))
		return
	}
	now := c.p.clock.Now()
	r := &receipt{ref: id, person: m.in.Person, notification: m.in.ID, incident: m.in.Incident, next: now.Add(c.interval(st))}
	c.mu.Lock() // first: the callback may come before the row is written
	c.live[id] = r
	c.mu.Unlock()
	if db := c.p.opts.Store; db != nil {
		_, err := db.ExecContext(context.WithoutCancel(ctx), `INSERT INTO pushes (channel, ref, notification, incident, person, at, state)
			VALUES (?, ?, ?, ?, ?, ?, 'live') ON CONFLICT (channel, ref) DO NOTHING`,
			string(configs.Pushover), id, m.in.ID, m.in.Incident, m.in.Person, now.UnixMilli())
		if err != nil {
			lg.Warn("cannot record a Pushover receipt; after a restart it would not be followed", "receipt", id, "err", err)
		}
	}
	c.wake()
	lg.Info("Pushover emergency sent", "receipt", id, "callback", m.callback != "")
}

// tagged is the tag of in's emergency sends, recorded before the first
// is handed over. An attempt that Pushover carried out but whose answer
// was lost (a timeout, a connection cut) left a receipt foghorn never
// learnt, repeating on the phone; dismiss cancels it by this tag. The tag
// is the same for every attempt at one notification, and unique to this
// store (a salt in meta), so two foghorns sharing one application never
// cancel each other's.
func (c *pushoverChannel) tagged(ctx context.Context, in escalation.Intent) string {
	tag := "fh" + c.saltOnce(ctx) + "n" + strconv.FormatInt(in.ID, 10)
	if db := c.p.opts.Store; db != nil && in.ID > 0 {
		if _, err := db.ExecContext(context.WithoutCancel(ctx), `INSERT INTO pushes (channel, ref, notification, incident, person, at, state)
			VALUES (?, ?, ?, ?, ?, ?, 'tag') ON CONFLICT (channel, ref) DO NOTHING`,
			string(configs.Pushover), "tag:"+tag, in.ID, in.Incident, in.Person, c.p.clock.Now().UnixMilli()); err != nil {
			c.p.log.Warn("cannot record a Pushover tag; a send whose answer is lost could not be cancelled", "notification", in.ID, "err", err)
		}
	}
	return tag
}

// saltOnce is this store's part of the tags: made once, kept in meta.
func (c *pushoverChannel) saltOnce(ctx context.Context) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.salt != "" {
		return c.salt
	}
	var b [6]byte
	rand.Read(b[:])
	salt := hex.EncodeToString(b[:])
	if db := c.p.opts.Store; db != nil {
		ctx := context.WithoutCancel(ctx)
		db.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES ('pushover_tag', ?) ON CONFLICT (key) DO NOTHING`, salt)
		var v string
		if err := db.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'pushover_tag'`).Scan(&v); err == nil && v != "" {
			salt = v
		}
	}
	c.salt = salt
	return salt
}

// interval is how often a live receipt is polled.
func (c *pushoverChannel) interval(st *state) time.Duration {
	if st.public != "" {
		return pushoverPollWithCallback
	}
	return pushoverPollAlone
}

func (c *pushoverChannel) wake() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// dismiss cancels the incident's live receipts, so the phones stop
// repeating them. A cancel that fails is tried again by the follower.
func (c *pushoverChannel) dismiss(ctx context.Context, st *state, incident int64) {
	c.mu.Lock()
	var rs []*receipt
	for _, r := range c.live {
		if r.incident == incident {
			r.cancel = true
			if !r.busy {
				r.busy = true
				rs = append(rs, r)
			}
		}
	}
	c.mu.Unlock()
	for _, r := range rs {
		c.cancelReceipt(ctx, st, r)
	}
	c.cancelTags(ctx, st, incident)
}

// cancelTags cancels by tag whatever emergency sends of the incident are
// still repeating, those whose receipt foghorn never got included.
func (c *pushoverChannel) cancelTags(ctx context.Context, st *state, incident int64) {
	db := c.p.opts.Store
	if db == nil || st.cfg.Pushover == nil {
		return
	}
	rows, err := db.QueryContext(ctx, `SELECT ref FROM pushes WHERE channel = ? AND incident = ? AND state = 'tag'`, string(configs.Pushover), incident)
	if err != nil {
		c.p.log.Warn("cannot read the incident's Pushover tags", "incident", incident, "err", err)
		return
	}
	var refs []string
	for rows.Next() {
		var ref string
		if rows.Scan(&ref) == nil {
			refs = append(refs, ref)
		}
	}
	rows.Close()
	for _, ref := range refs {
		tag := strings.TrimPrefix(ref, "tag:")
		var out struct {
			Canceled int `json:"canceled"`
		}
		err := retry(ctx, 1+c.p.opts.Retries, c.p.opts.RetryBase, func(ctx context.Context) error {
			return c.call(ctx, st, http.MethodPost, "/1/receipts/cancel_by_tag/"+url.PathEscape(tag)+".json",
				url.Values{"token": {st.cfg.Pushover.Token.Reveal()}}, &out)
		}, nil)
		if err != nil {
			c.p.log.Warn("cannot cancel a notification's Pushover sends by tag", "incident", incident, "tag", tag, "err", err)
			continue
		}
		if out.Canceled > 0 {
			c.p.log.Info("Pushover sends cancelled by tag", "incident", incident, "tag", tag, "cancelled", out.Canceled)
		}
		db.ExecContext(context.WithoutCancel(ctx), `UPDATE pushes SET state = 'cancelled' WHERE channel = ? AND ref = ?`, string(configs.Pushover), ref)
	}
}

func (c *pushoverChannel) cancelReceipt(ctx context.Context, st *state, r *receipt) {
	err := c.call(ctx, st, http.MethodPost, "/1/receipts/"+url.PathEscape(r.ref)+"/cancel.json", url.Values{"token": {st.cfg.Pushover.Token.Reveal()}}, nil)
	var pe *pushoverError
	switch {
	case err == nil, errors.As(err, &pe) && pe.status == http.StatusNotFound:
		c.p.stats.add("pushover_receipts", "cancelled")
		c.p.log.Info("Pushover receipt cancelled: the phone stops repeating it", "receipt", r.ref, "incident", r.incident, "person", r.person)
		c.finish(ctx, r, "cancelled")
	default:
		c.p.log.Warn("cannot cancel a Pushover receipt; trying again", "receipt", r.ref, "incident", r.incident, "err", err)
		c.mu.Lock()
		r.busy, r.next = false, c.p.clock.Now().Add(pushoverMinGap)
		c.mu.Unlock()
	}
}

// finish stops following r and records why.
func (c *pushoverChannel) finish(ctx context.Context, r *receipt, state string) {
	c.mu.Lock()
	delete(c.live, r.ref)
	c.mu.Unlock()
	if db := c.p.opts.Store; db != nil {
		if _, err := db.ExecContext(context.WithoutCancel(ctx), `UPDATE pushes SET state = ? WHERE channel = ? AND ref = ?`,
			state, string(configs.Pushover), r.ref); err != nil {
			c.p.log.Warn("cannot record a Pushover receipt's end; a restart will ask Pushover about it again", "receipt", r.ref, "err", err)
		}
	}
}

// run follows the live receipts: those in the store from before a
// restart, and those sent since.
func (c *pushoverChannel) run(ctx context.Context) {
	var follows sync.WaitGroup // run returns only once its requests have
	loaded := false
	for {
		// The store is read once Pushover is configured (now, or by a
		// reload), never before: a pager without it touches nothing.
		if st := c.p.state(); !loaded && st != nil && st.cfg.Pushover != nil {
			c.load(ctx)
			loaded = true
		}
		now := c.p.clock.Now()
		var wait time.Duration // until the next receipt is due; 0: none is waiting
		var due []*receipt
		c.mu.Lock()
		for _, r := range c.live {
			switch {
			case r.busy: // its request ends with a new next, and a kick
			case !now.Before(r.next):
				r.busy = true
				due = append(due, r)
			case wait == 0 || r.next.Sub(now) < wait:
				wait = r.next.Sub(now)
			}
		}
		c.mu.Unlock()
		for _, r := range due {
			follows.Add(1)
			go func() {
				defer follows.Done()
				c.follow(ctx, r)
				c.wake()
			}()
		}
		// Without a receipt to wait for, no timer: only a send or a
		// callback (a kick) has anything for the follower to do.
		var timer <-chan time.Time
		if wait > 0 {
			timer = c.p.clock.After(wait)
		}
		select {
		case <-ctx.Done():
			follows.Wait()
			return
		case <-c.kick:
		case <-timer:
		}
	}
}

// load takes up the receipts a previous run left live. They are first
// asked about pushoverMinGap after the start: that run is gone, so no
// request of its own can be closer than that.
func (c *pushoverChannel) load(ctx context.Context) {
	db := c.p.opts.Store
	if db == nil {
		return
	}
	rows, err := db.QueryContext(ctx, `SELECT ref, notification, incident, person FROM pushes WHERE channel = ? AND state = 'live'`, string(configs.Pushover))
	if err != nil {
		c.p.log.Error("cannot read the live Pushover receipts; they are not followed until a restart", "err", err)
		return
	}
	defer rows.Close()
	now := c.p.clock.Now()
	n := 0
	c.mu.Lock()
	for rows.Next() {
		r := &receipt{}
		if err := rows.Scan(&r.ref, &r.notification, &r.incident, &r.person); err != nil {
			continue
		}
		r.next = now.Add(pushoverMinGap)
		c.live[r.ref] = r
		n++
	}
	c.mu.Unlock()
	if n > 0 {
		c.p.log.Info("following Pushover receipts from before the restart", "receipts", n)
	}
}

// follow asks Pushover about r (or cancels it, once dismissed) and acts
// on the answer.
func (c *pushoverChannel) follow(ctx context.Context, r *receipt) {
	st := c.p.state()
	c.mu.Lock()
	cancel := r.cancel
	r.last = c.p.clock.Now()
	c.mu.Unlock()
	if st.cfg.Pushover == nil {
		c.mu.Lock()
		r.busy, r.next = false, c.p.clock.Now().Add(time.Minute)
		c.mu.Unlock()
		return
	}
	if cancel {
		c.cancelReceipt(ctx, st, r)
		return
	}
	var out struct {
		Acknowledged   int    `json:"acknowledged"`
		AcknowledgedBy string `json:"acknowledged_by"`
		Device         string `json:"acknowledged_by_device"`
		Expired        int    `json:"expired"`
	}
	q := url.Values{"token": {st.cfg.Pushover.Token.Reveal()}}
	err := c.call(ctx, st, http.MethodGet, "/1/receipts/"+url.PathEscape(r.ref)+".json", q, &out)
	c.p.stats.add("pushover_receipts", "polled")
	lg := c.p.log.With("receipt", r.ref, "incident", r.incident, "person", r.person)
	var pe *pushoverError
	switch {
	case errors.As(err, &pe) && pe.status/100 == 4 && pe.status != http.StatusTooManyRequests && !pe.refused():
		lg.Warn("Pushover no longer knows the receipt; not following it", "err", err)
		c.finish(ctx, r, "gone")
		return
	case err != nil:
		lg.Warn("cannot ask Pushover about a receipt; asking again", "err", err)
		c.again(st, r)
		return
	case out.Acknowledged == 1:
		c.acknowledged(ctx, st, r, out.AcknowledgedBy, out.Device, lg)
		return
	case out.Expired == 1:
		lg.Info("Pushover receipt expired unacknowledged")
		c.p.stats.add("pushover_receipts", "expired")
		c.finish(ctx, r, "expired")
		return
	}
	c.p.stats.add("pushover_receipts", "unacknowledged") // after the decision: what a test waits for
	c.again(st, r)
}

func (c *pushoverChannel) again(st *state, r *receipt) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r.busy, r.next = false, c.p.clock.Now().Add(c.interval(st))
	if r.hint {
		r.hint, r.next = false, r.last.Add(pushoverMinGap)
	}
}

// acknowledged turns the person's acknowledgement on the phone into the
// person's ack, exactly as an SMS reply would be.
func (c *pushoverChannel) acknowledged(ctx context.Context, st *state, r *receipt, by, device string, lg interface {
	Info(string, ...any)
	Warn(string, ...any)
	Error(string, ...any)
}) {
	u := c.user(st, r.person)
	if u == nil || by != u.UserKey.Reveal() {
		// A group key, a shared app token used by others, or a forgery
		// that got as far as Pushover: someone acknowledged, but not the
		// person paged, so it acks nothing. Their key is not logged.
		lg.Warn("Pushover receipt acknowledged by another user key; ignored (acks come only from the paged person's own key)", "device", device)
		c.p.stats.add("pushover_receipts", "foreign_ack")
		c.finish(ctx, r, "foreign")
		return
	}
	c.finish(ctx, r, "acked")
	c.p.stats.add("pushover_receipts", "acked")
	eng := c.p.engine()
	if eng == nil {
		lg.Error("Pushover acknowledgement, but no escalation engine to ack with")
		return
	}
	inc, err := eng.Ack(ctx, r.incident, r.person, "pushover")
	switch {
	case errors.Is(err, escalation.ErrResolved):
		lg.Info("acknowledged on Pushover, but the incident is already resolved")
	case err != nil:
		lg.Error("ack by Pushover failed", "err", err)
	case inc != nil && inc.AckedBy != "" && inc.AckedBy != r.person:
		lg.Info("acknowledged on Pushover; the incident was already acked", "acked_by", inc.AckedBy)
	default:
		lg.Info("acked by Pushover", "device", device)
	}
}

// callback takes Pushover's POST for an acknowledged receipt. Anyone can
// post it, so it only makes foghorn ask Pushover about a receipt it is
// following, as soon as Pushover's rate rule allows; a receipt it does not
// know is refused with 404.
func (c *pushoverChannel) callback(w http.ResponseWriter, r *http.Request) {
	refuse := func(status int, result, why string, args ...any) {
		c.p.stats.add("webhooks", "pushover", result)
		c.p.log.Warn("Pushover callback refused: "+why, append([]any{"remote", r.RemoteAddr, "status", status}, args...)...)
		http.Error(w, http.StatusText(status), status)
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxWebhookBody)
	if err := r.ParseForm(); err != nil {
		refuse(http.StatusBadRequest, "bad_request", "unreadable form", "err", err)
		return
	}
	ref := r.PostForm.Get("receipt")
	c.mu.Lock()
	rc := c.live[ref]
	if rc != nil && r.URL.Query().Get("n") != strconv.FormatInt(rc.notification, 10) {
		rc = nil // not the callback URL this receipt was sent with
	}
	if rc != nil {
		rc.hint, rc.next = rc.busy, maxTime(c.p.clock.Now(), rc.last.Add(pushoverMinGap))
	}
	c.mu.Unlock()
	if rc == nil {
		if c.known(r.Context(), ref, r.URL.Query().Get("n")) {
			// Followed to its end already (the poll saw the ack first).
			c.p.stats.add("webhooks", "pushover", "done")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		refuse(http.StatusNotFound, "not_found", "no such live receipt", "receipt", cut(clean(ref), 40))
		return
	}
	c.wake()
	c.p.stats.add("webhooks", "pushover", "ok")
	c.p.log.Info("Pushover callback; asking Pushover about the receipt", "receipt", ref, "incident", rc.incident)
	w.WriteHeader(http.StatusNoContent)
}

// known reports whether ref is a receipt foghorn sent for notification n
// and no longer follows.
func (c *pushoverChannel) known(ctx context.Context, ref, n string) bool {
	db := c.p.opts.Store
	if db == nil || ref == "" {
		return false
	}
	var one int
	err := db.QueryRowContext(ctx, `SELECT 1 FROM pushes WHERE channel = ? AND ref = ? AND notification = ?`,
		string(configs.Pushover), ref, n).Scan(&one)
	return err == nil
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// pushoverError is an answer of Pushover's other than success: its status
// and the errors it listed.
type pushoverError struct {
	status  int
	errs    []string
	token   bool // the application token was refused
	request string
}

func (e *pushoverError) Error() string {
	what := strings.Join(e.errs, "; ")
	if what == "" {
		what = http.StatusText(e.status)
	}
	switch {
	case e.token:
		what += " (check [pushover] token_file or FOGHORN_PUSHOVER_TOKEN: the application's API token)"
	case e.status == http.StatusTooManyRequests:
		what += " (the application's monthly message limit is used up; it resets on the 1st, or raise it at https://pushover.net)"
	}
	return fmt.Sprintf("pushover %d: %s", e.status, what)
}

// retryable: Pushover asks for a retry of 5xx answers only.
func (e *pushoverError) retryable() bool { return e.status >= 500 }

// vendorWide: a 5xx or a refusal fails everyone's sends, not one key's.
func (e *pushoverError) vendorWide() bool { return e.retryable() || e.refused() }

// refused: a refused token or the monthly limit fails every send alike.
func (e *pushoverError) refused() bool { return e.token || e.status == http.StatusTooManyRequests }

// call makes one request to Pushover and decodes its success into out.
func (c *pushoverChannel) call(ctx context.Context, st *state, method, path string, f url.Values, out any) error {
	ctx, cancel := context.WithTimeout(ctx, c.p.opts.APITimeout)
	defer cancel()
	u := strings.TrimSuffix(st.cfg.Pushover.APIBase, "/") + path
	var body io.Reader
	if method == http.MethodGet {
		u += "?" + f.Encode()
	} else {
		body = strings.NewReader(f.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return permanent("pushover api_base %q: %v", st.cfg.Pushover.APIBase, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("User-Agent", "foghorn")
	resp, err := c.client.Do(req)
	if err != nil {
		// The URL carries the token on a GET: say where, not what.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("pushover %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var res struct {
		Status  int      `json:"status"`
		Errors  []string `json:"errors"`
		Token   string   `json:"token"`
		Request string   `json:"request"`
	}
	jerr := json.Unmarshal(b, &res)
	if resp.StatusCode != http.StatusOK || jerr != nil || res.Status != 1 {
		e := &pushoverError{status: resp.StatusCode, errs: res.Errors, token: res.Token == "invalid", request: res.Request}
		if resp.StatusCode == http.StatusOK {
			e.status = http.StatusBadGateway // a 200 that is not Pushover's JSON: a proxy's page
			e.errs = append(e.errs, "an answer that is not Pushover's")
		}
		return e
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

// pushoverText is the title and message of a send: a page says what is
// wrong and how to ack; a notice is the engine's text.
func pushoverText(in escalation.Intent, public string, now time.Time, loc *time.Location) (title, message string) {
	if in.Kind != escalation.KindPage {
		text := clean(in.Text)
		if text == "" {
			text = fmt.Sprintf("#%d %s: %s", in.Short, in.Kind, clean(in.Summary))
		}
		return "foghorn", text
	}
	summary := clean(in.Summary)
	if summary == "" {
		summary = "incident"
	}
	title = fmt.Sprintf("[%s] #%d %s", sevTag(in.Severity), in.Short, summary)
	var b strings.Builder
	b.WriteString(summary)
	if s := since(in.Since, now, loc); s != "" {
		fmt.Fprintf(&b, " since %s", s)
	}
	b.WriteString(".")
	if cause := firstLine(in.Detail); cause != "" && cause != summary {
		fmt.Fprintf(&b, "\n%s", cause)
	}
	if cmd, what := offerWords(in); cmd != "" {
		fmt.Fprintf(&b, "\nText %s %s.", cmd, what)
	}
	if in.Severity.Rank() >= configs.Critical.Rank() {
		fmt.Fprintf(&b, "\n\nAcknowledge this notification to ack #%d: paging stops for everyone.", in.Short)
	} else {
		fmt.Fprintf(&b, "\n\nTo ack, text %d to the foghorn number", in.Short)
		if public != "" {
			b.WriteString(" or use the dashboard")
		}
		b.WriteString(".")
	}
	return title, b.String()
}
