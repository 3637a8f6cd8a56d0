package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"foghorn/configs"
	"foghorn/escalation"
)

// client is the CLI side of the JSON API: status, ack, resolve, escalate,
// snooze, silence and override talk to a running foghorn, so they work
// from any machine that reaches it, not only the VPS.
type client struct {
	base, token, as string
	http            *http.Client
}

// clientFlagsSynopsis and clientAbout are the part of the usage every
// command that talks to a running foghorn shares.
const (
	clientFlagsSynopsis = "[-url URL | -config FILE]"
	clientAbout         = `

It talks to the foghorn at -url (or FOGHORN_URL), else at -config's [server]
listen, else at http://127.0.0.1:8080. The API token comes from
FOGHORN_API_TOKEN or -config's api_token_file; the act is recorded under the
token's name, -as only adds a note.`
)

// clientOptions are the flags of every command that talks to a running
// foghorn.
type clientOptions struct{ base, path, as *string }

func clientFlags(fs *cmdFlags) clientOptions {
	return clientOptions{
		base: fs.String("url", os.Getenv("FOGHORN_URL"), "foghorn's `URL` (default: [server] listen of -config, or http://127.0.0.1:8080)"),
		path: fs.String("config", "", "read the address and API token from this config `FILE`"),
		// The token is who acts; -as is only words beside the act (who
		// typed it, on a shared token), never the actor.
		as: fs.String("as", "", "a `NOTE` recorded beside the act in the audit trail (the actor is always the token's name)"),
	}
}

// client is the client the flags describe.
func (o clientOptions) client() (*client, error) {
	c := &client{base: *o.base, token: os.Getenv("FOGHORN_API_TOKEN"), as: *o.as, http: &http.Client{Timeout: 15 * time.Second}}
	if *o.path != "" {
		cfg, err := configs.Load(*o.path)
		if err != nil {
			return nil, err
		}
		if c.base == "" {
			c.base = "http://" + strings.Replace(cfg.Server.Listen, "0.0.0.0:", "127.0.0.1:", 1)
			if strings.HasPrefix(cfg.Server.Listen, ":") {
				c.base = "http://127.0.0.1" + cfg.Server.Listen
			}
		}
		if c.token == "" {
			c.token = cfg.Server.APIToken.Reveal()
		}
	}
	if c.base == "" {
		c.base = "http://127.0.0.1:8080"
	}
	return c, nil
}

// do sends a request and decodes a JSON answer into out; API errors come
// back as the server's own words.
func (c *client) do(method, path string, body, out any) error {
	_, err := c.call(method, path, body, out)
	return err
}

