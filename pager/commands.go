package pager

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"foghorn/configs"
	"foghorn/escalation"
	"foghorn/power"
)

// The verbs of the SMS command language.
const (
	VerbAck      = "ack"
	VerbResolve  = "resolve"
	VerbEscalate = "escalate"
	VerbSnooze   = "snooze"
	VerbStatus   = "status"
	VerbOnCall   = "oncall"
	VerbHelp     = "help"
	// VerbPower is a BMC power action ("CYCLE pve1", "POWER pve1");
	// anything but a status read needs VerbConfirm with the code sent.
	VerbPower   = "power"
	VerbConfirm = "confirm"
	// VerbOptOut and VerbOptIn are the carrier keywords (STOP, START...)
	// that Twilio itself answers; foghorn only logs them.
	VerbOptOut = "optout"
	VerbOptIn  = "optin"
)

// Command is one parsed SMS.
type Command struct {
	Verb  string
	Short int           // the incident number; 0 for a bare ACK (the sender's last page)
	For   time.Duration // SNOOZE

	Action configs.PowerAction // power: what to do
	Target string              // power: the host (or BMC target) as typed
	Force  bool                // power: FORCE, past the quorum guard where the config allows it
	Code   string              // CONFIRM: the code as typed
	Topic  string              // HELP POWER: "power"
}

// ParseError is input that is not a command; its message is the reply.
type ParseError struct{ Reply string }

func (e *ParseError) Error() string { return e.Reply }

// HelpText is the reply to HELP, in one SMS segment.
const HelpText = "foghorn: 42 or ACK 42 = ack, 42R = resolve, ESC 42 = next person, SNOOZE 42 30m, STATUS, ONCALL. ACK alone acks your last page. HELP POWER"

// PowerHelpText is the reply to HELP POWER.
const PowerHelpText = "Power by BMC: CYCLE pve1, RESET pve1, OFF pve1, ON pve1, SOFT pve1 (OS shutdown), POWER pve1 (state only). " +
	"Add FORCE to pass the quorum guard where allowed. foghorn replies with a code: send CONFIRM and the code, from the same phone."

// Limits on what a command may say.
const (
	maxShort   = 999999
	maxTokens  = 8
	minSnooze  = time.Minute
	maxSnooze  = 24 * time.Hour
	maxCommand = 200 // longer texts are not commands (a pasted log, an auto-reply)
)

var keywords = map[string]string{
	"ACK": VerbAck, "A": VerbAck, "ACKNOWLEDGE": VerbAck, "ACKED": VerbAck, "OK": VerbAck,
	"RESOLVE": VerbResolve, "RESOLVED": VerbResolve, "RES": VerbResolve, "R": VerbResolve, "FIXED": VerbResolve,
	"ESC": VerbEscalate, "ESCALATE": VerbEscalate, "E": VerbEscalate,
	"SNOOZE": VerbSnooze, "SNZ": VerbSnooze,
	"STATUS": VerbStatus, "LIST": VerbStatus, "OPEN": VerbStatus,
	"ONCALL": VerbOnCall, "WHO": VerbOnCall,
	"HELP": VerbHelp, "H": VerbHelp, "INFO": VerbHelp, "COMMANDS": VerbHelp,
}

// Twilio's opt-out and opt-in keywords: a message that is exactly one of
// them changes the number's subscription at Twilio, whatever we answer.
var (
	optOut = []string{"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"}
	optIn  = []string{"START", "UNSTOP", "YES"}
)

var units = map[string]time.Duration{
	"M": time.Minute, "MIN": time.Minute, "MINS": time.Minute, "MINUTE": time.Minute, "MINUTES": time.Minute,
	"H": time.Hour, "HR": time.Hour, "HRS": time.Hour, "HOUR": time.Hour, "HOURS": time.Hour,
}

func parseErr(format string, args ...any) error {
	return &ParseError{Reply: fmt.Sprintf(format, args...)}
}

// separator reports whether r only separates words: spacing and the
// punctuation people put around numbers ("#42", "42-R", "ack: 42").
func separator(r rune) bool {
	return unicode.IsSpace(r) || strings.ContainsRune("#.,;:!?-_/()[]\"'*+", r)
}

