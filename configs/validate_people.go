package configs

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

func validatePeople(r *report, c *Config) {
	names := make([]string, len(c.People))
	for i, p := range c.People {
		names[i] = p.Name
	}
	checkNames(r, "person", names)
	phones := map[string]string{}
	for i, p := range c.People {
		path := "person[" + itoa(i) + "]"
		key := "person " + quote(p.Name)
		switch {
		case p.Phone == "":
			r.add(path, key+" phone", `add phone = "+4915112345678" (E.164: +, country code, number)`, "missing: foghorn cannot page this person")
		case !e164RE.MatchString(p.Phone):
			fix := `write the number in E.164 form: +, country code, number, no spaces or dashes, e.g. "+4915112345678"`
			if d := stripSpace(strings.NewReplacer("-", "", "(", "", ")", "", "/", "").Replace(p.Phone)); e164RE.MatchString(d) {
				fix = "write it without spaces or punctuation: " + quote(d)
			}
			r.add(path+".phone", key+" phone", fix, "%q is not an E.164 phone number", p.Phone)
		default:
			if other, dup := phones[p.Phone]; dup {
				r.add(path+".phone", key+" phone", "give each person their own number: SMS replies are matched to people by number",
					"%s is also %q's number", p.Phone, other)
			}
			phones[p.Phone] = p.Name
		}
		if p.Email != "" && !strings.Contains(p.Email, "@") {
			r.add(path+".email", key+" email", `write a mail address such as "alice@example.net"`, "%q is not an email address", p.Email)
		}
		checkZone(r, path+".timezone", key+" timezone", p.TimeZone)
		if p.QuietHours != "" && !quietRE.MatchString(p.QuietHours) {
			r.add(path+".quiet_hours", key+" quiet_hours", `write "HH:MM-HH:MM" in 24-hour time, e.g. "22:30-07:00"`,
				"%q is not a time range", p.QuietHours)
		}
		if !oneOf(p.Role, []string{"responder", "viewer"}) {
			r.add(path+".role", key+" role", `use "responder" (can ack and act) or "viewer" (read only)`, "unknown role %q", p.Role)
		}
	}
}

func validateRotations(r *report, c *Config) {
	names := make([]string, len(c.Rotations))
	for i, ro := range c.Rotations {
		names[i] = ro.Name
	}
	checkNames(r, "rotation", names)
	for i, ro := range c.Rotations {
		path := "rotation[" + itoa(i) + "]"
		key := "rotation " + quote(ro.Name)
		if len(ro.Members) == 0 {
			r.add(path, key+" members", `list who takes turns, e.g. members = ["alice", "bob", "carol"]`, "no members")
		}
		seen := map[string]bool{}
		for _, m := range ro.Members {
			if c.Person(m) == nil {
				r.add(path+".members", key+" members", "add a [[person]] with that name, or fix the spelling", "unknown person %q", m)
			}
			if seen[m] {
				r.add(path+".members", key+" members", "list each person once; the order is the order of turns", "%q is listed twice", m)
			}
			seen[m] = true
		}
		switch {
		case ro.Handoff != "":
			checkCron(r, path+".handoff", key+" handoff", ro.Handoff)
		case len(ro.Members) > 1:
			r.add(path, key+" handoff", `say when the pager passes on, e.g. handoff = "0 9 * * MON" (Mondays 09:00)`,
				"missing: with several members foghorn needs to know when turns change")
		}
		checkZone(r, path+".timezone", key+" timezone", ro.TimeZone)
	}
}

