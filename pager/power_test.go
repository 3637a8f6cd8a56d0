package pager

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"foghorn/configs"
	"foghorn/escalation"
	"foghorn/ipmi"
	"foghorn/ipmi/simtest"
	"foghorn/power"
)

func TestParsePower(t *testing.T) {
	ok := []struct {
		in   string
		want Command
	}{
		{"CYCLE pve1", Command{Verb: VerbPower, Action: configs.PowerCycle, Target: "pve1"}},
		{"cycle pve1", Command{Verb: VerbPower, Action: configs.PowerCycle, Target: "pve1"}},
		{"Cycle Pve1.", Command{Verb: VerbPower, Action: configs.PowerCycle, Target: "Pve1"}},
		{"  cycle   pve1-bmc ", Command{Verb: VerbPower, Action: configs.PowerCycle, Target: "pve1-bmc"}},
		{"CYCLE pve1 FORCE", Command{Verb: VerbPower, Action: configs.PowerCycle, Target: "pve1", Force: true}},
		{"cycle force pve1", Command{Verb: VerbPower, Action: configs.PowerCycle, Target: "pve1", Force: true}},
		{"RESET pve1", Command{Verb: VerbPower, Action: configs.PowerReset, Target: "pve1"}},
		{"OFF pve1", Command{Verb: VerbPower, Action: configs.PowerOff, Target: "pve1"}},
		{"ON pve1", Command{Verb: VerbPower, Action: configs.PowerOn, Target: "pve1"}},
		{"SOFT pve1", Command{Verb: VerbPower, Action: configs.PowerSoft, Target: "pve1"}},
		{"POWER pve1", Command{Verb: VerbPower, Action: configs.PowerStatus, Target: "pve1"}},
		{"power status pve1", Command{Verb: VerbPower, Action: configs.PowerStatus, Target: "pve1"}},
		{"POWER CYCLE pve1", Command{Verb: VerbPower, Action: configs.PowerCycle, Target: "pve1"}},
		{"power off db_2.lan FORCE!", Command{Verb: VerbPower, Action: configs.PowerOff, Target: "db_2.lan", Force: true}},
		{"POWER on", Command{Verb: VerbPower, Action: configs.PowerStatus, Target: "on"}}, // a host called "on"
		{"CONFIRM 4821", Command{Verb: VerbConfirm, Code: "4821"}},
		{"confirm #4821.", Command{Verb: VerbConfirm, Code: "4821"}},
		{"HELP POWER", Command{Verb: VerbHelp, Topic: "power"}},
		// Not power commands: what they were before.
		{"ON CALL", Command{Verb: VerbOnCall}},
		{"on-call?", Command{Verb: VerbOnCall}},
		{"4821", Command{Verb: VerbAck, Short: 4821}},
	}
	for _, c := range ok {
		got, err := Parse(c.in)
		if err != nil || got != c.want {
			t.Errorf("Parse(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
		}
	}
	bad := []struct{ in, reply string }{
		{"CYCLE", "Which host? Reply CYCLE pve1"},
		{"cycle force", "Which host? Reply CYCLE pve1"},
		{"POWER", "Which host? Reply POWER pve1"},
		{"ON", "Which host? Reply ON pve1"},
		{"CYCLE pve1 pve2", "One host at a time, please: reply CYCLE pve1."},
		{"CYCLE pve1 now", "One host at a time"},
		{"CYCLE -pve1", `"-pve1" is not a host name`},
		{"CYCLE pve1❌", "is not a host name"},
		{"CYCLE " + strings.Repeat("a", 65), "is not a host name"},
		{"POWER pve1 FORCE", "FORCE is for power actions"},
		{"CONFIRM", "Reply CONFIRM and the 4-digit code"},
		{"CONFIRM 482", "Reply CONFIRM and the 4-digit code"},
		{"CONFIRM 48211", "Reply CONFIRM and the 4-digit code"},
		{"CONFIRM 4821 4821", "Reply CONFIRM and the 4-digit code"},
		{"CONFIRM abcd", "Reply CONFIRM and the 4-digit code"},
	}
	for _, c := range bad {
		_, err := Parse(c.in)
		var pe *ParseError
		if !errors.As(err, &pe) || !strings.Contains(pe.Reply, c.reply) {
			t.Errorf("Parse(%q) error %v; want a reply containing %q", c.in, err, c.reply)
		}
	}
	if !fits(HelpText) {
		t.Errorf("HELP takes more than one SMS: %d chars", len(HelpText))
	}
}

func TestConfirmationCodesStayOutOfLogs(t *testing.T) {
	if got := redactCode("Reply CONFIRM 4821 within 5 min."); got != "Reply CONFIRM **** within 5 min." {
		t.Fatal(got)
	}
}

// siteConfig adds power, three hypervisors pve1..3 in quorum group
// "hypervisors" (2 of 3), and their BMC targets on the simulators, to a
// world's policy text.
func siteConfig(t *testing.T, policy, power string, sims ...*simtest.Sim) string {
	pass := filepath.Join(t.TempDir(), "bmc-password")
	if err := os.WriteFile(pass, []byte(simtest.Password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString(policy)
	b.WriteString("\n[self_check]\ncanaries = [\"127.0.0.1\"]\n")
	b.WriteString("\n[power]\nenabled = true\nallow = [\"alice\"]\nper_host_per_hour = 5\nper_site_per_hour = 10\n" + power + "\n")
	for i, name := range []string{"pve1", "pve2", "pve3"} {
		s := sims[min(i, len(sims)-1)]
		fmt.Fprintf(&b, `
[[target]]
name = %q
kind = "tcp"
address = "127.0.0.1:9"
bmc = "%s-bmc"

[[target]]
name = "%s-bmc"
kind = "ipmi"
address = %q
timeout = "2s"
  [target.ipmi]
  username = %q
  password_file = %q
  port = %d
`, name, name, name, s.Host, simtest.User, pass, s.Port)
	}
	b.WriteString("\n[[group]]\nname = \"hypervisors\"\nmembers = [\"pve1\", \"pve2\", \"pve3\"]\nquorum = true\nmin_up = 2\n")
	return b.String()
}

// states is what the board would say of each target: "up" unless set.
type states struct {
	mu sync.Mutex
	m  map[string]string
}

func (s *states) set(name, st string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]string{}
	}
	s.m[name] = st
}

func (s *states) get(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st, ok := s.m[name]; ok {
		return st
	}
	return "up"
}

// powerWorld is a world with the real power desk over a real BMC pool,
// the world's store as the audit trail, the world's clock, and the
// pager's power turned on.
func powerWorld(t *testing.T, policy, section string, sims ...*simtest.Sim) (*world, *states, *power.Desk) {
	w := newWorld(t, siteConfig(t, policy, section, sims...))
	st := &states{}
	pool := ipmi.NewPool()
	desk := newDesk(w, pool, st)
	w.p.SetPower(desk)
	// Before the world's cleanup (registered earlier, run later) closes
	// the pager: power actions in flight end first.
	t.Cleanup(func() { desk.Close(); pool.Close() })
	return w, st, desk
}

func newDesk(w *world, pool *ipmi.Pool, st *states) *power.Desk {
	return power.New(deskConfig(w.cfg), power.Options{BMC: pooled{pool}, Trail: w.db, State: st.get, BMCState: st.bmc, Clock: w.clk, StepWait: 20 * time.Second})
}

// bmc is what the states say of a BMC target: "down" only when set so.
func (s *states) bmc(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[name]
}

// pooled is the ipmi pool as the desk's BMC, as cmd wires it.
type pooled struct{ pool *ipmi.Pool }

func (p pooled) Power(ctx context.Context, t *configs.Target, a configs.PowerAction) (power.Outcome, error) {
	b, err := p.pool.Get(t)
	if err != nil {
		return power.Outcome{Action: a}, err
	}
	out, err := b.Power(ctx, a)
	return power.Outcome{Action: out.Action, Before: power.Chassis(out.Before), After: power.Chassis(out.After),
		Confirmed: out.Confirmed, Took: out.Took, Text: out.Text}, err
}

// route is cmd's router: power intents to the desk, the rest to the
// pager's PowerSteps.
func route(desk *power.Desk, p *Pager) escalation.Notifier {
	return router{desk, p.PowerSteps()}
}

type router struct {
	desk *power.Desk
	next escalation.Notifier
}

func (r router) Notify(ctx context.Context, in escalation.Intent) error {
	if in.Kind == "power" {
		r.desk.Automate(ctx, power.Step{Incident: in.Incident, Short: in.Short, Host: in.Host, Action: in.Power, By: in.Text, Step: in.Step})
		return nil
	}
	return r.next.Notify(ctx, in)
}

func (r router) Cancel(ctx context.Context, incident int64) error {
	return r.next.Cancel(ctx, incident)
}

// sms texts body from phone through the Twilio simulator and returns
// foghorn's TwiML reply, as the phone receives it.
func (w *world) sms(phone, body string) string {
	w.t.Helper()
	m, err := w.sim.ReplySMS(phone, body)
	if err != nil {
		w.t.Fatal(err)
	}
	var replies []string
	for _, r := range w.sim.Messages() {
		if r.To == phone && r.Direction == "outbound-reply" && !r.Created.Before(m.Created) && r.SID != m.SID {
			replies = append(replies, r.Body)
		}
	}
	if len(replies) == 0 {
		return ""
	}
	return replies[len(replies)-1]
}

// sent lists the SMS foghorn sent to phone by the API (not as replies).
func (w *world) sent(phone string) []string {
	var out []string
	for _, m := range w.sim.Messages() {
		if m.To == phone && m.Direction == "outbound-api" {
			out = append(out, m.Body)
		}
	}
	return out
}

var codeIn = regexp.MustCompile(`Reply CONFIRM (\d{4}) within`)

func codeOf(t *testing.T, reply string) string {
	t.Helper()
	m := codeIn.FindStringSubmatch(reply)
	if m == nil {
		t.Fatalf("no confirmation code in %q", reply)
	}
	return m[1]
}

// powerEvents lists the audit trail's power.* kinds, in order.
func powerEvents(t *testing.T, w *world) []string {
	t.Helper()
	rows, err := w.db.Query(`SELECT kind, subject, actor, detail FROM events WHERE kind LIKE 'power.%' ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var k, s, a, d string
		rows.Scan(&k, &s, &a, &d)
		if regexp.MustCompile(`CONFIRM \d`).MatchString(d) {
			t.Errorf("a code in the audit trail? %s %s", k, d)
		}
		out = append(out, k+" "+s+" "+a)
	}
	return out
}

// The whole SMS flow against the real guard and a real BMC (ipmi_sim):
// what is refused does nothing, and CYCLE then CONFIRM from the same
// phone cycles the chassis and reports by SMS.
func TestPowerBySMS(t *testing.T) {
	sim := simtest.Start(t)
	w, st, _ := powerWorld(t, smsFirst, "allow_force = true", sim)

	none := func(when string) {
		t.Helper()
		if a := sim.Actions(); len(a) != 0 {
			t.Fatalf("%s: the chassis was asked %v", when, a)
		}
	}

	// The offer: what will happen, the group, the code.
	r := w.sms(alicePh, "CYCLE pve1")
	code := codeOf(t, r)
	if want := "CYCLE pve1 (BMC pve1-bmc): power off, then on. pve1 is in hypervisors (3/3 up, quorum 2). Reply CONFIRM " + code + " within 5 min."; r != want {
		t.Fatalf("offer\n got  %q\n want %q", r, want)
	}
	// Another person's phone cannot use it, and alice's stays valid.
	if r := w.sms(bobPh, "CONFIRM "+code); !strings.HasPrefix(r, "Nothing to confirm") {
		t.Fatalf("bob confirming alice's code: %q", r)
	}
	none("another phone's CONFIRM")
	// A wrong code voids it: the right one no longer works after.
	wrong := fmt.Sprintf("%04d", 1000+(int(code[3]-'0')+1)%10)
	if wrong == code {
		wrong = "9999"
	}
	if r := w.sms(alicePh, "CONFIRM "+wrong); !strings.HasPrefix(r, "Wrong code: CYCLE pve1 was not done") {
		t.Fatalf("wrong code: %q", r)
	}
	if r := w.sms(alicePh, "CONFIRM "+code); !strings.HasPrefix(r, "Nothing to confirm") {
		t.Fatalf("the right code after a wrong one: %q", r)
	}
	none("wrong code")

	// Late: the pager's clock passes confirm_timeout.
	code = codeOf(t, w.sms(alicePh, "cycle PVE1"))
	w.clk.Add(5*time.Minute + time.Second)
	if r := w.sms(alicePh, "CONFIRM "+code); !strings.HasPrefix(r, "That code has expired: CYCLE pve1 was not done") {
		t.Fatalf("late code: %q", r)
	}
	none("late code")

	// Anything else in between cancels it, and says so.
	code = codeOf(t, w.sms(alicePh, "CYCLE pve1"))
	if r := w.sms(alicePh, "STATUS"); !strings.HasSuffix(r, "(CYCLE pve1 cancelled: nothing was done.)") {
		t.Fatalf("STATUS in between: %q", r)
	}
	if r := w.sms(alicePh, "CONFIRM "+code); !strings.HasPrefix(r, "Nothing to confirm") {
		t.Fatalf("code after a cancel: %q", r)
	}
	none("cancelled")

	// The code alone is not an ack of incident #NNNN: a hint, and the
	// code stays good.
	code = codeOf(t, w.sms(alicePh, "CYCLE pve1"))
	if r := w.sms(alicePh, code); !strings.HasPrefix(r, "To confirm CYCLE pve1, reply CONFIRM "+code) {
		t.Fatalf("bare code: %q", r)
	}
	if r := w.sms(alicePh, "CONFIRM "+code); r != "Working on it: CYCLE pve1. The result follows by SMS." {
		t.Fatalf("confirm: %q", r)
	}
	eventually(t, "the outcome SMS", func() bool { return len(w.sent(alicePh)) > 0 })
	out := w.sent(alicePh)[0]
	if !strings.HasPrefix(out, "pve1 cycled: off, then on after ") || !strings.HasSuffix(out, "s; power on") {
		t.Fatalf("outcome SMS %q", out)
	}
	if got := sim.Actions(); !slices.Equal(got, []string{"power 0", "power 1"}) {
		t.Fatalf("the chassis was asked %v", got)
	}
	// Single use.
	if r := w.sms(alicePh, "CONFIRM "+code); !strings.HasPrefix(r, "Nothing to confirm") {
		t.Fatalf("second use of a code: %q", r)
	}

	// Not allowed: bob is not in [power] allow; carol is a viewer.
	if r := w.sms(bobPh, "CYCLE pve1"); r != "refused: bob may not ask for power actions; add them to [power] allow, or ask someone listed there" {
		t.Fatalf("bob: %q", r)
	}
	if r := w.sms(carolPh, "OFF pve1"); !strings.Contains(r, "You are a viewer") {
		t.Fatalf("carol: %q", r)
	}
	// Reading the state is for anyone known, viewers too, and answered
	// at once.
	if r := w.sms(carolPh, "POWER pve1"); r != "pve1: power on" {
		t.Fatalf("carol's POWER: %q", r)
	}

	// Quorum: pve3 is down, so cycling pve2 would leave 1 of 2 needed.
	st.set("pve3", "down")
	r = w.sms(alicePh, "CYCLE pve2")
	if !strings.HasPrefix(r, "refused: pve2 is in quorum group hypervisors (2 of 3 needed), pve3 is already down") ||
		!strings.HasSuffix(r, "It may be forced (allowed by config): reply CYCLE pve2 FORCE") {
		t.Fatalf("quorum: %q", r)
	}
	r = w.sms(alicePh, "CYCLE pve2 FORCE")
	if !strings.HasPrefix(r, "CYCLE pve2 FORCE (BMC pve2-bmc): power off, then on, past the quorum guard (FORCE). pve2 is in hypervisors (2/3 up, quorum 2).") {
		t.Fatalf("FORCE offer: %q", r)
	}
	w.sms(alicePh, "CONFIRM "+codeOf(t, r))
	eventually(t, "the forced cycle's outcome", func() bool { return len(w.sent(alicePh)) > 1 })
	if out := w.sent(alicePh)[1]; !strings.HasPrefix(out, "pve2 cycled: off, then on") {
		t.Fatalf("forced outcome: %q", out)
	}
	if got := sim.Actions(); len(got) != 4 {
		t.Fatalf("the chassis was asked %v", got)
	}

	// The stranger is ignored, as for every command.
	if r := w.sms(strangerP, "CYCLE pve1"); r != "" {
		t.Fatalf("stranger got %q", r)
	}

	want := []string{
		"power.requested pve1 alice",
		"power.confirm_refused power bob",   // another phone
		"power.confirm_refused pve1 alice",  // wrong code
		"power.confirm_refused power alice", // nothing left after the wrong code
		"power.requested pve1 alice",        //
		"power.confirm_refused pve1 alice",  // expired
		"power.requested pve1 alice",        //
		"power.cancelled pve1 alice",        // STATUS in between
		"power.confirm_refused power alice", // nothing left
		"power.requested pve1 alice",        //
		"power.confirmed pve1 alice",        //
		"power.allowed pve1 alice",          // the guard
		"power.done pve1 alice",             //
		"power.confirm_refused power alice", // single use
		"power.refused pve1 bob",            // not allowed
		"power.status pve1 carol",           //
		"power.refused pve2 alice",          // quorum
		"power.requested pve2 alice",        //
		"power.confirmed pve2 alice",        //
		"power.allowed pve2 alice",          //
		"power.done pve2 alice",             //
	}
	if got := powerEvents(t, w); !slices.Equal(got, want) {
		t.Errorf("audit trail:\n got  %q\n want %q", got, want)
	}
}

// Without SetPower, power commands say so; nothing else changes.
func TestPowerNotEnabled(t *testing.T) {
	w := newWorld(t, smsFirst)
	for _, cmd := range []string{"CYCLE pve1", "POWER pve1", "CONFIRM 1234"} {
		if r := w.sms(alicePh, cmd); r != "Power actions are not enabled on this foghorn." {
			t.Errorf("%s: %q", cmd, r)
		}
	}
	if r := w.sms(alicePh, "HELP POWER"); r != PowerHelpText {
		t.Errorf("HELP POWER: %q", r)
	}
}

// stepPolicy pages alice; ten minutes on, alice and bob again, and that
// step power-cycles the incident's host.
const stepPolicy = `
[[policy]]
name = "ops"
  [[policy.step]]
  who = ["alice"]
  channels = ["sms"]
  [[policy.step]]
  who = ["alice", "bob"]
  channels = ["sms"]
  delay = "10m"
  repeat = 1
  interval = "10m"
  power = "cycle"
`

// An automated power step: the page says what the guard decided (here:
// allowed, running now), the host is cycled once per incident (not again
// on the step's next round, nor after a restart forgets it), the step's
// people get the outcome; automation cannot force past the quorum guard,
// and its page says so itself rather than announcing the action.
func TestPowerStepAutomated(t *testing.T) {
	sim := simtest.Start(t)
	w, st, desk := powerWorld(t, stepPolicy, "automated = true", sim)
	// The engine hands its power intents to the desk (as cmd routes
	// them) and its pages to PowerSteps.
	w.eng = escalation.New(w.db, engineConfig(w.cfg), route(desk, w.p), escalation.Options{Clock: w.clk, Log: w.p.log, Gap: -1})
	w.p.SetEngine(w.eng)

	fire := func(host string) *escalation.Incident {
		inc, err := w.eng.Handle(context.Background(), escalation.Alert{Key: "target:" + host, Firing: true, Severity: "critical",
			Summary: host + " DOWN; BMC up; power on", Labels: map[string]string{"name": host, "kind": "tcp"}, Source: "probe", Host: host})
		if err != nil {
			t.Fatal(err)
		}
		return inc
	}
	inc := fire("pve1")
	w.step()
	if a := sim.Actions(); len(a) != 0 {
		t.Fatalf("step 1 has no power action, yet the chassis was asked %v", a)
	}
	w.advance(10 * time.Minute) // step 2: alice and bob, and the cycle
	lead := fmt.Sprintf("[CRIT] #%d pve1 DOWN; BMC up; power on since ", inc.Short)
	for _, ph := range []string{alicePh, bobPh} {
		if !slices.ContainsFunc(w.sent(ph), func(s string) bool {
			return strings.HasPrefix(s, lead) && strings.Contains(s, ": Automated step: CYCLE pve1 now; the result follows by SMS. Reply")
		}) {
			t.Fatalf("the page to %s should say what is done: %q", ph, w.sent(ph))
		}
	}
	told := fmt.Sprintf("#%d automated step: pve1 cycled: off, then on after ", inc.Short)
	for _, ph := range []string{alicePh, bobPh} {
		eventually(t, "the outcome to "+ph, func() bool {
			return slices.ContainsFunc(w.sent(ph), func(s string) bool { return strings.HasPrefix(s, told) })
		})
	}
	if got := sim.Actions(); !slices.Equal(got, []string{"power 0", "power 1"}) {
		t.Fatalf("the chassis was asked %v", got)
	}

	// The step's second round: pages again, no second cycle, nobody told
	// twice; the page now says what was done.
	before := len(w.sent(alicePh))
	w.advance(10 * time.Minute)
	eventually(t, "the second round's page", func() bool {
		return slices.ContainsFunc(w.sent(alicePh)[before:], func(s string) bool {
			return strings.Contains(s, "Automated step: pve1 cycled: off, then on after ")
		})
	})
	if got := sim.Actions(); len(got) != 2 {
		t.Fatalf("cycled again on the next round: %v", got)
	}
	for _, ph := range []string{alicePh, bobPh} {
		n := 0
		for _, s := range w.sent(ph) {
			if strings.HasPrefix(s, told) {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("%s was told %d times: %q", ph, n, w.sent(ph))
		}
	}

	// A restart forgets the run in memory; the audit trail remembers: a
	// new desk over the same trail does nothing, and nobody hears of it.
	pool2 := ipmi.NewPool()
	desk2 := newDesk(w, pool2, st)
	t.Cleanup(func() { desk2.Close(); pool2.Close() })
	w.eng = escalation.New(w.db, engineConfig(w.cfg), route(desk2, w.p), escalation.Options{Clock: w.clk, Log: w.p.log, Gap: -1})
	w.p.SetEngine(w.eng)
	w.p.SetPower(desk2)
	w.p.power.mu.Lock()
	w.p.power.steps = nil
	w.p.power.mu.Unlock()
	before = len(w.sent(alicePh))
	if _, err := w.eng.Escalate(context.Background(), inc.ID, -1, "test"); err != nil {
		t.Fatal(err)
	}
	w.step()
	eventually(t, "the page after the restart", func() bool { return len(w.sent(alicePh)) > before })
	if s, _, ok := desk2.StepOf(inc.ID); !ok || s.Phase != power.Before {
		t.Fatalf("after a restart the step is %+v, %v; want it known as done before", s, ok)
	}
	if got := sim.Actions(); len(got) != 2 {
		t.Fatalf("cycled again after a restart: %v", got)
	}
	for _, s := range w.sent(alicePh)[before:] {
		if strings.Contains(s, "automated step") || strings.Contains(s, "Automated step") {
			t.Fatalf("told again after a restart: %q", s)
		}
	}

	// Automation never forces: pve1 is down (in the guard's eyes), so
	// cycling pve2 would leave 1 of the 2 needed. The page says it was
	// refused, never "CYCLE pve2 now"; the why follows by SMS.
	st.set("pve1", "down")
	inc2 := fire("pve2")
	w.step()
	w.advance(10 * time.Minute)
	notDone := "Automated step: CYCLE pve2 refused (quorum); why by SMS"
	defer func() {
		if t.Failed() {
			t.Logf("sent to alice: %q", w.sent(alicePh))
		}
	}()
	eventually(t, "the page of the refused step", func() bool {
		return slices.ContainsFunc(w.sent(alicePh), func(s string) bool {
			return strings.HasPrefix(s, fmt.Sprintf("[CRIT] #%d ", inc2.Short)) && strings.Contains(s, notDone)
		})
	})
	for _, s := range w.sent(alicePh) {
		if strings.Contains(s, "CYCLE pve2 now") {
			t.Fatalf("announced a refused action: %q", s)
		}
	}
	refused := fmt.Sprintf("#%d automated step: CYCLE pve2 not done: refused: pve2 is in quorum group hypervisors (2 of 3 needed), pve1 is already down", inc2.Short)
	eventually(t, "the refusal to alice", func() bool {
		return slices.ContainsFunc(w.sent(alicePh), func(s string) bool {
			return strings.HasPrefix(s, refused) && strings.Contains(s, "Automation cannot force") &&
				strings.HasSuffix(s, "Automation will not try again for this incident; reply CYCLE pve2 to ask for it yourself.")
		})
	})
	if got := sim.Actions(); len(got) != 2 {
		t.Fatalf("the chassis was asked %v", got)
	}
	// A group's incident names no host: nothing is done, and people hear why.
	grp, err := w.eng.Handle(context.Background(), escalation.Alert{Key: "group:hypervisors", Firing: true, Severity: "critical",
		Summary: "hypervisors lost quorum", Labels: map[string]string{"group": "hypervisors"}, Source: "probe"})
	if err != nil {
		t.Fatal(err)
	}
	w.step()
	w.advance(10 * time.Minute)
	noHost := fmt.Sprintf("#%d automated step: CYCLE not done: the incident is not about one host of ours", grp.Short)
	eventually(t, "why nothing was done, to bob", func() bool {
		return slices.ContainsFunc(w.sent(bobPh), func(s string) bool { return strings.HasPrefix(s, noHost) })
	})
	if got := sim.Actions(); len(got) != 2 {
		t.Fatalf("the chassis was asked %v", got)
	}

	var steps []string
	for _, e := range powerEvents(t, w) {
		if strings.HasPrefix(e, "power.step") || strings.HasPrefix(e, "power.allowed") || strings.HasPrefix(e, "power.refused") {
			steps = append(steps, e)
		}
	}
	want := []string{
		fmt.Sprintf("power.step %d policy:ops", inc.ID), "power.allowed pve1 policy:ops", fmt.Sprintf("power.step_result %d policy:ops", inc.ID),
		fmt.Sprintf("power.step %d policy:ops", inc2.ID), "power.refused pve2 policy:ops", fmt.Sprintf("power.step_result %d policy:ops", inc2.ID),
	}
	if !slices.Equal(steps, want) {
		t.Errorf("audit trail:\n got  %q\n want %q", steps, want)
	}
	// The incident's timeline shows the automated step.
	tl, err := w.eng.Timeline(context.Background(), inc.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(tl, func(e escalation.Entry) bool {
		return e.Kind == "power.step_result" && strings.HasPrefix(e.Detail, "pve1 cycled")
	}) {
		t.Errorf("timeline: %+v", tl)
	}
}

// deskConfig is the power desk's part of c, as cmd builds it.
func deskConfig(c *configs.Config) power.Config {
	pc := power.Config{Power: c.Power, Groups: c.Groups}
	for _, t := range c.Targets {
		if t.Kind == "ipmi" {
			pc.BMCs = append(pc.BMCs, t)
		} else {
			pc.Hosts = append(pc.Hosts, power.Host{Name: t.Name, BMC: t.BMC})
		}
	}
	return pc
}