// tokenize splits text into upper-case words and numbers: "ack42" and
// "ACK #42" both give ACK, 42. Any other character stays part of a word, so
// "42❌" is not read as "42".
func tokenize(text string) []string {
	var out []string
	var cur strings.Builder
	kind := 0 // 0 none, 1 digits, 2 word
	flush := func() {
		if cur.Len() > 0 {
			out = append(out, cur.String())
			cur.Reset()
		}
		kind = 0
	}
	for _, r := range text {
		switch {
		case separator(r):
			flush()
		case r >= '0' && r <= '9':
			if kind == 2 {
				flush()
			}
			kind = 1
			cur.WriteRune(r)
		default:
			if kind == 1 {
				flush()
			}
			kind = 2
			cur.WriteString(strings.ToUpper(string(r)))
		}
	}
	flush()
	return out
}

func isNumber(tok string) bool { return tok != "" && tok[0] >= '0' && tok[0] <= '9' }

func number(tok string) (int, error) {
	n, err := strconv.Atoi(tok)
	if err != nil || n < 1 || n > maxShort {
		return 0, parseErr("There is no incident #%s. Reply STATUS to list open incidents.", cut(tok, 12))
	}
	return n, nil
}

// Parse reads one SMS: "42", "ACK 42", "42R", "RESOLVE 42", "ESC 42",
// "SNOOZE 42 30m", "STATUS", "ONCALL", "HELP", or a bare "ACK". Case,
// spacing and "#" do not matter. Anything else is a *ParseError whose
// message says what was understood and what to send instead.
func Parse(text string) (Command, error) {
	text = strings.TrimSpace(text)
	if len(text) > maxCommand {
		return Command{}, parseErr("That is too long to be a command. %s", HelpText)
	}
	toks := tokenize(text)
	if len(toks) == 0 {
		if strings.Contains(text, "?") {
			return Command{Verb: VerbHelp}, nil
		}
		return Command{}, parseErr("Empty message. %s", HelpText)
	}
	if len(toks) > maxTokens {
		return Command{}, parseErr("Too many words for a command. %s", HelpText)
	}
	if len(toks) == 1 && slices.Contains(optOut, toks[0]) {
		return Command{Verb: VerbOptOut}, nil
	}
	if len(toks) == 1 && slices.Contains(optIn, toks[0]) {
		return Command{Verb: VerbOptIn}, nil
	}
	unknown := func() error {
		return parseErr("Did not understand %q. %s", cut(clean(text), 40), HelpText)
	}
	if cmd, ok, err := parsePower(text); ok {
		return cmd, err
	}

	// "42", "42R", "42 ACK", "42 ESC", "42 SNOOZE 30m"
	if isNumber(toks[0]) {
		n, err := number(toks[0])
		if err != nil {
			return Command{}, err
		}
		if len(toks) == 1 {
			return Command{Verb: VerbAck, Short: n}, nil
		}
		verb := keywords[toks[1]]
		switch verb {
		case VerbAck, VerbResolve, VerbEscalate:
			if len(toks) > 2 {
				return Command{}, oneAtATime(toks)
			}
			return Command{Verb: verb, Short: n}, nil
		case VerbSnooze:
			d, err := duration(toks[2:], n)
			if err != nil {
				return Command{}, err
			}
			return Command{Verb: VerbSnooze, Short: n, For: d}, nil
		}
		if isNumber(toks[1]) {
			return Command{}, oneAtATime(toks)
		}
		return Command{}, unknown()
	}

	verb := keywords[toks[0]]
	rest := toks[1:]
	if toks[0] == "ON" && len(rest) > 0 && rest[0] == "CALL" {
		verb, rest = VerbOnCall, rest[1:]
	}
	switch verb {
	case VerbHelp:
		if len(rest) > 0 && rest[0] == "POWER" {
			return Command{Verb: VerbHelp, Topic: "power"}, nil
		}
		return Command{Verb: VerbHelp}, nil
	case VerbStatus, VerbOnCall:
		if len(rest) > 0 {
			return Command{}, unknown()
		}
		return Command{Verb: verb}, nil
	case VerbAck:
		if len(rest) == 0 {
			return Command{Verb: VerbAck}, nil
		}
		fallthrough
	case VerbResolve, VerbEscalate:
		if len(rest) == 0 {
			return Command{}, parseErr("Which incident? Reply %s 42 (STATUS lists open incidents).", strings.ToUpper(verbWord(verb)))
		}
		if !isNumber(rest[0]) {
			return Command{}, unknown()
		}
		n, err := number(rest[0])
		if err != nil {
			return Command{}, err
		}
		if len(rest) > 1 {
			return Command{}, oneAtATime(toks)
		}
		return Command{Verb: verb, Short: n}, nil
	case VerbSnooze:
		if len(rest) == 0 || !isNumber(rest[0]) {
			return Command{}, parseErr("Snooze which incident, for how long? Reply SNOOZE 42 30m.")
		}
		n, err := number(rest[0])
		if err != nil {
			return Command{}, err
		}
		d, err := duration(rest[1:], n)
		if err != nil {
			return Command{}, err
		}
		return Command{Verb: VerbSnooze, Short: n, For: d}, nil
	}
	return Command{}, unknown()
}

