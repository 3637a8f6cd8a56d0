package power

import (
	"fmt"
	"slices"
	"strings"

	"foghorn/configs"
)

// Target is what a name in a request stands for.
type Target struct {
	Name string // the configured name for what was typed ("Pve1" is "pve1")
	Host string // the host acted on
	BMC  string // its BMC's target; "" when there is none
}

// canonical is the configured name for what a person typed: phones
// capitalise the first word of a text ("Pve1").
func canonical(cfg *configs.Config, name string) string {
	if cfg.Target(name) != nil {
		return name
	}
	found := ""
	for _, t := range cfg.Targets {
		if strings.EqualFold(t.Name, name) {
			if found != "" {
				return name // ambiguous: let the guard say it does not know it
			}
			found = t.Name
		}
	}
	if found == "" {
		return name
	}
	return found
}

// resolve finds the host and the BMC target from either name.
func resolve(cfg *configs.Config, name string) (plan, *Refusal) {
	t := cfg.Target(name)
	if t == nil {
		return plan{host: name}, &Refusal{Rule: "target", Msg: fmt.Sprintf("refused: no target %q; name a host that has a bmc, or its ipmi target", name)}
	}
	if t.Kind == "ipmi" {
		host := t.Host
		if host == "" {
			host = t.Name
		}
		return plan{host: host, bmc: t}, nil
	}
	if t.BMC == "" {
		return plan{host: t.Name}, &Refusal{Rule: "target", Msg: fmt.Sprintf("refused: %s has no BMC; set bmc = \"<ipmi target>\" on it to allow power actions", t.Name)}
	}
	b := cfg.Target(t.BMC)
	if b == nil || b.Kind != "ipmi" {
		return plan{host: t.Name}, &Refusal{Rule: "target", Msg: fmt.Sprintf("refused: %s names bmc %q, which is not an ipmi target", t.Name, t.BMC)}
	}
	return plan{host: t.Name, bmc: b}, nil
}

// lookup is Target for a name as typed.
func lookup(cfg *configs.Config, typed string) Target {
	name := canonical(cfg, typed)
	p, _ := resolve(cfg, name)
	t := Target{Name: name, Host: p.host}
	if p.bmc != nil {
		t.BMC = p.bmc.Name
	} else if ct := cfg.Target(name); ct != nil {
		t.BMC = ct.BMC
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

func standing(cfg *configs.Config, host string, state func(string) string) Standing {
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
