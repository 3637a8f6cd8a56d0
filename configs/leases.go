package configs

import (
	"fmt"
	"strings"
	"time"
)

// Leases is [leases]: who may ask foghorn for a maintenance lease ("may
// pve2 go down now?") and how many may be held at once. Without it, or
// with allow empty, leases are off.
type Leases struct {
	// Allow names the API tokens (and people, for the dashboard) that
	// may take leases.
	Allow []string `toml:"allow"`
	// MaxConcurrent bounds the leases held at once site-wide (default 1).
	MaxConcurrent int `toml:"max_concurrent"`
	// MaxFor is the longest lease one may ask for (default 4h).
	MaxFor Duration `toml:"max_for"`
}

// DefaultLeaseMaxFor is [leases] max_for when it is not set.
const DefaultLeaseMaxFor = 4 * time.Hour

// On says whether leases may be taken at all.
func (l Leases) On() bool { return len(l.Allow) > 0 }

func defaultLeases(c *Config) {
	orInt(&c.Leases.MaxConcurrent, 1)
	orDuration(&c.Leases.MaxFor, DefaultLeaseMaxFor)
	for i := range c.Groups {
		orInt(&c.Groups[i].MaxConcurrent, 1)
	}
}

func validateLeases(r *report, c *Config) {
	l := c.Leases
	for _, name := range l.Allow {
		t := c.Token(name)
		switch {
		case c.Person(name) != nil:
		case t == nil:
			r.add("leases.allow", "leases allow", "list names from the [[api_token]] entries (or [[person]] names, for the dashboard)",
				"unknown api_token or person %q", name)
		case t.Role == "viewer":
			r.add("leases.allow", "leases allow", `give the token role = "lease" (or "responder"), or take it out of allow`,
				"api_token %q is a viewer: it cannot take leases", name)
		}
	}
	if l.MaxConcurrent < 1 {
		r.add("leases.max_concurrent", "leases max_concurrent", "use at least 1", "%d leases at once would grant none", l.MaxConcurrent)
	}
	if l.MaxFor.Duration <= 0 {
		r.add("leases.max_for", "leases max_for", `use a duration like "4h"`, "must be positive")
	}
	var known []string
	for _, t := range c.Targets {
		known = append(known, t.Name)
	}
	for i, g := range c.Groups {
		path := "group[" + itoa(i) + "]"
		key := "group " + quote(g.Name)
		if g.MaxConcurrent < 1 {
			r.add(path+".max_concurrent", key+" max_concurrent", "use at least 1", "%d leases at once would grant none", g.MaxConcurrent)
		}
		for _, n := range g.LeaseRequires {
			if c.Target(n) == nil {
				r.add(path+".lease_requires", key+" lease_requires", fmt.Sprintf("name one of the targets: %s", strings.Join(known, ", ")),
					"unknown target %q", n)
			}
		}
	}
}
