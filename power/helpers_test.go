package power

import (
	"context"
	"testing"
	"time"

	"foghorn/configs"
	"foghorn/ipmi"
	"foghorn/ipmi/simtest"
)

// pooled is the ipmi pool as the guard's BMC, as cmd wires it.
type pooled struct{ pool *ipmi.Pool }

func (p pooled) Power(ctx context.Context, t *configs.Target, a configs.PowerAction) (Outcome, error) {
	b, err := p.pool.Get(t)
	if err != nil {
		return Outcome{Action: a}, err
	}
	out, err := b.Power(ctx, a)
	return Outcome{Action: out.Action, Before: Chassis(out.Before), After: Chassis(out.After),
		Confirmed: out.Confirmed, Took: out.Took, Text: out.Text}, err
}

func within(t testing.TB, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// bmcTarget is an ipmi target for sim, as the config would have it.
func bmcTarget(name, host string, s *simtest.Sim) configs.Target {
	return configs.Target{
		Name: name, Kind: "ipmi", Address: s.Host, Host: host,
		Timeout: configs.Duration{Duration: 2 * time.Second},
		IPMI: &configs.IPMI{Username: simtest.User, Password: configs.NewSecret(simtest.Password),
			Interface: "lanplus", CipherSuite: 3, Port: s.Port},
	}
}

// narrow is the power part of cfg, as cmd builds it.
func narrow(cfg *configs.Config) Config {
	pc := Config{Power: cfg.Power, Groups: cfg.Groups}
	for _, t := range cfg.Targets {
		if t.Kind == "ipmi" {
			pc.BMCs = append(pc.BMCs, t)
		} else {
			pc.Hosts = append(pc.Hosts, Host{Name: t.Name, BMC: t.BMC})
		}
	}
	return pc
}
