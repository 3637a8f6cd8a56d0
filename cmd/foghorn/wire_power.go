package main

import (
	"foghorn/configs"
	"foghorn/power"
)

// powerConfig is the power desk's part of cfg: [power], which host names
// which BMC, the BMCs (ipmi targets) and the groups.
func powerConfig(cfg *configs.Config) power.Config {
	pc := power.Config{Power: cfg.Power, Groups: cfg.Groups}
	for _, t := range cfg.Targets {
		if t.Kind == "ipmi" {
			pc.BMCs = append(pc.BMCs, t)
		} else {
			pc.Hosts = append(pc.Hosts, power.Host{Name: t.Name, BMC: t.BMC})
		}
	}
	return pc
}
