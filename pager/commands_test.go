package pager

import (
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"foghorn/configs"
	"foghorn/escalation"
	"foghorn/ipmi"
	"foghorn/power"
)

func TestParse(t *testing.T) {
	ok := []struct {
		in   string
		want Command
	}{
		{"42", Command{Verb: VerbAck, Short: 42}},
		{" 42 ", Command{Verb: VerbAck, Short: 42}},
		{"#42", Command{Verb: VerbAck, Short: 42}},
		{"042", Command{Verb: VerbAck, Short: 42}},
		{"ACK 42", Command{Verb: VerbAck, Short: 42}},
		{"ack42", Command{Verb: VerbAck, Short: 42}},
		{"Ack #42", Command{Verb: VerbAck, Short: 42}},
		{"ack: 42!", Command{Verb: VerbAck, Short: 42}},
		{"42 ack", Command{Verb: VerbAck, Short: 42}},
		{"42a", Command{Verb: VerbAck, Short: 42}},
		{"ACK", Command{Verb: VerbAck}},
		{"ack", Command{Verb: VerbAck}},
		{"Ok", Command{Verb: VerbAck}},
		{"42R", Command{Verb: VerbResolve, Short: 42}},
		{"42r", Command{Verb: VerbResolve, Short: 42}},
		{"42 R", Command{Verb: VerbResolve, Short: 42}},
		{"42-r", Command{Verb: VerbResolve, Short: 42}},
		{"RESOLVE 42", Command{Verb: VerbResolve, Short: 42}},
		{"resolve  #42", Command{Verb: VerbResolve, Short: 42}},
		{"Resolved 42", Command{Verb: VerbResolve, Short: 42}},
		{"ESC 42", Command{Verb: VerbEscalate, Short: 42}},
		{"esc42", Command{Verb: VerbEscalate, Short: 42}},
		{"escalate 42", Command{Verb: VerbEscalate, Short: 42}},
		{"42E", Command{Verb: VerbEscalate, Short: 42}},
		{"SNOOZE 42 30m", Command{Verb: VerbSnooze, Short: 42, For: 30 * time.Minute}},
		{"snooze 42 30", Command{Verb: VerbSnooze, Short: 42, For: 30 * time.Minute}},
		{"snooze #42 1h30m", Command{Verb: VerbSnooze, Short: 42, For: 90 * time.Minute}},
		{"Snooze 42 2 hours", Command{Verb: VerbSnooze, Short: 42, For: 2 * time.Hour}},
		{"snooze42 45min", Command{Verb: VerbSnooze, Short: 42, For: 45 * time.Minute}},
		{"42 snooze 10m", Command{Verb: VerbSnooze, Short: 42, For: 10 * time.Minute}},
		{"STATUS", Command{Verb: VerbStatus}},
		{"status", Command{Verb: VerbStatus}},
		{"list", Command{Verb: VerbStatus}},
		{"ONCALL", Command{Verb: VerbOnCall}},
		{"on call", Command{Verb: VerbOnCall}},
		{"On-Call?", Command{Verb: VerbOnCall}},
		{"who", Command{Verb: VerbOnCall}},
		{"HELP", Command{Verb: VerbHelp}},
		{"help me", Command{Verb: VerbHelp}},
		{"?", Command{Verb: VerbHelp}},
		{"STOP", Command{Verb: VerbOptOut}},
		{"start", Command{Verb: VerbOptIn}},
	}
	for _, c := range ok {
		got, err := Parse(c.in)
		if err != nil || got != c.want {
			t.Errorf("Parse(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
		}
	}

	bad := []struct{ in, reply string }{
		{"", "Empty message"},
		{"   ", "Empty message"},
		{"hello", `Did not understand "hello"`},
		{"42 43", "One incident at a time"},
		{"ACK 42 43", "One incident at a time"},
		{"42R 43", "One incident at a time"},
		{"RESOLVE", "Which incident? Reply RESOLVE 42"},
		{"esc", "Which incident? Reply ESC 42"},
		{"SNOOZE 42", "Snooze #42 for how long?"},
		{"SNOOZE 42 0m", "Snooze #42 for how long?"},
		{"SNOOZE 42 3d", "Snooze #42 for how long?"},
		{"SNOOZE 42 25h", "Snooze #42 for how long?"},
		{"SNOOZE", "Snooze which incident"},
		{"0", "There is no incident #0"},
		{"1234567", "There is no incident #1234567"},
		{"42❌", "Did not understand"},
		{"STATUS 42", "Did not understand"},
		{"STOP 42", "Did not understand"},
		{"I'm driving, will call back", "Did not understand"},
		{strings.Repeat("ack ", 60), "too long"},
		{"a b c d e f g h i", "Too many words"},
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

func FuzzParse(f *testing.F) {
	for _, s := range []string{"42", "ACK 42", "42R", "RESOLVE 42", "ESC 42", "SNOOZE 42 30m", "STATUS", "ONCALL", "HELP",
		"ACK", "snooze 1 1h30m", "42 43", "?", "STOP", "on call", "ack #0", "9999999999999999999999", "42 snooze 9999h", "\xff\xfe",
		"CYCLE pve1", "cycle pve1-bmc FORCE", "POWER pve1", "power on pve1", "ON pve1", "CONFIRM 4821", "confirm #0000", "HELP POWER", "off"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		cmd, err := Parse(s)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) || pe.Reply == "" || !utf8.ValidString(pe.Reply) || len(pe.Reply) > 400 {
				t.Fatalf("Parse(%q): unhelpful error %v", s, err)
			}
			return
		}
		switch cmd.Verb {
		case VerbAck:
		case VerbResolve, VerbEscalate:
			if cmd.Short < 1 {
				t.Fatalf("Parse(%q) = %+v without an incident", s, cmd)
			}
		case VerbSnooze:
			if cmd.Short < 1 || cmd.For < minSnooze || cmd.For > maxSnooze {
				t.Fatalf("Parse(%q) = %+v", s, cmd)
			}
		case VerbStatus, VerbOnCall, VerbHelp, VerbOptIn, VerbOptOut:
			if cmd.Short != 0 {
				t.Fatalf("Parse(%q) = %+v", s, cmd)
			}
		case VerbPower:
			if _, err := configs.ParsePowerAction(string(cmd.Action)); err != nil || !hostName(cmd.Target) || cmd.Short != 0 ||
				(cmd.Force && cmd.Action == ipmi.Status) {
				t.Fatalf("Parse(%q) = %+v", s, cmd)
			}
		case VerbConfirm:
			if len(cmd.Code) != power.CodeDigits || strings.Trim(cmd.Code, "0123456789") != "" || cmd.Short != 0 {
				t.Fatalf("Parse(%q) = %+v", s, cmd)
			}
		default:
			t.Fatalf("Parse(%q): unknown verb %q", s, cmd.Verb)
		}
		if cmd.Short < 0 || cmd.Short > maxShort {
			t.Fatalf("Parse(%q) = %+v", s, cmd)
		}
	})
}

