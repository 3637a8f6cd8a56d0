// Package configs owns foghorn's TOML schema: the types below, their defaults,
// validation with file:line errors, and the example and demo configs. It runs
// nothing. Only cmd reads a whole validated *Config: it cuts each stage's own
// part from it. The stages share the small words of words.go (Severity and
// its rank, Channel, a group's Members and Need) and the section types.
package configs

// Config is one foghorn configuration file, decoded and validated.
type Config struct {
	Server     Server     `toml:"server"`
	Twilio     Twilio     `toml:"twilio"`
	SMTP       SMTP       `toml:"smtp"`
	Ntfy       NtfyConfig `toml:"ntfy"` // ntfy.go
	SelfCheck  SelfCheck  `toml:"self_check"`
	Escalation Escalation `toml:"escalation"`
	Power      Power      `toml:"power"`
	Leases     Leases     `toml:"leases"` // leases.go
	Demo       Demo       `toml:"demo"`

	Pushover *PushoverApp `toml:"pushover"` // pushover.go; nil without [pushover]

	// Cluster is nil without a [cluster] table: a single foghorn runs
	// exactly as it did before clustering existed.
	Cluster     *Cluster      `toml:"cluster"`
	Telegram    *TelegramBot  `toml:"telegram"` // telegram.go; nil without [telegram]
	Providers   []Provider    `toml:"provider"` // providers.go: SMS/voice providers after [twilio]
	People      []Person      `toml:"person"`
	Rotations   []Rotation    `toml:"rotation"`
	Policies    []Policy      `toml:"policy"`
	Targets     []Target      `toml:"target"`
	Groups      []Group       `toml:"group"`
	Maintenance []Maintenance `toml:"maintenance"`
	APITokens   []APIToken    `toml:"api_token"`

	// File is the path the config was read from; errors and reloads use it.
	File string `toml:"-"`
	// Warnings are problems that do not stop this config (a secret file
	// every user can read); check-config prints them and run logs them.
	Warnings Problems `toml:"-"`
}

// Server is the one HTTP listener and where state lives.
type Server struct {
	Listen string `toml:"listen"`
	// PublicURL is how Twilio reaches us; webhook signatures are computed
	// over it, so it must be exactly what Twilio calls.
	PublicURL string `toml:"public_url"`
	DataDir   string `toml:"data_dir"`
	// APITokenFile holds the bearer token for /api/v1 (or
	// FOGHORN_API_TOKEN). Without one, the API is read-only.
	APITokenFile string `toml:"api_token_file"`
	// Retention is how long events (the audit trail and timelines),
	// finished notifications and resolved incidents are kept; older ones
	// are pruned in the background. Open incidents are never pruned.
	Retention Retention `toml:"retention"`

	APIToken Secret `toml:"-"`
}

// Twilio is the SMS and voice channel. The auth token is a secret: it comes
// from AuthTokenFile or FOGHORN_TWILIO_AUTH_TOKEN and is never printed.
type Twilio struct {
	AccountSID    string `toml:"account_sid"`
	AuthTokenFile string `toml:"auth_token_file"`
	From          string `toml:"from"`
	// APIBase replaces https://api.twilio.com, so a simulator can stand in.
	APIBase string `toml:"api_base"`
	// Simulator runs the built-in Twilio simulator in-process (demo, tests);
	// its phones are at http://SimulatorListen/sim/.
	Simulator       bool   `toml:"simulator"`
	SimulatorListen string `toml:"simulator_listen"`
	// SMSValidity makes Twilio drop an SMS it could not deliver in time, so
	// a stale page never arrives hours later.
	SMSValidity      Duration `toml:"sms_validity"`
	MachineDetection bool     `toml:"machine_detection"`
	SMSPer15m        int      `toml:"sms_per_15m"`
	CallsPer15m      int      `toml:"calls_per_15m"`
	// SkipFor and DeliveryWindow are [[provider]]'s (providers.go), for
	// [twilio] as the first provider; they matter only with a [[provider]].
	SkipFor        Duration `toml:"skip_for"`
	DeliveryWindow Duration `toml:"delivery_window"`

	AuthToken Secret `toml:"-"`
}

// SMTP is the second channel that does not depend on Twilio.
type SMTP struct {
	Host         string `toml:"host"`
	Port         int    `toml:"port"`
	Username     string `toml:"username"`
	PasswordFile string `toml:"password_file"`
	From         string `toml:"from"`
	StartTLS     bool   `toml:"starttls"`

	Password Secret `toml:"-"`
}

// SelfCheck lists canaries: addresses outside the watched site. When they
// fail too, it is foghorn that is offline, not the site.
type SelfCheck struct {
	Canaries []string `toml:"canaries"`
	Kind     string   `toml:"kind"`
	MinUp    int      `toml:"min_up"`
	Interval Duration `toml:"interval"`
	Timeout  Duration `toml:"timeout"`
	// HeartbeatURL is called while foghorn is healthy: a dead-man's switch
	// elsewhere pages when foghorn itself dies.
	HeartbeatURL      string   `toml:"heartbeat_url"`
	HeartbeatInterval Duration `toml:"heartbeat_interval"`
}

