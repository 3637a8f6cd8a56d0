package pager

import (
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"foghorn/configs"
	"foghorn/escalation"
)

// One SMS segment: 160 GSM-7 units, or 70 UCS-2 characters once a single
// character falls outside GSM-7 (and the whole message then costs 2-3x).
const (
	gsmSegment  = 160
	ucsSegment  = 70
	minSummary  = 24 // never cut a summary shorter than this to save a segment
	maxSMSChars = 459
)

// gsmBasic is the GSM 03.38 default alphabet; gsmExt costs two units each.
const (
	gsmBasic = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
	gsmExt   = "^{}\\[~]|€\f"
)

var gsmCost = func() map[rune]int {
	m := map[rune]int{}
	for _, r := range gsmBasic {
		m[r] = 1
	}
	for _, r := range gsmExt {
		m[r] = 2
	}
	return m
}()

// gsmFold maps typography that phones and editors insert to GSM-7, so one
// curly quote does not turn a 1-segment page into a 3-segment one.
var gsmFold = strings.NewReplacer(
	"‘", "'", "’", "'", "‚", "'", "′", "'",
	"“", `"`, "”", `"`, "„", `"`, "″", `"`,
	"–", "-", "—", "-", "−", "-", "‐", "-",
	"…", "...", "•", "*", "→", "->", "←", "<-", "×", "x",
	"\u00a0", " ", "\u2009", " ", "\u202f", " ", "\t", " ",
)

// clean makes text safe for SMS, TwiML and mail headers: typography folded
// to GSM-7, control characters (invalid in XML) and line breaks turned into
// spaces, runs of spaces collapsed.
func clean(s string) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "?")
	}
	s = gsmFold.Replace(s)
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == utf8.RuneError || (r >= 0xfff0) {
			return ' '
		}
		return r
	}, s)
	return strings.Join(strings.Fields(s), " ")
}

// smsUnits is what s costs in its cheapest encoding, and the size of one
// segment in that encoding.
func smsUnits(s string) (units, segment int) {
	for _, r := range s {
		c, ok := gsmCost[r]
		if !ok {
			return utf8.RuneCountInString(s), ucsSegment
		}
		units += c
	}
	return units, gsmSegment
}

// fits reports whether s is one SMS segment.
func fits(s string) bool {
	u, seg := smsUnits(s)
	return u <= seg
}

// fitsIn reports whether s is at most n SMS segments. A message of more
// than one is sent in parts with a header each: 153 GSM-7 units or 67
// UCS-2 characters a part.
func fitsIn(s string, n int) bool {
	if n <= 1 {
		return fits(s)
	}
	u, seg := smsUnits(s)
	part := seg - 7
	if seg == ucsSegment {
		part = seg - 3
	}
	return u <= n*part
}

// offerSMS words the power action an incident offers by reply, as the
// pager parses it back: ". Reply CYCLE pve1 to power-cycle". "" when the
// incident offers none.
func offerSMS(in escalation.Intent) string {
	cmd, what := offerWords(in)
	if cmd == "" {
		return ""
	}
	return fmt.Sprintf(". Reply %s %s", cmd, what)
}

// offerWords are the reply that asks for the offered power action ("CYCLE
// pve1") and what it does ("to power-cycle"); "" when there is none.
func offerWords(in escalation.Intent) (cmd, what string) {
	host := clean(in.Host)
	if in.Offer == "" || in.Offer == configs.PowerStatus || host == "" || strings.ContainsRune(host, ' ') {
		return "", ""
	}
	switch in.Offer {
	case configs.PowerCycle:
		what = "to power-cycle"
	case configs.PowerOn:
		what = "to power it on"
	case configs.PowerOff:
		what = "to power it off"
	case configs.PowerSoft:
		what = "to shut it down"
	default:
		what = "to " + string(in.Offer) + " it"
	}
	return strings.ToUpper(string(in.Offer)) + " " + host, what
}

// cut shortens s to at most n runes, marking the cut with "...".
func cut(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	if n <= 3 {
		return string([]rune(s)[:max(n, 0)])
	}
	return strings.TrimRight(string([]rune(s)[:n-3]), " ,.;:") + "..."
}

var sevTags = map[configs.Severity]string{"critical": "CRIT", "warning": "WARN", "info": "INFO"}

func sevTag(sev configs.Severity) string {
	if t, ok := sevTags[sev]; ok {
		return t
	}
	if sev == "" {
		return "ALERT"
	}
	return strings.ToUpper(cut(clean(string(sev)), 8))
}

// since renders when an incident opened, in the reader's zone: the time
// alone on the day it is read, with the date when it is older than that.
func since(t, now time.Time, loc *time.Location) string {
	if t.IsZero() {
		return ""
	}
	t = t.In(loc)
	if now.Sub(t) > 20*time.Hour {
		return t.Format("Jan 2 15:04")
	}
	return t.Format("15:04")
}

// firstLine is the cause as one short line.
func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return clean(s)
}

