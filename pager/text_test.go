package pager

import (
	"encoding/xml"
	"strings"
	"testing"
	"time"

	"foghorn/clock"
	"foghorn/escalation"
)

func TestPageSMS(t *testing.T) {
	now := time.Date(2026, 3, 2, 3, 0, 0, 0, time.UTC)
	in := escalation.Intent{Short: 42, Severity: "critical", Summary: "router pair DOWN (rt1, rt2)", Since: time.Date(2026, 3, 2, 2, 14, 0, 0, time.UTC)}
	if got, want := pageSMS(in, now, time.UTC), "[CRIT] #42 router pair DOWN (rt1, rt2) since 02:14. Reply 42 to ack, 42R resolve, HELP."; got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	in.Detail = "both unreachable by ICMP\nrt1: 100% loss"
	if got, want := pageSMS(in, now, time.UTC), "[CRIT] #42 router pair DOWN (rt1, rt2) since 02:14: both unreachable by ICMP. Reply 42 to ack, 42R resolve, HELP."; got != want {
		t.Errorf("with cause: got %q", got)
	}
	in.Detail = strings.Repeat("a very long cause ", 10)
	if got := pageSMS(in, now, time.UTC); strings.Contains(got, "cause") || !fits(got) {
		t.Errorf("a cause that does not fit must be left out: %q", got)
	}
	in.Detail, in.Summary = "", "storm: "+strings.Repeat("pve1, ", 40)+"DOWN"
	got := pageSMS(in, now, time.UTC)
	if !fits(got) || !strings.HasPrefix(got, "[CRIT] #42 storm: pve1, ") || !strings.Contains(got, "... since 02:14. Reply 42 to ack") {
		t.Errorf("long summary not cut to one segment: %d %q", len(got), got)
	}
	in.Summary = "disk “full” – 99% … on ceph1"
	if got := pageSMS(in, now, time.UTC); !strings.Contains(got, `disk "full" - 99% ... on ceph1`) || !fits(got) {
		t.Errorf("typography not folded to GSM-7: %q", got)
	}
	in.Summary, in.Severity = "диск полон на сервере хранения данных", "warning"
	if got := pageSMS(in, now, time.UTC); !strings.HasPrefix(got, "[WARN] #42 диск полон") || !strings.HasSuffix(got, "HELP.") {
		t.Errorf("non-GSM summary: %q", got)
	}
	in.Summary = "x\x00y\u0007z"
	if got := pageSMS(in, now, time.UTC); !strings.Contains(got, "x y z") {
		t.Errorf("control characters kept: %q", got)
	}
	old := in
	old.Summary, old.Since = "db down", now.Add(-30*time.Hour)
	if got := pageSMS(old, now, time.UTC); !strings.Contains(got, "since Feb 28 21:00") {
		t.Errorf("an old incident shows its date: %q", got)
	}
}

func TestSMSUnits(t *testing.T) {
	for _, c := range []struct {
		s          string
		units, seg int
	}{
		{"hello", 5, 160},
		{"a[b]", 6, 160},
		{"äöü€", 5, 160},
		{"日本", 2, 70},
	} {
		if u, seg := smsUnits(c.s); u != c.units || seg != c.seg {
			t.Errorf("smsUnits(%q) = %d, %d; want %d, %d", c.s, u, seg, c.units, c.seg)
		}
	}
	long := escalation.Intent{Kind: "acked", Text: strings.Repeat("[x]", 80)}
	if got := noticeSMS(long); !fits(got) || !strings.HasSuffix(got, "...") {
		t.Errorf("notice not cut to one segment: %q", got)
	}
}

func TestVoiceTwiMLIsValidXML(t *testing.T) {
	p := &Pager{opts: Options{KeyWait: 8 * time.Second}, clock: clock.Real{}, zones: map[string]*time.Location{}}
	st := &state{public: "https://foghorn.example.net"}
	doc, err := p.menu(st, callRef{n: 1, incident: 2, person: "a&b <c>"}, `say "<this>" & that`)
	if err != nil {
		t.Fatal(err)
	}
	var g gatherXML
	if err := xml.Unmarshal([]byte(doc), &g); err != nil {
		t.Fatalf("%v: %s", err, doc)
	}
	if g.Gather.Says[0] != `say "<this>" & that` || !strings.Contains(g.Gather.Action, "p=a%26b+%3Cc%3E") {
		t.Fatalf("%+v", g)
	}
}