// Escalation holds engine-wide defaults.
type Escalation struct {
	DefaultPolicy string `toml:"default_policy"`
	// AckTimeout re-pages an acknowledged incident that was never resolved.
	AckTimeout Duration `toml:"ack_timeout"`
	// StormWindow groups targets failing together into one incident.
	StormWindow Duration `toml:"storm_window"`
	// MaxPerHour caps notifications per person, so a broken loop cannot call
	// someone 200 times an hour.
	MaxPerHour int `toml:"max_per_hour"`
	// VoiceMinSeverity is the least severity that rings a phone; below it a
	// step's "voice" is skipped (a warning should not wake anyone).
	VoiceMinSeverity Severity `toml:"voice_min_severity"`
	// TestPage (cron) sends everyone on call a test SMS and call, so a
	// broken phone is found on a Monday morning, not at 3 a.m.
	TestPage string `toml:"test_page"`
}

// Power is the seatbelt around BMC power actions.
type Power struct {
	Enabled        bool     `toml:"enabled"`
	Allow          []string `toml:"allow"`
	ConfirmTimeout Duration `toml:"confirm_timeout"`
	PerHostPerHour int      `toml:"per_host_per_hour"`
	PerSitePerHour int      `toml:"per_site_per_hour"`
	AllowForce     bool     `toml:"allow_force"`
	Automated      bool     `toml:"automated"`
}

// Demo makes foghorn serve its own loopback targets, so the demo config runs
// on any machine with no accounts.
type Demo struct {
	Listen string `toml:"listen"`
}

// Person is someone who can be paged. Phone is E.164 (+4915112345678).
type Person struct {
	Name     string `toml:"name"`
	Phone    string `toml:"phone"`
	Email    string `toml:"email"`
	TimeZone string `toml:"timezone"`
	// QuietHours ("22:00-07:00", local to TimeZone) hold back warnings;
	// critical pages still ring.
	QuietHours   string `toml:"quiet_hours"`
	Role         string `toml:"role"`
	PasswordHash string `toml:"password_hash"`

	// Telegram is [person.telegram] (telegram.go).
	Telegram *PersonTelegram `toml:"telegram"`
	// Ntfy is [person.ntfy] (ntfy.go), nil without it.
	Ntfy     *NtfyPerson   `toml:"ntfy"`
	Pushover *PushoverUser `toml:"pushover"` // pushover.go
}

// Rotation hands the pager on by a cron spec in a time zone.
type Rotation struct {
	Name     string   `toml:"name"`
	Members  []string `toml:"members"`
	Handoff  string   `toml:"handoff"`
	TimeZone string   `toml:"timezone"`
	Start    DateTime `toml:"start"`
}

// Policy is an ordered list of steps.
type Policy struct {
	Name string `toml:"name"`
	// LoopFrom is the 1-based step to go back to after the last; 0 means
	// the last step keeps repeating.
	LoopFrom int    `toml:"loop_from"`
	Steps    []Step `toml:"step"`
}

// Step pages Who over Channels, in order, Delay after the previous step.
type Step struct {
	// Who entries: "alice", "rotation:ops" (on call now),
	// "rotation:ops:next", "rotation:ops:all".
	Who []string `toml:"who"`
	// Channels are all used, in this order, a few seconds apart: the SMS,
	// then the call. Each has its own retries.
	Channels []Channel `toml:"channels"`
	// Fallback channels are used only when one of Channels fails for good
	// for that person (a landline for SMS, a number that cannot be called).
	Fallback []Channel `toml:"fallback"`
	Delay    Duration  `toml:"delay"`
	Repeat   int       `toml:"repeat"`
	UntilAck bool      `toml:"until_ack"`
	Interval Duration  `toml:"interval"`
	// MinSeverity skips this step for incidents below it.
	MinSeverity Severity `toml:"min_severity"`
	// Power ("cycle" or "reset") has foghorn do that power action on the
	// incident's host when this step pages, once per incident, behind
	// the power guard; needs [power] automated = true.
	Power string `toml:"power"`
}

// Target is one thing foghorn probes.
type Target struct {
	Name     string            `toml:"name"`
	Kind     string            `toml:"kind"`
	Address  string            `toml:"address"`
	Interval Duration          `toml:"interval"`
	Timeout  Duration          `toml:"timeout"`
	Rise     int               `toml:"rise"`
	Fall     int               `toml:"fall"`
	Severity Severity          `toml:"severity"`
	Parent   string            `toml:"parent"`
	Group    string            `toml:"group"`
	Policy   string            `toml:"policy"`
	BMC      string            `toml:"bmc"`
	Host     string            `toml:"host"`
	Labels   map[string]string `toml:"labels"`

	ICMP      *ICMP      `toml:"icmp"`
	TCP       *TCP       `toml:"tcp"`
	HTTP      *HTTP      `toml:"http"`
	DNS       *DNS       `toml:"dns"`
	TLS       *TLS       `toml:"tls"`
	SNMP      *SNMP      `toml:"snmp"`
	Command   *Command   `toml:"command"`
	Heartbeat *Heartbeat `toml:"heartbeat"`
	IPMI      *IPMI      `toml:"ipmi"`
}

