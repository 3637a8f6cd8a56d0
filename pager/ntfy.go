package pager

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"foghorn/configs"
	"foghorn/escalation"
)

// ntfy publishes with net/http and encoding/json: the API is one POST of
// a small JSON document (https://docs.ntfy.sh/publish/#publish-as-json),
// and its Go client lives inside the ntfy server module, which would pull
// the whole server in for twenty lines of code.

const vendorNtfy = "ntfy"

// ntfyChannel publishes pages to each person's ntfy topic, with an "Ack"
// button that calls a signed one-use foghorn link (links.go).
type ntfyChannel struct{ p *Pager }

func (ntfyChannel) name() configs.Channel { return configs.Ntfy }
func (ntfyChannel) vendor() string        { return vendorNtfy }

func (c ntfyChannel) ready(st *state, m *outgoing) error {
	if !ntfyConfigured(st) {
		return permanent("ntfy is not configured (nobody has a [person.ntfy] topic_file)")
	}
	if m == nil {
		return nil
	}
	if ntfyTopic(st, m.in.Person) == "" {
		return permanent("%s has no ntfy topic ([person.ntfy] topic_file)", m.in.Person)
	}
	if m.text == "" {
		if m.in.Kind == escalation.KindPage {
			m.subject, m.text = ntfyPage(m.in, c.p.clock.Now(), c.p.personZone(st, m.in.Person))
		} else {
			m.text = strings.TrimSpace(m.in.Text)
			if m.text == "" {
				m.text = fmt.Sprintf("#%d %s: %s", m.in.Short, m.in.Kind, clean(m.in.Summary))
			}
		}
	}
	return nil
}

func (c ntfyChannel) send(ctx context.Context, st *state, m *outgoing) (string, error) {
	msg := ntfyMessage{Topic: ntfyTopic(st, m.in.Person), Title: m.subject, Message: m.text, Priority: 3}
	if m.in.Kind == escalation.KindPage {
		msg.Priority, msg.Tags = ntfyPriority(m.in.Severity), ntfyTags(m.in.Severity)
		if st.public != "" && m.in.Incident > 0 {
			msg.Click = st.public + "/incidents/" + strconv.FormatInt(m.in.Incident, 10)
			link, err := c.p.signLink(ctx, st, linkAck, m.in.Incident, m.in.Person, configs.Ntfy)
			if err != nil {
				// The page still goes: it says how to ack by SMS.
				c.p.log.Error("ntfy page without its Ack button: cannot sign the link", "incident", m.in.Incident, "person", m.in.Person, "err", err)
			} else {
				msg.Actions = []ntfyAction{{Action: "http", Label: fmt.Sprintf("Ack #%d", m.in.Short), URL: link, Method: http.MethodPost, Clear: true}}
			}
		}
	}
	return ntfyPublish(ctx, st.cfg.Ntfy.Server, ntfyToken(st, m.in.Person), msg, c.p.opts.APITimeout)
}

func (ntfyChannel) before(*outgoing) {}

func (c ntfyChannel) after(_ context.Context, _ *state, m *outgoing, id string, err error) {
	if err == nil && m.told {
		c.p.log.Info("ntfy sent", "notification", m.in.ID, "incident", m.in.Incident, "kind", m.in.Kind, "person", m.in.Person, "id", id)
	}
}

func ntfyConfigured(st *state) bool {
	for _, p := range st.cfg.People {
		if p.Ntfy != nil && !p.Ntfy.Topic.Empty() {
			return true
		}
	}
	return false
}

func ntfyTopic(st *state, person string) string {
	if p := st.cfg.person(person); p != nil && p.Ntfy != nil {
		return p.Ntfy.Topic.Reveal()
	}
	return ""
}

// ntfyToken is the person's own access token, else [ntfy]'s.
func ntfyToken(st *state, person string) string {
	if p := st.cfg.person(person); p != nil && p.Ntfy != nil && !p.Ntfy.Token.Empty() {
		return p.Ntfy.Token.Reveal()
	}
	return st.cfg.Ntfy.Token.Reveal()
}

// ntfyPriority: 5 ("max", sounds through Do Not Disturb where the app is
// allowed to) for critical, 4 ("high") for warning, 3 (default) else.
func ntfyPriority(sev configs.Severity) int {
	switch sev.Or(configs.Critical) {
	case configs.Critical:
		return 5
	case configs.Warning:
		return 4
	}
	return 3
}

// ntfyTags become emojis in the app ("rotating_light" is 🚨); the
// severity itself shows as a word tag.
func ntfyTags(sev configs.Severity) []string {
	switch sev.Or(configs.Critical) {
	case configs.Critical:
		return []string{"rotating_light", "critical"}
	case configs.Warning:
		return []string{"warning"} // ⚠️, and the word too
	}
	return []string{"information_source", "info"}
}

