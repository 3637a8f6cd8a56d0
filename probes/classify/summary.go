package classify

import (
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"foghorn/configs"
	"foghorn/probes"
)

// The words of events. A Summary is one line that must make sense on a
// phone at 3 a.m. without opening anything: what is down, how bad, why.
// The Detail has the rest: every member, every child, the last results.

func (c *Classifier) render(inc *incident) Event {
	ev := Event{Key: inc.key, Firing: true, At: c.now()}
	switch {
	case inc.kind == incGroup:
		c.renderGroup(inc, &ev)
	case inc.kind == incFlap || inc.kind == incWarn || inc.kind == incSplit:
		c.renderOne(inc, &ev)
	case inc.kind == incBMC:
		c.renderReport(inc, &ev)
	case len(inc.members) > 1:
		c.renderStorm(inc, &ev)
	default:
		c.renderDown(inc, &ev)
	}
	ev.Severity = c.severity(inc)
	return ev
}

// severity is what render would say, without the words.
func (c *Classifier) severity(inc *incident) configs.Severity {
	switch inc.kind {
	case incGroup:
		if gr := c.cfg.group(inc.lead); gr != nil {
			return groupSeverity(gr, c.groupState(gr))
		}
		return "info"
	case incFlap, incWarn, incBMC, incSplit:
		// A BMC's report while its host answers is a warning: nothing is
		// down yet, and the host going down is then worse news, which
		// pages again.
		if k := c.ts[inc.lead]; k != nil {
			return k.t.Severity.Or(configs.Critical).Milder(configs.Warning)
		}
		return "warning"
	}
	sev := configs.Info
	for _, m := range inc.members {
		if k := c.ts[m]; k != nil {
			sev = sev.Worse(c.targetSeverity(k))
		}
	}
	return sev
}

// targetSeverity is the target's own, raised to critical when its BMC
// reports a fault while it is down.
func (c *Classifier) targetSeverity(k *track) configs.Severity {
	sev := k.t.Severity.Or(configs.Critical)
	for _, b := range c.g.bmcs[k.name] {
		if bk := c.ts[b]; bk != nil && bk.last.Status == probes.Critical && k.state == Down {
			sev = "critical"
		}
	}
	return sev
}

// groupSeverity: some members down but enough up is a warning; too few
// up is the group's severity, and always critical for a quorum group.
func groupSeverity(gr *configs.Group, v groupView) configs.Severity {
	if len(v.up)+len(v.unknown)+len(v.split) >= gr.Need() {
		return gr.Severity.Or(configs.Critical).Milder(configs.Warning)
	}
	if gr.Quorum {
		return "critical"
	}
	return gr.Severity.Or(configs.Critical)
}

// renderDown: "rt1 DOWN: no reply to 3 echo requests; 3 behind it
// unreachable: pve1, pve2, web".
func (c *Classifier) renderDown(inc *incident, ev *Event) {
	k := c.ts[inc.lead]
	if len(inc.members) == 1 {
		k = c.ts[inc.members[0]]
	}
	if k == nil {
		ev.Summary = inc.lead + " DOWN"
		return
	}
	kids := c.affected(inc.members)
	switch {
	case k.state == Up:
		ev.Summary = k.name + " recovering: " + clipText(k.last.Msg, 90)
	case k.last.Status == probes.Unknown: // our side: say so, or someone drives to a healthy host
		ev.Summary = k.name + " CANNOT BE CHECKED: " + clipText(k.last.Msg, 90)
	default:
		ev.Summary = k.name + " DOWN: " + clipText(k.last.Msg, 90)
		if word, offer, ok := c.bmcWord(k); ok {
			ev.Summary = k.name + " DOWN; " + clipText(word, 130)
			ev.Offer = offer
		}
	}
	if len(kids) > 0 {
		ev.Summary += fmt.Sprintf("; %d behind it unreachable: %s", len(kids), list(kids, 3))
	}
	var d []string
	d = append(d, fmt.Sprintf("%s (%s %s) %s since %s", k.name, k.t.Kind, k.t.Address, stateWord(k), stamp(k.since)))
	d = append(d, "last result: "+c.lastLine(k))
	d = append(d, c.notes(k)...)
	d = append(d, c.childLines(kids)...)
	ev.Detail = strings.Join(d, "\n")
	ev.Labels, ev.Policy, ev.Children, ev.Host = k.t.LabelSet(), k.t.Policy, kids, k.name
}

