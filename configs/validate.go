package configs

import (
	"fmt"
	"net"
	"net/url"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // time zones work on a minimal VPS without the tzdata package

	"github.com/prometheus/alertmanager/pkg/labels"
	"github.com/robfig/cron/v3"
)

var (
	e164RE   = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)
	nameRE   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)
	sidRE    = regexp.MustCompile(`^AC[0-9a-f]{32}$`)
	quietRE  = regexp.MustCompile(`^([01][0-9]|2[0-3]):[0-5][0-9]-([01][0-9]|2[0-3]):[0-5][0-9]$`)
	labelRE  = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
	oidRE    = regexp.MustCompile(`^\.?[0-9]+(\.[0-9]+)+$`)
	cronSpec = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)
)

// Kinds are the probe kinds a target may have.
var Kinds = []string{"icmp", "tcp", "http", "dns", "tls", "snmp", "command", "heartbeat", "ipmi"}

// Channels are the ways a step may reach a person.
var Channels = []Channel{SMS, Voice, Email, Ntfy, Pushover, Telegram}

func itoa(i int) string     { return strconv.Itoa(i) }
func quote(s string) string { return strconv.Quote(s) }
func oneOf[S ~string](s S, set []S) bool {
	for _, v := range set {
		if s == v {
			return true
		}
	}
	return false
}

// ParseCron parses a handoff or maintenance schedule: five fields
// ("0 9 * * MON") or a descriptor ("@daily").
func ParseCron(spec string) (cron.Schedule, error) { return cronSpec.Parse(spec) }

// ParseMatcher parses one Alertmanager-style label matcher (`role="hv"`).
func ParseMatcher(s string) (*labels.Matcher, error) { return labels.ParseMatcher(s) }

func validate(r *report, c *Config) {
	durations(r, c, reflect.ValueOf(c).Elem(), "")
	validateServer(r, c)
	validateRetention(r, c) // retention.go
	validateTwilio(r, c)
	validateProviders(r, c) // providers.go
	validateSelfCheck(r, c)
	validatePeople(r, c)
	validateRotations(r, c)
	validatePolicies(r, c)
	validateTargets(r, c)
	validateGroups(r, c)
	validateMaintenance(r, c)
	validatePower(r, c)
	validateLeases(r, c) // leases.go
	validateTokens(r, c)
	validateCluster(r, c) // cluster.go
	validateTelegram(r, c)
	validateNtfy(r, c) // ntfy.go
	validatePushover(r, c)
}

var sha256RE = regexp.MustCompile(`^[0-9a-f]{64}$`)

func validateTokens(r *report, c *Config) {
	names := make([]string, len(c.APITokens))
	for i, t := range c.APITokens {
		names[i] = t.Name
	}
	checkNames(r, "api_token", names)
	for i, t := range c.APITokens {
		path := "api_token[" + itoa(i) + "]"
		key := "api_token " + quote(t.Name)
		if !sha256RE.MatchString(t.SHA256) {
			r.add(path+".sha256", key+" sha256", "paste the line `foghorn token NAME` printed; never the token itself",
				"not a SHA-256 in hex (64 characters 0-9a-f)")
		}
		if !oneOf(t.Role, []string{"responder", "viewer", "lease"}) {
			r.add(path+".role", key+" role", `use "responder" (may act), "viewer" (read only) or "lease" (may read and take maintenance leases)`, "unknown role %q", t.Role)
		}
		// A token's acts are recorded under its name: one shared with a
		// person, or with the [server] token ("api"), would make the audit
		// trail ambiguous about who acted.
		switch {
		case t.Name != "" && c.Person(t.Name) != nil:
			r.add(path+".name", key+" name", fmt.Sprintf("give the token a name of its own, e.g. %q (the audit trail records API acts under the token's name)", t.Name+"-script"),
				"the same name as a [[person]]: the audit trail could not tell this token's acts from %s's", t.Name)
		case t.Name == "api":
			r.add(path+".name", key+" name", `give the token a name of its own, e.g. "ops-script"`,
				`"api" is how the audit trail names the [server] api_token`)
		}
	}
}

// Token returns the [[api_token]] called name, or nil.
func (c *Config) Token(name string) *APIToken {
	for i := range c.APITokens {
		if c.APITokens[i].Name == name {
			return &c.APITokens[i]
		}
	}
	return nil
}

// durations reports every Duration that did not parse, wherever it is.
func durations(r *report, c *Config, v reflect.Value, path string) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			durations(r, c, v.Elem(), path)
		}
	case reflect.Slice:
		for i := 0; i < v.Len(); i++ {
			durations(r, c, v.Index(i), path+"["+itoa(i)+"]")
		}
	case reflect.Struct:
		if d, ok := v.Addr().Interface().(*Duration); ok {
			if d.bad != nil {
				key := describe(c, path)
				r.add(path, key, `write a duration like "30s", "5m" or "1h30m" (units: ms, s, m, h)`,
					"%q is not a valid duration", d.raw)
			}
			return
		}
		for i := 0; i < v.NumField(); i++ {
			f := v.Type().Field(i)
			n := tomlName(f)
			if n == "" || n == "-" || !f.IsExported() {
				continue
			}
			p := n
			if path != "" {
				p = path + "." + n
			}
			durations(r, c, v.Field(i), p)
		}
	}
}

