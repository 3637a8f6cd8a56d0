package classify

import (
	"slices"
	"time"

	"foghorn/configs"
)

// Event is an incident opening, changing or resolving, as classification
// decides it: the value the escalation engine consumes (cmd converts it to
// escalation.Alert; probes knows nothing of people). Events with the same
// Key are one incident: Firing again updates it, Firing false resolves it.
type Event struct {
	// Key names the incident: "target:NAME" (a target, or a storm that
	// began with it), "group:NAME", "self" (foghorn itself), or for a
	// notice "reboot:NAME".
	Key    string
	Firing bool
	// Notice marks a one-off report that opens nothing and needs no ack:
	// foghorn's blind window once it can see again, a device that
	// rebooted. Deliver it once (one SMS), then forget it.
	Notice   bool
	Severity configs.Severity
	Summary  string // one line, fit for an SMS
	Detail   string // cause, children affected, last results
	Labels   map[string]string
	Policy   string   // empty: the default policy
	Children []string // targets unreachable behind the cause, or joined to it
	At       time.Time
	// Host is the one target the incident is about ("pve1"); "" for a
	// storm, a group with more than one member down, or foghorn itself.
	Host string
	// Offer is the power action that would help Host, for the pager to
	// offer by reply: cycle when its BMC answers with the power on, on
	// when the power is off; only with [power] enabled, and "" otherwise.
	Offer configs.PowerAction
}

// same reports whether a re-render says nothing new, so that an open
// incident is not updated for nothing.
func (e Event) same(o Event) bool {
	return e.Key == o.Key && e.Firing == o.Firing && e.Severity == o.Severity &&
		e.Summary == o.Summary && e.Detail == o.Detail && e.Policy == o.Policy &&
		e.Host == o.Host && e.Offer == o.Offer && slices.Equal(e.Children, o.Children)
}

// class is what a target is, as a page would say it.
type class uint8

const (
	clsUp          class = iota // up, pending, or failing but not yet down
	clsWarn                     // up, but its last fall results were warnings
	clsHeld                     // down by rise/fall, waiting for proof that it is the cause
	clsDown                     // down and the cause: told in its own, a storm's or its group's incident
	clsUnreachable              // down behind a down parent: listed in the parent's incident
	clsFolded                   // a BMC down while its host is down, or answering with a fault: told in the host's incident
	clsFlapping                 // changing state too often: one warning incident until it settles
	// clsReported: up, while its BMC answers and reports a fault. It is
	// told in its own incident ("pve1's BMC reports ..."), the one that
	// says "pve1 DOWN" if it goes down: one incident per host, whichever
	// is seen first.
	clsReported
	// clsOneSide: down from this node only, while the peer (another
	// vantage point) sees it up: a warning that says so (vantage.go).
	clsOneSide
)

var classNames = []string{"up", "warning", "held", "down", "unreachable", "folded", "flapping", "reported", "one-side"}

func (c class) String() string { return classNames[c] }

func parseClass(s string) class {
	if i := slices.Index(classNames, s); i >= 0 {
		return class(i)
	}
	return clsUp
}

// incident kinds.
type incKind uint8

const (
	incDown  incKind = iota // one target down, or a storm of them
	incFlap                 // one target flapping
	incWarn                 // one target warning
	incGroup                // a group with members down
	incBMC                  // a host's BMC reports a fault while the host answers
	incSplit                // one target down from this node only (vantage.go)
)

// incident is an open incident the classifier told the escalation engine
// about: what it contains and what was last sent.
type incident struct {
	key      string
	kind     incKind
	lead     string   // the target it began with, or the group's name
	members  []string // incDown: targets told in it, lead first
	opened   time.Time
	sent     Event
	sentKind incKind // kind when last sent
	removed  bool    // its last target left the config
	// adopted: open at the engine when the restored state said nothing of
	// it (reconcile.go); it waits for its targets' first rise or fall.
	adopted bool
}
