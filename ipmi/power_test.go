package ipmi

import (
	"slices"
	"strings"
	"testing"
	"time"

	"foghorn/configs"
	"foghorn/ipmi/simtest"
)

func TestIPMIPowerCycleIsSeenOffThenOn(t *testing.T) {
	t.Parallel()
	s := simtest.Start(t)
	b := newBMC(t, s)
	out, err := b.Power(within(t, 10*time.Second), Cycle)
	if err != nil {
		t.Fatal(err)
	}
	if !out.Confirmed || !out.Before.On || !out.After.On || !strings.HasPrefix(out.Text, "cycled: off, then on after ") {
		t.Fatalf("outcome = %+v", out)
	}
	// ipmi_sim holds power off for about a second.
	if out.Took < 800*time.Millisecond || out.Took > 5*time.Second {
		t.Fatalf("cycle took %v", out.Took)
	}
	if got := s.Actions(); !slices.Equal(got, []string{"power 0", "power 1"}) {
		t.Fatalf("chassis was asked %v", got)
	}
}

func TestIPMIPowerActions(t *testing.T) {
	t.Parallel()
	s := simtest.Start(t)
	b := newBMC(t, s)
	for _, c := range []struct {
		a    Action
		on   bool
		text string
	}{
		{Status, true, "power on"},
		{Off, false, "powered off"},
		{On, true, "powered on"},
		{Soft, false, "shut down (soft): power off"},
		{On, true, "powered on"},
		{Reset, true, "reset sent; power on"},
	} {
		out, err := b.Power(within(t, 5*time.Second), c.a)
		if err != nil {
			t.Fatalf("%s: %v", c.a, err)
		}
		if out.After.On != c.on || out.Text != c.text || !out.Confirmed {
			t.Fatalf("%s: %+v", c.a, out)
		}
		if s.Power() != c.on {
			t.Fatalf("%s: the chassis script says power %v", c.a, s.Power())
		}
	}
	want := []string{"power 0", "power 1", "shutdown 1", "power 1", "reset 1"}
	if got := s.Actions(); !slices.Equal(got, want) {
		t.Fatalf("chassis was asked %v, want %v", got, want)
	}
}

// ipmi's actions are configs' (ParsePowerAction reads them for the pager,
// the API and the dashboard alike).
func TestIPMIParseAction(t *testing.T) {
	for in, want := range map[string]Action{"cycle": Cycle, "Power Cycle": Cycle, "OFF": Off, "shutdown": Soft, "status": Status, "poweron": On} {
		if got, err := configs.ParsePowerAction(in); err != nil || got != want {
			t.Errorf("ParsePowerAction(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := configs.ParsePowerAction("diag"); err == nil {
		t.Error("diag parsed")
	}
}
