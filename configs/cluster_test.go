package configs

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A [cluster] is refused, at its line and with the fix, whenever the two
// nodes would gossip in the clear, could never decrypt each other, or have
// nobody to talk to; a good one is read with its defaults.
func TestClusterRefusals(t *testing.T) {
	const head = `[twilio]
simulator = true
from = "+15005550006"
[[person]]
name = "alice"
phone = "+4915112345671"
`
	key32 := base64.StdEncoding.EncodeToString(make([]byte, 32))
	key20 := base64.StdEncoding.EncodeToString(make([]byte, 20))
	for _, c := range []struct {
		name, key, section string
		want               string // "" for valid
	}{
		{"valid", key32, `[cluster]
name = "fra"
bind = "127.0.0.1:7946"
peers = ["ams.example.net:7946"]
key_file = "k"
`, ""},
		{"no key", "", `[cluster]
name = "fra"
bind = "127.0.0.1:7946"
peers = ["ams.example.net:7946"]
`, `t.toml:7: cluster key_file: no gossip key: the nodes talk over the internet, and unencrypted, unauthenticated gossip would let anyone read incidents and forge acks; fix: run ` + "`foghorn cluster-key"},
		{"key of a wrong size", key20, `[cluster]
name = "fra"
bind = "127.0.0.1:7946"
peers = ["ams.example.net:7946"]
key_file = "k"
`, `t.toml:11: cluster key_file: the key is 20 bytes; it must be 16, 24 or 32 (AES-128, -192 or -256); fix: run`},
		{"key not base64", "not base64!", `[cluster]
name = "fra"
bind = "127.0.0.1:7946"
peers = ["ams.example.net:7946"]
key_file = "k"
`, `t.toml:11: cluster key_file: the key is not base64`},
		{"bad name", key32, `[cluster]
name = "fra ams"
bind = "127.0.0.1:7946"
peers = ["ams.example.net:7946"]
key_file = "k"
`, `t.toml:8: cluster name: name "fra ams" has characters that do not work in SMS and URLs; fix: use letters`},
		{"no name", key32, `[cluster]
bind = "127.0.0.1:7946"
peers = ["ams.example.net:7946"]
key_file = "k"
`, `t.toml:7: cluster name: missing`},
		{"peers only itself", key32, `[cluster]
name = "fra"
bind = "127.0.0.1:7946"
peers = ["127.0.0.1:7946"]
key_file = "k"
`, `t.toml:10: cluster peers: the list names only this node itself (its bind or advertise address); fix: list the other nodes' gossip addresses`},
		{"peers only its advertised self", key32, `[cluster]
name = "fra"
bind = "0.0.0.0:7946"
advertise = "203.0.113.5:7946"
peers = ["203.0.113.5:7946"]
key_file = "k"
`, `t.toml:11: cluster peers: the list names only this node itself`},
		{"no peers", key32, `[cluster]
name = "fra"
bind = "127.0.0.1:7946"
key_file = "k"
`, `t.toml:7: cluster peers: missing`},
		{"bad bind", key32, `[cluster]
name = "fra"
bind = "127.0.0.1"
peers = ["ams.example.net:7946"]
key_file = "k"
`, `t.toml:9: cluster bind: "127.0.0.1" is not a host:port address; fix: write host:port`},
		{"bad peer port", key32, `[cluster]
name = "fra"
bind = "127.0.0.1:7946"
peers = ["ams.example.net:99999"]
key_file = "k"
`, `t.toml:10: cluster peers[0]: "ams.example.net:99999" is not a host:port address`},
		{"bad advertise", key32, `[cluster]
name = "fra"
bind = "0.0.0.0:7946"
advertise = "ams"
peers = ["ams.example.net:7946"]
key_file = "k"
`, `t.toml:10: cluster advertise: "ams" is not a host:port address`},
		{"peer timeout too short", key32, `[cluster]
name = "fra"
bind = "127.0.0.1:7946"
peers = ["ams.example.net:7946"]
key_file = "k"
peer_timeout = "100ms"
`, `t.toml:12: cluster peer_timeout: 100ms is too short`},
		{"probe source not an IP", key32, `[cluster]
name = "fra"
bind = "127.0.0.1:7946"
peers = ["ams.example.net:7946"]
key_file = "k"
probe_source = "fra.example.net"
`, `t.toml:12: cluster probe_source: "fra.example.net" is not an IP address; fix: write an IP address of this host`},
		{"probe source not of this host", key32, `[cluster]
name = "fra"
bind = "127.0.0.1:7946"
peers = ["ams.example.net:7946"]
key_file = "k"
probe_source = "192.0.2.77"
`, `t.toml:12: cluster probe_source: 192.0.2.77 is not an address of this host`},
		{"valid probe source", key32, `[cluster]
name = "fra"
bind = "127.0.0.1:7946"
peers = ["ams.example.net:7946"]
key_file = "k"
probe_source = "127.0.0.2"
`, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			if c.key != "" {
				if err := os.WriteFile(filepath.Join(dir, "k"), []byte(c.key+"\n"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			cfg, err := Parse("t.toml", dir, []byte(head+c.section), noEnv)
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case c.want == "":
				cl := cfg.Cluster
				if cl == nil || cl.Name != "fra" || cl.PeerTimeout.Duration != 15*time.Second {
					t.Fatalf("read as %+v; want name fra, peer_timeout 15s", cl)
				}
				if k, err := ClusterKey(cl.Key.Reveal()); err != nil || len(k) != 32 {
					t.Fatalf("key: %d bytes, %v", len(k), err)
				}
			case err == nil || !strings.Contains(err.Error(), c.want):
				t.Fatalf("\n got  %v\n want %s...", err, c.want)
			}
		})
	}
}

// Without [cluster] nothing of it is there: a single foghorn is unchanged.
func TestNoClusterSectionIsNoCluster(t *testing.T) {
	cfg, err := Parse("t.toml", t.TempDir(), []byte("[twilio]\nsimulator = true\nfrom = \"+15005550006\"\n"), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Cluster != nil {
		t.Fatalf("cluster = %+v without a [cluster] table", cfg.Cluster)
	}
}

// The key written inline is refused like every other secret, and the
// environment variable is named.
func TestClusterKeyInlineIsRefused(t *testing.T) {
	_, err := Parse("t.toml", t.TempDir(), []byte(`[cluster]
name = "fra"
bind = "127.0.0.1:7946"
peers = ["ams.example.net:7946"]
key = "AAAAAAAAAAAAAAAAAAAAAA=="
`), noEnv)
	if err == nil || !strings.Contains(err.Error(), "FOGHORN_CLUSTER_KEY") || strings.Contains(err.Error(), "no gossip key") {
		t.Fatalf("got %v", err)
	}
}

// The example's [cluster] block, uncommented, is a valid cluster: what an
// operator copies works.
func TestExampleClusterBlockIsValid(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"twilio-token.example", "bmc-password.example", "heartbeat-token.example"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	key := filepath.Join(dir, "cluster-key")
	if err := os.WriteFile(key, []byte(base64.StdEncoding.EncodeToString(make([]byte, 32))+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	head, block, ok := strings.Cut(string(ExampleTOML), "# [cluster]\n")
	if !ok {
		t.Fatal("example.toml has no commented [cluster] block")
	}
	src := head + "[cluster]\n"
	for _, l := range strings.Split(block, "\n") {
		src += strings.TrimPrefix(l, "# ") + "\n"
	}
	src = strings.Replace(src, `"/etc/foghorn/cluster-key"`, `"cluster-key"`, 1)
	// probe_source must be an address of the host that checks it: this one's.
	if !strings.Contains(src, `probe_source = "198.51.100.10"`) {
		t.Fatal("example.toml's cluster block has no probe_source")
	}
	src = strings.Replace(src, `probe_source = "198.51.100.10"`, `probe_source = "127.0.0.1"`, 1)
	cfg, err := Parse("example.toml", dir, []byte(src), noEnv)
	if err != nil {
		t.Fatalf("the example's cluster block:\n%v", err)
	}
	if cfg.Cluster == nil || cfg.Cluster.Name != "fra" || len(cfg.Cluster.Peers) != 1 || cfg.Cluster.ProbeSource != "127.0.0.1" {
		t.Fatalf("read as %+v", cfg.Cluster)
	}
}
