package configs

import (
	"fmt"
	"net"
	"net/url"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/alertmanager/pkg/labels"
)

func validateTargets(r *report, c *Config) {
	names := make([]string, len(c.Targets))
	for i, t := range c.Targets {
		names[i] = t.Name
	}
	checkNames(r, "target", names)
	for i := range c.Targets {
		validateTarget(r, c, i)
	}
	checkCycles(r, c)
}

func validateTarget(r *report, c *Config, i int) {
	t := &c.Targets[i]
	path := "target[" + itoa(i) + "]"
	key := "target " + quote(t.Name)
	if !oneOf(t.Kind, Kinds) {
		fix := "use one of " + strings.Join(Kinds, ", ")
		if s := closest(t.Kind, Kinds); s != "" {
			fix = fmt.Sprintf("did you mean %q?", s)
		}
		if t.Kind == "" {
			r.add(path, key+" kind", fix, "missing: foghorn does not know how to probe it")
		} else {
			r.add(path+".kind", key+" kind", fix, "unknown kind %q", t.Kind)
		}
	}
	validateAddress(r, path, key, t)
	if t.Interval.bad == nil && t.Interval.Duration < time.Second {
		r.add(path+".interval", key+" interval", `use at least "1s"; 10s to 60s suits most checks`, "%s is too short", t.Interval.Duration)
	}
	if t.Timeout.bad == nil && t.Interval.bad == nil {
		switch {
		case t.Timeout.Duration <= 0:
			r.add(path+".timeout", key+" timeout", `set a timeout such as "5s"`, "must be positive")
		case t.Timeout.Duration >= t.Interval.Duration:
			r.add(path+".timeout", key+" timeout", fmt.Sprintf("make timeout shorter than interval, e.g. timeout = %q", (t.Interval.Duration/2).String()),
				"%s is not shorter than interval %s: probes would overlap", t.Timeout.Duration, t.Interval.Duration)
		}
	}
	if t.Rise < 1 || t.Fall < 1 {
		r.add(path, key+" rise/fall", "use 1 or more: fall = 3 means three failed probes in a row mark it down",
			"rise and fall must be at least 1 (got rise %d, fall %d)", t.Rise, t.Fall)
	}
	if !t.Severity.Known() {
		r.add(path+".severity", key+" severity", `use "info", "warning" or "critical"`, "unknown severity %q", t.Severity)
	}
	if t.Parent != "" {
		switch p, g := c.Target(t.Parent), c.Group(t.Parent); {
		case t.Parent == t.Name:
			r.add(path+".parent", key+" parent", "name the router or switch this target is reached through", "a target cannot be its own parent")
		case p != nil && g != nil:
			// The classifier would take the target: say so rather than
			// let a router pair silently become one router.
			r.add(path+".parent", key+" parent", "rename the [[target]] or the [[group]]: a parent must name one of them",
				"%q is both a target and a group", t.Parent)
		case p == nil && g == nil:
			fix := "name the [[target]] or the [[group]] (a router pair) it is reached through, or fix the spelling"
			if s := closest(t.Parent, parentNames(c, t.Name)); s != "" {
				fix = fmt.Sprintf("did you mean %q?", s)
			}
			r.add(path+".parent", key+" parent", fix, "unknown target or group %q", t.Parent)
		}
	}
	if t.Group != "" && c.Group(t.Group) == nil {
		r.add(path+".group", key+" group", "add a [[group]] with that name, or fix the spelling", "unknown group %q", t.Group)
	}
	switch {
	case t.Policy != "" && c.Policy(t.Policy) == nil:
		r.add(path+".policy", key+" policy", "name one of the [[policy]] entries", "unknown policy %q", t.Policy)
	case t.Policy == "" && c.Escalation.DefaultPolicy == "" && t.Severity != "info":
		r.add(path, key+" policy", `set policy = "..." on the target, or default_policy under [escalation]`,
			"no policy: nobody would be paged when it fails")
	}
	if t.BMC != "" {
		if b := c.Target(t.BMC); b == nil || b.Kind != "ipmi" {
			r.add(path+".bmc", key+" bmc", "name the target of kind \"ipmi\" that reads this host's BMC", "%q is not an ipmi target", t.BMC)
		}
	}
	if t.Host != "" {
		if h := c.Target(t.Host); h == nil || h.Kind == "ipmi" {
			r.add(path+".host", key+" host", "name the host target this BMC belongs to", "%q is not a host target", t.Host)
		}
	}
	for k := range t.Labels {
		if !labelRE.MatchString(k) {
			r.add(path+".labels", key+" labels", "use letters, digits and '_', not starting with a digit", "label name %q is invalid", k)
		}
	}
	validateOptions(r, path, key, t)
}