func checkURL(r *report, path, key, raw string) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		r.add(path, key, `write a full URL such as "https://foghorn.example.net"`, "%q is not an http(s) URL", raw)
	}
}

func checkZone(r *report, path, key, tz string) {
	if _, err := time.LoadLocation(tz); err != nil {
		r.add(path, key, `use an IANA zone name such as "Europe/Berlin", "America/New_York" or "UTC"`,
			"unknown time zone %q", tz)
	}
}

func checkCron(r *report, path, key, spec string) {
	if _, err := ParseCron(spec); err != nil {
		r.add(path, key, `use five fields "minute hour day-of-month month day-of-week", e.g. "0 9 * * MON", or @daily/@weekly`,
			"bad schedule %q: %s", spec, cronProblem(spec))
	}
}

func checkMatchers(r *report, path, key string, ms []string) {
	for i, m := range ms {
		if _, err := ParseMatcher(m); err != nil {
			r.add(path, key, `write a matcher like 'role="hypervisor"', 'name=~"pve[0-9]+"' or 'site!="lab"'`,
				"matcher %d %q: %v", i+1, m, err)
		}
	}
}

func twilioUsed(c *Config) bool { return c.Twilio.AccountSID != "" || c.Twilio.Simulator }

func validateServer(r *report, c *Config) {
	s := c.Server
	if _, port, err := net.SplitHostPort(s.Listen); err != nil || port == "" {
		r.add("server.listen", "server listen", `write host:port, e.g. "127.0.0.1:8080" or ":8080"`,
			"%q is not a host:port address", s.Listen)
	}
	if s.PublicURL != "" {
		checkURL(r, "server.public_url", "server public_url", s.PublicURL)
	} else if c.Twilio.AccountSID != "" && !c.Twilio.Simulator {
		r.add("server", "server public_url", `set public_url to the https address Twilio reaches this foghorn at, e.g. "https://foghorn.example.net"`,
			"missing: Twilio needs it to deliver replies, key presses and delivery reports")
	}
}

func validateTwilio(r *report, c *Config) {
	tw := c.Twilio
	if tw.AccountSID != "" && !sidRE.MatchString(tw.AccountSID) {
		r.add("twilio.account_sid", "twilio account_sid", "copy the Account SID from the Twilio console: AC followed by 32 hex digits",
			"%q is not a Twilio account SID", tw.AccountSID)
	}
	if !twilioUsed(c) {
		return
	}
	if tw.From == "" {
		r.add("twilio", "twilio from", `set from to your Twilio number in E.164 form, e.g. "+14155550100"`, "missing: the number pages are sent from")
	} else if !e164RE.MatchString(tw.From) {
		r.add("twilio.from", "twilio from", `write the number in E.164 form: +, country code, number, no spaces, e.g. "+14155550100"`,
			"%q is not an E.164 phone number", tw.From)
	}
	checkURL(r, "twilio.api_base", "twilio api_base", tw.APIBase)
	if v := tw.SMSValidity.Duration; tw.SMSValidity.bad == nil && (v < time.Second || v > 4*time.Hour) {
		r.add("twilio.sms_validity", "twilio sms_validity", `pick between "1s" and "4h" (Twilio's limits); "15m" is a good page lifetime`,
			"%s is outside Twilio's validity period range", v)
	}
	if tw.SMSPer15m < 0 || tw.CallsPer15m < 0 {
		r.add("twilio", "twilio rate limits", "use a positive number (defaults: 5 SMS and 3 calls per 15 minutes per person)",
			"sms_per_15m and calls_per_15m cannot be negative")
	}
}

func validateSelfCheck(r *report, c *Config) {
	sc := c.SelfCheck
	if len(c.Targets) > 0 && len(sc.Canaries) == 0 {
		r.add("self_check", "self_check canaries", `add two or three addresses outside your site, e.g. canaries = ["9.9.9.9", "1.1.1.1", "8.8.8.8"]`,
			"missing: without canaries foghorn cannot tell its own network outage from your site's and would page everyone")
	}
	switch sc.Kind {
	case "icmp":
		for _, a := range sc.Canaries {
			if _, _, err := net.SplitHostPort(a); err == nil {
				r.add("self_check.canaries", "self_check canaries", `write the address alone, e.g. "9.9.9.9", or set kind = "tcp" to connect to host:port`,
					"%q has a port, but ICMP has none: the canary could never answer", a)
			} else if net.ParseIP(a) == nil && strings.Trim(a, "0123456789.") == "" {
				r.add("self_check.canaries", "self_check canaries", `write an IPv4 or IPv6 address, e.g. "9.9.9.9", or a host name`,
					"%q is not an IP address", a)
			}
		}
	case "tcp":
		for _, a := range sc.Canaries {
			if _, _, err := net.SplitHostPort(a); err != nil {
				r.add("self_check.canaries", "self_check canaries", `with kind = "tcp" write host:port, e.g. "9.9.9.9:53"`,
					"%q has no port", a)
			}
		}
	default:
		r.add("self_check.kind", "self_check kind", `use "icmp" or "tcp"`, "unknown canary kind %q", sc.Kind)
	}
	if len(sc.Canaries) > 0 && (sc.MinUp < 1 || sc.MinUp > len(sc.Canaries)) {
		r.add("self_check.min_up", "self_check min_up", "use a number from 1 to the number of canaries",
			"%d is out of range for %d canaries", sc.MinUp, len(sc.Canaries))
	}
	if sc.Timeout.Duration >= sc.Interval.Duration {
		r.add("self_check.timeout", "self_check timeout", "make timeout shorter than interval",
			"%s is not shorter than interval %s", sc.Timeout.Duration, sc.Interval.Duration)
	}
	if sc.HeartbeatURL != "" {
		checkURL(r, "self_check.heartbeat_url", "self_check heartbeat_url", sc.HeartbeatURL)
	}
}

