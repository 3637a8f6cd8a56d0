package dashboard

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"foghorn/configs"
	"foghorn/escalation"
)

// The choices the forms offer. Fixed lists rather than free text: a
// thumb at 3 a.m. picks, it does not type "2h".
var (
	snoozeFor  = []string{"15m", "30m", "1h", "2h"}
	silenceFor = []string{"30m", "1h", "2h", "4h", "8h", "24h"}
)

// timelines bounds how many incidents' timelines the overview reads; a
// storm is grouped into few incidents, and each has its own page anyway.
const timelines = 20

func (d *Dashboard) clock(u *user) clock { return clock{loc: u.loc, now: d.o.Clock.Now()} }

func (d *Dashboard) index(w http.ResponseWriter, r *http.Request, u *user) {
	ctx := r.Context()
	c := d.clock(u)
	cfg := d.o.Config()
	v := &indexView{pageView: d.base(u, "Overview"), Silence: silenceForm{Targets: targetNames(cfg), For: silenceFor, Back: "/"}}

	incs, err := d.o.Engine.Open(ctx)
	if err != nil {
		d.log.Error("cannot read open incidents", "err", err)
		v.Problems = append(v.Problems, "cannot read the open incidents: "+err.Error())
	}
	for i := range incs {
		var tl []escalation.Entry
		ok := i < timelines
		if ok {
			if tl, err = d.o.Engine.Timeline(ctx, incs[i].ID); err != nil {
				d.log.Error("cannot read a timeline", "incident", incs[i].ID, "err", err)
				ok = false
			}
		}
		v.Incidents = append(v.Incidents, c.incident(&incs[i], tl, ok))
		if incs[i].State == escalation.Triggered {
			v.Unacked++
		}
	}
	// Unacked first: they are the ones still ringing someone's phone.
	sort.SliceStable(v.Incidents, func(i, j int) bool {
		return v.Incidents[i].State == escalation.Triggered && v.Incidents[j].State != escalation.Triggered
	})

	if oc, err := d.o.Engine.OnCall(ctx, c.now, 1); err != nil {
		d.log.Error("cannot work out who is on call", "err", err)
		v.Problems = append(v.Problems, "cannot work out who is on call: "+err.Error())
	} else {
		v.OnCall = c.oncall(oc)
	}
	ss, err := d.o.Engine.Silences(ctx, c.now)
	if err != nil {
		d.log.Error("cannot read silences", "err", err)
		v.Problems = append(v.Problems, "cannot read the silences: "+err.Error())
	}
	v.Silences = c.silences(ss)
	v.Maintenance = c.maintenance(cfg.Maintenance)
	v.Groups = d.groups(cfg, c, ss)
	for _, g := range v.Groups {
		v.Up += g.Up
		v.Down += g.Down
		v.Pending += g.Total - g.Up - g.Down
	}
	h := d.o.Source.Health()
	v.Health = c.health(h)
	for _, l := range append(h.Leases, h.Waiting...) {
		lv := leaseView{Until: "until " + c.at(l.Until), Bad: l.State == "overrun"}
		if l.State == "waiting" {
			lv.What = fmt.Sprintf("%s wants %s (ticket %d): %s", l.Holder, l.Target, l.ID, l.Reason)
		} else {
			lv.What = fmt.Sprintf("%s: lease #%d by %s, %s", l.Target, l.ID, l.Holder, l.State)
			if l.Reason != "" {
				lv.What += " · " + l.Reason
			}
		}
		v.Leases = append(v.Leases, lv)
	}
	d.render(w, http.StatusOK, "index", v)
}

func targetNames(cfg *Config) []string {
	out := make([]string, 0, len(cfg.Targets))
	for _, t := range cfg.Targets {
		out = append(out, t.Name)
	}
	sort.Strings(out)
	return out
}