// powerWords are the words that begin a power command, and what they ask.
var powerWords = map[string]configs.PowerAction{
	"CYCLE": configs.PowerCycle, "RESET": configs.PowerReset, "OFF": configs.PowerOff, "ON": configs.PowerOn, "SOFT": configs.PowerSoft,
}

// maxTarget bounds a host name in a command; config names are short.
const maxTarget = 64

// parsePower reads the power commands, which name hosts ("pve1-bmc") that
// the tokenizer would split: "CYCLE pve1", "RESET pve1", "OFF pve1", "ON
// pve1", "SOFT pve1", "POWER pve1" (state), "POWER CYCLE pve1", each with
// an optional FORCE, and "CONFIRM 4821". ok is false when text is not one
// of them ("ON CALL" stays ONCALL).
func parsePower(text string) (cmd Command, ok bool, err error) {
	var words []string
	for _, w := range strings.Fields(text) {
		if w = strings.Trim(w, ".,;:!?\"'()[]*#"); w != "" {
			words = append(words, w)
		}
	}
	if len(words) == 0 {
		return Command{}, false, nil
	}
	first := strings.ToUpper(words[0])
	rest := words[1:]
	if first == "CONFIRM" {
		if len(rest) != 1 || len(rest[0]) != power.CodeDigits || strings.Trim(rest[0], "0123456789") != "" {
			return Command{}, true, parseErr("Reply CONFIRM and the %d-digit code foghorn sent you, e.g. CONFIRM 4821.", power.CodeDigits)
		}
		return Command{Verb: VerbConfirm, Code: rest[0]}, true, nil
	}
	act, isPower := powerWords[first]
	switch {
	case first == "ON" && len(rest) > 0 && strings.EqualFold(rest[0], "CALL"):
		return Command{}, false, nil
	case first == "POWER":
		act = configs.PowerStatus
		if len(rest) > 1 {
			w := strings.ToUpper(rest[0])
			if a, ok := powerWords[w]; ok {
				act, rest = a, rest[1:]
			} else if w == "STATUS" {
				rest = rest[1:]
			}
		}
	case !isPower:
		return Command{}, false, nil
	}
	verb := strings.ToUpper(string(act))
	if act == configs.PowerStatus {
		verb = "POWER"
	}
	force := false
	var target []string
	for _, w := range rest {
		if strings.EqualFold(w, "FORCE") {
			force = true
			continue
		}
		target = append(target, w)
	}
	switch {
	case len(target) == 0:
		return Command{}, true, parseErr("Which host? Reply %s pve1 (a host's name in foghorn's config). HELP POWER lists the power commands.", verb)
	case len(target) > 1:
		return Command{}, true, parseErr("One host at a time, please: reply %s %s. HELP POWER lists the power commands.", verb, cut(clean(target[0]), 30))
	case !hostName(target[0]):
		return Command{}, true, parseErr("%q is not a host name (letters, digits, '-', '_', '.'). Reply %s pve1.", cut(clean(target[0]), 30), verb)
	case force && act == configs.PowerStatus:
		return Command{}, true, parseErr("FORCE is for power actions; reading the state needs none. Reply POWER %s.", target[0])
	}
	return Command{Verb: VerbPower, Action: act, Target: target[0], Force: force}, true, nil
}

// hostName reports whether s can be a target's name (the config allows
// letters, digits, '-', '_' and '.', starting with a letter or digit).
func hostName(s string) bool {
	if s == "" || len(s) > maxTarget {
		return false
	}
	for i, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case i > 0 && (r == '-' || r == '_' || r == '.'):
		default:
			return false
		}
	}
	return true
}

func verbWord(verb string) string {
	switch verb {
	case VerbEscalate:
		return "ESC"
	default:
		return verb
	}
}

func oneAtATime(toks []string) error {
	var nums []string
	for _, t := range toks {
		if isNumber(t) {
			nums = append(nums, t)
		}
	}
	if len(nums) > 1 {
		return parseErr("One incident at a time, please: reply %s, then %s.", nums[0], nums[1])
	}
	return parseErr("Did not understand %q. %s", cut(clean(strings.Join(toks, " ")), 40), HelpText)
}