// ICMP: ping, with loss and round-trip thresholds.
type ICMP struct {
	Count      int      `toml:"count"`
	MaxLoss    float64  `toml:"max_loss"`
	MaxRTT     Duration `toml:"max_rtt"`
	Privileged bool     `toml:"privileged"`
}

// TCP: connect, optionally send a line and expect a banner.
type TCP struct {
	Send   string `toml:"send"`
	Expect string `toml:"expect"`
	TLS    bool   `toml:"tls"`
	// Insecure skips certificate verification for tls: the handshake is
	// still the check (Proxmox and most BMCs serve self-signed certificates).
	Insecure bool `toml:"insecure"`
}

// HTTP asserts on status and body, not only reachability.
type HTTP struct {
	Method          string            `toml:"method"`
	Status          []int             `toml:"status"`
	BodyRegex       string            `toml:"body_regex"`
	Headers         map[string]string `toml:"headers"`
	Body            string            `toml:"body"`
	Insecure        bool              `toml:"insecure"`
	FollowRedirects *bool             `toml:"follow_redirects"`
	CertExpiryWarn  Duration          `toml:"cert_expiry_warn"`
}

// DNS queries Address (a server) for Name and Type.
type DNS struct {
	Name   string   `toml:"name"`
	Type   string   `toml:"type"`
	Expect []string `toml:"expect"`
}

// TLS checks a certificate's validity and expiry on host:port.
type TLS struct {
	ServerName     string   `toml:"server_name"`
	CertExpiryWarn Duration `toml:"cert_expiry_warn"`
}

// SNMP reads OIDs and asserts their values.
type SNMP struct {
	Version       string      `toml:"version"`
	CommunityFile string      `toml:"community_file"`
	Username      string      `toml:"username"`
	AuthProtocol  string      `toml:"auth_protocol"`
	AuthFile      string      `toml:"auth_passphrase_file"`
	PrivProtocol  string      `toml:"priv_protocol"`
	PrivFile      string      `toml:"priv_passphrase_file"`
	DetectReboot  *bool       `toml:"detect_reboot"`
	Checks        []SNMPCheck `toml:"check"`

	Community  Secret `toml:"-"`
	AuthPhrase Secret `toml:"-"`
	PrivPhrase Secret `toml:"-"`
}

// SNMPCheck asserts one OID: equal to a value, or within [Min, Max].
type SNMPCheck struct {
	Name   string   `toml:"name"`
	OID    string   `toml:"oid"`
	Equals string   `toml:"equals"`
	Min    *float64 `toml:"min"`
	Max    *float64 `toml:"max"`
}

// Command runs a Nagios-compatible plugin.
type Command struct {
	Argv []string `toml:"argv"`
}

// Heartbeat is pushed to by the watched host; late beyond Grace is down.
type Heartbeat struct {
	TokenFile string   `toml:"token_file"`
	Grace     Duration `toml:"grace"`

	Token Secret `toml:"-"`
}

// IPMI reads a BMC: power state, SEL and sensors.
type IPMI struct {
	Username     string `toml:"username"`
	PasswordFile string `toml:"password_file"`
	Interface    string `toml:"interface"`
	CipherSuite  int    `toml:"cipher_suite"`
	Port         int    `toml:"port"`

	Password Secret `toml:"-"`
}

// Group is "at least MinUp of its members up". Quorum marks a cluster whose
// quorum power actions must not break.
type Group struct {
	Name string `toml:"name"`
	// Names are the members as written; Members() is the whole list.
	Names    []string `toml:"members"`
	Selector []string `toml:"selector"`
	MinUp    int      `toml:"min_up"`
	Quorum   bool     `toml:"quorum"`
	Severity Severity `toml:"severity"`
	Policy   string   `toml:"policy"`
	// MaxConcurrent bounds the maintenance leases held at once in this
	// group (default 1); LeaseRequires names targets that must be OK
	// for a lease to be granted (a Gluster heal check). leases.go.
	MaxConcurrent int      `toml:"max_concurrent"`
	LeaseRequires []string `toml:"lease_requires"`

	// Resolved lists the member targets after the selector is applied.
	Resolved []string `toml:"-"`
}

// APIToken lets a script use the JSON API. Only the token's SHA-256 is in
// the config (`foghorn token NAME` makes one), so the config leaks nothing.
type APIToken struct {
	Name   string `toml:"name"`
	SHA256 string `toml:"sha256"`
	Role   string `toml:"role"` // "responder" (default), "viewer" or "lease" (read and lease only)
}

// Maintenance is a recurring window; matching incidents are recorded, not paged.
type Maintenance struct {
	Name     string   `toml:"name"`
	Schedule string   `toml:"schedule"`
	Duration Duration `toml:"duration"`
	TimeZone string   `toml:"timezone"`
	Matchers []string `toml:"matchers"`
}
