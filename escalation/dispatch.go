package escalation

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"foghorn/configs"
)

// policy is the policy an incident pages by now (Config.policy).
func (e *Engine) policy(name string) *configs.Policy { return e.cfg.Load().policy(name) }

// loopStep is where a policy goes after its last step: loop_from, or the
// last step again.
func loopStep(p *configs.Policy) int {
	if p == nil || len(p.Steps) == 0 {
		return 0
	}
	if p.LoopFrom > 0 && p.LoopFrom <= len(p.Steps) {
		return p.LoopFrom - 1
	}
	return len(p.Steps) - 1
}

// advance does what is due for one incident: an ack gone stale or a
// snooze ended pages again; a silenced incident waits for its silence to
// end; otherwise the current step pages its people and the next step (or
// repeat) is scheduled.
func (e *Engine) advance(ctx context.Context, ps *pass, inc *Incident) ([]Intent, error) {
	tx, now := ps.tx, ps.now
	cfg := e.cfg.Load()
	repage := false // an ack gone stale or a snooze ended: the same step again
	switch inc.State {
	case Resolved:
		_, err := tx.ExecContext(ctx, `UPDATE incidents SET due = NULL WHERE id = ?`, inc.ID)
		return nil, err
	case Acknowledged:
		repage = true
		kind, detail := "ack.stale", fmt.Sprintf("acked by %s at %s but not resolved within %s: paging again",
			inc.AckedBy, inc.Acked.Format("15:04"), cfg.Escalation.AckTimeout.Duration)
		if !inc.Snoozed.IsZero() {
			kind, detail = "snooze.end", "snooze by "+inc.AckedBy+" ended: paging again"
		}
		if err := event(ctx, tx, now, kind, inc.ID, "engine", detail); err != nil {
			return nil, err
		}
		inc.State, inc.Round = Triggered, 0
	}
	if reason, until := e.silencedBy(ctx, ps, inc.Host, inc.Labels); reason != "" {
		if inc.Silenced != reason {
			if err := event(ctx, tx, now, "incident.silenced", inc.ID, "engine", reason+": recorded, not paged"); err != nil {
				return nil, err
			}
		}
		_, err := tx.ExecContext(ctx, `UPDATE incidents SET state = ?, silenced = ?, snoozed_until = NULL, round = ?, due = ? WHERE id = ?`,
			inc.State, reason, inc.Round, ms(until), inc.ID)
		return nil, err
	}
	if inc.Silenced != "" {
		if err := event(ctx, tx, now, "silence.ended", inc.ID, "engine", inc.Silenced+" ended: paging"); err != nil {
			return nil, err
		}
	}
	pol := e.policy(inc.Policy)
	if pol == nil || len(pol.Steps) == 0 {
		e.log.Error("incident has no policy to page with: set [escalation] default_policy", "incident", inc.ID, "policy", inc.Policy)
		if err := event(ctx, tx, now, "incident.unpaged", inc.ID, "engine", "no policy "+inc.Policy+" and no default_policy"); err != nil {
			return nil, err
		}
		_, err := tx.ExecContext(ctx, `UPDATE incidents SET state = ?, silenced = '', snoozed_until = NULL, due = ? WHERE id = ?`,
			inc.State, ms(now.Add(time.Minute)), inc.ID)
		return nil, err
	}

	idx, round := min(inc.Step, len(pol.Steps)-1), inc.Round
	for skipped := 0; !inc.Severity.AtLeast(pol.Steps[idx].MinSeverity); skipped++ {
		if skipped >= len(pol.Steps) {
			if err := event(ctx, tx, now, "incident.unpaged", inc.ID, "engine", "severity "+string(inc.Severity)+" is below every step's min_severity"); err != nil {
				return nil, err
			}
			_, err := tx.ExecContext(ctx, `UPDATE incidents SET state = ?, silenced = '', due = NULL WHERE id = ?`, inc.State, inc.ID)
			return nil, err
		}
		if idx, round = idx+1, 0; idx >= len(pol.Steps) {
			idx = loopStep(pol)
		}
	}
	st := pol.Steps[idx]
	people, err := e.who(ctx, ps, cfg, st.Who)
	if err != nil {
		return nil, err
	}
	channels := channelsFor(st.Channels, inc.Severity, cfg.Escalation.VoiceMinSeverity)
	var out []Intent
	var held time.Time
	pass := inc.Pages + 1 // this pass's number, if it pages (cluster.go)
	hold := func(t time.Time) {
		if held.IsZero() || t.Before(held) {
			held = t
		}
	}
	for _, p := range people {
		if inc.Severity != "critical" {
			if wake, quiet := quietUntil(p, now); quiet {
				hold(wake)
				continue
			}
		}
		// Warnings leave the last page of the hour to a critical one.
		limit := cfg.Escalation.MaxPerHour
		if inc.Severity != "critical" {
			limit = max(limit-1, 1)
		}
		if n, oldest := ps.pages(ctx, p.Name); n >= limit {
			// A critical page is never dropped by the cap: it waits until
			// the oldest page of the hour falls out of it, then goes.
			if inc.Severity == "critical" {
				wake := oldest.Add(time.Hour)
				hold(wake)
				e.log.Error("critical page held by max_per_hour", "incident", inc.ID, "person", p.Name, "pages", n,
					"max_per_hour", cfg.Escalation.MaxPerHour, "until", wake)
				if err := event(ctx, tx, now, "page.held", inc.ID, "engine",
					fmt.Sprintf("%s already had %d pages in the last hour (max_per_hour %d): this critical page waits until %s",
						p.Name, n, cfg.Escalation.MaxPerHour, wake.UTC().Format("15:04:05 UTC"))); err != nil {
					return nil, err
				}
				continue
			}
			e.log.Warn("page dropped by max_per_hour", "incident", inc.ID, "person", p.Name, "pages", n,
				"max_per_hour", cfg.Escalation.MaxPerHour, "severity", inc.Severity)
			if err := event(ctx, tx, now, "page.ratelimited", inc.ID, "engine",
				fmt.Sprintf("%s already had %d pages in the last hour (max_per_hour %d)", p.Name, n, cfg.Escalation.MaxPerHour)); err != nil {
				return nil, err
			}
			continue
		}
		// Every channel of the step, in order, a few seconds apart: the
		// SMS, then the call. Each is its own notification with its own
		// retries; an ack in between cancels what has not gone yet.
		for i, ch := range channels {
			in := Intent{Incident: inc.ID, Short: inc.Short, Kind: KindPage, Channel: ch, Person: p.Name, Phone: p.Phone,
				Email: p.Email, Severity: inc.Severity, Summary: inc.Summary, Detail: inc.Detail, Since: inc.Opened, Step: idx, Host: inc.Host, Offer: inc.Offer,
				Power: configs.PowerAction(st.Power), wait: time.Duration(i) * e.gap}
			if inc.Episode != "" {
				in.alert, in.episode, in.pass = inc.Key, inc.Episode, pass
				in.logKey = pageKey(inc.Episode, pass, idx, p.Name, string(ch))
			}
			if err := e.claim(ctx, tx, &in, now); err != nil {
				return nil, err
			}
			out = append(out, in)
		}
		ps.sent[p.Name]++
	}
	if len(out) == 0 && !held.IsZero() {
		if inc.Severity != "critical" { // a critical held by max_per_hour was recorded above
			if err := event(ctx, tx, now, "page.held", inc.ID, "engine", "quiet hours: "+string(inc.Severity)+" waits until "+held.Format("15:04 MST")); err != nil {
				return nil, err
			}
		}
		_, err := tx.ExecContext(ctx, `UPDATE incidents SET state = ?, silenced = '', snoozed_until = NULL, step = ?, round = ?, due = ? WHERE id = ?`,
			inc.State, idx, round, ms(held), inc.ID)
		return nil, err
	}

	if st.Power != "" && len(out) > 0 {
		// The step's automated power action, first: it is decided before
		// the step's pages go, so they can say what was decided. Not a
		// notification (nothing is claimed): the power desk keeps it to
		// once per incident, across restarts.
		pw := Intent{Incident: inc.ID, Short: inc.Short, Kind: KindPower, Severity: inc.Severity, Summary: inc.Summary,
			Since: inc.Opened, Step: idx, Host: inc.Host, Power: configs.PowerAction(st.Power), Text: "policy:" + pol.Name}
		if inc.Episode != "" { // in a cluster: the step takes the log's turn (share_power.go)
			pw.alert, pw.episode, pw.pass = inc.Key, inc.Episode, pass
			pw.logKey = powerKey(inc.Episode, pass, idx)
		}
		out = append([]Intent{pw}, out...)
	}

	// The first round of a later step is the escalation: logged with the
	// incident's number once the pass commits, unless a person moved it
	// (Escalate logged that, with who).
	if round == 0 && idx > 0 && !repage && len(out) > 0 {
		if e.byHand[inc.ID] {
			delete(e.byHand, inc.ID)
		} else {
			moved := *inc
			moved.Step = idx
			ps.lives = append(ps.lives, lifeLine{level: slog.LevelWarn, what: "escalated", inc: moved,
				args: []any{"by", "engine", "step", idx + 1, "severity", inc.Severity}})
		}
	}
	round++
	next, due := idx, now.Add(st.Interval.Duration)
	if !st.UntilAck && round > st.Repeat {
		round = 0
		if next = idx + 1; next < len(pol.Steps) {
			due = now.Add(pol.Steps[next].Delay.Duration)
		} else {
			next = loopStep(pol)
			// Never loop faster than once a minute, whatever the config says.
			due = now.Add(max(st.Interval.Duration, pol.Steps[next].Delay.Duration, time.Minute))
		}
	}
	pages := inc.Pages
	if len(out) > 0 {
		pages = pass
	}
	_, err = e.exec(ctx, tx, `UPDATE incidents SET state = 'triggered', silenced = '', snoozed_until = NULL, step = ?, round = ?, due = ?, updated_at = ?, pages = ? WHERE id = ?`,
		next, round, ms(due), ms(now), pages, inc.ID)
	return out, err
}

