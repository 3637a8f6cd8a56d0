package configs

import (
	"strings"
	"testing"
	"time"
)

const leaseTargets = `[[target]]
name = "pve1"
kind = "tcp"
address = "127.0.0.1:22"
[[target]]
name = "gluster-heal"
kind = "command"
  [target.command]
  argv = ["/bin/true"]
`

// [leases] has defaults a site relies on: one lease at a time, 4h at most,
// and one per group.
func TestLeaseDefaults(t *testing.T) {
	c, err := Parse("t.toml", t.TempDir(), []byte(base+leaseTargets+"[[group]]\nname = \"pve\"\nmembers = [\"pve1\"]\n"), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if c.Leases.On() || c.Leases.MaxConcurrent != 1 || c.Leases.MaxFor.Duration != 4*time.Hour || c.Groups[0].MaxConcurrent != 1 {
		t.Fatalf("defaults: %+v, group max_concurrent %d", c.Leases, c.Groups[0].MaxConcurrent)
	}
}

// Lease settings that cannot work are refused at their line, with the
// fix: an unknown lease_requires target (the known ones listed), a viewer
// in allow, a lease token in [power] allow, a max_for that is not positive.
func TestBadLeaseSettingsAreRefusedWithTheFix(t *testing.T) {
	sum := strings.Repeat("ab", 32)
	add := leaseTargets + `[[group]]
name = "pve"
members = ["pve1"]
lease_requires = ["gluster-heel"]
[[api_token]]
name = "grafana"
sha256 = "` + sum + `"
role = "viewer"
[[api_token]]
name = "ci"
sha256 = "` + sum + `"
role = "lease"
[leases]
allow = ["grafana", "ci", "nobody"]
max_for = "-1h"
[power]
allow = ["ci"]
`
	_, err := Parse("t.toml", t.TempDir(), []byte(base+add), noEnv)
	if err == nil {
		t.Fatal("accepted")
	}
	got := err.Error()
	for _, want := range []string{
		`group "pve" lease_requires: unknown target "gluster-heel"; fix: name one of the targets: pve1, gluster-heal`,
		`leases allow: api_token "grafana" is a viewer: it cannot take leases; fix: give the token role = "lease" (or "responder"), or take it out of allow`,
		`leases allow: unknown api_token or person "nobody"`,
		`leases max_for: must be positive`,
		`power allow: api_token "ci" is a lease: it cannot act`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in:\n%s", want, got)
		}
	}
	if strings.Contains(got, `"ci" is`) && strings.Contains(got, "leases allow: api_token \"ci\"") {
		t.Errorf("a lease token refused in [leases] allow:\n%s", got)
	}
}
