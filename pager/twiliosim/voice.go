package twiliosim

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// play runs an answered call's TwiML: the inline Twiml, or what its Url
// answers, then each Gather action's or Redirect's answer, up to maxDocs.
func (s *Sim) play(ctx context.Context, c *call) {
	var doc node
	docURL := ""
	if c.Twiml != "" {
		var err error
		if doc, err = parseTwiML([]byte(c.Twiml)); err != nil {
			return // refused at creation; cannot happen
		}
	} else {
		var ok bool
		if doc, docURL, ok = s.fetchTwiML(ctx, c, KindTwiml, c.URL, c.urlMethod, nil); !ok {
			return
		}
	}
	for range maxDocs {
		next, nextURL, more := s.runDoc(ctx, c, doc, docURL)
		if !more {
			return
		}
		doc, docURL = next, nextURL
	}
	s.log.Warn("twiliosim: call followed too many TwiML documents, hanging up", "sid", c.SID, "max", maxDocs)
}

// runDoc plays one document's verbs. It returns the document to play next
// (from a Gather action or a Redirect) and its URL, or more=false when the
// call hangs up.
func (s *Sim) runDoc(ctx context.Context, c *call, doc node, docURL string) (next node, nextURL string, more bool) {
	base := docURL
	if base == "" {
		base = s.opts.PublicURL // inline TwiML: relative URLs are foghorn's
	}
	for _, v := range doc.Kids {
		if !s.live(ctx, c) {
			return node{}, "", false
		}
		switch v.name() {
		case "Say":
			s.say(c, v.Text)
		case "Gather":
			for _, k := range v.Kids {
				if k.name() == "Say" {
					s.say(c, k.Text)
				}
			}
			timeout := time.Duration(v.intAttr("timeout", 5)) * time.Second
			digits, got := s.keys(ctx, c, timeout)
			if !s.live(ctx, c) {
				return node{}, "", false
			}
			if !got && v.attr("actionOnEmptyResult") != "true" {
				continue // no input: Twilio goes on with the next verb
			}
			if n := v.intAttr("numDigits", 0); n > 0 && len(digits) > n {
				digits = digits[:n]
			}
			if got {
				s.mu.Lock()
				c.Digits = append(c.Digits, digits)
				s.mu.Unlock()
			}
			target := docURL // Twilio's default action is the document itself
			if a := strings.TrimSpace(v.attr("action")); a != "" {
				var err error
				if target, err = resolve(base, a); err != nil {
					s.twimlError(c, KindGather, a, err)
					return node{}, "", false
				}
			}
			if target == "" {
				s.twimlError(c, KindGather, "", fmt.Errorf("a <Gather> without action in inline TwiML has nowhere to send its keys"))
				return node{}, "", false
			}
			extra := url.Values{"Digits": {digits}, "FinishedOnKey": {""}}
			return s.fetchTwiML(ctx, c, KindGather, target, v.attr("method"), extra)
		case "Redirect":
			target, err := resolve(base, strings.TrimSpace(v.Text))
			if err != nil {
				s.twimlError(c, KindTwiml, v.Text, err)
				return node{}, "", false
			}
			return s.fetchTwiML(ctx, c, KindTwiml, target, v.attr("method"), nil)
		case "Hangup", "Reject":
			return node{}, "", false
		case "Pause", "Play":
			// Nothing to hear in a log, and no reason to make tests wait.
		default:
			s.log.Debug("twiliosim: TwiML verb not simulated, skipped", "verb", v.name(), "sid", c.SID)
		}
	}
	return node{}, "", false // the end of a document hangs up
}

// live reports whether the call is still going: not hung up by the API, and
// the simulator not closing.
func (s *Sim) live(ctx context.Context, c *call) bool {
	if ctx.Err() != nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return !final(c.Status)
}

func (s *Sim) say(c *call, text string) {
	text = strings.Join(strings.Fields(text), " ")
	if text == "" {
		return
	}
	s.mu.Lock()
	c.Said = append(c.Said, text)
	s.mu.Unlock()
}

// keys is what the person enters at a Gather: keys sent with Press first,
// then the script's next Keys. A "wait" phone has a person at the keypad, so
// it waits up to the Gather's timeout for Press; a scripted phone with no
// keys left, or a voicemail, gives no input at once.
func (s *Sim) keys(ctx context.Context, c *call, timeout time.Duration) (string, bool) {
	if c.script.Call == "voicemail" {
		return "", false
	}
	take := func() (string, bool) {
		s.mu.Lock()
		defer s.mu.Unlock()
		if len(c.pending) > 0 {
			d := c.pending[0]
			c.pending = c.pending[1:]
			return d, true
		}
		if c.keyIdx < len(c.script.Keys) {
			c.keyIdx++
			return c.script.Keys[c.keyIdx-1], true
		}
		return "", false
	}
	if d, ok := take(); ok || c.script.Call != "wait" {
		return d, ok
	}
	expired := s.clock.After(timeout)
	for {
		select {
		case <-c.press:
			if d, ok := take(); ok {
				return d, true
			}
		case <-expired:
			return "", false
		case <-c.stop:
			return "", false
		case <-ctx.Done():
			return "", false
		}
	}
}

// fetchTwiML calls a voice webhook (the call's Url, a Gather action, a
// Redirect) and reads the TwiML it answers.
func (s *Sim) fetchTwiML(ctx context.Context, c *call, kind, target, method string, extra url.Values) (node, string, bool) {
	s.mu.Lock()
	snap := c.snapshot()
	s.mu.Unlock()
	p := s.callParams(snap)
	for k, vs := range extra {
		p[k] = vs
	}
	_, body, err := s.hook(ctx, webhook{kind: kind, sid: c.SID, url: target, method: method, params: p})
	if err != nil {
		return node{}, "", false // logged by hook; Twilio would say "application error" and hang up
	}
	doc, err := parseTwiML(body)
	if err != nil {
		s.twimlError(c, kind, target, err)
		return node{}, "", false
	}
	return doc, target, true
}

// twimlError logs TwiML the simulator could not follow; Twilio would play
// "an application error has occurred" and hang up, and so does the call.
func (s *Sim) twimlError(c *call, kind, target string, err error) {
	s.log.Warn("twiliosim: bad TwiML, hanging up", "sid", c.SID, "url", target, "err", err)
	s.record(Event{Kind: kind, URL: target, SID: c.SID, Err: "bad TwiML: " + err.Error()})
}

// resolve makes ref absolute against base, as Twilio resolves TwiML URLs.
func resolve(base, ref string) (string, error) {
	u, err := url.Parse(ref)
	if err != nil {
		return "", fmt.Errorf("URL %q: %w", ref, err)
	}
	if u.IsAbs() {
		return ref, nil
	}
	if base == "" {
		return "", fmt.Errorf("relative URL %q in inline TwiML needs Options.PublicURL", ref)
	}
	b, err := url.Parse(base)
	if err != nil {
		return "", fmt.Errorf("base URL %q: %w", base, err)
	}
	return b.ResolveReference(u).String(), nil
}
