package dashboard

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"foghorn/configs"
	"foghorn/escalation"
)

// Power asks for a BMC power action on a host for a person, behind the
// same guard as SMS and the API (who may, quorum, rate limits). dryRun
// only asks whether it would be allowed now. The answer is a sentence for
// the person: the outcome, or why not.
type Power interface {
	Power(ctx context.Context, host string, action configs.PowerAction, by string, force, dryRun bool) (string, error)
}

// powerActions are the actions the incident page offers; status is on
// the BMC's own page, not an incident's.
var powerActions = []configs.PowerAction{configs.PowerCycle, configs.PowerReset, configs.PowerSoft, configs.PowerOff, configs.PowerOn}

// powerForm is the incident page's "power…" form: it only leads to the
// confirmation page.
type powerForm struct {
	Host    string
	Actions []configs.PowerAction
}

// powerFormFor offers the power action on an open incident about one of
// our hosts, when power actions are on; the offered action comes first.
func (d *Dashboard) powerFormFor(cfg *Config, inc *escalation.Incident) *powerForm {
	if d.o.Power == nil || !cfg.PowerEnabled || inc.Host == "" || inc.State == escalation.Resolved || cfg.Target(inc.Host) == nil {
		return nil
	}
	f := &powerForm{Host: inc.Host}
	if inc.Offer != "" && slices.Contains(powerActions, inc.Offer) {
		f.Actions = append(f.Actions, inc.Offer)
	}
	for _, a := range powerActions {
		if a != inc.Offer {
			f.Actions = append(f.Actions, a)
		}
	}
	return f
}

type powerView struct {
	pageView
	ID        int64
	Short     int
	Summary   string
	Host      string
	Action    configs.PowerAction
	Verb      string   // "Cycle"
	Effect    string   // what the action does to the host
	Quorum    []string // the standing of each quorum group the host is in
	Verdict   string   // the guard's answer to a dry run
	Allowed   bool
	Forceable bool // refused, and the same with force would pass
}

// effects say what each action does to the host, in the words of the one
// about to press the button.
var effects = map[configs.PowerAction]string{
	configs.PowerCycle: "its BMC switches it off and on again: everything running on it stops at once, without a clean shutdown, and it boots again.",
	configs.PowerReset: "its BMC presses reset: it reboots at once, without a clean shutdown.",
	configs.PowerSoft:  "its BMC asks the operating system to shut down cleanly (ACPI); it stays off until powered on.",
	configs.PowerOff:   "its BMC cuts the power at once, without a clean shutdown; it stays off until powered on.",
	configs.PowerOn:    "its BMC switches it on; nothing happens if it is on already.",
}

var verbs = map[configs.PowerAction]string{
	configs.PowerCycle: "Cycle", configs.PowerReset: "Reset", configs.PowerSoft: "Shut down", configs.PowerOff: "Power off", configs.PowerOn: "Power on",
}

// powerTarget reads the incident and the action of a power request, or
// refuses with a page.
func (d *Dashboard) powerTarget(w http.ResponseWriter, r *http.Request, u *user, action string) (*escalation.Incident, configs.PowerAction, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		d.refuse(w, r, u, http.StatusNotFound, "No such incident", fmt.Sprintf("%q is not an incident number.", r.PathValue("id")))
		return nil, "", false
	}
	inc, err := d.o.Engine.Get(r.Context(), id)
	switch {
	case errors.Is(err, escalation.ErrNotFound):
		d.refuse(w, r, u, http.StatusNotFound, "No such incident", fmt.Sprintf("There is no incident %d.", id))
		return nil, "", false
	case err != nil:
		d.log.Error("cannot read incident", "incident", id, "err", err)
		d.refuse(w, r, u, http.StatusInternalServerError, "Cannot read the incident", "The store did not answer; try again in a moment.")
		return nil, "", false
	}
	if d.powerFormFor(d.o.Config(), inc) == nil {
		d.refuse(w, r, u, http.StatusNotFound, "No power action here",
			fmt.Sprintf("#%d is not an open incident about one of our hosts, or power actions are off ([power] enabled).", inc.Short))
		return nil, "", false
	}
	act, err := configs.ParsePowerAction(action)
	if err != nil || !slices.Contains(powerActions, act) {
		d.refuse(w, r, u, http.StatusBadRequest, "Pick a power action", "Use one of cycle, reset, soft, off or on.")
		return nil, "", false
	}
	return inc, act, true
}

