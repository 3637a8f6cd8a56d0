package main

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"foghorn/pager/twiliosim"
)

// ---- the invariant checker: the simulator's record, not foghorn's ----

// outage is something the soak did to the site: the ground truth pages
// are judged against.
type outage struct {
	name       string // the group (pairA) or "burst"
	critical   bool
	down, up   time.Time
	duringCut  bool
	incidentOf int // the short number of the incident that paged it, once matched
}

// send is one page or notice as it reached the simulator.
type send struct {
	at      time.Time
	n       int64  // foghorn's notification id, from the status callback URL
	short   int    // incident number in the text; 0 for notices
	sev     string // CRIT, WARN... for pages
	channel string // sms or voice
	to      string
	text    string
}

type checkInput struct {
	o                options
	msgs             []twiliosim.Message
	calls            []twiliosim.Call
	events           []twiliosim.Event
	outages          []outage
	unable           []span // foghorn could not act: not running, network cut, Twilio refusing all
	down             []span // foghorn not running
	deaths           []death
	acks             []ack
	openAtEnd        []openIncident
	openErr          error
	chaosEnd, end    time.Time
	recoveredBy      time.Time // every target up and seen so since then
	failpointsMissed int
}

type openIncident struct {
	Short    int    `json:"short"`
	Key      string `json:"key"`
	State    string `json:"state"`
	Source   string `json:"source"`
	Severity string `json:"severity"`
	Summary  string `json:"summary"`
}

// notification is the n= of a status callback URL.
func notification(callback string) int64 {
	u, err := url.Parse(callback)
	if err != nil {
		return 0
	}
	n, _ := strconv.ParseInt(u.Query().Get("n"), 10, 64)
	return n
}

var callSev = map[string]string{"Critical": "CRIT", "Warning": "WARN", "Info": "INFO"}

func sends(in *checkInput) []send {
	var out []send
	for _, m := range in.msgs {
		if m.Direction != "outbound-api" {
			continue
		}
		s := send{at: m.Created, n: notification(m.StatusCallback), channel: "sms", to: m.To, text: m.Body}
		if sm := pageSMS.FindStringSubmatch(m.Body); sm != nil {
			s.sev = sm[1]
			s.short, _ = strconv.Atoi(sm[2])
		}
		out = append(out, s)
	}
	for _, c := range in.calls {
		s := send{at: c.Created, n: notification(c.StatusCallback), channel: "voice", to: c.To, text: c.Twiml}
		if m := pageCall.FindStringSubmatch(c.Twiml); m != nil {
			s.sev = callSev[m[1]]
			s.short, _ = strconv.Atoi(m[2])
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].at.Before(out[j].at) })
	return out
}

// overlap is how much of [a, b) the spans cover.
func overlap(spans []span, a, b time.Time, end time.Time) time.Duration {
	var d time.Duration
	for _, s := range spans {
		to := s.to
		if to.IsZero() {
			to = end
		}
		from := maxTime(s.from, a)
		to = minTime(to, b)
		if to.After(from) {
			d += to.Sub(from)
		}
	}
	return d
}

