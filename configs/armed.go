package configs

import "strings"

// A config can be valid line by line and still arm nothing: an empty file,
// one with only comments or only [server], decodes to defaults with no
// target, no person and no policy. Run, such a foghorn watches nothing and
// pages nobody while looking healthy — a pager disarmed in silence. The
// binary therefore loads its config with LoadArmed or ParseArmed, which add
// these checks to the others (check-config, start and SIGHUP alike), while
// Parse and Load accept such fragments for tools and tests that need only a
// part of a config (`foghorn oncall`, the pager's own tests).

// LoadArmed is Load for a config foghorn is to run: it also refuses one
// that would watch nothing or page nobody (see checkArmed), in the same
// list as every other problem.
func LoadArmed(path string) (*Config, error) { return load(path, true) }

// ParseArmed is Parse with the checks of LoadArmed.
func ParseArmed(name, dir string, data []byte, env func(string) string) (*Config, error) {
	return parse(name, dir, data, env, true)
}

// checkArmed refuses a config with no target, no person, or no policy step
// that reaches a person. A foghorn that only pages for Alertmanager (no
// targets of its own) is armed when alerts can reach it and know whom to
// page: the intake (POST /api/v1/alertmanager) needs a responder token, and
// an alert without a foghorn_policy label goes to [escalation]
// default_policy.
func checkArmed(r *report, c *Config) {
	if len(c.Targets) == 0 && !alertmanagerOnly(c) {
		r.add("", "target",
			"add a [[target]] for each router, host or service to watch (see configs/example.toml); "+
				"for a foghorn that only pages Alertmanager's alerts, give the intake a token "+
				`([server] api_token_file, FOGHORN_API_TOKEN or an [[api_token]] with role "responder") and set [escalation] default_policy`,
			"none: foghorn would watch nothing")
	}
	if len(c.People) == 0 {
		r.add("", "person", `add a [[person]] with a name and a phone in E.164 form, e.g. phone = "+4915112345678" (see configs/example.toml)`,
			"none: nobody could be paged")
	}
	if reachesSomeone(c) {
		return
	}
	const fix = `add a [[policy]] with a [[policy.step]] whose who names a person or a rotation with members, e.g. who = ["alice"], and set [escalation] default_policy to it`
	if len(c.Policies) == 0 {
		r.add("", "policy", fix, "none: no escalation policy says whom to page")
		return
	}
	r.add("policy[0]", "policy", fix, "no policy step pages a person: every step's who is empty or names nobody who exists")
}

// alertmanagerOnly reports whether alerts from Alertmanager can arm a
// config without targets: the intake accepts them, and they have a policy.
func alertmanagerOnly(c *Config) bool {
	intake := !c.Server.APIToken.Empty()
	for _, t := range c.APITokens {
		intake = intake || t.Role == "responder"
	}
	pol := c.Policy(c.Escalation.DefaultPolicy)
	return intake && pol != nil && policyReaches(c, pol)
}

// reachesSomeone reports whether any policy has a step that pages at least
// one configured person.
func reachesSomeone(c *Config) bool {
	for i := range c.Policies {
		if policyReaches(c, &c.Policies[i]) {
			return true
		}
	}
	return false
}

func policyReaches(c *Config, p *Policy) bool {
	for _, s := range p.Steps {
		for _, w := range s.Who {
			if whoReaches(c, w) {
				return true
			}
		}
	}
	return false
}

// whoReaches reports whether one who entry resolves to at least one
// existing person: a name, or a rotation with such a member.
func whoReaches(c *Config, w string) bool {
	rest, isRotation := strings.CutPrefix(w, "rotation:")
	if !isRotation {
		return c.Person(w) != nil
	}
	name, _, _ := strings.Cut(rest, ":")
	ro := c.Rotation(name)
	if ro == nil {
		return false
	}
	for _, m := range ro.Members {
		if c.Person(m) != nil {
			return true
		}
	}
	return false
}