// ntfyPage is a page's title and body as the notification shows them.
func ntfyPage(in escalation.Intent, now time.Time, loc *time.Location) (title, body string) {
	summary := clean(in.Summary)
	if summary == "" {
		summary = "incident"
	}
	title = cut(fmt.Sprintf("[%s] #%d %s", sevTag(in.Severity), in.Short, summary), 200)
	var b strings.Builder
	if s := since(in.Since, now, loc); s != "" {
		fmt.Fprintf(&b, "Since %s. ", s)
	}
	if d := strings.TrimSpace(in.Detail); d != "" {
		b.WriteString(cut(d, 900) + "\n") // ntfy turns a body over 4096 bytes into an attachment
	}
	if cmd, what := offerWords(in); cmd != "" {
		fmt.Fprintf(&b, "Text %s to the foghorn number %s.\n", cmd, what)
	}
	fmt.Fprintf(&b, "Tap Ack #%d, or text %d to the foghorn number (%dR resolves).", in.Short, in.Short, in.Short)
	return title, b.String()
}

// ntfyOutage is the notice, through another channel, that ntfy fails for
// everyone or works again.
func ntfyOutage(down bool, why string, now time.Time, downFor time.Duration) (subject, text string) {
	if !down {
		return "foghorn: ntfy works again", fmt.Sprintf("foghorn: ntfy pages go out again (ntfy was failing for %s).", downFor.Round(time.Second))
	}
	// The first words are the news: an SMS carries only the text, cut
	// to one segment.
	return "foghorn: ntfy is failing - push pages are NOT going out",
		fmt.Sprintf("foghorn: ntfy is failing since %s UTC, push pages are NOT going out (other channels still page): %s",
			now.UTC().Format("15:04"), why)
}

// ntfyMessage is the JSON a page is published as.
type ntfyMessage struct {
	Topic    string       `json:"topic"`
	Title    string       `json:"title,omitempty"`
	Message  string       `json:"message"`
	Priority int          `json:"priority,omitempty"`
	Tags     []string     `json:"tags,omitempty"`
	Click    string       `json:"click,omitempty"`
	Actions  []ntfyAction `json:"actions,omitempty"`
}

// ntfyAction is one button: "http" makes the app send Method to URL.
type ntfyAction struct {
	Action string `json:"action"`
	Label  string `json:"label"`
	URL    string `json:"url"`
	Method string `json:"method,omitempty"`
	Clear  bool   `json:"clear,omitempty"`
}

// maxNtfyAnswer bounds what is read of ntfy's answer (the message JSON
// back, or an error).
const maxNtfyAnswer = 64 << 10

// ntfyPublish posts msg to the server's root and returns the message id.
func ntfyPublish(ctx context.Context, server, token string, msg ntfyMessage, timeout time.Duration) (string, error) {
	body, err := json.Marshal(msg)
	if err != nil {
		return "", permanent("ntfy: encode message: %v", err)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	base := strings.TrimSuffix(server, "/")
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/", bytes.NewReader(body))
	if err != nil {
		return "", permanent("ntfy server %q: %v (fix [ntfy] server)", server, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "foghorn")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	// One client per send: the Transport (and its connections) is the
	// shared default; only the timeout is the send's.
	resp, err := (&http.Client{Timeout: timeout}).Do(req)
	if err != nil {
		return "", fmt.Errorf("ntfy %s: %w", base, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, maxNtfyAnswer))
	if resp.StatusCode/100 != 2 {
		e := &ntfyError{Status: resp.StatusCode}
		if json.Unmarshal(data, e) != nil || e.Message == "" {
			e.Message = cut(clean(string(data)), 200) // a proxy's HTML page
		}
		e.Status = resp.StatusCode
		return "", e
	}
	var got struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(data, &got); err != nil || got.ID == "" {
		// ntfy answers the message; a 2xx without it is a proxy that
		// swallowed the request: the page is not known to be published.
		return "", fmt.Errorf("ntfy %s: HTTP %d without a message id: %q", base, resp.StatusCode, cut(clean(string(data)), 120))
	}
	return got.ID, nil
}

// ntfyError is ntfy's JSON error, {"code":42901,"http":429,"error":"..."}.
type ntfyError struct {
	Code    int    `json:"code"`
	Status  int    `json:"http"`
	Message string `json:"error"`
	Link    string `json:"link"`
}

func (e *ntfyError) Error() string {
	s := fmt.Sprintf("ntfy %d", e.Status)
	if e.Code != 0 {
		s += fmt.Sprintf(": error %d", e.Code)
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.refused() {
		s += "; check the access token ([ntfy] token_file, FOGHORN_NTFY_TOKEN or the person's [person.ntfy] token_file) and that it may write the topic"
	}
	return s
}

// 429 and 5xx pass; 401 and 403 are our token, refused for every page; a
// 400 is this message (ntfy says why) and fails the same way again.
func (e *ntfyError) retryable() bool {
	return e.Status == http.StatusTooManyRequests || e.Status >= 500
}
func (e *ntfyError) vendorWide() bool { return e.retryable() || e.refused() }
func (e *ntfyError) refused() bool {
	return e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden
}