func validatePolicies(r *report, c *Config) {
	names := make([]string, len(c.Policies))
	for i, p := range c.Policies {
		names[i] = p.Name
	}
	checkNames(r, "policy", names)
	for i, p := range c.Policies {
		path := "policy[" + itoa(i) + "]"
		key := "policy " + quote(p.Name)
		if len(p.Steps) == 0 {
			r.add(path, key, "add at least one [[policy.step]] with who and channels", "has no steps: it would page nobody")
		}
		if p.LoopFrom < 0 || p.LoopFrom > len(p.Steps) {
			r.add(path+".loop_from", key+" loop_from", "use a step number from 1 to the number of steps, or 0 to keep repeating the last step",
				"step %d does not exist (the policy has %d)", p.LoopFrom, len(p.Steps))
		}
		worst, used := worstSeverity(c, p.Name)
		for j, s := range p.Steps {
			validateStep(r, c, path+".step["+itoa(j)+"]", key+" step "+itoa(j+1), s)
			if used && oneOf("voice", s.Channels) && !worst.AtLeast(c.Escalation.VoiceMinSeverity) {
				r.add(path+".step["+itoa(j)+"].channels", key+" step "+itoa(j+1)+" channels",
					fmt.Sprintf(`set [escalation] voice_min_severity = %q, or drop "voice" from the step`, worst),
					"voice can never ring: the targets and groups paged by this policy are at most %q, and [escalation] voice_min_severity is %q",
					worst, c.Escalation.VoiceMinSeverity)
			}
		}
	}
	if !c.Escalation.VoiceMinSeverity.Known() {
		r.add("escalation.voice_min_severity", "escalation voice_min_severity", `use "info", "warning" or "critical"`,
			"unknown severity %q", c.Escalation.VoiceMinSeverity)
	}
}

// worstSeverity is the highest severity among the targets and groups that
// page by policy name; used is false when none do. The default policy
// also takes Alertmanager alerts of any severity, so it counts as critical.
func worstSeverity(c *Config, name string) (worst Severity, used bool) {
	if name == c.Escalation.DefaultPolicy {
		return "critical", true
	}
	for _, t := range c.Targets {
		if t.Policy == name {
			used = true
			if t.Severity.Rank() > worst.Rank() {
				worst = t.Severity
			}
		}
	}
	for _, g := range c.Groups {
		if g.Policy == name {
			used = true
			if g.Severity.Rank() > worst.Rank() {
				worst = g.Severity
			}
		}
	}
	return worst, used
}

func validateStep(r *report, c *Config, path, key string, s Step) {
	if len(s.Who) == 0 {
		r.add(path, key+" who", `say who is paged, e.g. who = ["rotation:ops"] or who = ["alice"]`, "missing: the step would page nobody")
	}
	for _, w := range s.Who {
		validateWho(r, c, path+".who", key+" who", w, append(append([]Channel(nil), s.Channels...), s.Fallback...))
	}
	chKey := func(ch Channel) (string, string) {
		if oneOf(ch, s.Channels) {
			return path + ".channels", key + " channels"
		}
		return path + ".fallback", key + " fallback"
	}
	for _, ch := range append(append([]Channel(nil), s.Channels...), s.Fallback...) {
		p, k := chKey(ch)
		switch {
		case !oneOf(ch, Channels):
			r.add(p, k, "use one of "+channelList(), "unknown channel %q", ch)
		case (ch == "sms" || ch == "voice") && !c.SMSProviders():
			r.add(p, k, "configure [twilio] (account_sid, auth token, from), or set simulator = true to try foghorn",
				"%q needs Twilio, but [twilio] is not configured", ch)
		case ch == "email" && c.SMTP.Host == "":
			r.add(p, k, "configure [smtp] host and from", `"email" needs [smtp], but it is not configured`)
		case ch == Telegram && c.Telegram == nil:
			r.add(p, k, "configure [telegram] (token_file) and each person's [person.telegram] chat_id", `"telegram" needs [telegram], but it is not configured`)
		}
	}
	if s.Repeat < 0 {
		r.add(path+".repeat", key+" repeat", "use 0 (no repeat) or more; for no limit set until_ack = true", "%d is negative", s.Repeat)
	}
	if (s.Repeat > 0 || s.UntilAck) && s.Interval.Duration < 30*time.Second && s.Interval.bad == nil {
		r.add(path+".interval", key+" interval", `set interval to at least "30s", e.g. interval = "5m"`,
			"repeating needs an interval of at least 30s between rounds (got %s)", s.Interval.Duration)
	}
	if s.MinSeverity != "" && !s.MinSeverity.Known() {
		r.add(path+".min_severity", key+" min_severity", `use "info", "warning" or "critical"`, "unknown severity %q", s.MinSeverity)
	}
	switch {
	case s.Power == "":
	case !oneOf(s.Power, []string{"cycle", "reset"}):
		r.add(path+".power", key+" power", `use "cycle" or "reset" (automation never powers off), or remove it`, "unknown automated power action %q", s.Power)
	case !c.Power.Enabled || !c.Power.Automated:
		off := "automated power actions are off ([power] automated = false)"
		if !c.Power.Enabled {
			off = "power actions are off ([power] enabled = false)"
		}
		r.add(path+".power", key+" power", "set [power] enabled = true and automated = true to let a policy step act by itself, or remove power from the step", "%s", off)
	}
}

