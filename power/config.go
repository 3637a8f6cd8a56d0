package power

import (
	"strings"

	"foghorn/configs"
)

// Config is the part of the loaded config that power reads: the [power]
// section, which host names which BMC, the BMCs themselves and the groups
// (for quorum and a host's standing). cmd builds it from the whole config
// on start and on each reload; power sees nothing else of it.
type Config struct {
	Power configs.Power
	// Leases is [leases]: who may take maintenance leases, how many.
	Leases configs.Leases
	// Hosts are the targets other than BMCs, each with the BMC target it
	// names ("" for none): a host without one is still a name power knows,
	// so its refusal can say what is missing.
	Hosts []Host
	// BMCs are the ipmi targets, as the BMC interface takes them.
	BMCs   []configs.Target
	Groups []configs.Group
}

// Host is a target that is not a BMC, and the BMC target it names.
type Host struct {
	Name string
	BMC  string
}

// bmc is the BMC target called name, or nil.
func (c *Config) bmc(name string) *configs.Target {
	for i := range c.BMCs {
		if c.BMCs[i].Name == name {
			return &c.BMCs[i]
		}
	}
	return nil
}

// host is the host called name, or nil.
func (c *Config) host(name string) *Host {
	for i := range c.Hosts {
		if c.Hosts[i].Name == name {
			return &c.Hosts[i]
		}
	}
	return nil
}

// known says whether name is a host or a BMC.
func (c *Config) known(name string) bool { return c.host(name) != nil || c.bmc(name) != nil }

// folded is every configured name equal to name but for case.
func (c *Config) folded(name string) []string {
	var out []string
	for _, h := range c.Hosts {
		if strings.EqualFold(h.Name, name) {
			out = append(out, h.Name)
		}
	}
	for _, b := range c.BMCs {
		if strings.EqualFold(b.Name, name) {
			out = append(out, b.Name)
		}
	}
	return out
}