// groups lays the config's targets out by site and group, with what the
// probes last said about each; groups with something down come first.
func (d *Dashboard) groups(cfg *Config, c clock, ss []escalation.Silence) []groupView {
	live := map[string]Target{}
	for _, t := range d.o.Source.Targets() {
		live[t.Name] = t
	}
	d.hist.keep(func(name string) bool { return cfg.Target(name) != nil })
	groupOf := map[string]string{}
	for _, g := range cfg.Groups {
		for _, m := range g.Resolved {
			if groupOf[m] == "" {
				groupOf[m] = g.Name
			}
		}
	}
	byKey := map[[2]string]*groupView{}
	var order []*groupView
	for i := range cfg.Targets {
		t := &cfg.Targets[i]
		name := t.Group
		if name == "" {
			name = groupOf[t.Name]
		}
		k := [2]string{t.Labels["site"], name}
		g := byKey[k]
		if g == nil {
			g = &groupView{Name: name, Site: k[0]}
			if cg := cfg.Group(name); cg != nil {
				g.MinUp = cg.MinUp
			}
			byKey[k] = g
			order = append(order, g)
		}
		lt, ok := live[t.Name]
		if !ok || lt.State == "" {
			lt = Target{Name: t.Name, Kind: t.Kind, State: "pending"}
		}
		if lt.Kind == "" {
			lt.Kind = t.Kind
		}
		g.Total++
		switch lt.State {
		case "up":
			g.Up++
		case "down":
			g.Down++
			g.Bad = true
		}
		g.Targets = append(g.Targets, targetView{
			Name: t.Name, Kind: lt.Kind, State: lt.State, Since: c.ago(lt.Since), Status: lt.Status, Msg: lt.Msg,
			At: c.ago(lt.At), Latency: latency(lt.Latency), Spark: sparkline(d.hist.get(t.Name), d.hist.n),
			Silenced: c.quiet(cfg, ss, t.LabelSet()),
		})
	}
	out := make([]groupView, 0, len(order))
	for _, g := range order {
		g.Incomplete = g.MinUp > 0 && g.Up < g.MinUp && g.Up+g.Down == g.Total
		sort.SliceStable(g.Targets, func(i, j int) bool {
			a, b := g.Targets[i], g.Targets[j]
			if (a.State == "down") != (b.State == "down") {
				return a.State == "down"
			}
			return a.Name < b.Name
		})
		out = append(out, *g)
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Bad != b.Bad {
			return a.Bad
		}
		if (a.Name == "") != (b.Name == "") {
			return b.Name == "" // ungrouped last
		}
		if a.Site != b.Site {
			return a.Site < b.Site
		}
		return a.Name < b.Name
	})
	return out
}