// validateWho checks one entry of a step's who: "alice", "rotation:ops",
// "rotation:ops:next" or "rotation:ops:all".
func validateWho(r *report, c *Config, path, key, w string, channels []Channel) {
	const fix = `use a person's name, or "rotation:NAME" (on call now), "rotation:NAME:next" or "rotation:NAME:all"`
	if rest, ok := strings.CutPrefix(w, "rotation:"); ok {
		name, mode, _ := strings.Cut(rest, ":")
		if mode != "" && mode != "next" && mode != "all" {
			r.add(path, key, fix, "%q: unknown rotation selector %q", w, mode)
		}
		ro := c.Rotation(name)
		if ro == nil {
			r.add(path, key, "add a [[rotation]] with that name, or fix the spelling", "unknown rotation %q", name)
			return
		}
		for _, m := range ro.Members {
			checkReach(r, c, path, key, m, channels)
		}
		return
	}
	if strings.Contains(w, ":") {
		r.add(path, key, fix, "%q is neither a person nor a rotation", w)
		return
	}
	if c.Person(w) == nil {
		r.add(path, key, "add a [[person]] with that name, or fix the spelling", "unknown person %q", w)
		return
	}
	checkReach(r, c, path, key, w, channels)
}

// checkReach reports a channel a person cannot be reached on.
func checkReach(r *report, c *Config, path, key, name string, channels []Channel) {
	p := c.Person(name)
	if p == nil {
		return // reported with the rotation
	}
	if oneOf(Email, channels) && p.Email == "" && c.SMTP.Host != "" {
		r.add(path, key, "add email = \"...\" to the person, or drop \"email\" from the step's channels",
			"%q has no email address for the \"email\" channel", name)
	}
	checkTelegramReach(r, c, path, key, p, channels) // telegram.go
}

// channelList is Channels as a fix names them: "sms", "voice", ... or "telegram".
func channelList() string {
	var b strings.Builder
	for i, ch := range Channels {
		switch {
		case i == len(Channels)-1:
			b.WriteString(" or ")
		case i > 0:
			b.WriteString(", ")
		}
		b.WriteString(strconv.Quote(string(ch)))
	}
	return b.String()
}

// stepPeople are the people a step's who can name: the people listed and
// every member of the rotations, once each.
func stepPeople(c *Config, who []string) []string {
	var out []string
	seen := map[string]bool{}
	add := func(n string) {
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	for _, w := range who {
		if rest, ok := strings.CutPrefix(w, "rotation:"); ok {
			name, _, _ := strings.Cut(rest, ":")
			if ro := c.Rotation(name); ro != nil {
				for _, m := range ro.Members {
					add(m)
				}
			}
			continue
		}
		add(w)
	}
	return out
}
