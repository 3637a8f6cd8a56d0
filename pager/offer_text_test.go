package pager

import (
	"strings"
	"testing"
	"time"

	"foghorn/configs"
	"foghorn/escalation"
)

// segments is how many SMS parts s is sent in.
func segments(s string) int {
	u, seg := smsUnits(s)
	if u <= seg {
		return 1
	}
	part := seg - 7
	if seg == ucsSegment {
		part = seg - 3
	}
	return (u + part - 1) / part
}

// The hung-host page: the pager alone words the offer from the intent's
// typed host and action, after the summary and before the ack line, in
// one segment when it fits. The detail's first line is left out rather
// than anything else.
func TestHungHostPageWordsTheOffer(t *testing.T) {
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	in := escalation.Intent{Short: 1, Severity: "critical", Host: "pve1", Offer: configs.PowerCycle,
		Summary: "pve1 DOWN; BMC up; power on; SEL: DIMM A1 Uncorrectable ECC",
		Detail:  "pve1 (tcp 127.0.0.1:8006) DOWN since 2026-12-01 08:47:00\nBMC pve1-bmc: BMC up; power on; SEL: DIMM A1 Uncorrectable ECC",
		Since:   time.Date(2026, 12, 1, 8, 47, 0, 0, time.UTC)}
	want := "[CRIT] #1 pve1 DOWN; BMC up; power on; SEL: DIMM A1 Uncorrectable ECC since 08:47. Reply CYCLE pve1 to power-cycle. Reply 1 to ack, 1R resolve, HELP."
	if got := pageSMS(in, now, time.UTC); got != want || !fits(got) {
		t.Errorf("cycle:\n got  %q\n want %q", got, want)
	}
	in.Offer, in.Summary = configs.PowerOn, "pve1 DOWN; BMC up; power off"
	want = "[CRIT] #1 pve1 DOWN; BMC up; power off since 08:47. Reply ON pve1 to power it on. Reply 1 to ack, 1R resolve, HELP."
	if got := pageSMS(in, now, time.UTC); got != want {
		t.Errorf("on:\n got  %q\n want %q", got, want)
	}
	// Without an offer the page is as it always was; without a host there
	// is nobody to name, so nothing is offered.
	in.Offer = ""
	if got := pageSMS(in, now, time.UTC); strings.Contains(got, "Reply ON") {
		t.Errorf("no offer: %q", got)
	}
	in.Offer, in.Host = configs.PowerCycle, ""
	if got := pageSMS(in, now, time.UTC); strings.Contains(got, "CYCLE") {
		t.Errorf("no host: %q", got)
	}
}

// The offer is never cut. A critical page keeps its whole summary in two
// segments rather than cut it; a warning is cut to one segment, offer
// kept; a summary too long even for that is cut, the offer kept.
func TestPageNeverCutsTheOffer(t *testing.T) {
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	long := "pve1 DOWN; BMC up; power on; SEL: DIMM A1 Uncorrectable ECC, DIMM B2 Uncorrectable ECC; sensors: CPU1 Temp 97C above upper critical (+2 more)"
	in := escalation.Intent{Short: 12, Severity: "critical", Host: "pve1", Offer: configs.PowerCycle, Summary: long,
		Detail: "pve1 (tcp 127.0.0.1:8006) DOWN since 2026-12-01 08:47:00", Since: time.Date(2026, 12, 1, 8, 47, 0, 0, time.UTC)}
	offer := ". Reply CYCLE pve1 to power-cycle. Reply 12 to ack, 12R resolve, HELP."
	got := pageSMS(in, now, time.UTC)
	if got != "[CRIT] #12 "+long+" since 08:47"+offer || segments(got) != 2 {
		t.Errorf("critical: %d segments: %q", segments(got), got)
	}
	in.Severity = "warning"
	got = pageSMS(in, now, time.UTC)
	if !strings.HasSuffix(got, "... since 08:47"+offer) || !fits(got) {
		t.Errorf("warning: %d segments: %q", segments(got), got)
	}
	in.Severity, in.Summary = "critical", strings.Repeat("pve1 DOWN; BMC up; ", 30)
	got = pageSMS(in, now, time.UTC)
	if !strings.HasSuffix(got, "... since 08:47"+offer) || segments(got) > 2 {
		t.Errorf("very long: %d segments: %q", segments(got), got)
	}
}

// Calls and mail say the same offer, as the SMS reply that asks for it.
func TestCallAndMailWordTheOffer(t *testing.T) {
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	in := escalation.Intent{Short: 1, Severity: "critical", Host: "pve1", Offer: configs.PowerCycle,
		Summary: "pve1 DOWN; BMC up; power on", Since: now.Add(-time.Minute)}
	if got := voiceSummary(in, now, time.UTC); !strings.HasSuffix(got, " Text CYCLE pve1 to power-cycle.") {
		t.Errorf("voice: %q", got)
	}
	if _, body := mailPage(in, "", now, time.UTC); !strings.Contains(body, "Text CYCLE pve1 to the foghorn number to power-cycle.") {
		t.Errorf("mail:\n%s", body)
	}
}