func (c clock) oncall(oc map[string][]escalation.Shift) []rotationView {
	var out []rotationView
	for name, shifts := range oc {
		if len(shifts) == 0 {
			continue
		}
		v := rotationView{Name: name, Now: shifts[0].Person}
		if !shifts[0].End.IsZero() {
			v.Until = c.at(shifts[0].End)
		}
		if len(shifts) > 1 {
			v.Next = shifts[1].Person
		}
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func (c clock) silences(ss []escalation.Silence) []silenceView {
	var out []silenceView
	for _, s := range ss {
		until := "until " + c.at(s.End)
		if s.Start.After(c.now) {
			until = "from " + c.at(s.Start) + " " + until
		}
		out = append(out, silenceView{What: strings.Join(s.Matchers, ", "), Until: until, By: s.By, Comment: s.Comment})
	}
	return out
}

// maintenance lists the recurring windows open now.
func (c clock) maintenance(ms []configs.Maintenance) []silenceView {
	var out []silenceView
	for _, m := range ms {
		if end, ok := m.OpenAt(c.now); ok {
			out = append(out, silenceView{What: m.Name + ": " + strings.Join(m.Matchers, ", "), Until: "until " + c.at(end), By: "config"})
		}
	}
	return out
}

// quiet says until when a silence or maintenance window covers a target
// with labels ls now; "" when none does.
func (c clock) quiet(cfg *Config, ss []escalation.Silence, ls map[string]string) string {
	for _, m := range cfg.Maintenance {
		if end, ok := m.OpenAt(c.now); ok && configs.MatchAll(m.Matchers, ls) {
			return "maintenance until " + c.at(end)
		}
	}
	for _, s := range ss {
		if !s.Start.After(c.now) && configs.MatchAll(s.Matchers, ls) {
			return "silenced until " + c.at(s.End)
		}
	}
	return ""
}

func (c clock) health(h Health) healthView {
	v := healthView{Version: h.Version, LastCanary: c.ago(h.LastCanary)}
	if !h.Started.IsZero() {
		v.Up = span(c.now.Sub(h.Started))
	}
	for i := len(h.Blind) - 1; i >= 0 && len(v.Blind) < 5; i-- {
		b := h.Blind[i]
		if b.End.IsZero() {
			v.BlindNow = fmt.Sprintf("since %s (%s)", c.at(b.Start), span(c.now.Sub(b.Start)))
			continue
		}
		v.Blind = append(v.Blind, fmt.Sprintf("%s – %s (%s)", c.at(b.Start), c.at(b.End), span(b.End.Sub(b.Start))))
	}
	for _, ch := range h.Channels {
		cv := channelView{Name: ch.Name, Sent: ch.Sent, Failed: ch.Failed, LastError: ch.LastError, When: c.ago(ch.LastFailure)}
		if !ch.LastFailure.IsZero() && c.now.Sub(ch.LastFailure) < time.Hour {
			v.Bad = true
		}
		v.Channels = append(v.Channels, cv)
	}
	sort.Slice(v.Channels, func(i, j int) bool { return v.Channels[i].Name < v.Channels[j].Name })
	if !h.Reloaded.IsZero() {
		v.Reloaded = c.at(h.Reloaded) + " (" + c.ago(h.Reloaded) + ")"
	}
	if h.ReloadErr != "" && !h.ReloadAt.Before(h.Reloaded) {
		v.ReloadErr = fmt.Sprintf("refused %s: %s", c.ago(h.ReloadAt), h.ReloadErr)
	}
	if h.EngineLag > 30*time.Second {
		v.Lag = span(h.EngineLag) + " behind"
	}
	for _, p := range h.Cluster {
		pv := peerView{Text: p.Name + " (this node)"}
		switch {
		case p.Self:
		case p.Up:
			pv.Text = fmt.Sprintf("%s up since %s", p.Name, c.at(p.Since))
		default:
			pv = peerView{Text: fmt.Sprintf("%s unreachable since %s (%s): this node pages alone", p.Name, c.at(p.Since), c.ago(p.Since)), Bad: true}
			v.Bad = true
		}
		v.Cluster = append(v.Cluster, pv)
	}
	v.Bad = v.Bad || v.BlindNow != "" || v.ReloadErr != "" || v.Lag != ""
	return v
}

func (d *Dashboard) incidentPage(w http.ResponseWriter, r *http.Request, u *user) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		d.refuse(w, r, u, http.StatusNotFound, "No such incident", fmt.Sprintf("%q is not an incident number.", r.PathValue("id")))
		return
	}
	inc, err := d.o.Engine.Get(r.Context(), id)
	if errors.Is(err, escalation.ErrNotFound) {
		d.refuse(w, r, u, http.StatusNotFound, "No such incident", fmt.Sprintf("There is no incident %d.", id))
		return
	}
	if err != nil {
		d.log.Error("cannot read incident", "incident", id, "err", err)
		d.refuse(w, r, u, http.StatusInternalServerError, "Cannot read the incident", "The store did not answer; try again in a moment.")
		return
	}
	tl, err := d.o.Engine.Timeline(r.Context(), id)
	if err != nil {
		d.log.Error("cannot read a timeline", "incident", id, "err", err)
	}
	cfg := d.o.Config()
	v := &incidentPageView{
		pageView: d.base(u, fmt.Sprintf("#%d %s", inc.Short, inc.Summary)),
		Incident: d.clock(u).incident(inc, tl, err == nil),
		Silence:  silenceForm{Targets: targetNames(cfg), For: silenceFor, Back: fmt.Sprintf("/incidents/%d", id)},
	}
	if t := cfg.Target(inc.Labels["name"]); t != nil {
		v.Silence.Selected = t.Name
	}
	v.Power = d.powerFormFor(cfg, inc)
	d.render(w, http.StatusOK, "incident", v)
}

// back is where an action returns to: the page it was pressed on.
func back(r *http.Request, def string) string {
	if b := r.PostFormValue("back"); b != "" {
		return safeNext(b)
	}
	return def
}

