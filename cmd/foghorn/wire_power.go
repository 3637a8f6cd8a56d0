package main

import (
	"foghorn/cmd/foghorn/dashboard"
	"foghorn/configs"
	"foghorn/power"
)

// powerConfig is the power desk's part of cfg: [power], which host names
// which BMC, the BMCs (ipmi targets) and the groups.
func powerConfig(cfg *configs.Config) power.Config {
	pc := power.Config{Power: cfg.Power, Leases: cfg.Leases, Groups: cfg.Groups}
	for _, t := range cfg.Targets {
		if t.Kind == "ipmi" {
			pc.BMCs = append(pc.BMCs, t)
		} else {
			pc.Hosts = append(pc.Hosts, power.Host{Name: t.Name, BMC: t.BMC})
		}
	}
	return pc
}

// dashConfig is the dashboard's part of cfg: who logs in, what it shows
// (targets, groups, maintenance) and whether it offers power actions.
func dashConfig(cfg *configs.Config) *dashboard.Config {
	dc := &dashboard.Config{PublicURL: cfg.Server.PublicURL, People: cfg.People, Targets: cfg.Targets, Groups: cfg.Groups,
		Maintenance: cfg.Maintenance, PowerEnabled: cfg.Power.Enabled, AllowForce: cfg.Power.AllowForce}
	for _, t := range cfg.APITokens {
		dc.Tokens = append(dc.Tokens, t.Name)
	}
	return dc
}