func validateAddress(r *report, path, key string, t *Target) {
	a := t.Address
	if a == "" {
		if t.Kind != "heartbeat" && t.Kind != "command" && oneOf(t.Kind, Kinds) {
			r.add(path, key+" address", addressHint(t.Kind), "missing: foghorn does not know where to probe")
		}
		return
	}
	bad := false
	switch t.Kind {
	case "http":
		u, err := url.Parse(a)
		bad = err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == ""
	case "tcp", "tls":
		_, port, err := net.SplitHostPort(a)
		bad = err != nil || port == ""
	case "dns", "snmp", "icmp", "ipmi":
		bad = strings.ContainsAny(a, "/ ")
	}
	if bad {
		r.add(path+".address", key+" address", addressHint(t.Kind), "%q is not a valid address for kind %q", a, t.Kind)
	}
}

func addressHint(kind string) string {
	switch kind {
	case "http":
		return `write a URL, e.g. address = "https://www.example.net/health"`
	case "tcp", "tls":
		return `write host:port, e.g. address = "10.0.0.5:22"`
	case "dns":
		return `write the server to ask, e.g. address = "10.0.0.53" or "10.0.0.53:5353"`
	}
	return `write a host name or IP address, e.g. address = "10.0.0.5"`
}

// validateOptions checks the kind-specific table, and that a target has no
// table of another kind (a sign of a copy-paste slip).
func validateOptions(r *report, path, key string, t *Target) {
	given := map[string]bool{
		"icmp": t.ICMP != nil, "tcp": t.TCP != nil, "http": t.HTTP != nil, "dns": t.DNS != nil, "tls": t.TLS != nil,
		"snmp": t.SNMP != nil, "command": t.Command != nil, "heartbeat": t.Heartbeat != nil, "ipmi": t.IPMI != nil,
	}
	for _, k := range Kinds {
		if given[k] && k != t.Kind && oneOf(t.Kind, Kinds) {
			r.add(path+"."+k, key, fmt.Sprintf("remove [target.%s], or set kind = %q", k, k),
				"has [target.%s] options but its kind is %q", k, t.Kind)
		}
	}
	switch t.Kind {
	case "tcp":
		if t.TCP != nil {
			checkRegex(r, path+".tcp.expect", key+" tcp expect", t.TCP.Expect)
		}
	case "http":
		h := t.HTTP
		for _, s := range h.Status {
			if s < 100 || s > 599 {
				r.add(path+".http.status", key+" http status", "use HTTP status codes from 100 to 599, e.g. status = [200, 204]", "%d is not an HTTP status", s)
			}
		}
		checkRegex(r, path+".http.body_regex", key+" http body_regex", h.BodyRegex)
	case "dns":
		validateDNS(r, path, key, t.DNS)
	case "snmp":
		validateSNMP(r, path, key, t.SNMP)
	case "command":
		validateCommand(r, path, key, t.Command)
	case "ipmi":
		validateIPMI(r, path, key, t.IPMI)
	}
}

func checkRegex(r *report, path, key, re string) {
	if re == "" {
		return
	}
	if _, err := regexp.Compile(re); err != nil {
		r.add(path, key, "fix the regular expression (Go RE2 syntax; in TOML use '...' literal strings to avoid escaping)",
			"bad regular expression: %v", err)
	}
}