// renderReport: "pve1's BMC reports SEL: DIMM A1 Uncorrectable ECC",
// while pve1 itself answers. It is the host's incident: if the host goes
// down, the same incident says "pve1 DOWN; BMC up; ..." (renderDown).
// Nothing is offered while the host answers.
func (c *Classifier) renderReport(inc *incident, ev *Event) {
	k := c.ts[inc.lead]
	if k == nil {
		ev.Summary = inc.lead + "'s BMC reports a fault"
		return
	}
	ev.Summary = k.name + "'s BMC reports a fault"
	var d []string
	if b := c.reporter(k); b != nil {
		if w := b.last.BMC; w != nil {
			ev.Summary = k.name + "'s BMC reports " + clipText(reportText(w), 130)
		}
		d = append(d, fmt.Sprintf("%s answers (%s %s); its BMC %s reports a fault since %s", k.name, k.t.Kind, k.t.Address, b.name, stamp(b.since)))
	}
	d = append(d, "last result: "+c.lastLine(k))
	d = append(d, c.notes(k)...)
	ev.Detail = strings.Join(d, "\n")
	ev.Labels, ev.Policy, ev.Host = k.t.LabelSet(), k.t.Policy, k.name
}

// renderStorm: several targets failing together, in the incident of the
// first. It names the common cause where the graph shows one.
func (c *Classifier) renderStorm(inc *incident, ev *Event) {
	ms := inc.members
	kids := c.affected(ms)
	var cause string
	for _, m := range ms {
		all := true
		for _, o := range ms {
			if o != m && !c.g.isAncestor(m, o) {
				all = false
				break
			}
		}
		if all {
			cause = m
			break
		}
	}
	var d []string
	switch {
	case cause != "":
		others := append(slices.DeleteFunc(slices.Clone(ms), func(m string) bool { return m == cause }), kids...)
		slices.Sort(others)
		others = slices.Compact(others)
		ev.Summary = fmt.Sprintf("%s DOWN: %s; %d behind it down or unreachable: %s",
			cause, clipText(c.ts[cause].last.Msg, 70), len(others), list(others, 3))
		d = append(d, fmt.Sprintf("%d targets failed within %s; %s is the common cause: the others are reached through it", len(ms), c.window, cause))
	default:
		ev.Summary = fmt.Sprintf("%d targets down: %s", len(ms), list(ms, 4))
		if a := c.g.nca(ms); a != "" {
			if c.isDown(a) {
				ev.Summary += fmt.Sprintf(" — common cause: %s is DOWN", a)
			} else {
				ev.Summary += fmt.Sprintf(" — all behind %s, which answers", a)
			}
		}
		if len(kids) > 0 {
			ev.Summary += fmt.Sprintf("; %d more behind them unreachable", len(kids))
		}
		d = append(d, fmt.Sprintf("%d targets failed within %s of each other: one incident for all of them", len(ms), c.window))
	}
	for _, m := range ms {
		if k := c.ts[m]; k != nil {
			d = append(d, fmt.Sprintf("%s: %s since %s: %s", m, stateWord(k), stamp(k.since), k.last.Msg))
			d = append(d, c.notes(k)...)
		}
	}
	d = append(d, c.childLines(kids)...)
	ev.Detail = strings.Join(d, "\n")
	ev.Children = append(slices.Clone(ms[1:]), kids...)
	ev.Labels = c.commonLabels(ms)
	if k := c.ts[ms[0]]; k != nil {
		ev.Policy = k.t.Policy
	}
}

