package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// check-config prints the exact URL to paste into the Twilio console for
// the number's "A message comes in" webhook: public_url (a trailing slash
// dropped, a path kept) + the pager's SMS route, with HTTP POST. A
// simulator needs no console, so nothing is printed for one.
func TestCheckConfigPrintsTheTwilioWebhookURL(t *testing.T) {
	example, err := os.ReadFile("../../configs/example.toml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, name := range []string{"twilio-token.example", "bmc-password.example", "heartbeat-token.example"} {
		b, err := os.ReadFile(filepath.Join("../../configs", name))
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, name), string(b))
	}
	for _, c := range []struct{ publicURL, want string }{
		{"https://foghorn.example.net", `set number +14155550100's "A message comes in" webhook to https://foghorn.example.net/twilio/sms (HTTP POST)`},
		{"https://example.org/foghorn/", `"A message comes in" webhook to https://example.org/foghorn/twilio/sms (HTTP POST)`},
	} {
		cfg := strings.Replace(string(example), `public_url = "https://foghorn.example.net"`, `public_url = "`+c.publicURL+`"`, 1)
		path := filepath.Join(dir, "foghorn.toml")
		writeFile(t, path, cfg)
		out, err := exec.Command(bin, "check-config", path).CombinedOutput()
		if err != nil || !strings.Contains(string(out), c.want) {
			t.Errorf("public_url %q: %v: output lacks %q:\n%s", c.publicURL, err, c.want, out)
		}
	}

	sim := filepath.Join(dir, "sim.toml")
	writeFile(t, sim, siteConfig(dir, httpTarget("web", "http://127.0.0.1:9/")))
	out, err := exec.Command(bin, "check-config", sim).CombinedOutput()
	if err != nil || strings.Contains(string(out), "A message comes in") {
		t.Errorf("simulator config: %v: want ok and no webhook line:\n%s", err, out)
	}
}