func validateDNS(r *report, path, key string, d *DNS) {
	if d == nil || d.Name == "" {
		r.add(path, key+" dns name", `add [target.dns] with name = "www.example.net" (and type = "A")`, "missing: which name to look up")
		return
	}
	if _, ok := dns.StringToType[strings.ToUpper(d.Type)]; !ok {
		r.add(path+".dns.type", key+" dns type", `use a record type such as "A", "AAAA", "MX", "TXT", "NS", "SOA"`, "unknown record type %q", d.Type)
	}
}

func validateSNMP(r *report, path, key string, s *SNMP) {
	switch s.Version {
	case "1", "2c":
	case "3":
		if s.Username == "" {
			r.add(path+".snmp", key+" snmp username", "set username for SNMPv3 (the USM user on the device)", "missing for version 3")
		}
		if s.AuthProtocol != "" && !oneOf(strings.ToUpper(s.AuthProtocol), []string{"MD5", "SHA", "SHA224", "SHA256", "SHA384", "SHA512"}) {
			r.add(path+".snmp.auth_protocol", key+" snmp auth_protocol", `use "SHA", "SHA256", "SHA512" or "MD5"`, "unknown protocol %q", s.AuthProtocol)
		}
		if s.PrivProtocol != "" && !oneOf(strings.ToUpper(s.PrivProtocol), []string{"DES", "AES", "AES192", "AES256", "AES192C", "AES256C"}) {
			r.add(path+".snmp.priv_protocol", key+" snmp priv_protocol", `use "AES", "AES256" or "DES"`, "unknown protocol %q", s.PrivProtocol)
		}
	default:
		r.add(path+".snmp.version", key+" snmp version", `use "2c" or "3"`, "unknown SNMP version %q", s.Version)
	}
	for j, ch := range s.Checks {
		p := path + ".snmp.check[" + itoa(j) + "]"
		k := key + " snmp check " + itoa(j+1)
		if !oidRE.MatchString(ch.OID) {
			r.add(p+".oid", k+" oid", `write a numeric OID, e.g. oid = "1.3.6.1.4.1.2021.9.1.9.1" (dskPercent)`, "%q is not a numeric OID", ch.OID)
		}
		ranged := ch.Min != nil || ch.Max != nil
		switch {
		case ch.Equals != "" && ranged:
			r.add(p, k, "use either equals, or min/max, not both", "has both equals and a range")
		case ch.Equals == "" && !ranged:
			r.add(p, k, `add equals = "1" or min/max, e.g. max = 90`, "asserts nothing: reachability alone is not a check")
		case ch.Min != nil && ch.Max != nil && *ch.Min > *ch.Max:
			r.add(p, k, "swap min and max", "min %v is above max %v", *ch.Min, *ch.Max)
		}
	}
}

func validateCommand(r *report, path, key string, c *Command) {
	if c == nil || len(c.Argv) == 0 {
		r.add(path, key+" command argv", `add [target.command] with argv = ["/usr/lib/nagios/plugins/check_disk", "-w", "10%", "-c", "5%"]`,
			"missing: which plugin to run")
		return
	}
	if _, err := exec.LookPath(c.Argv[0]); err != nil {
		r.add(path+".command.argv", key+" command argv", "install the plugin (Debian: monitoring-plugins-basic) or fix the path",
			"%q is not an executable file on this machine", c.Argv[0])
	}
}

func validateIPMI(r *report, path, key string, p *IPMI) {
	if p.Interface != "lan" && p.Interface != "lanplus" {
		r.add(path+".ipmi.interface", key+" ipmi interface", `use "lanplus" (IPMI 2.0) or "lan" (IPMI 1.5)`, "unknown interface %q", p.Interface)
	}
	if p.CipherSuite < 0 || p.CipherSuite > 17 {
		r.add(path+".ipmi.cipher_suite", key+" ipmi cipher_suite", "use 3 (widely supported) or 17", "%d is not an IPMI cipher suite", p.CipherSuite)
	}
	if p.Port < 1 || p.Port > 65535 {
		r.add(path+".ipmi.port", key+" ipmi port", "use 623, the IPMI port, unless the BMC is remapped", "%d is not a port", p.Port)
	}
	if p.Username == "" {
		r.add(path+".ipmi", key+" ipmi username", `set username = "..." (a BMC user with operator rights for power actions)`, "missing")
	}
}