// The commands against the real engine: what each reply says, and that an
// old, reused incident number cannot ack an incident the sender never heard of.
func TestCommandsAgainstTheEngine(t *testing.T) {
	w := newWorld(t, smsFirst)
	first := w.fire("target:old")
	w.step()
	w.advance(10 * time.Minute) // alice again
	w.advance(5 * time.Minute)  // step 2: bob is called about #1
	eventually(t, "bob is called", func() bool { return len(w.callsTo(bobPh)) == 1 })
	if first.Short != 1 {
		t.Fatalf("setup: short %d", first.Short)
	}

	if r := w.text(bobPh, "STATUS"); !strings.Contains(r, "1 open: #1 CRIT router pair DOWN (rt1, rt2) since 09:00") {
		t.Errorf("STATUS: %q", r)
	}
	if r := w.text(alicePh, "ONCALL"); r != "On call: ops: alice until Mon 10:00 CET, then bob" {
		t.Errorf("ONCALL: %q", r) // alice reads Berlin time; the handoff is 09:00 UTC next Monday
	}
	if r := w.text(alicePh, "HELP"); r != HelpText {
		t.Errorf("HELP: %q", r)
	}
	if r := w.text(alicePh, "SNOOZE 1 30m"); r != "#1 snoozed for 30m: paging resumes at 10:45 unless resolved." {
		t.Errorf("SNOOZE: %q", r)
	}
	if got := w.incident(first.ID); got.State != escalation.Acknowledged || got.Snoozed.IsZero() {
		t.Errorf("after SNOOZE: %+v", got)
	}
	if r := w.text(bobPh, "ACK"); !strings.HasPrefix(r, "#1 acked, paging stopped: router pair DOWN (rt1, rt2). Reply 1R when fixed.") {
		t.Errorf("bare ACK: %q", r)
	}
	if r := w.text(alicePh, "1"); !strings.HasPrefix(r, "#1 was already acked by bob at") {
		t.Errorf("second ACK: %q", r)
	}
	if r := w.text(bobPh, "ESC 1"); !strings.HasPrefix(r, "#1 escalated") {
		t.Errorf("ESC: %q", r)
	}
	if r := w.text(bobPh, "1r"); r != "#1 resolved: router pair DOWN (rt1, rt2)" {
		t.Errorf("RESOLVE: %q", r)
	}
	if r := w.text(bobPh, "ACK"); !strings.HasPrefix(r, "Nothing to ack") {
		t.Errorf("bare ACK with nothing open: %q", r)
	}
	if r := w.text(bobPh, "garbage"); !strings.Contains(r, "Did not understand") || !strings.Contains(r, "HELP") && !strings.Contains(r, "ACK 42") {
		t.Errorf("garbage: %q", r)
	}

	// A day later #1 is handed out again, for a new incident that only
	// alice is paged about.
	w.clk.Add(25 * time.Hour)
	second := w.fire("target:new")
	w.step()
	if second.Short != 1 || second.ID == first.ID {
		t.Fatalf("short number not reused: %+v", second)
	}
	if r := w.text(bobPh, "1"); !strings.HasPrefix(r, "#1 is already resolved") {
		t.Errorf("bob's old #1: %q", r)
	}
	if r := w.text(carolPh, "STATUS"); !strings.Contains(r, "1 open") {
		t.Errorf("carol STATUS: %q", r)
	}
	if st := w.incident(second.ID).State; st != escalation.Triggered {
		t.Fatalf("a reply about the old #1 acked the new one: %s", st)
	}
	if r := w.text(bobPh, "ACK 7"); !strings.HasPrefix(r, "#7 is not an incident you were paged for") {
		t.Errorf("unknown number: %q", r)
	}
	if r := w.text(alicePh, "1"); !strings.HasPrefix(r, "#1 acked") {
		t.Errorf("alice's new #1: %q", r)
	}
	if by := w.incident(second.ID).AckedBy; by != "alice" {
		t.Fatalf("new #1 acked by %q", by)
	}

	// Error replies are limited, so an auto-responder cannot loop with us.
	var replies int
	for range 6 {
		if w.text(bobPh, "I'm driving") != "" {
			replies++
		}
	}
	if replies != errorRepliesPer15m {
		t.Errorf("%d replies to 6 auto-responses", replies)
	}
}
