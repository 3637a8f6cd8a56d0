package power

import (
	"fmt"
	"slices"
)

// Target is what a name in a request stands for.
type Target struct {
	Name string // the configured name for what was typed ("Pve1" is "pve1")
	Host string // the host acted on
	BMC  string // its BMC's target; "" when there is none
}

// canonical is the configured name for what a person typed: phones
// capitalise the first word of a text ("Pve1").
func canonical(cfg *Config, name string) string {
	if cfg.known(name) {
		return name
	}
	found := cfg.folded(name)
	if len(found) != 1 {
		return name // none, or ambiguous: let the guard say it does not know it
	}
	return found[0]
}

// resolve finds the host and the BMC target from either name.
func resolve(cfg *Config, name string) (plan, *Refusal) {
	if b := cfg.bmc(name); b != nil {
		host := b.Host
		if host == "" {
			host = b.Name
		}
		return plan{host: host, bmc: b}, nil
	}
	t := cfg.host(name)
	if t == nil {
		return plan{host: name}, &Refusal{Rule: "target", Msg: fmt.Sprintf("refused: no target %q; name a host that has a bmc, or its ipmi target", name)}
	}
	if t.BMC == "" {
		return plan{host: t.Name}, &Refusal{Rule: "target", Msg: fmt.Sprintf("refused: %s has no BMC; set bmc = \"<ipmi target>\" on it to allow power actions", t.Name)}
	}
	b := cfg.bmc(t.BMC)
	if b == nil {
		return plan{host: t.Name}, &Refusal{Rule: "target", Msg: fmt.Sprintf("refused: %s names bmc %q, which is not an ipmi target", t.Name, t.BMC)}
	}
	return plan{host: t.Name, bmc: b}, nil
}

// lookup is Target for a name as typed.
func lookup(cfg *Config, typed string) Target {
	name := canonical(cfg, typed)
	p, _ := resolve(cfg, name)
	t := Target{Name: name, Host: p.host}
	if p.bmc != nil {
		t.BMC = p.bmc.Name
	} else if h := cfg.host(name); h != nil {
		t.BMC = h.BMC
	}
	return t
}

// Standing is where a host stands now, for whoever decides on a power
// action: whether it is down, and each group it is in.
type Standing struct {
	Host     string
	HostDown bool
	Groups   []GroupStanding
}

// GroupStanding is one group the host is in: Up of Of members up now,
// and Need of them for quorum (0: not a quorum group).
type GroupStanding struct {
	Name         string
	Up, Of, Need int
}

func standing(cfg *Config, host string, state func(string) string) Standing {
	s := Standing{Host: host, HostDown: state(host) == "down"}
	for _, gr := range cfg.Groups {
		ms := gr.Members()
		if !slices.Contains(ms, host) {
			continue
		}
		g := GroupStanding{Name: gr.Name, Of: len(ms)}
		for _, m := range ms {
			if state(m) == "up" {
				g.Up++
			}
		}
		if gr.Quorum {
			g.Need = gr.Need()
		}
		s.Groups = append(s.Groups, g)
	}
	return s
}