func (d *Dashboard) incidentAction(w http.ResponseWriter, r *http.Request, u *user) {
	ctx := r.Context()
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		d.refuse(w, r, u, http.StatusNotFound, "No such incident", fmt.Sprintf("%q is not an incident number.", r.PathValue("id")))
		return
	}
	var inc *escalation.Incident
	var msg string
	switch act := r.PathValue("action"); act {
	case "ack":
		if inc, err = d.o.Engine.Ack(ctx, id, u.name, "web"); err == nil {
			msg = fmt.Sprintf("#%d acknowledged by you: paging stopped.", inc.Short)
		}
	case "resolve":
		if inc, err = d.o.Engine.Resolve(ctx, id, u.name, "web"); err == nil {
			msg = fmt.Sprintf("#%d resolved.", inc.Short)
		}
	case "escalate":
		from := -1
		if s := r.PostFormValue("from"); s != "" {
			if from, err = strconv.Atoi(s); err != nil {
				d.refuse(w, r, u, http.StatusBadRequest, "Bad escalate form", "Reload the page and try again.")
				return
			}
		}
		prev, perr := d.o.Engine.Get(ctx, id)
		if inc, err = d.o.Engine.Escalate(ctx, id, from, u.name); err == nil {
			msg = fmt.Sprintf("#%d escalated: now at step %d.", inc.Short, inc.Step+1)
			if from >= 0 && perr == nil && prev.Step != from {
				// The engine ignores a second press for the same step.
				msg = fmt.Sprintf("#%d was already escalated past step %d by someone else: it is at step %d.", inc.Short, from+1, inc.Step+1)
			}
		}
	case "snooze":
		s := r.PostFormValue("for")
		if !slices.Contains(snoozeFor, s) {
			d.refuse(w, r, u, http.StatusBadRequest, "Pick a snooze time", "Snooze for one of "+strings.Join(snoozeFor, ", ")+".")
			return
		}
		dur, _ := time.ParseDuration(s)
		if inc, err = d.o.Engine.Snooze(ctx, id, dur, u.name); err == nil {
			msg = fmt.Sprintf("#%d snoozed for %s: paging again at %s unless resolved.", inc.Short, s, d.clock(u).at(inc.Snoozed))
		}
	default:
		d.refuse(w, r, u, http.StatusNotFound, "No such action", fmt.Sprintf("%q is not something the dashboard does; use ack, resolve, escalate or snooze.", act))
		return
	}
	to := back(r, fmt.Sprintf("/incidents/%d", id))
	switch {
	case errors.Is(err, escalation.ErrNotFound):
		d.refuse(w, r, u, http.StatusNotFound, "No such incident", fmt.Sprintf("There is no incident %d.", id))
		return
	case errors.Is(err, escalation.ErrResolved):
		// Not a failure for the person: someone or the recovery got there first.
		msg = "Already resolved: nothing to do."
	case err != nil:
		d.log.Error("dashboard action failed", "action", r.PathValue("action"), "incident", id, "person", u.name, "err", err)
		d.refuse(w, r, u, http.StatusInternalServerError, "Not recorded", "foghorn could not record that; nothing changed. Try again, or ack by SMS reply.")
		return
	}
	d.sessions.setFlash(u.token, msg)
	http.Redirect(w, r, to, http.StatusSeeOther)
}

func (d *Dashboard) addSilence(w http.ResponseWriter, r *http.Request, u *user) {
	cfg := d.o.Config()
	target := r.PostFormValue("target")
	if cfg.Target(target) == nil {
		d.refuse(w, r, u, http.StatusBadRequest, "Pick a target", fmt.Sprintf("%q is not a target in the config.", target))
		return
	}
	s := r.PostFormValue("for")
	if !slices.Contains(silenceFor, s) {
		d.refuse(w, r, u, http.StatusBadRequest, "Pick a time", "Silence for one of "+strings.Join(silenceFor, ", ")+".")
		return
	}
	dur, _ := time.ParseDuration(s)
	now := d.o.Clock.Now()
	comment := truncate(strings.TrimSpace(r.PostFormValue("comment")), 200)
	if comment == "" {
		comment = "from the dashboard"
	}
	id, err := d.o.Engine.Silence(r.Context(), escalation.Silence{
		Matchers: []string{fmt.Sprintf("name=%q", target)}, Start: now, End: now.Add(dur), By: u.name, Comment: comment,
	})
	if err != nil {
		d.log.Error("cannot add a silence", "target", target, "person", u.name, "err", err)
		d.refuse(w, r, u, http.StatusInternalServerError, "Not silenced", "foghorn could not record the silence; nothing changed. Try again.")
		return
	}
	d.sessions.setFlash(u.token, fmt.Sprintf("%s silenced for %s (silence #%d, until %s).", target, s, id, d.clock(u).at(now.Add(dur))))
	http.Redirect(w, r, back(r, "/"), http.StatusSeeOther)
}
