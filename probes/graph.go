package probes

import (
	"slices"

	"foghorn/configs"
)

// graph is the shape of the watched site from a config: who is reached
// through whom (parent), who belongs to which group, which BMC reads
// which host. It is rebuilt on every config load and never changed.
type graph struct {
	parent   map[string]string
	children map[string][]string
	groups   map[string][]*configs.Group // the groups a target is in
	bmcs     map[string][]string         // host -> its BMC targets
	host     map[string]string           // BMC target -> its host
	all      []*configs.Group
	targets  int
}

func newGraph(cfg *configs.Config) *graph {
	g := &graph{
		parent:   map[string]string{},
		children: map[string][]string{},
		groups:   map[string][]*configs.Group{},
		bmcs:     map[string][]string{},
		host:     map[string]string{},
		targets:  len(cfg.Targets),
	}
	known := map[string]bool{}
	kinds := map[string]string{}
	for _, t := range cfg.Targets {
		known[t.Name] = true
		kinds[t.Name] = t.Kind
	}
	// A host and its BMC are linked either way: host = "pve1" on the ipmi
	// target, or bmc = "pve1-bmc" on the host.
	link := func(host, bmc string) {
		if host == bmc || !known[host] || !known[bmc] || g.host[bmc] != "" {
			return
		}
		g.host[bmc] = host
		g.bmcs[host] = append(g.bmcs[host], bmc)
	}
	for _, t := range cfg.Targets {
		if t.Parent != "" && t.Parent != t.Name && known[t.Parent] {
			g.parent[t.Name] = t.Parent
			g.children[t.Parent] = append(g.children[t.Parent], t.Name)
		}
		if t.Host != "" {
			link(t.Host, t.Name)
		}
	}
	for _, t := range cfg.Targets {
		if t.BMC != "" && kinds[t.BMC] == "ipmi" {
			link(t.Name, t.BMC)
		}
	}
	for i := range cfg.Groups {
		gr := &cfg.Groups[i]
		g.all = append(g.all, gr)
		members := gr.Resolved
		if members == nil { // a config built in code rather than loaded
			members = gr.Members
		}
		for _, m := range members {
			if known[m] && !slices.Contains(g.groups[m], gr) {
				g.groups[m] = append(g.groups[m], gr)
			}
		}
	}
	return g
}

// members lists a group's targets.
func members(gr *configs.Group) []string {
	if gr.Resolved != nil {
		return gr.Resolved
	}
	return gr.Members
}

// ancestors lists name's parent, its parent, and so on, nearest first. A
// loop (refused by validation, but a config built in code may have one)
// ends the walk.
func (g *graph) ancestors(name string) []string {
	var out []string
	for p := g.parent[name]; p != "" && p != name && len(out) <= len(g.parent); p = g.parent[p] {
		if slices.Contains(out, p) {
			break
		}
		out = append(out, p)
	}
	return out
}

// isAncestor reports whether a is reached on the way to name.
func (g *graph) isAncestor(a, name string) bool {
	for p, n := g.parent[name], 0; p != "" && n <= len(g.parent); p, n = g.parent[p], n+1 {
		if p == a {
			return true
		}
	}
	return false
}

// descendants calls fn for every target behind name, nearest first.
func (g *graph) descendants(name string, fn func(string)) {
	seen := map[string]bool{name: true}
	queue := []string{name}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		for _, c := range g.children[n] {
			if !seen[c] {
				seen[c] = true
				fn(c)
				queue = append(queue, c)
			}
		}
	}
}

// nca is the nearest target that all of names are behind ("" if none).
func (g *graph) nca(names []string) string {
	if len(names) == 0 {
		return ""
	}
	for _, a := range g.ancestors(names[0]) {
		all := true
		for _, n := range names[1:] {
			if !g.isAncestor(a, n) {
				all = false
				break
			}
		}
		if all {
			return a
		}
	}
	return ""
}

// behindAll reports whether every target outside the group is reached
// through one of its members: losing them all means losing the site.
func (g *graph) behindAll(gr *configs.Group) bool {
	in := map[string]bool{}
	for _, m := range members(gr) {
		in[m] = true
	}
	n := 0
	for _, m := range members(gr) {
		g.descendants(m, func(d string) {
			if !in[d] {
				in[d] = true
				n++
			}
		})
	}
	return n > 0 && n+len(members(gr)) >= g.targets
}
