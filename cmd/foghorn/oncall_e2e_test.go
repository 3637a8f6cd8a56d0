package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// oncallShift is one stretch of GET /api/v1/oncall, as a client reads it.
type oncallShift struct {
	Person, Covering, Zone string
	Start, End             time.Time
}

func (x *exampleSite) oncallAPI(t *testing.T, query string) map[string][]oncallShift {
	t.Helper()
	req, _ := http.NewRequest("GET", x.base+"/api/v1/oncall"+query, nil)
	req.Header.Set("Authorization", "Bearer "+e2eToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var rots map[string][]oncallShift
	if err := json.NewDecoder(resp.Body).Decode(&rots); err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /api/v1/oncall%s: %s %v", query, resp.Status, err)
	}
	return rots
}

func oncallCLI(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(cmd.Environ(), "FOGHORN_API_TOKEN="+e2eToken, "FOGHORN_URL=")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("foghorn %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// After an override, every view of the rotation names the cover, ends
// the cover at the override's end (not the shift's), and says the zone:
// `oncall -config` (reading the store beside the running foghorn),
// `oncall -url`, GET /api/v1/oncall and the SMS ONCALL reply; -at works
// the same through -url and -config.
func TestOncallViewsAgreeAfterOverride(t *testing.T) {
	x := newExample(t)
	x.run(t)

	before := x.oncallAPI(t, "")["ops"]
	if len(before) < 2 || before[0].End.IsZero() {
		t.Fatalf("the example's ops rotation has handoffs: %+v", before)
	}
	absent, cover := before[0].Person, before[1].Person
	// Half way through the shift, on the minute (the views print minutes).
	end := time.Now().Add(time.Until(before[0].End) / 2).Truncate(time.Minute)
	if !end.After(time.Now().Add(time.Minute)) {
		t.Skip("the shift ends within minutes; the override would be gone before the views are read")
	}
	body, _ := json.Marshal(map[string]any{"absent": absent, "cover": cover, "end": end})
	req, _ := http.NewRequest("POST", x.base+"/api/v1/overrides", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+e2eToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("POST /api/v1/overrides: %v %v", resp, err)
	}
	resp.Body.Close()

	berlin, _ := time.LoadLocation("Europe/Berlin")
	// The API.
	now := x.oncallAPI(t, "")["ops"]
	if now[0].Person != cover || now[0].Covering != absent || !now[0].End.Equal(end) || now[0].Zone != "Europe/Berlin" {
		t.Errorf("API: now %+v; want %s covering %s until %s in Europe/Berlin", now[0], cover, absent, end)
	}
	if len(now) < 2 || now[1].Person != absent || !now[1].Start.Equal(end) || !now[1].End.Equal(before[0].End) {
		t.Errorf("API: after the override %s has the rest of the shift; got %+v", absent, now)
	}

	// The CLI both ways: the same words, the rotation's zone named.
	want := "now  " + cover + " (covering " + absent + ")"
	wantEnd := "until " + end.In(berlin).Format("Mon 2006-01-02 15:04 MST")
	fromConfig := oncallCLI(t, "oncall", "-config", x.path)
	fromURL := oncallCLI(t, "oncall", "-url", x.base)
	for name, out := range map[string]string{"-config": fromConfig, "-url": fromURL} {
		if !strings.Contains(out, "ops (Europe/Berlin):\n  "+want) || !strings.Contains(out, wantEnd) {
			t.Errorf("oncall %s: want %q %q:\n%s", name, want, wantEnd, out)
		}
	}
	if fromConfig != fromURL {
		t.Errorf("oncall -config and -url disagree:\n-config:\n%s\n-url:\n%s", fromConfig, fromURL)
	}

	// The SMS reply, in alice's zone (Berlin), zone named.
	if _, err := x.sim.ReplySMS("+4915112345671", "ONCALL"); err != nil {
		t.Fatal(err)
	}
	wantSMS := "ops: " + cover + " for " + absent + " until " + end.In(berlin).Format("Mon 15:04 MST") + ", then " + absent
	until(t, 10*time.Second, "the ONCALL reply", func() bool { return len(x.sms("On call:")) > 0 })
	if got := x.sms("On call:")[0].Body; !strings.Contains(got, wantSMS) {
		t.Errorf("ONCALL reply %q; want it to say %q", got, wantSMS)
	}

	// -at after the override: the absent person is back, both ways alike.
	at := end.Add(time.Minute).Format(time.RFC3339)
	laterConfig := oncallCLI(t, "oncall", "-config", x.path, "-at", at)
	laterURL := oncallCLI(t, "oncall", "-url", x.base, "-at", at)
	if !strings.Contains(laterURL, "now  "+absent+" ") || laterConfig != laterURL {
		t.Errorf("oncall -at %s: want %s now, alike both ways:\n-config:\n%s\n-url:\n%s", at, absent, laterConfig, laterURL)
	}

	// A store it cannot read: it says overrides are not shown.
	other := strings.Replace(x.text, filepath.Join(x.dir, "data"), filepath.Join(x.dir, "nowhere"), 1)
	otherPath := filepath.Join(x.dir, "other.toml")
	writeFile(t, otherPath, other)
	if out := oncallCLI(t, "oncall", "-config", otherPath); !strings.Contains(out, "overrides NOT shown") || !strings.Contains(out, "now  "+absent+" ") {
		t.Errorf("oncall without a readable store must say overrides are not shown:\n%s", out)
	}
}