// duration reads "30m", "30" (minutes), "1h30m", "2 hours".
func duration(toks []string, short int) (time.Duration, error) {
	bad := parseErr("Snooze #%d for how long? Reply SNOOZE %d 30m (1m to 24h).", short, short)
	if len(toks) == 0 {
		return 0, bad
	}
	var d time.Duration
	for i := 0; i < len(toks); i++ {
		if !isNumber(toks[i]) || len(toks[i]) > 4 {
			return 0, bad
		}
		v, _ := strconv.Atoi(toks[i])
		unit := time.Minute
		if i+1 < len(toks) && !isNumber(toks[i+1]) {
			u, ok := units[toks[i+1]]
			if !ok {
				return 0, bad
			}
			unit = u
			i++
		}
		d += time.Duration(v) * unit
	}
	if d < minSnooze || d > maxSnooze {
		return 0, bad
	}
	return d, nil
}

// execute runs a parsed command for person, come by via (sms, or a
// Telegram chat), and returns the reply; an empty reply sends nothing.
func (p *Pager) execute(ctx context.Context, eng Engine, person *configs.Person, via configs.Channel, cmd Command) string {
	loc := p.zone(person.TimeZone)
	find := func() (*escalation.Incident, string) {
		var inc *escalation.Incident
		var err error
		if cmd.Short == 0 {
			inc, err = eng.LastPaged(ctx, person.Name)
		} else {
			inc, err = eng.ByShort(ctx, person.Name, cmd.Short)
		}
		switch {
		case err == nil:
			return inc, ""
		case errors.Is(err, escalation.ErrNotFound) && cmd.Short == 0:
			return nil, "Nothing to ack: no open incident was paged to you. Reply STATUS to list open incidents."
		case errors.Is(err, escalation.ErrNotFound):
			return nil, fmt.Sprintf("#%d is not an incident you were paged for (numbers are reused). Reply STATUS to list open incidents.", cmd.Short)
		default:
			p.log.Error("SMS command failed", "person", person.Name, "verb", cmd.Verb, "err", err)
			return nil, "Sorry, foghorn could not do that (internal error). Try again, or use the web page."
		}
	}
	outcome := func(inc *escalation.Incident, err error, ok string) string {
		switch {
		case err == nil:
			return ok
		case errors.Is(err, escalation.ErrResolved):
			return fmt.Sprintf("#%d is already resolved: %s", inc.Short, cut(clean(inc.Summary), 100))
		case errors.Is(err, escalation.ErrNotFound):
			return fmt.Sprintf("#%d no longer exists.", inc.Short)
		case errors.Is(err, escalation.ErrElsewhere):
			// A cluster's incident that only the other foghorn has (a
			// warning from its vantage point): ack and resolve reach it
			// from here, the rest only there.
			return fmt.Sprintf("#%d is kept by the other foghorn (%s): reply ACK or %dR, or use its web page.", inc.Short, strings.TrimPrefix(inc.Source, "peer "), inc.Short)
		default:
			p.log.Error("SMS command failed", "person", person.Name, "verb", cmd.Verb, "incident", inc.ID, "err", err)
			return "Sorry, foghorn could not do that (internal error). Try again, or use the web page."
		}
	}
	summary := func(inc *escalation.Incident) string { return cut(clean(inc.Summary), 80) }

	switch cmd.Verb {
	case VerbAck:
		inc, msg := find()
		if inc == nil {
			return msg
		}
		if inc.State == escalation.Resolved {
			return outcome(inc, escalation.ErrResolved, "")
		}
		after, err := eng.Ack(ctx, inc.ID, person.Name, string(via))
		if err == nil && after != nil && after.AckedBy != "" && after.AckedBy != person.Name {
			return fmt.Sprintf("#%d was already acked by %s at %s: %s", inc.Short, after.AckedBy, after.Acked.In(loc).Format("15:04"), summary(inc))
		}
		return outcome(inc, err, fmt.Sprintf("#%d acked, paging stopped: %s. Reply %dR when fixed.", inc.Short, summary(inc), inc.Short))
	case VerbResolve:
		inc, msg := find()
		if inc == nil {
			return msg
		}
		_, err := eng.Resolve(ctx, inc.ID, person.Name, string(via))
		return outcome(inc, err, fmt.Sprintf("#%d resolved: %s", inc.Short, summary(inc)))
	case VerbEscalate:
		inc, msg := find()
		if inc == nil {
			return msg
		}
		after, err := eng.Escalate(ctx, inc.ID, -1, person.Name)
		step := inc.Step + 2
		if after != nil {
			step = after.Step + 1
		}
		return outcome(inc, err, fmt.Sprintf("#%d escalated: paging step %d now. %s", inc.Short, step, summary(inc)))
	case VerbSnooze:
		inc, msg := find()
		if inc == nil {
			return msg
		}
		_, err := eng.Snooze(ctx, inc.ID, cmd.For, person.Name)
		until := p.clock.Now().Add(cmd.For).In(loc).Format("15:04")
		return outcome(inc, err, fmt.Sprintf("#%d snoozed for %s: paging resumes at %s unless resolved.", inc.Short, fmtDuration(cmd.For), until))
	case VerbStatus:
		return p.statusText(ctx, eng, loc)
	case VerbOnCall:
		return p.onCallText(ctx, eng, loc)
	case VerbHelp:
		if cmd.Topic == "power" {
			return PowerHelpText
		}
		return HelpText
	case VerbPower:
		return p.powerCommand(ctx, person, cmd)
	case VerbConfirm:
		return p.confirmCommand(ctx, person, cmd)
	case VerbOptOut:
		p.log.Warn("person texted STOP: Twilio will refuse every SMS to them (error 21610) until they text START",
			"person", person.Name, "phone", person.Phone)
		return ""
	case VerbOptIn:
		p.log.Info("person texted START: SMS to them work again", "person", person.Name)
		return ""
	}
	return HelpText
}