// ableAfter walks from t until budget of time foghorn could act has
// passed: the deadline a policy sets, moved by kills, the cut and Twilio
// refusing everyone.
func ableAfter(spans []span, t time.Time, budget time.Duration, end time.Time) time.Time {
	for step := time.Second; budget > 0; t = t.Add(step) {
		if overlap(spans, t, t.Add(step), end) == 0 {
			budget -= step
		}
		if t.After(end.Add(time.Hour)) {
			break
		}
	}
	return t
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

type row struct {
	name, value string
	ok          bool // false fails the soak
	info        bool // no pass/fail
}

// check computes the table. It reads only what the simulator recorded
// (what reached a phone), what the soak did (outages, kills, acks) and,
// for stuck incidents, foghorn's list of open incidents at the end.
func check(in *checkInput) []row {
	o := in.o
	all := sends(in)
	var rows []row
	byShort := map[int][]send{}
	for _, s := range all {
		if s.short > 0 {
			byShort[s.short] = append(byShort[s.short], s)
		}
	}

	// Incidents.
	var crit, warn int
	for _, ss := range byShort {
		if slices.ContainsFunc(ss, func(s send) bool { return s.sev == "CRIT" }) {
			crit++
		} else {
			warn++
		}
	}
	var nCrit, nBurst int
	for _, u := range in.outages {
		if u.critical {
			nCrit++
		} else {
			nBurst++
		}
	}
	rows = append(rows, row{name: "incidents paged (simulator)", info: true,
		value: fmt.Sprintf("%d (%d critical, %d warning/info); caused: %d critical pair outages, %d warning bursts", len(byShort), crit, warn, nCrit, nBurst)})

	// Pages lost: a critical outage that lasted long enough for foghorn
	// to see it (time it was running, connected and Twilio taking
	// requests) with no page naming it on any phone.
	detect := time.Duration(2)*o.pairInterval + 2*time.Second + o.pageSlack
	lost, needed := 0, 0
	var lostNames []string
	firstOf := map[int]time.Time{}
	for sh, ss := range byShort {
		firstOf[sh] = ss[0].at
	}
	// Each outage of a pair gets the first incident naming that pair
	// (with a critical page) whose first page came after it began and
	// before the pair's next outage began; an incident is matched once.
	taken := map[int]bool{}
	for i := range in.outages {
		u := &in.outages[i]
		if !u.critical {
			continue
		}
		able := u.up.Sub(u.down) - overlap(in.unable, u.down, u.up, in.end)
		next := in.end
		for _, v := range in.outages[i+1:] {
			if v.critical && v.name == u.name {
				next = v.down
				break
			}
		}
		best := 0
		for sh, ss := range byShort {
			f := firstOf[sh]
			if taken[sh] || f.Before(u.down.Add(-5*time.Second)) || !f.Before(next) {
				continue
			}
			if !slices.ContainsFunc(ss, func(s send) bool { return s.sev == "CRIT" && strings.Contains(s.text, u.name) }) {
				continue
			}
			if best == 0 || f.Before(firstOf[best]) {
				best = sh
			}
		}
		if best != 0 {
			u.incidentOf, taken[best] = best, true
		}
		if able < detect {
			continue
		}
		needed++
		if u.incidentOf == 0 {
			lost++
			lostNames = append(lostNames, fmt.Sprintf("%s@%s", u.name, u.down.Format("15:04:05")))
		}
	}
	rows = append(rows, row{name: "pages lost (critical outages no phone heard of)", ok: lost == 0,
		value: fmt.Sprintf("%d of %d that needed a page%s", lost, needed, ids(lostNames))})

	// Duplicates: one notification reaching the simulator more than
	// once, laid at the door of the kill between the two sends.
	byN := map[int64][]send{}
	for _, s := range all {
		if s.n > 0 {
			byN[s.n] = append(byN[s.n], s)
		}
	}
	perKill := make([]int, len(in.deaths))
	noKill := 0
	var dupIDs []string
	for n, ss := range byN {
		for k := 1; k < len(ss); k++ {
			blame := -1
			for d, de := range in.deaths {
				if de.at.After(ss[k-1].at) && !de.at.After(ss[k].at) {
					blame = d
				}
			}
			if blame >= 0 {
				perKill[blame]++
			} else {
				noKill++
			}
			dupIDs = append(dupIDs, fmt.Sprintf("n%d", n))
		}
	}
	worst, worstHow, totalKill := 0, "", 0
	byHow := map[string]int{}
	for d, c := range perKill {
		totalKill += c
		byHow[in.deaths[d].how] += c
		if c > worst {
			worst, worstHow = c, in.deaths[d].how+" at "+in.deaths[d].at.Format("15:04:05")
		}
	}
	var how []string
	for k, v := range byHow {
		how = append(how, fmt.Sprintf("%s: %d", k, v))
	}
	sort.Strings(how)
	rows = append(rows, row{name: "duplicates per kill (same notification sent again)", ok: worst <= 1,
		value: fmt.Sprintf("worst %d (%s); %d after %d kills [%s]%s", worst, orNone(worstHow), totalKill, len(in.deaths), strings.Join(how, ", "), ids(dupIDs))})
	rows = append(rows, row{name: "duplicates without a kill (accept-then-hang retried)", info: true,
		value: fmt.Sprintf("%d", noKill)})

	// First call of a critical incident: the policy's first step is SMS
	// then call, a few seconds apart. Late means after detection + the
	// gap + slack of time foghorn could act, unless calls_per_15m was
	// full on that phone then (it waits for the window) or it was acked.
	late, checked, excused := 0, 0, 0
	var lateIDs []string
	ackAt := map[int]time.Time{}
	for _, a := range in.acks {
		ackAt[a.short] = a.at
	}
	for _, u := range in.outages {
		if !u.critical || u.incidentOf == 0 {
			continue
		}
		ss := byShort[u.incidentOf]
		phone := ss[0].to
		deadline := ableAfter(in.unable, u.down, detect+o.gap+o.callSlack, in.end)
		// calls_per_15m: if the window is full at the deadline, the call
		// may wait until it frees.
		var callTimes []time.Time
		for _, s := range all {
			if s.channel == "voice" && s.to == phone {
				callTimes = append(callTimes, s.at)
			}
		}
		moved := false
		for {
			var in15 []time.Time
			for _, t := range callTimes {
				if t.After(deadline.Add(-15*time.Minute)) && !t.After(deadline) {
					in15 = append(in15, t)
				}
			}
			if len(in15) < o.callsPer15m {
				break
			}
			deadline = in15[len(in15)-o.callsPer15m].Add(15 * time.Minute).Add(o.callSlack)
			moved = true
		}
		if moved {
			excused++
		}
		var first time.Time
		for _, s := range ss {
			if s.channel == "voice" {
				first = s.at
				break
			}
		}
		if a, ok := ackAt[u.incidentOf]; ok && a.Before(deadline) && (first.IsZero() || first.After(a)) {
			continue // acked before a call was due
		}
		if deadline.After(minTime(u.up, in.end)) && first.IsZero() {
			continue // resolved (or the soak ended) before a call was due
		}
		checked++
		if first.IsZero() || first.After(deadline) {
			late++
			got := "never"
			if !first.IsZero() {
				got = first.Sub(u.down).Round(time.Second).String() + " after the outage"
			}
			lateIDs = append(lateIDs, fmt.Sprintf("#%d %s due by %s: %s", u.incidentOf, u.name, deadline.Sub(u.down).Round(time.Second), got))
		}
	}
	rows = append(rows, row{name: "critical incidents whose first call came later than the policy says", ok: late == 0,
		value: fmt.Sprintf("%d of %d (%d deadlines moved by calls_per_15m)%s", late, checked, excused, ids(lateIDs))})

	// Sends after an ack.
	after := 0
	var afterIDs []string
	for _, a := range in.acks {
		for _, s := range byShort[a.short] {
			if s.at.After(a.at.Add(o.ackGrace)) {
				after++
				afterIDs = append(afterIDs, fmt.Sprintf("#%d %s %s after the %s ack", a.short, s.channel, s.at.Sub(a.at).Round(time.Millisecond), a.method))
			}
		}
	}
	rows = append(rows, row{name: "pages sent after an ack", ok: after == 0,
		value: fmt.Sprintf("%d (%d acks)%s", after, len(in.acks), ids(afterIDs))})

	// Stuck: open at the end although every target has been up for a
	// while (foghorn's API), or paged after that (the simulator).
	var stuck []string
	for _, inc := range in.openAtEnd {
		if inc.Source == "probe" || strings.HasPrefix(inc.Key, "target:") || strings.HasPrefix(inc.Key, "group:") {
			stuck = append(stuck, fmt.Sprintf("#%d:%s:%s", inc.Short, inc.State, inc.Key))
		}
	}
	late2 := 0
	for _, s := range all {
		if s.short > 0 && s.at.After(in.recoveredBy) {
			late2++
			stuck = append(stuck, fmt.Sprintf("#%d paged at %s", s.short, s.at.Format("15:04:05")))
		}
	}
	v := fmt.Sprintf("%d open at the end, %d pages after every target had been up %s", len(stuck)-late2, late2, o.recoverHold)
	if in.openErr != nil {
		v += fmt.Sprintf(" (open incidents unknown: %v)", in.openErr)
	}
	rows = append(rows, row{name: "stuck incidents", ok: len(stuck) == 0 && in.openErr == nil, value: v + ids(stuck)})
	return rows
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func ids(s []string) string {
	if len(s) == 0 {
		return ""
	}
	if len(s) > 12 {
		s = append(s[:12:12], fmt.Sprintf("... %d more", len(s)-12))
	}
	return " [" + strings.Join(s, "; ") + "]"
}

var connRefused = regexp.MustCompile(`connection refused|network is unreachable|no route to host|i/o timeout|connection reset`)

// faultRows counts what the simulator did to foghorn.
func faultRows(in *checkInput) []row {
	count := map[string]int{}
	lostDown := 0
	for _, e := range in.events {
		switch {
		case e.Kind == twiliosim.KindFault:
			k, _, _ := strings.Cut(e.Err, " ")
			count[k]++
		case e.Kind == twiliosim.KindAPI && e.Err == "injected fault":
			count[fmt.Sprintf("api-%d", e.Status)]++
		case e.Kind == twiliosim.KindAPI && strings.HasPrefix(e.Err, "hung"):
			count["api-hang"]++
		case e.Kind == twiliosim.KindStatus && e.Err != "" && connRefused.MatchString(e.Err):
			if overlap(in.unable, e.Time.Add(-time.Second), e.Time.Add(time.Second), in.end) > 0 {
				lostDown++
			}
		}
	}
	var parts []string
	for k, v := range count {
		parts = append(parts, fmt.Sprintf("%s %d", k, v))
	}
	sort.Strings(parts)
	var sms, calls, vm int
	for _, m := range in.msgs {
		if m.Direction == "outbound-api" {
			sms++
		}
	}
	for _, c := range in.calls {
		calls++
		if strings.HasPrefix(c.AnsweredBy, "machine") {
			vm++
		}
	}
	return []row{
		{name: "simulator", info: true, value: fmt.Sprintf("%d SMS and %d calls created (%d answered by voicemail)", sms, calls, vm)},
		{name: "faults injected", info: true, value: strings.Join(parts, ", ")},
		{name: "status callbacks lost while foghorn was down or cut off", info: true, value: strconv.Itoa(lostDown)},
	}
}

func printTable(rows []row) (failed int) {
	w := 0
	for _, r := range rows {
		w = max(w, len(r.name))
	}
	for _, r := range rows {
		mark := "ok  "
		switch {
		case r.info:
			mark = "    "
		case !r.ok:
			mark = "FAIL"
			failed++
		}
		fmt.Printf("  %s %-*s  %s\n", mark, w, r.name, r.value)
	}
	return failed
}
