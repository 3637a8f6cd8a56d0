package configs

// Severity is how bad something is: "info", "warning" or "critical".
// Every stage ranks it with Rank, so they agree on what is worse.
type Severity string

// The severities, lowest first.
const (
	Info     Severity = "info"
	Warning  Severity = "warning"
	Critical Severity = "critical"
)

// Severities lists the known severities, lowest first.
var Severities = []Severity{Info, Warning, Critical}

// Rank orders severities: "" (none, e.g. a step without min_severity) 0,
// info 1, warning 2, critical 3. A severity foghorn does not know ranks
// as critical: a word it cannot read must wake someone, never nobody.
func (s Severity) Rank() int {
	switch s {
	case "":
		return 0
	case Info:
		return 1
	case Warning:
		return 2
	}
	return 3
}

// Known reports whether s is one of Severities.
func (s Severity) Known() bool { return s == Info || s == Warning || s == Critical }

// AtLeast reports whether s is as bad as min or worse; every severity is
// at least "".
func (s Severity) AtLeast(min Severity) bool { return s.Rank() >= min.Rank() }

// Or is s, or def when s is "".
func (s Severity) Or(def Severity) Severity {
	if s == "" {
		return def
	}
	return s
}

// Worse is the worse of s and o.
func (s Severity) Worse(o Severity) Severity {
	if o.Rank() > s.Rank() {
		return o
	}
	return s
}

// Milder is the milder of s and o.
func (s Severity) Milder(o Severity) Severity {
	if o.Rank() < s.Rank() {
		return o
	}
	return s
}

// Channel is a way to reach a person: "sms", "voice", "email", or a push
// app ("ntfy", "pushover", "telegram").
type Channel string

// The channels.
const (
	SMS   Channel = "sms"
	Voice Channel = "voice"
	Email Channel = "email"
	// The push apps: each is a step channel and a fallback like sms, and
	// each takes acks back from the phone.
	Ntfy     Channel = "ntfy"
	Pushover Channel = "pushover"
	Telegram Channel = "telegram"
)

// Members lists the group's targets: the resolved list (members, the
// targets naming the group, and its selector's matches) once the config
// is validated, else the names written in members.
func (g *Group) Members() []string {
	if g.Resolved != nil {
		return g.Resolved
	}
	return g.Names
}

// Need is how many members must be up for the group to be up: min_up,
// which validation fills with 1, or a majority for a quorum group.
func (g *Group) Need() int {
	if g.MinUp > 0 {
		return g.MinUp
	}
	if g.Quorum {
		return len(g.Members())/2 + 1
	}
	return 1
}