func fmtDuration(d time.Duration) string {
	h, m := int(d/time.Hour), int(d%time.Hour/time.Minute)
	switch {
	case h == 0:
		return fmt.Sprintf("%dm", m)
	case m == 0:
		return fmt.Sprintf("%dh", h)
	}
	return fmt.Sprintf("%dh%dm", h, m)
}

// statusText lists open incidents in at most three SMS segments.
func (p *Pager) statusText(ctx context.Context, eng Reads, loc *time.Location) string {
	open, err := eng.Open(ctx)
	if err != nil {
		p.log.Error("STATUS: cannot list incidents", "err", err)
		return "Sorry, foghorn cannot list incidents right now (internal error)."
	}
	if len(open) == 0 {
		return "No open incidents."
	}
	now := p.clock.Now()
	var b strings.Builder
	fmt.Fprintf(&b, "%d open:", len(open))
	for i, inc := range open {
		line := fmt.Sprintf(" #%d %s %s since %s", inc.Short, sevTag(inc.Severity), cut(clean(inc.Summary), 50), since(inc.Opened, now, loc))
		switch {
		case inc.State == escalation.Acknowledged && !inc.Snoozed.IsZero():
			line += ", snoozed by " + inc.AckedBy
		case inc.State == escalation.Acknowledged:
			line += ", acked by " + inc.AckedBy
		}
		line += ";"
		if b.Len()+len(line) > maxSMSChars-20 {
			fmt.Fprintf(&b, " +%d more", len(open)-i)
			break
		}
		b.WriteString(line)
	}
	return strings.TrimSuffix(b.String(), ";")
}

// onCallText says who is on call now in each rotation, and who is next.
func (p *Pager) onCallText(ctx context.Context, eng Reads, loc *time.Location) string {
	now := p.clock.Now()
	rots, err := eng.OnCall(ctx, now, 1)
	if err != nil {
		p.log.Error("ONCALL: cannot compute rotations", "err", err)
		return "Sorry, foghorn cannot compute who is on call right now (internal error)."
	}
	if len(rots) == 0 {
		return "No rotations are configured."
	}
	var parts []string
	for _, name := range slices.Sorted(maps.Keys(rots)) {
		shifts := rots[name]
		if len(shifts) == 0 {
			continue
		}
		s := fmt.Sprintf("%s: %s", name, shifts[0].Person)
		if shifts[0].Covering != "" {
			s += " for " + shifts[0].Covering
		}
		// The end is the cover's when an override covers now (the
		// engine cuts the shift there); the zone is said, since the
		// reader may be elsewhere than the rotation.
		if !shifts[0].End.IsZero() {
			s += " until " + shifts[0].End.In(loc).Format("Mon 15:04 MST")
		}
		if len(shifts) > 1 {
			s += ", then " + shifts[1].Person
		}
		parts = append(parts, s)
	}
	return cut("On call: "+strings.Join(parts, "; "), maxSMSChars)
}
