package escalation

import (
	"context"
	"time"

	"foghorn/configs"
)

// Alert is what the engine consumes: something firing or resolved, from the
// probes' classification or from Alertmanager. Key deduplicates: the same
// key firing while an incident is open updates that incident.
type Alert struct {
	Key      string // "target:rt1", "group:routers", "am:<fingerprint>"
	Firing   bool   // false: resolved
	Severity configs.Severity
	Summary  string // one line: "router pair DOWN (rt1, rt2)"
	Detail   string // cause, children affected, last result
	Labels   map[string]string
	Policy   string // empty: the default policy
	Source   string // "probe", "alertmanager", "self"
	At       time.Time
	// Host is the one host of ours the alert is about ("pve1"), set where
	// a probe event becomes an alert; "" for a group, a storm, or an alert
	// from elsewhere. An automated power step acts on it, never on a label.
	Host string
	// Offer is the power action a person may ask for by reply ("cycle"
	// for a hung host whose BMC answers); "" for none. The pager words it.
	Offer configs.PowerAction
	// Children are the other targets the incident tells of: a storm's
	// members after its first, and those unreachable behind it. In a
	// cluster they make two nodes' storms one outage (storms.go), whichever
	// target each saw fail first.
	Children []string
}

// Intent is one notification the engine wants sent: the pager's input. The
// row is written (claimed) before the Notifier sees it; ID is its key, so a
// pager can make retries idempotent.
type Intent struct {
	ID       int64
	Incident int64
	Short    int // the number people reply with ("42" acks #42)
	Kind     Kind
	Channel  configs.Channel
	Person   string
	Phone    string
	Email    string
	Severity configs.Severity
	Summary  string              // what is wrong, one line
	Detail   string              // cause, children, last result
	Since    time.Time           // when the incident opened
	Text     string              // for "acked"/"resolved"/"test": the message itself; for "power": who asks ("policy:ops")
	Step     int                 // 0-based policy step that paged
	Attempt  int                 // 1 on first send; 2 when resent after a crash
	Host     string              // the incident's host, if it is about one (Alert.Host)
	Offer    configs.PowerAction // the power action to offer by reply, if any (Alert.Offer)
	// Power is the step's automated power action (policy step power =
	// "cycle"): on the "power" intent that asks for it, and on the step's
	// pages, which say what came of it.
	Power configs.PowerAction

	wait    time.Duration // before handing it over: the call a few seconds after the SMS
	limited bool          // held by a rate limit: sent late rather than expired
	cancel  bool          // not an intent: Notifier.Cancel for Incident, once committed (cancel.go)

	// In a cluster (cluster.go): the page's entry in the shared log, the
	// alert key, episode and pass it names, and whether this node has
	// taken its turn (a held page does not wait again).
	logKey, alert, episode string
	pass                   int
	turnTaken              bool
	// waited: the turn's wait was taken already, with the step's power
	// intent (share_power.go): the log is checked, without waiting again.
	waited bool
	// said: this node's "sending" entry is in the log already (takeTurn
	// wrote it before settling, cluster.go).
	said bool
}

// Kind is what an intent is for.
type Kind string

// The kinds of intent.
const (
	KindPage     Kind = "page"     // an incident's step pages a person
	KindResolved Kind = "resolved" // the incident is over: told to who was paged
	KindAcked    Kind = "acked"    // someone took it: told to who was paged
	KindTest     Kind = "test"     // a test page, on demand or by schedule
	KindNotice   Kind = "notice"   // a one-off report that needs no ack
	KindPower    Kind = "power"    // an automated power step (Intent.Power, Host) for the power desk, not a person
)

// Later is a Notifier's error for an intent that could not go now but
// can later: the vendor unreachable or failing (Until zero: the engine
// backs off), or a rate limit that frees at Until. The engine holds the
// page and sends it then, for as long as it is valid; a critical page is
// never dropped by a limit.
type Later struct {
	Until time.Time
	Err   error
}

func (l *Later) Error() string { return l.Err.Error() }
func (l *Later) Unwrap() error { return l.Err }

// Notifier delivers intents; the pager implements it.
type Notifier interface {
	// Notify hands one intent to its channel. An error means it was not
	// handed over: the engine falls back to the step's next channel.
	Notify(ctx context.Context, in Intent) error
	// Cancel stops what still goes on for an incident that was just
	// acked, resolved or snoozed: the pager hangs up calls still ringing.
	// It is called after the change is committed; an error is logged.
	Cancel(ctx context.Context, incident int64) error
}

// ProviderIDs is what a Notifier may also do: name the provider's id of
// a notification it handed over (Twilio's SID), for the notification log
// a cluster shares. "" when it has none.
type ProviderIDs interface {
	ProviderID(ctx context.Context, notification int64) string
}

// NotifierFunc adapts a function to Notifier; it has nothing to cancel.
type NotifierFunc func(ctx context.Context, in Intent) error

// Notify calls f.
func (f NotifierFunc) Notify(ctx context.Context, in Intent) error { return f(ctx, in) }

// Cancel does nothing: a function notifier keeps no calls.
func (f NotifierFunc) Cancel(context.Context, int64) error { return nil }

// Incident states.
const (
	Triggered    = "triggered"
	Acknowledged = "acknowledged"
	Resolved     = "resolved"
)