// renderGroup: "routers: rt1 down, 1 of 2 up (min 1)"; "routers DOWN:
// rt1, rt2 — no route into the site"; "hypervisors lost quorum: 1 of 3
// up, 2 needed".
func (c *Classifier) renderGroup(inc *incident, ev *Event) {
	gr := c.cfg.group(inc.lead)
	if gr == nil {
		ev.Summary = inc.lead + ": group removed from the config"
		return
	}
	v := c.groupState(gr)
	n, need := len(gr.Members()), gr.Need()
	from := v.down
	if c.g.group(gr.Name) == gr && c.isDown(gr.Name) {
		from = append(slices.Clone(v.down), gr.Name) // what is behind the group is cut off too
	}
	kids := c.affected(from)
	lost := len(v.up)+len(v.unknown)+len(v.split) < need
	downs := c.downList(v.down)
	switch {
	case len(v.down) == 0:
		// Only members seen down from here, up from the peer: a warning.
		ev.Summary = fmt.Sprintf("%s: %s (%d of %d up here, min %d)", gr.Name, c.splitWords(v.split), len(v.up), n, need)
	case lost && gr.Quorum:
		ev.Summary = fmt.Sprintf("%s lost quorum: %d of %d up, %d needed; down: %s", gr.Name, len(v.up), n, need, downs)
	case lost:
		ev.Summary = fmt.Sprintf("%s DOWN: %s — ", gr.Name, downs)
		if len(v.up) == 0 && c.g.behindAll(gr) {
			ev.Summary += "no route into the site"
		} else {
			ev.Summary += fmt.Sprintf("%d of %d up (min %d)", len(v.up), n, need)
			if len(kids) > 0 {
				ev.Summary += fmt.Sprintf("; %d behind them unreachable", len(kids))
			}
		}
	case gr.Quorum:
		ev.Summary = fmt.Sprintf("%s: %s down, %d of %d up (quorum %d)", gr.Name, downs, len(v.up), n, need)
	default:
		ev.Summary = fmt.Sprintf("%s: %s down, %d of %d up (min %d)", gr.Name, downs, len(v.up), n, need)
	}
	if len(v.down) > 0 && len(v.split) > 0 {
		ev.Summary += "; " + c.splitWords(v.split)
	}
	if !lost && len(kids) > 0 {
		ev.Summary += fmt.Sprintf("; %d behind them unreachable", len(kids))
	}
	if len(v.down) == 1 {
		// One member down: the incident is about that host, and what its
		// BMC says may help it.
		ev.Host = v.down[0]
		if _, offer, ok := c.bmcWord(c.ts[v.down[0]]); ok {
			ev.Offer = offer
		}
	}
	var d []string
	what := "at least"
	if gr.Quorum {
		what = "quorum:"
	}
	d = append(d, fmt.Sprintf("group %s: %d of %d members up, %s %d needed", gr.Name, len(v.up), n, what, need))
	for _, m := range v.down {
		k := c.ts[m]
		d = append(d, fmt.Sprintf("%s down since %s: %s", m, stamp(k.since), k.last.Msg))
		d = append(d, c.notes(k)...)
	}
	for _, m := range v.split {
		k := c.ts[m]
		d = append(d, fmt.Sprintf("%s down from %s since %s: %s; the peer sees it up", m, c.here(), stamp(k.since), k.last.Msg))
	}
	if len(v.up) > 0 {
		d = append(d, "up: "+list(v.up, 50))
	}
	if len(v.unknown) > 0 {
		d = append(d, "not known (pending, unreachable or flapping): "+list(v.unknown, 50))
	}
	d = append(d, c.childLines(kids)...)
	ev.Detail = strings.Join(d, "\n")
	ev.Children = kids
	ev.Labels = c.commonLabels(gr.Members())
	ev.Labels["group"] = gr.Name
	ev.Policy = gr.Policy
	if ev.Policy == "" {
		ev.Policy = c.commonPolicy(gr.Members())
	}
}