// channelsFor drops voice below [escalation] voice_min_severity
// (critical by default): a warning should not ring anyone awake; it goes
// by SMS (or email).
func channelsFor(chs []configs.Channel, severity, voiceMin configs.Severity) []configs.Channel {
	if voiceMin == "" {
		voiceMin = "critical"
	}
	if severity.AtLeast(voiceMin) {
		return chs
	}
	var out []configs.Channel
	for _, c := range chs {
		if c != configs.Voice {
			out = append(out, c)
		}
	}
	if len(out) == 0 {
		return []configs.Channel{configs.SMS}
	}
	return out
}

// quietUntil reports whether now is in p's quiet hours, and when they end.
func quietUntil(p *configs.Person, now time.Time) (time.Time, bool) {
	if p.QuietHours == "" {
		return time.Time{}, false
	}
	loc, err := time.LoadLocation(p.TimeZone)
	if err != nil {
		return time.Time{}, false
	}
	from, to, _ := strings.Cut(p.QuietHours, "-")
	t := now.In(loc)
	at := func(hm string, day time.Time) time.Time {
		var h, m int
		fmt.Sscanf(hm, "%d:%d", &h, &m)
		return time.Date(day.Year(), day.Month(), day.Day(), h, m, 0, 0, loc)
	}
	start, end := at(from, t), at(to, t)
	switch {
	case start.Before(end): // e.g. 01:00-06:00
		if !t.Before(start) && t.Before(end) {
			return end, true
		}
	default: // wraps midnight, e.g. 22:00-07:00
		if !t.Before(start) {
			return at(to, t.AddDate(0, 0, 1)), true
		}
		if t.Before(end) {
			return end, true
		}
	}
	return time.Time{}, false
}

