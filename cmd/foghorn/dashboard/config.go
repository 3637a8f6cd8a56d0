package dashboard

import "foghorn/configs"

// Config is what the dashboard reads of the config in force; cmd builds
// it from the loaded config (Options.Config, per request, so a reload
// applies at once).
type Config struct {
	// PublicURL is [server] public_url: the origin trusted behind a proxy,
	// and whether cookies are marked secure.
	PublicURL string
	// People log in (name, role, password_hash, time zone).
	People []configs.Person
	// Tokens are the names of the API tokens, for the audit page's filter.
	Tokens      []string
	Targets     []configs.Target
	Groups      []configs.Group
	Maintenance []configs.Maintenance
	// PowerEnabled and AllowForce are [power] enabled and allow_force:
	// whether an incident's page offers power actions, and forcing them.
	PowerEnabled, AllowForce bool
}

// Person returns the person called name, or nil.
func (c *Config) Person(name string) *configs.Person {
	for i := range c.People {
		if c.People[i].Name == name {
			return &c.People[i]
		}
	}
	return nil
}

// Target returns the target called name, or nil.
func (c *Config) Target(name string) *configs.Target {
	for i := range c.Targets {
		if c.Targets[i].Name == name {
			return &c.Targets[i]
		}
	}
	return nil
}

// Group returns the group called name, or nil.
func (c *Config) Group(name string) *configs.Group {
	for i := range c.Groups {
		if c.Groups[i].Name == name {
			return &c.Groups[i]
		}
	}
	return nil
}