// renderOne: a flapping or warning target.
func (c *Classifier) renderOne(inc *incident, ev *Event) {
	k := c.ts[inc.lead]
	if k == nil {
		ev.Summary = inc.lead
		return
	}
	if inc.kind == incFlap {
		why := fmt.Sprintf("%.0f%% of its last %d checks changed state", k.flap.percent(), k.flap.n)
		if !k.flap.on {
			why = fmt.Sprintf("down %d times in %s", flapDowns, human(flapPeriod(k.t.Interval.Duration)))
		}
		ev.Summary = fmt.Sprintf("%s FLAPPING: %s; now %s: %s", k.name, why, stateWord(k), clipText(k.last.Msg, 70))
	} else if inc.kind == incSplit {
		ev.Summary = c.oneSideWords(k) + ": " + clipText(k.last.Msg, 90)
	} else if h := c.g.host[k.name]; h != "" && k.last.BMC.Fault() {
		ev.Summary = h + "'s BMC reports " + clipText(reportText(k.last.BMC), 110)
	} else {
		ev.Summary = k.name + " WARNING: " + clipText(k.last.Msg, 110)
	}
	d := []string{"last result: " + c.lastLine(k)}
	if inc.kind == incSplit {
		d = append(d, fmt.Sprintf("%s (%s %s) down from %s since %s; the other vantage point sees it up: the path from %s is broken, not %s; critical if both see it down",
			k.name, k.t.Kind, k.t.Address, c.here(), stamp(k.since), c.here(), k.name))
	}
	if inc.kind == incFlap {
		d = append(d, fmt.Sprintf("flapping: one incident at warning until fewer than %.0f%% of checks change state; then it resolves, or pages as down if it is down", flapLow))
	}
	d = append(d, c.notes(k)...)
	ev.Detail = strings.Join(d, "\n")
	ev.Labels, ev.Policy, ev.Host = k.t.LabelSet(), k.t.Policy, k.name
	if h := c.g.host[k.name]; h != "" && inc.kind == incWarn && k.last.BMC.Fault() {
		ev.Host = h // the BMC's report is about its host
	}
}

func (c *Classifier) resolvedWords(inc *incident) string {
	if inc.removed {
		return inc.lead + " is no longer watched (removed from the config)"
	}
	if k := c.ts[inc.lead]; inc.kind == incSplit && (k == nil || k.state != Down) {
		return inc.lead + " up again from " + c.here()
	}
	switch inc.kind {
	case incFlap:
		return inc.lead + " stopped flapping"
	case incWarn:
		return inc.lead + " OK again"
	case incGroup:
		return inc.lead + ": no member down any more"
	case incBMC:
		if k := c.ts[inc.lead]; k != nil && k.state == Down {
			return inc.lead + " is down now: told in its group's incident"
		}
		return inc.lead + "'s BMC reports no fault any more"
	}
	if h := c.g.host[inc.lead]; h != "" {
		if k := c.ts[inc.lead]; k != nil && k.state == Down {
			// Not over: a BMC leaves its own incident for its host's.
			if c.answering(k) {
				return inc.lead + " answers again: what it reports is told with " + h
			}
			return inc.lead + " is told with " + h + " now: " + h + " is down too"
		}
	}
	if len(inc.sent.Children) > 0 && strings.Contains(inc.sent.Summary, "targets down") {
		return "all targets of the storm are up again (" + inc.lead + " first)"
	}
	return inc.lead + " up again"
}

