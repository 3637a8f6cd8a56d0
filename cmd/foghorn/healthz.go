package main

import (
	"context"
	"fmt"
	"foghorn/configs"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
)

// /healthz answers 200 only while foghorn is armed: it probes its targets,
// at least one channel its policies page by works, and its store records.
// Anything else is 503 with every reason, one per line, so a load balancer
// or an outside dead-man's switch fires instead of trusting a process that
// is up but cannot page anyone. The body never holds a secret: reasons are
// built from vendor errors (explained, the account SID masked) and store
// errors.
func (d *daemon) healthz(w http.ResponseWriter, r *http.Request) {
	reasons, warnings := d.notArmed()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if len(reasons) > 0 {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, "not armed: do not count on foghorn to page")
		for _, s := range reasons {
			fmt.Fprintln(w, "- "+s)
		}
	} else {
		fmt.Fprintln(w, "ok")
	}
	info, _ := d.clusterLines()
	for _, s := range info {
		fmt.Fprintln(w, s)
	}
	for _, s := range warnings {
		fmt.Fprintln(w, "warning: "+s)
	}
}

// notArmed lists why foghorn cannot page a human about its site now, and
// what is degraded but still pages. The verdict is kept for a second:
// /healthz is unauthenticated, and a flood of requests (or 3,000 slow
// clients) must not become a flood of store writes and queries competing
// with the engine's; concurrent callers wait for the one check running.
// The check has its own deadline: a client hanging up must not leave a
// "context canceled" verdict for the next ones.
func (d *daemon) notArmed() (reasons, warnings []string) {
	c := &d.armed
	c.mu.Lock()
	defer c.mu.Unlock()
	if now := time.Now(); now.Sub(c.at) >= time.Second {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		c.reasons, c.warnings = d.checkArmed(ctx, now)
		cancel()
		c.at = now
	}
	return c.reasons, c.warnings
}

// armedCheck is the last verdict of notArmed.
type armedCheck struct {
	mu                sync.Mutex
	at                time.Time
	reasons, warnings []string
}

func (d *daemon) checkArmed(ctx context.Context, now time.Time) (reasons, warnings []string) {
	add := func(s string) {
		if s != "" {
			reasons = append(reasons, s)
		}
	}
	add(d.checkStore(ctx))
	add(d.checkLag(ctx))
	add(d.checkProbes(now))
	add(d.checkBlind())
	down, degraded := d.checkChannels()
	add(down)
	if degraded != "" {
		warnings = append(warnings, degraded)
	}
	warnings = append(warnings, d.db.Exposed()...)
	_, lost := d.clusterLines()
	warnings = append(warnings, lost...)
	return reasons, warnings
}

// checkStore writes to the store, as every incident and page needs to,
// and checks the file written to is still the database at its path: one
// deleted under foghorn takes writes that no restart will find.
func (d *daemon) checkStore(ctx context.Context) string {
	if err := d.db.FileGone(); err != nil {
		return "store: " + err.Error()
	}
	if err := d.db.Watchdog(ctx, time.Now()); err != nil {
		return "store failing: " + err.Error() + " (incidents and acks cannot be recorded; check the disk under [server] data_dir)"
	}
	return ""
}

// checkLag says when due escalation steps wait too long.
func (d *daemon) checkLag(ctx context.Context) string {
	lag, err := d.eng.Lag(ctx)
	switch {
	case err != nil:
		return "escalation engine: " + err.Error()
	case lag > maxLag:
		return fmt.Sprintf("escalation engine %s behind: due pages are waiting", lag.Round(time.Second))
	}
	return ""
}

// checkProbes says when no target has been probed yet, or none for much
// longer than the most frequent one is due. A foghorn with no targets of its own pages
// for Alertmanager's alerts only (configs.LoadArmed allows it then): there
// is nothing to probe.
func (d *daemon) checkProbes(now time.Time) string {
	cfg := d.cfg.Load()
	if len(cfg.Targets) == 0 {
		return ""
	}
	// This run's results, not the ones restored with the state: those
	// say nothing of whether the scheduler runs now.
	var newest time.Time
	if ns := d.probed.Load(); ns != 0 {
		newest = time.Unix(0, ns)
	}
	if newest.IsZero() {
		return fmt.Sprintf("no target probed yet (%d configured): foghorn has not seen the site", len(cfg.Targets))
	}
	// The target probed most often sets the pace: with it due every few
	// seconds, a minute without any result is a scheduler that stopped.
	shortest := time.Duration(0)
	for _, t := range cfg.Targets {
		if d := t.Interval.Duration + t.Timeout.Duration; shortest == 0 || d < shortest {
			shortest = d
		}
	}
	if stale := max(3*shortest, time.Minute); now.Sub(newest) > stale {
		return fmt.Sprintf("no target probed for %s (the most frequent is due every %s): the probes are stuck",
			now.Sub(newest).Round(time.Second), shortest)
	}
	return ""
}

// checkBlind says when foghorn's own canaries fail: it judges no target
// then, so it pages nobody about the site.
func (d *daemon) checkBlind() string {
	if blind, since := d.cls.Blind(); blind {
		return fmt.Sprintf("blind since %s UTC: fewer than [self_check] min_up canaries answer, so no target is judged",
			since.UTC().Format(time.TimeOnly))
	}
	return ""
}

// accountSID is a Twilio account SID: /healthz is unauthenticated, and
// the account is nobody else's business.
var accountSID = regexp.MustCompile(`AC[0-9a-f]{32}`)

// checkChannels compares the vendors the policies page by with what the
// pager knows of them. down is set when none of them works (Twilio refusing
// the credentials and the mail server unreachable, say); degraded when
// some fail but another still carries pages.
func (d *daemon) checkChannels() (down, degraded string) {
	cfg := d.cfg.Load()
	used := map[configs.Channel]bool{}
	for _, p := range cfg.Policies {
		for _, s := range p.Steps {
			for _, ch := range append(append([]configs.Channel(nil), s.Channels...), s.Fallback...) {
				used[ch] = true
			}
		}
	}
	var failing, working []string
	for _, v := range d.pg.Vendors() {
		if !slices.ContainsFunc(v.Channels, func(ch string) bool { return used[configs.Channel(ch)] }) || !v.Configured {
			continue
		}
		name := fmt.Sprintf("%s (%s)", v.Name, strings.Join(v.Channels, ", "))
		if !v.Down {
			working = append(working, name)
			continue
		}
		why := accountSID.ReplaceAllString(v.LastError, "AC…") // a transport error quotes the API URL
		failing = append(failing, fmt.Sprintf("%s down since %s UTC: %s", name, v.Since.UTC().Format(time.TimeOnly), why))
	}
	switch {
	case len(failing) == 0:
		return "", ""
	case len(working) == 0:
		return "no channel works: " + strings.Join(failing, "; "), ""
	}
	return "", strings.Join(failing, "; ") + "; pages go out by " + strings.Join(working, ", ") + " only"
}

// noteProbe notes that a result started at at came in, for checkProbes.
func (d *daemon) noteProbe(at time.Time) {
	ns := at.UnixNano()
	for {
		old := d.probed.Load()
		if ns <= old || d.probed.CompareAndSwap(old, ns) {
			return
		}
	}
}
