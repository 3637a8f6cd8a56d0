package probes

import (
	"fmt"
	"os"
	"testing"
)

// missingPeer skips a test whose real peer (snmpd, a Nagios plugin, nft)
// is not installed — but fails it in CI (FOGHORN_REQUIRE_PEERS=1, set by
// .ci/run), so a missing install step cannot hide behind a green run.
func missingPeer(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("FOGHORN_REQUIRE_PEERS") == "1" {
		t.Fatalf("%s (FOGHORN_REQUIRE_PEERS=1: CI must install it; see .ci/run)", msg)
	}
	t.Skip(msg)
}
