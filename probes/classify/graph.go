package classify

import (
	"slices"

	"foghorn/configs"
)

// graph is the shape of the watched site from a config: who is reached
// through whom (parent), who belongs to which group, which BMC reads
// which host. It is rebuilt on every config load and never changed.
//
// A parent may be a group ("routers": rt1 and rt2): the group is then a
// node of its own in the parent chains. Its children are reached through
// any of its members, so they are cut off only while the group is below
// min_up, not when one member is down. The group node's own parent is
// the nearest target all its members are behind, if any.
type graph struct {
	parent   map[string]string           // target or group node -> the target or group node it is reached through
	children map[string][]string         // target or group node -> what is reached through it
	via      map[string]*configs.Group   // group nodes: groups some target names as its parent
	leads    map[string][]string         // member -> the group nodes it is in
	groups   map[string][]*configs.Group // the groups a target is in
	bmcs     map[string][]string         // host -> its BMC targets
	host     map[string]string           // BMC target -> its host
	all      []*configs.Group
	targets  int
}

func newGraph(cfg *Config) *graph {
	g := &graph{
		parent:   map[string]string{},
		children: map[string][]string{},
		via:      map[string]*configs.Group{},
		leads:    map[string][]string{},
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
		switch {
		case t.Parent == "" || t.Parent == t.Name:
		case known[t.Parent]: // a target of that name wins over a group of it
			g.parent[t.Name] = t.Parent
			g.children[t.Parent] = append(g.children[t.Parent], t.Name)
		case cfg.group(t.Parent) != nil:
			g.via[t.Parent] = cfg.group(t.Parent)
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
			members = gr.Names
		}
		for _, m := range members {
			if known[m] && !slices.Contains(g.groups[m], gr) {
				g.groups[m] = append(g.groups[m], gr)
				if g.via[gr.Name] != nil && !slices.Contains(g.leads[m], gr.Name) {
					g.leads[m] = append(g.leads[m], gr.Name)
				}
			}
		}
	}
	g.placeGroups()
	return g
}

// placeGroups gives each group node the nearest target all its members
// are behind as its parent ("isp" for rt1 and rt2 both behind it), so
// what is behind the group is behind that target too. A group behind
// another group settles in a later round; a loop (refused by validation)
// is not made.
func (g *graph) placeGroups() {
	names := sortedKeys(g.via)
	for range len(names) + 1 {
		changed := false
		for _, n := range names {
			ms := slices.DeleteFunc(slices.Clone(g.via[n].Members()), func(m string) bool { return m == n })
			a := g.nca(ms)
			if a == "" || a == g.parent[n] || a == n || g.isAncestor(n, a) {
				continue
			}
			if old := g.parent[n]; old != "" {
				g.children[old] = slices.DeleteFunc(g.children[old], func(c string) bool { return c == n })
			}
			g.parent[n] = a
			g.children[a] = append(g.children[a], n)
			changed = true
		}
		if !changed {
			return
		}
	}
}

// group is the group node called name, or nil for a target.
func (g *graph) group(name string) *configs.Group {
	return g.via[name]
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

// descendants calls fn for every target behind name, nearest first; the
// walk goes through group nodes without calling fn for them.
func (g *graph) descendants(name string, fn func(string)) {
	seen := map[string]bool{name: true}
	queue := []string{name}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		for _, c := range g.children[n] {
			if !seen[c] {
				seen[c] = true
				if g.via[c] == nil {
					fn(c)
				}
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
// through one of its members, or through the group itself: losing them
// all means losing the site.
func (g *graph) behindAll(gr *configs.Group) bool {
	in := map[string]bool{}
	for _, m := range gr.Members() {
		in[m] = true
	}
	from := slices.Clone(gr.Members())
	if g.via[gr.Name] == gr {
		from = append(from, gr.Name)
	}
	n := 0
	for _, m := range from {
		g.descendants(m, func(d string) {
			if !in[d] {
				in[d] = true
				n++
			}
		})
	}
	return n > 0 && n+len(gr.Members()) >= g.targets
}