// who resolves a step's who entries to people, applying overrides, each
// person once.
func (e *Engine) who(ctx context.Context, ps *pass, cfg *Config, who []string) ([]*configs.Person, error) {
	names, missing, err := cfg.names(who, ps.now)
	for _, name := range missing {
		e.log.Error("policy names a rotation that no longer exists", "rotation", name)
	}
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []*configs.Person
	for _, n := range names {
		n = ps.cover(ctx, n)
		if p := cfg.person(n); p != nil && !seen[n] {
			seen[n] = true
			out = append(out, p)
		}
	}
	return out, nil
}

// coverFor follows overrides: if name is away and someone covers, page the
// one covering (a few hops at most, so a cycle cannot hang the engine).
func coverFor(ctx context.Context, q querier, name string, now time.Time) string {
	for range 3 {
		var cover string
		err := q.QueryRowContext(ctx, `SELECT cover FROM overrides WHERE absent = ? AND start_at <= ? AND end_at > ? ORDER BY created_at DESC, uid DESC LIMIT 1`,
			name, ms(now), ms(now)).Scan(&cover)
		if err != nil {
			return name
		}
		name = cover
	}
	return name
}

// fallback claims the next channel of the step after a failed send.
func (e *Engine) fallback(ctx context.Context, in Intent, reason string) (Intent, bool) {
	if in.Kind != KindPage {
		return Intent{}, false
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.clock.Now()
	tx, err := e.db.BeginTx(ctx, nil)
	if err != nil {
		return Intent{}, false
	}
	defer tx.Rollback()
	inc, err := getIncident(ctx, tx, in.Incident)
	if err != nil || inc.State != Triggered {
		return Intent{}, false
	}
	pol := e.policy(inc.Policy)
	if pol == nil || in.Step >= len(pol.Steps) {
		return Intent{}, false
	}
	next := nextChannel(pol.Steps[in.Step], in.Channel, inc.Severity, e.cfg.Load().Escalation.VoiceMinSeverity)
	if next == "" {
		why := fmt.Sprintf("%s to %s failed and the step has no fallback channel left: %s", in.Channel, in.Person, reason)
		if others := len(pol.Steps[in.Step].Channels) > 1; others {
			why += " (the step's other channels still go)"
		}
		if inc.Severity == "critical" {
			e.log.Error("critical page failed on a channel with no fallback left", "incident", inc.ID, "person", in.Person,
				"channel", in.Channel, "reason", reason)
		} else {
			e.log.Warn("page failed on a channel with no fallback left", "incident", inc.ID, "person", in.Person,
				"channel", in.Channel, "reason", reason)
		}
		event(ctx, tx, now, "page.failed", inc.ID, "engine", why)
		tx.Commit()
		return Intent{}, false
	}
	out := in
	out.Channel = next
	out.turnTaken = false
	if i := strings.LastIndexByte(in.logKey, '/'); i >= 0 {
		out.logKey = in.logKey[:i+1] + string(next) // the same page by another channel
	}
	if err := e.claim(ctx, tx, &out, now); err != nil {
		return Intent{}, false
	}
	if err := event(ctx, tx, now, "page.fallback", inc.ID, "engine", fmt.Sprintf("%s to %s failed (%s); trying %s", in.Channel, in.Person, reason, next)); err != nil {
		return Intent{}, false
	}
	if err := tx.Commit(); err != nil {
		return Intent{}, false
	}
	return out, true
}

// nextChannel is where a page that failed for good on channel goes: the
// step's fallback channels in order, after channel's own place among them,
// skipping those the step already uses. "" when none is left.
func nextChannel(st configs.Step, channel configs.Channel, severity, voiceMin configs.Severity) configs.Channel {
	// Not channelsFor: it puts "sms" in place of a list left empty, and
	// a fallback list must not grow a channel the config never named.
	var fb []configs.Channel
	for _, c := range st.Fallback {
		if c != "voice" || voiceMin == "" || severity.AtLeast(voiceMin) {
			fb = append(fb, c)
		}
	}
	start := 0
	for i, c := range fb {
		if c == channel {
			start = i + 1
		}
	}
	for _, c := range fb[start:] {
		if c != channel && !slices.Contains(st.Channels, c) {
			return c
		}
	}
	return ""
}

// Outcome is what the pager learned about a notification after sending.
type Outcome string

// Outcomes the pager reports.
const (
	Delivered  Outcome = "delivered"
	Unanswered Outcome = "unanswered" // voicemail, busy, no answer: not an ack
	Failed     Outcome = "failed"     // permanent: bad number, landline, opted out
)

// retrySooner is how soon an unanswered call is retried when the step's
// interval is longer: voicemail is not an ack, and a person may be
// reaching for the phone.
const retrySooner = 2 * time.Minute

// repeatedCalls is iOS's "Repeated Calls" window: a second call from the
// same number within it rings through Do Not Disturb (the pager keeps the
// caller ID). The retry is timed from the unanswered call's hand-over,
// not from its report: the report comes after 30 s of ringing, and much
// later for voicemail (answering machine detection) or a slow callback,
// and 2 minutes after that would miss the window. The next round starts
// so that its call, a gap after its SMS, is placed with margin to spare.
const repeatedCalls = 3 * time.Minute

// repeatMargin is the room left in repeatedCalls for the send itself.
const repeatMargin = 30 * time.Second

// Report records a delivery outcome. A permanent failure falls back to the
// step's next channel; an unanswered call brings the next round forward.
func (e *Engine) Report(ctx context.Context, notification int64, o Outcome, detail string) error {
	var in Intent
	var handed int64
	err := e.db.QueryRowContext(ctx, `SELECT n.id, n.incident, n.kind, n.person, n.channel, n.step, i.short, i.severity, i.summary, i.detail,
		COALESCE(n.handed_at, n.sent_at, n.created_at)
		FROM notifications n JOIN incidents i ON i.id = n.incident WHERE n.id = ?`, notification).
		Scan(&in.ID, &in.Incident, &in.Kind, &in.Person, &in.Channel, &in.Step, &in.Short, &in.Severity, &in.Summary, &in.Detail, &handed)
	if err != nil {
		return fmt.Errorf("escalation: notification %d: %w", notification, err)
	}
	release, late := e.outranked(ctx, in, o, detail) // truth.go: never downgrade, never page twice
	defer release()
	if late {
		return nil
	}
	e.mark(ctx, notification, string(o), detail)
	e.db.Event(ctx, "delivery."+string(o), fmt.Sprint(in.Incident), in.Person, string(in.Channel)+": "+detail)
	switch o {
	case Failed:
		if next, ok := e.fallback(ctx, in, detail); ok {
			if p := e.cfg.Load().person(next.Person); p != nil {
				next.Phone, next.Email = p.Phone, p.Email
			}
			e.dispatch(ctx, []Intent{next})
		}
	case Unanswered:
		e.mu.Lock()
		now := e.clock.Now()
		at := now.Add(retrySooner)
		if in.Channel == configs.Voice {
			if by := time.UnixMilli(handed).Add(repeatedCalls - repeatMargin - e.gap); by.Before(at) {
				at = by
			}
			if at.Before(now) {
				at = now
			}
		}
		soon := ms(at)
		_, err = e.db.ExecContext(ctx, `UPDATE incidents SET due = ? WHERE id = ? AND state = 'triggered' AND due > ?`, soon, in.Incident, soon)
		e.mu.Unlock()
		e.poke()
	}
	return err
}