// notes are what else is known about a down target: its BMC's word, a
// parent that did not answer in time to be sure.
func (c *Classifier) notes(k *track) []string {
	var d []string
	for _, b := range c.g.bmcs[k.name] {
		if bk := c.ts[b]; bk != nil && !bk.last.Start.IsZero() {
			d = append(d, fmt.Sprintf("BMC %s: %s", b, bk.last.Msg))
		}
	}
	if k.cls == clsUnreachable {
		if a := c.cause(k); a != "" {
			d = append(d, fmt.Sprintf("%s is down too now, and %s is behind it", a, k.name))
		}
	}
	for _, a := range c.g.ancestors(k.name) {
		if gr := c.g.group(a); gr != nil {
			n := 0
			for _, mk := range c.memberTracks(gr) {
				if mk.state == Up && mk.bad == 0 {
					n++
				}
			}
			if !c.isDown(a) && n < c.need(gr) {
				d = append(d, fmt.Sprintf("parent group %s did not answer in time to be sure (%d of %d members up, %d needed): it may be the cause",
					a, n, len(gr.Members()), c.need(gr)))
			}
			continue
		}
		if ak := c.ts[a]; ak != nil && ak.state != Down && (ak.bad > 0 || ak.state == Pending) {
			d = append(d, fmt.Sprintf("parent %s did not answer in time to be sure: it may be the cause", a))
		}
	}
	return d
}

// bmcSilent is a down host's page when its BMC does not answer either.
const bmcSilent = "BMC not answering either (network or power?)"

// bmcWord is what a down host's BMC says, for the host's page. word is
// the BMC's own diagnosis when it answers ("BMC up; power on; SEL: DIMM
// A1 Uncorrectable ECC"), or bmcSilent when it does not: the host being
// down and its BMC answering points at the host itself (hung, or a
// hardware fault); both silent points at the network or the power. offer
// is the power action to suggest (cycle, or on when the power is off),
// when the BMC answers and power actions are enabled. ok is false when k
// is not down, has no BMC, or its BMC has no word yet (or cannot be
// checked from our side, or was not heard since a restart).
func (c *Classifier) bmcWord(k *track) (word string, offer configs.PowerAction, ok bool) {
	if k == nil || k.state != Down {
		return "", "", false
	}
	silent := false
	for _, b := range c.g.bmcs[k.name] {
		bk := c.ts[b]
		if bk == nil || bk.last.Start.IsZero() || bk.last.Status == probes.Unknown {
			continue
		}
		w := bk.last.BMC
		if w == nil {
			// Not an ipmi probe's result: a BMC checked some other way
			// says only whether it answers.
			if k := bk.last.Kind; k != "" && k != "ipmi" && !good(bk.last.Status) {
				silent = true
			}
			continue
		}
		if !w.Answered {
			silent = true
			continue
		}
		if c.cfg.Power {
			offer = configs.PowerCycle
			if !w.PowerOn {
				offer = configs.PowerOn
			}
		}
		return bmcText(w), offer, true
	}
	if silent {
		return bmcSilent, "", true
	}
	return "", "", false
}

// bmcText is an answering BMC's word on a down host's page: "BMC up;
// power on; SEL: DIMM A1 Uncorrectable ECC".
func bmcText(w *probes.BMCWord) string {
	s := "BMC up; power on"
	if !w.PowerOn {
		s = "BMC up; power off"
	}
	for _, f := range w.Findings {
		s += "; " + f
	}
	return s
}

// reportText is what an answering BMC reports while its host answers:
// "SEL: DIMM A1 Uncorrectable ECC", "power off".
func reportText(w *probes.BMCWord) string {
	var parts []string
	if !w.PowerOn {
		parts = append(parts, "power off")
	}
	return strings.Join(append(parts, w.Findings...), "; ")
}

// reporter is the BMC of host k that answers and reports a fault, down by
// its fall results: its host is then told in a report incident while it
// answers. After a restart a BMC's word is not known until it answers
// again: a host already told that way stays so until then.
func (c *Classifier) reporter(k *track) *track {
	for _, b := range c.g.bmcs[k.name] {
		bk := c.ts[b]
		if bk == nil || bk.state != Down {
			continue
		}
		if bk.last.BMC.Fault() || (bk.last.BMC == nil && k.cls == clsReported) {
			return bk
		}
	}
	return nil
}