func validatePower(r *report, c *Config) {
	p := c.Power
	// allow names people (SMS, web) and API tokens (the API acts under
	// the token's name, whatever the request says).
	for _, name := range p.Allow {
		t := c.Token(name)
		switch {
		case c.Person(name) != nil:
		case t == nil && name == "api":
			r.add("power.allow", "power allow", "make a token for the script (foghorn token NAME) and list that name",
				`"api" is the [server] api_token, which is shared and names nobody: power by API needs a named [[api_token]]`)
		case t == nil:
			r.add("power.allow", "power allow", "list names from the [[person]] and [[api_token]] entries", "unknown person or api_token %q", name)
		case t.Role == "viewer" || t.Role == "lease":
			r.add("power.allow", "power allow", `give the token role = "responder", or take it out of allow`,
				"api_token %q is a %s: it cannot act", name, t.Role)
		}
	}
	if p.Enabled && len(p.Allow) == 0 {
		r.add("power.enabled", "power", `list who may ask for power actions, e.g. allow = ["alice"]`,
			"enabled, but nobody is allowed to use it")
	}
	if p.PerHostPerHour < 1 || p.PerSitePerHour < 1 {
		r.add("power", "power limits", "use at least 1", "per_host_per_hour and per_site_per_hour must be positive")
	}
	if c.Escalation.TestPage != "" {
		checkCron(r, "escalation.test_page", "escalation test_page", c.Escalation.TestPage)
	}
	if c.Escalation.DefaultPolicy != "" && c.Policy(c.Escalation.DefaultPolicy) == nil {
		r.add("escalation.default_policy", "escalation default_policy", "name one of the [[policy]] entries",
			"unknown policy %q", c.Escalation.DefaultPolicy)
	}
}

// Person returns the person called name, or nil.
func (c *Config) Person(name string) *Person {
	for i := range c.People {
		if c.People[i].Name == name {
			return &c.People[i]
		}
	}
	return nil
}

// Rotation returns the rotation called name, or nil.
func (c *Config) Rotation(name string) *Rotation {
	for i := range c.Rotations {
		if c.Rotations[i].Name == name {
			return &c.Rotations[i]
		}
	}
	return nil
}

// Policy returns the policy called name, or nil.
func (c *Config) Policy(name string) *Policy {
	for i := range c.Policies {
		if c.Policies[i].Name == name {
			return &c.Policies[i]
		}
	}
	return nil
}

// Target returns the target called name, or nil.
func (c *Config) Target(name string) *Target {
	for i := range c.Targets {
		if c.Targets[i].Name == name {
			return &c.Targets[i]
		}
	}
	return nil
}

// Group returns the group called name, or nil.
func (c *Config) Group(name string) *Group {
	for i := range c.Groups {
		if c.Groups[i].Name == name {
			return &c.Groups[i]
		}
	}
	return nil
}

// checkNames reports missing, malformed and duplicate names of one kind.
func checkNames(r *report, kind string, names []string) {
	seen := map[string]int{}
	for i, n := range names {
		p := kind + "[" + itoa(i) + "]"
		switch {
		case n == "":
			r.add(p, kind+" #"+itoa(i+1), `add name = "..."`, "missing name")
		case !nameRE.MatchString(n):
			r.add(p+".name", kind+" "+quote(n), "use letters, digits, '-', '_' and '.', starting with a letter or digit",
				"name %q has characters that do not work in SMS commands and URLs", n)
		}
		if j, dup := seen[n]; dup && n != "" {
			own := "its"
			if kind == "person" {
				own = "their"
			}
			r.add(p+".name", kind+" "+quote(n), "give each "+kind+" a name of "+own+" own",
				"duplicate name: the %s at line %d has it too", kind, r.lines.line(kind+"["+itoa(j)+"].name"))
		} else {
			seen[n] = i
		}
	}
}

func stripSpace(s string) string { return strings.Join(strings.Fields(s), "") }