// parentNames are the names a parent may take, for "did you mean".
func parentNames(c *Config, self string) []string {
	var out []string
	for _, t := range c.Targets {
		if t.Name != self {
			out = append(out, t.Name)
		}
	}
	for _, g := range c.Groups {
		out = append(out, g.Name)
	}
	return out
}

// checkCycles reports parent chains that loop; such a loop would mark every
// target in it unreachable forever. A parent group is on the way to each
// of its members: a router whose parent is its own pair, or a pair whose
// member sits behind a host behind the pair, is a loop too.
func checkCycles(r *report, c *Config) {
	index := map[string]int{}
	for i, t := range c.Targets {
		if _, dup := index[t.Name]; !dup {
			index[t.Name] = i
		}
	}
	// next lists where a node leads: a target to its parent (the target
	// if one has that name, as the classifier reads it, else the group),
	// a group to its members. Groups are "group:NAME" here, since a
	// group and a target may share a name.
	next := func(n string) []string {
		if g, ok := strings.CutPrefix(n, "group:"); ok {
			gr := c.Group(g)
			if gr == nil {
				return nil
			}
			return resolveGroup(c, gr)
		}
		t := c.Targets[index[n]]
		switch {
		case t.Parent == "" || t.Parent == t.Name:
			return nil
		case c.Target(t.Parent) != nil:
			return []string{t.Parent}
		case c.Group(t.Parent) != nil:
			return []string{"group:" + t.Parent}
		}
		return nil
	}
	const (
		unseen = iota
		onPath
		done
	)
	mark := map[string]int{}
	var path []string
	var walk func(n string)
	walk = func(n string) {
		mark[n] = onPath
		path = append(path, n)
		for _, m := range next(n) {
			switch mark[m] {
			case unseen:
				walk(m)
			case onPath:
				reportLoop(r, c, index, path[slices.Index(path, m):])
			}
		}
		path = path[:len(path)-1]
		mark[n] = done
	}
	for _, t := range c.Targets {
		if mark[t.Name] == unseen {
			walk(t.Name)
		}
	}
}

// reportLoop tells one loop of parents at the line of its first target in
// the file: "parents loop: web -> routers -> rt1 -> web".
func reportLoop(r *report, c *Config, index map[string]int, loop []string) {
	first := -1
	for j, n := range loop {
		if i, ok := index[n]; ok && !strings.HasPrefix(n, "group:") && (first < 0 || i < index[loop[first]]) {
			first = j
		}
	}
	if first < 0 {
		return
	}
	loop = append(slices.Clone(loop[first:]), loop[:first]...)
	words := make([]string, 0, len(loop)+1)
	fix := "break the loop: the top of a chain (the router nearest foghorn) has no parent"
	for _, n := range append(loop, loop[0]) {
		g, isGroup := strings.CutPrefix(n, "group:")
		if isGroup {
			// Behind a group means behind each of its members.
			fix += "; a group's members are never behind the group itself (" + g + ")"
		}
		words = append(words, g)
	}
	i := index[loop[0]]
	r.add("target["+itoa(i)+"].parent", "target "+quote(c.Targets[i].Name)+" parent", fix,
		"parents loop: %s", strings.Join(words, " -> "))
}