// pageSMS is a page as one SMS segment where it can be:
//
//	[CRIT] #42 router pair DOWN (rt1, rt2) since 02:14. Reply 42 to ack, 42R resolve, HELP.
//
// The cause is added when it still fits; a long summary is cut, but never
// below minSummary characters: then the page takes two segments rather
// than saying nothing useful. A power action offered by reply ("Reply
// CYCLE pve1 to power-cycle") is never cut: the cause goes first, then a
// critical page takes two segments before its summary is cut.
func pageSMS(in escalation.Intent, now time.Time, loc *time.Location) string {
	summary := clean(in.Summary)
	if summary == "" {
		summary = "incident"
	}
	at := ""
	if s := since(in.Since, now, loc); s != "" {
		at = " since " + s
	}
	head := fmt.Sprintf("[%s] #%d ", sevTag(in.Severity), in.Short)
	tail := offerSMS(in) + fmt.Sprintf(". Reply %d to ack, %dR resolve, HELP.", in.Short, in.Short)
	cause := firstLine(in.Detail)
	if cause != "" && cause != summary {
		if s := head + summary + at + ": " + cause + tail; fits(s) {
			return s
		}
	}
	if in.Power != "" && cause != "" {
		// A power step's page leads with what the guard decided (notifyStep
		// puts it first in Detail): like the offer, it is never dropped.
		// The summary is shortened first; a critical page may take two
		// segments, a lesser one keeps to one.
		segs := 1
		if in.Severity == "critical" {
			segs = 2
		}
		for keep := utf8.RuneCountInString(summary); keep >= minSummary; keep-- {
			if s := head + cut(summary, keep) + at + ": " + cause + tail; fitsIn(s, segs) {
				return s
			}
		}
	}
	s := head + summary + at + tail
	if fits(s) {
		return s
	}
	segs := 1
	if offerSMS(in) != "" && in.Severity == "critical" {
		if fitsIn(s, 2) {
			return s
		}
		segs = 2
	}
	if fitsIn(head+cut(summary, minSummary)+at+tail, segs) {
		for keep := utf8.RuneCountInString(summary) - 1; ; keep-- {
			if short := head + cut(summary, keep) + at + tail; fitsIn(short, segs) {
				return short
			}
		}
	}
	return head + cut(summary, maxSMSChars-160) + at + tail
}

// noticeSMS is an "acked by", "resolved" or test message: the engine's own
// text, in one segment where it can be.
func noticeSMS(in escalation.Intent) string {
	text := clean(in.Text)
	if text == "" {
		text = fmt.Sprintf("#%d %s: %s", in.Short, in.Kind, clean(in.Summary))
	}
	if fits(text) {
		return text
	}
	_, seg := smsUnits(text)
	if seg == gsmSegment {
		// Extension characters cost two units: cut by units, not runes.
		for n := gsmSegment; n > 20; n-- {
			if s := cut(text, n); fits(s) {
				return s
			}
		}
	}
	return cut(text, seg)
}

// Voice wording. Numbers are spelled out digit by digit where a person
// must act on them ("4 2" is clearer on a bad line than "forty-two").
const voiceMenu = "Press 1 to acknowledge, 2 to escalate to the next person, 3 to hear it again."

var sevSpoken = map[configs.Severity]string{"critical": "Critical", "warning": "Warning", "info": "Info"}

// voiceSummary is what a call says before the menu.
func voiceSummary(in escalation.Intent, now time.Time, loc *time.Location) string {
	sev := sevSpoken[in.Severity]
	if sev == "" {
		sev = "Alert"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "This is foghorn. %s alert, incident %d: %s.", sev, in.Short, cut(clean(in.Summary), 300))
	if s := since(in.Since, now, loc); s != "" {
		fmt.Fprintf(&b, " Down since %s.", s)
	}
	if cause := firstLine(in.Detail); cause != "" && cause != clean(in.Summary) {
		fmt.Fprintf(&b, " %s.", strings.TrimRight(cut(cause, 300), "."))
	}
	if cmd, what := offerWords(in); cmd != "" {
		fmt.Fprintf(&b, " Text %s %s.", cmd, what)
	}
	return b.String()
}

// voiceNotice is a call that only tells something (a test call).
func voiceNotice(in escalation.Intent) string {
	text := clean(in.Text)
	if text == "" {
		text = clean(in.Summary)
	}
	return "This is foghorn. " + cut(text, 600)
}

// mailPage is the subject and body of a page by email.
func mailPage(in escalation.Intent, public string, now time.Time, loc *time.Location) (subject, body string) {
	summary := clean(in.Summary)
	subject = cut(fmt.Sprintf("[%s] #%d %s", sevTag(in.Severity), in.Short, summary), 200)
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n\n", summary)
	fmt.Fprintf(&b, "Incident:  #%d\n", in.Short)
	fmt.Fprintf(&b, "Severity:  %s\n", in.Severity)
	if !in.Since.IsZero() {
		fmt.Fprintf(&b, "Since:     %s (%s)\n", in.Since.In(loc).Format("2006-01-02 15:04 MST"), in.Since.UTC().Format("15:04 UTC"))
	}
	if d := strings.TrimSpace(in.Detail); d != "" {
		fmt.Fprintf(&b, "\n%s\n", d)
	}
	if cmd, what := offerWords(in); cmd != "" {
		fmt.Fprintf(&b, "\nText %s to the foghorn number %s.\n", cmd, what)
	}
	fmt.Fprintf(&b, "\nTo acknowledge, text %d to the foghorn number (%dR resolves, HELP lists commands)", in.Short, in.Short)
	if public != "" {
		fmt.Fprintf(&b, ",\nor open %s", public)
	}
	b.WriteString(".\nReplying to this email does nothing.\n")
	return subject, b.String()
}

// mailNotice is an "acked by", "resolved" or test message by email.
func mailNotice(in escalation.Intent) (subject, body string) {
	text := strings.TrimSpace(in.Text)
	if text == "" {
		text = fmt.Sprintf("#%d %s: %s", in.Short, in.Kind, in.Summary)
	}
	return cut(clean(text), 200), text + "\n"
}