// powerPage is the confirmation step: what will happen, where quorum
// stands, and the guard's answer to a dry run. Only its form acts.
func (d *Dashboard) powerPage(w http.ResponseWriter, r *http.Request, u *user) {
	inc, act, ok := d.powerTarget(w, r, u, r.URL.Query().Get("action"))
	if !ok {
		return
	}
	cfg := d.o.Config()
	v := &powerView{
		pageView: d.base(u, fmt.Sprintf("%s %s? (#%d)", verbs[act], inc.Host, inc.Short)),
		ID:       inc.ID, Short: inc.Short, Summary: inc.Summary, Host: inc.Host, Action: act,
		Verb: verbs[act], Effect: inc.Host + ": " + effects[act],
	}
	if act.Disruptive() {
		v.Quorum = d.quorum(cfg, inc.Host, act)
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	if !u.responder() {
		v.Verdict = "You are a viewer: you may look, not act."
	} else if msg, err := d.o.Power.Power(ctx, inc.Host, act, u.name, false, true); err != nil {
		v.Verdict = err.Error()
		if cfg.AllowForce && act.Disruptive() {
			_, ferr := d.o.Power.Power(ctx, inc.Host, act, u.name, true, true)
			v.Forceable = ferr == nil
		}
	} else {
		v.Allowed = true
		v.Verdict = "The guard allows it now: " + msg
	}
	d.render(w, http.StatusOK, "power", v)
}

// quorum says, for each quorum group the host is in, how many members
// are up now and how many would be after the action.
func (d *Dashboard) quorum(cfg *Config, host string, act configs.PowerAction) []string {
	state := map[string]string{}
	for _, t := range d.o.Source.Targets() {
		state[t.Name] = t.State
	}
	var out []string
	for _, g := range cfg.Groups {
		if !g.Quorum || !slices.Contains(g.Resolved, host) {
			continue
		}
		up := 0
		for _, m := range g.Resolved {
			if state[m] == "up" {
				up++
			}
		}
		after := up
		if state[host] != "down" {
			after-- // as the guard counts: the host acted on is up unless known down
		}
		s := fmt.Sprintf("%s: %d of %d up now, needs %d; %s %s leaves %d", g.Name, up, len(g.Resolved), g.MinUp, act.Gerund(), host, max(after, 0))
		if after < g.MinUp {
			s += ": below quorum"
		}
		out = append(out, s)
	}
	return out
}

// powerPost does the action the confirmation page showed. The form names
// the host it was shown for: if the incident now names another, nothing
// is done.
func (d *Dashboard) powerPost(w http.ResponseWriter, r *http.Request, u *user) {
	inc, act, ok := d.powerTarget(w, r, u, r.PostFormValue("action"))
	if !ok {
		return
	}
	if r.PostFormValue("host") != inc.Host {
		d.refuse(w, r, u, http.StatusConflict, "Not done: the incident changed",
			fmt.Sprintf("#%d is now about %s, not %s. Nothing was done; look again and confirm anew.", inc.Short, inc.Host, r.PostFormValue("host")))
		return
	}
	force := r.PostFormValue("force") == "yes"
	msg, err := d.o.Power.Power(r.Context(), inc.Host, act, u.name, force, false)
	if err != nil {
		d.log.Warn("dashboard power action not done", "person", u.name, "host", inc.Host, "action", string(act), "err", err)
		d.refuse(w, r, u, http.StatusConflict, fmt.Sprintf("Not done: %s %s", act, inc.Host), err.Error())
		return
	}
	d.sessions.setFlash(u.token, fmt.Sprintf("%s %s: %s", verbs[act], inc.Host, msg))
	http.Redirect(w, r, fmt.Sprintf("/incidents/%d", inc.ID), http.StatusSeeOther)
}