// answering reports whether k is a host's BMC whose last word was an
// answer: such a BMC is never down on its own, what it reports is its
// host's news.
func (c *Classifier) answering(k *track) bool {
	return c.g.host[k.name] != "" && k.last.BMC != nil && k.last.BMC.Answered
}

// downList names a group's down members; a lone one with a BMC says what
// the BMC says: "pve1 (BMC up; power on; SEL: DIMM A1 Uncorrectable ECC)".
func (c *Classifier) downList(down []string) string {
	if len(down) == 1 {
		if word, _, ok := c.bmcWord(c.ts[down[0]]); ok {
			if word == bmcSilent {
				word = "BMC not answering either"
			}
			return down[0] + " (" + clipText(word, 90) + ")"
		}
	}
	return list(down, 3)
}

// childLines lists the unreachable targets, and what they mean for the
// groups they are in.
func (c *Classifier) childLines(kids []string) []string {
	if len(kids) == 0 {
		return nil
	}
	d := []string{fmt.Sprintf("unreachable behind it (%d): %s", len(kids), list(kids, 50))}
	for _, gr := range c.g.all {
		n := 0
		for _, m := range gr.Members() {
			if slices.Contains(kids, m) {
				n++
			}
		}
		if n > 0 {
			d = append(d, fmt.Sprintf("group %s: %d of %d members unreachable, so its state is not known (needs %d up)",
				gr.Name, n, len(gr.Members()), gr.Need()))
		}
	}
	return d
}

// affected lists the down targets behind any of names, not in names.
func (c *Classifier) affected(names []string) []string {
	seen := map[string]bool{}
	for _, n := range names {
		seen[n] = true
	}
	var out []string
	for _, n := range names {
		c.g.descendants(n, func(d string) {
			if k := c.ts[d]; k != nil && k.state == Down && !seen[d] {
				seen[d] = true
				out = append(out, d)
			}
		})
	}
	slices.Sort(out)
	return out
}

// commonLabels are the labels all of names share (maintenance matchers
// and silences match on them), without "name".
func (c *Classifier) commonLabels(names []string) map[string]string {
	var out map[string]string
	for _, n := range names {
		k := c.ts[n]
		if k == nil {
			continue
		}
		ls := k.t.LabelSet()
		if out == nil {
			out = ls
			delete(out, "name")
			continue
		}
		for l, v := range out {
			if ls[l] != v {
				delete(out, l)
			}
		}
	}
	if out == nil {
		out = map[string]string{}
	}
	return out
}

// commonPolicy is the policy all of names share, or "" (the default).
func (c *Classifier) commonPolicy(names []string) string {
	p, first := "", true
	for _, n := range names {
		if k := c.ts[n]; k != nil {
			if first {
				p, first = k.t.Policy, false
			} else if k.t.Policy != p {
				return ""
			}
		}
	}
	return p
}

func (c *Classifier) lastLine(k *track) string {
	if k.last.Start.IsZero() {
		return "no result yet"
	}
	return fmt.Sprintf("%s at %s: %s", k.last.Status, k.last.Start.Format(time.TimeOnly), k.last.Msg)
}

func stateWord(k *track) string {
	if k.state == Down {
		return "DOWN"
	}
	return string(k.state)
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "start"
	}
	return t.Format(time.DateTime)
}

// human is a duration as people write it: "15m", "1h30m", "42s".
func human(d time.Duration) string {
	s := d.Round(time.Second).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// list is "a, b, c" or "a, b, c +5 more".
func list(names []string, n int) string {
	if len(names) <= n {
		return strings.Join(names, ", ")
	}
	return strings.Join(names[:n], ", ") + fmt.Sprintf(" +%d more", len(names)-n)
}

// clipText shortens s to n runes for a one-line summary.
func clipText(s string, n int) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}