func validateGroups(r *report, c *Config) {
	names := make([]string, len(c.Groups))
	for i, g := range c.Groups {
		names[i] = g.Name
	}
	checkNames(r, "group", names)
	for i := range c.Groups {
		g := &c.Groups[i]
		path := "group[" + itoa(i) + "]"
		key := "group " + quote(g.Name)
		if len(g.Names) == 0 && len(g.Selector) == 0 && !hasMembersByTarget(c, g.Name) {
			r.add(path, key, `list members = ["rt1", "rt2"], or a selector such as selector = ['role="hypervisor"']`, "has no members")
		}
		for _, m := range g.Names {
			if c.Target(m) == nil {
				r.add(path+".members", key+" members", "name a [[target]], or fix the spelling", "unknown target %q", m)
			}
		}
		checkMatchers(r, path+".selector", key+" selector", g.Selector)
		g.Resolved = resolveGroup(c, g)
		if len(g.Selector) > 0 && len(g.Resolved) == 0 && validMatchers(g.Selector) {
			r.add(path+".selector", key+" selector", "check the label values on the targets", "matches no target")
		}
		n := len(g.Resolved)
		if g.MinUp == 0 {
			g.MinUp = 1
			if g.Quorum {
				g.MinUp = n/2 + 1 // a majority, as cluster managers count it
			}
		}
		if n > 0 && (g.MinUp < 1 || g.MinUp > n) {
			r.add(path+".min_up", key+" min_up", fmt.Sprintf("use a number from 1 to %d", n),
				"%d is impossible with %d members: the group could never be up", g.MinUp, n)
		}
		if g.Policy != "" && c.Policy(g.Policy) == nil {
			r.add(path+".policy", key+" policy", "name one of the [[policy]] entries", "unknown policy %q", g.Policy)
		}
		if !g.Severity.Known() {
			r.add(path+".severity", key+" severity", `use "info", "warning" or "critical"`, "unknown severity %q", g.Severity)
		}
	}
}

func hasMembersByTarget(c *Config, group string) bool {
	for _, t := range c.Targets {
		if t.Group == group {
			return true
		}
	}
	return false
}

// resolveGroup lists the targets in g: its members, those naming it as
// their group, and those its selector matches.
func resolveGroup(c *Config, g *Group) []string {
	var ms []*labels.Matcher
	for _, s := range g.Selector {
		m, err := ParseMatcher(s)
		if err != nil {
			return nil
		}
		ms = append(ms, m)
	}
	in := map[string]bool{}
	for _, m := range g.Names {
		in[m] = c.Target(m) != nil
	}
	var out []string
	for _, t := range c.Targets {
		match := in[t.Name] || t.Group == g.Name
		if !match && len(ms) > 0 {
			match = true
			ls := t.LabelSet()
			for _, m := range ms {
				if !m.Matches(ls[m.Name]) {
					match = false
				}
			}
		}
		if match {
			out = append(out, t.Name)
		}
	}
	return out
}

// LabelSet is the target's labels plus the built-in name, kind and group,
// which selectors and maintenance matchers can use.
func (t *Target) LabelSet() map[string]string {
	ls := map[string]string{"name": t.Name, "kind": t.Kind}
	if t.Group != "" {
		ls["group"] = t.Group
	}
	for k, v := range t.Labels {
		ls[k] = v
	}
	return ls
}

func validateMaintenance(r *report, c *Config) {
	names := make([]string, len(c.Maintenance))
	for i, m := range c.Maintenance {
		names[i] = m.Name
	}
	checkNames(r, "maintenance", names)
	for i, m := range c.Maintenance {
		path := "maintenance[" + itoa(i) + "]"
		key := "maintenance " + quote(m.Name)
		if m.Schedule == "" {
			r.add(path, key+" schedule", `say when it starts, e.g. schedule = "0 3 * * SUN"`, "missing")
		} else {
			checkCron(r, path+".schedule", key+" schedule", m.Schedule)
		}
		if m.Duration.bad == nil && m.Duration.Duration <= 0 {
			r.add(path+".duration", key+" duration", `set how long it lasts, e.g. duration = "2h"`, "missing or zero")
		}
		if len(m.Matchers) == 0 {
			r.add(path, key+" matchers", `say what it covers, e.g. matchers = ['group="hypervisors"']`, "missing: it would silence nothing")
		}
		checkMatchers(r, path+".matchers", key+" matchers", m.Matchers)
		checkZone(r, path+".timezone", key+" timezone", m.TimeZone)
	}
}

func validMatchers(ms []string) bool {
	for _, m := range ms {
		if _, err := ParseMatcher(m); err != nil {
			return false
		}
	}
	return true
}
