package store

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The audit view lists people's and automation's acts, not the engine's
// bookkeeping, and filters by time, target and actor; it reads beside a
// running foghorn without its lock.
func TestAuditListsActsAndFilters(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`INSERT INTO incidents (key, short, state, severity, summary, labels, host, opened_at, updated_at)
		VALUES ('target:pve1', 4, 'triggered', 'critical', 'pve1 DOWN', '{"name":"pve1"}', 'pve1', 0, 0)`); err != nil {
		t.Fatal(err)
	}
	for _, e := range [][4]string{
		{"incident.open", "1", "probe", "#4 critical: pve1 DOWN"}, // bookkeeping: not listed
		{"delivery.delivered", "1", "alice", "sms: delivered"},    // not listed
		{"incident.ack", "1", "alice", "via sms"},
		{"power.refused", "pve1", "ci-deploy", "refused: ci-deploy may not ask for power actions via api"},
		{"power.allowed", "pve2", "alice", "cycle pve2 via web"},
		{"silence.add", "silence:1", "bob", `[name="pve1"] until 2030-01-01T00:00:00Z: kernel update`},
		{"override.add", "alice", "bob", "bob covers alice until 2030-01-01T00:00:00Z"},
		{"config.reload", "foghorn.toml", "sighup", "12 targets"},
	} {
		if err := db.Event(ctx, e[0], e[1], e[2], e[3]); err != nil {
			t.Fatal(err)
		}
	}
	kinds := func(es []AuditEntry) string {
		var out []string
		for _, e := range es {
			s := e.Kind + " " + e.Target
			if e.Short > 0 {
				s += " #" + strconv.Itoa(e.Short)
			}
			out = append(out, s)
		}
		return strings.Join(out, ", ")
	}
	for _, c := range []struct {
		name string
		f    AuditFilter
		want string
	}{
		{"all", AuditFilter{}, "config.reload , override.add , silence.add , power.allowed pve2, power.refused pve1, incident.ack pve1 #4"},
		{"target", AuditFilter{Target: "pve1"}, "silence.add , power.refused pve1, incident.ack pve1 #4"},
		{"who", AuditFilter{Who: "bob"}, "override.add , silence.add "},
		{"limit", AuditFilter{Limit: 2}, "config.reload , override.add "},
		{"since later", AuditFilter{Since: time.Now().Add(time.Second)}, ""},
		{"since earlier", AuditFilter{Since: time.Now().Add(-time.Minute), Who: "sighup"}, "config.reload "},
	} {
		es, err := db.Audit(ctx, c.f)
		if err != nil {
			t.Fatal(err)
		}
		if got := kinds(es); got != c.want {
			t.Errorf("%s: %s\nwant %s", c.name, got, c.want)
		}
	}
	// Beside the open store, which holds the data dir's lock.
	es, err := ReadAudit(ctx, dir, AuditFilter{Target: "pve2"})
	if err != nil || kinds(es) != "power.allowed pve2" {
		t.Fatalf("ReadAudit beside a running foghorn: %s, %v", kinds(es), err)
	}
	if _, err := ReadAudit(ctx, t.TempDir(), AuditFilter{}); err == nil || !strings.Contains(err.Error(), "data_dir") {
		t.Errorf("ReadAudit of an empty dir: %v, want an error naming data_dir", err)
	}
}