// call is do with the HTTP status: 0 when foghorn could not be reached.
// A 409's JSON is decoded into out as well, for the refusal's words.
func (c *client) call(method, path string, body, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, strings.TrimRight(c.base, "/")+path, rd)
	if err != nil {
		return 0, err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if c.as != "" {
		req.Header.Set("X-Foghorn-Note", c.as)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, fmt.Errorf("cannot reach foghorn at %s: %w (is it running? set -url or FOGHORN_URL)", c.base, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode >= 300 {
		var e struct{ Error string }
		json.Unmarshal(raw, &e)
		if e.Error == "" {
			e.Error = resp.Status
		}
		if resp.StatusCode == http.StatusConflict && out != nil {
			json.Unmarshal(raw, out)
		}
		return resp.StatusCode, fmt.Errorf("%s", e.Error)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return resp.StatusCode, fmt.Errorf("foghorn's answer is not what this CLI expects (%v): are both the same version?", err)
		}
	}
	return resp.StatusCode, nil
}

// openIncident is the open incident with this id as the API shows it, or
// nil when it is not open or cannot be read (the act that follows then
// says why).
func (c *client) openIncident(id string) *escalation.Incident {
	var incs []escalation.Incident
	if err := c.do("GET", "/api/v1/incidents", nil, &incs); err != nil {
		return nil
	}
	for i := range incs {
		if strconv.FormatInt(incs[i].ID, 10) == id {
			return &incs[i]
		}
	}
	return nil
}

func cmdClient(name string, args []string, stdout, stderr io.Writer) int {
	fs := newFlags(name, stdout, stderr)
	opts := clientFlags(fs)
	if code, ok := fs.parse(args); !ok {
		return code
	}
	rest := fs.Args()
	c, err := opts.client()
	if err != nil {
		fmt.Fprintf(stderr, "foghorn %s: %v\n", name, err)
		return 2
	}
	usage := subcommands[name].line(name)
	fail := func(err error) int {
		fmt.Fprintf(stderr, "foghorn %s: %v\n", name, err)
		return 1
	}
	switch name {
	case "status":
		var incs []struct {
			escalation.Incident
			Timeline []escalation.Entry `json:"timeline"`
		}
		if err := c.do("GET", "/api/v1/incidents", nil, &incs); err != nil {
			return fail(err)
		}
		if len(incs) == 0 {
			fmt.Fprintln(stdout, "no open incidents")
		}
		for _, inc := range incs {
			fmt.Fprintf(stdout, "#%d (id %d) %s %s: %s — since %s\n", inc.Short, inc.ID, strings.ToUpper(string(inc.Severity)), inc.State, inc.Summary, inc.Opened.Local().Format("Jan 2 15:04"))
			for _, e := range inc.Timeline {
				fmt.Fprintf(stdout, "    %s  %-18s %-8s %s\n", e.At.Local().Format("15:04:05"), e.Kind, e.Actor, e.Detail)
			}
		}
	case "ack", "resolve", "escalate", "snooze":
		// An ack of an incident someone already holds changes nothing, and
		// the API answers with the incident either way: look first, so the
		// answer can say who had it rather than seem to be this ack.
		var before *escalation.Incident
		if name == "ack" {
			before = c.openIncident(rest[0])
		}
		path := "/api/v1/incidents/" + url.PathEscape(rest[0]) + "/" + name
		if name == "snooze" {
			path += "?for=" + url.QueryEscape(rest[1])
		}
		var inc escalation.Incident
		if err := c.do("POST", path, nil, &inc); err != nil {
			return fail(err)
		}
		switch {
		case name != "ack":
			fmt.Fprintf(stdout, "#%d %s: %s\n", inc.Short, inc.State, inc.Summary)
		case before != nil && before.State == escalation.Acknowledged && before.Snoozed.IsZero():
			fmt.Fprintf(stdout, "#%d was already acked by %s at %s; nothing changed: %s\n", inc.Short, inc.AckedBy, inc.Acked.Local().Format("Jan 2 15:04 MST"), inc.Summary)
		default:
			fmt.Fprintf(stdout, "#%d %s by %s: %s\n", inc.Short, inc.State, inc.AckedBy, inc.Summary)
		}
	case "silence":
		var ms []string
		for _, m := range rest[:len(rest)-1] {
			if !strings.ContainsAny(m, "=~!") {
				m = fmt.Sprintf("name=%q", m) // a bare target name
			}
			ms = append(ms, m)
		}
		var out struct {
			ID    int64
			Until time.Time
		}
		if err := c.do("POST", "/api/v1/silences", silenceRequest{Matchers: ms, For: rest[len(rest)-1]}, &out); err != nil {
			return fail(err)
		}
		fmt.Fprintf(stdout, "silence #%d on %s until %s\n", out.ID, strings.Join(ms, ", "), out.Until.Local().Format("Jan 2 15:04"))
	case "test-page":
		wait := "3m"
		if len(rest) > 1 {
			wait = rest[1]
		}
		c.http.Timeout = 16 * time.Minute
		fmt.Fprintf(stdout, "paging %s by SMS and a call; waiting up to %s for a reply or a key press...\n", rest[0], wait)
		var out struct {
			Answered bool
			Timeline []escalation.Entry
		}
		if err := c.do("POST", "/api/v1/test-page", map[string]string{"person": rest[0], "wait": wait}, &out); err != nil {
			return fail(err)
		}
		for _, e := range out.Timeline {
			fmt.Fprintf(stdout, "  %s  %-18s %s\n", e.At.Local().Format("15:04:05"), e.Kind, e.Detail)
		}
		if !out.Answered {
			fmt.Fprintf(stdout, "NOT answered: check %s's phone number, Do Not Disturb settings and the Twilio console\n", rest[0])
			return 1
		}
		fmt.Fprintf(stdout, "answered: %s's phone works\n", rest[0])
	case "power":
		req := powerRequest{Target: rest[0], Action: rest[1]}
		for _, w := range rest[2:] {
			switch strings.ToLower(w) {
			case "force":
				req.Force = true
			case "dry-run":
				req.DryRun = true
			default:
				fmt.Fprintln(stderr, "usage:", usage)
				return 2
			}
		}
		var out map[string]any
		if err := c.do("POST", "/api/v1/power", req, &out); err != nil {
			return fail(err)
		}
		if t, ok := out["Text"]; ok {
			fmt.Fprintln(stdout, t)
		} else {
			fmt.Fprintln(stdout, out["result"])
		}
	case "override":
		end, err := time.Parse(time.RFC3339, rest[2])
		if err != nil {
			return fail(fmt.Errorf("UNTIL %q: write it like 2026-12-01T09:00:00+01:00", rest[2]))
		}
		if err := c.do("POST", "/api/v1/overrides", overrideRequest{Absent: rest[0], Cover: rest[1], End: end}, nil); err != nil {
			return fail(err)
		}
		fmt.Fprintf(stdout, "%s covers %s until %s\n", rest[1], rest[0], end.Local().Format("Mon Jan 2 15:04"))
	}
	return 0
}
