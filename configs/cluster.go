package configs

import (
	"encoding/base64"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// Cluster is [cluster]: two or three foghorns at different providers that
// share their state by gossip and fail open (DESIGN.md, issue 15).
type Cluster struct {
	// Name is this node's name among its peers ("fra", "ams"): the live
	// nodes sorted by name decide who sends first, and pages name it.
	Name string `toml:"name"`
	// Bind is the host:port gossip listens on, UDP and TCP both.
	Bind string `toml:"bind"`
	// Advertise is the host:port the peers reach this node at, when it
	// is not Bind (behind NAT, or Bind is 0.0.0.0).
	Advertise string `toml:"advertise"`
	// Peers are the other nodes' host:port; one reachable is enough.
	Peers []string `toml:"peers"`
	// KeyFile holds the gossip key (or FOGHORN_CLUSTER_KEY): base64 of
	// 16, 24 or 32 random bytes (AES-128/192/256-GCM). `foghorn
	// cluster-key FILE` writes one.
	KeyFile string `toml:"key_file"`
	// PeerTimeout is how long a silent peer takes to count as gone: the
	// failure-detection horizon, the wait of each later node before it
	// sends, and a quarter of the wait before a lost peer is paged.
	PeerTimeout Duration `toml:"peer_timeout"`
	// ProbeSource, when set, is the local IP address this node's probes
	// dial from (tcp, tls, http, dns, snmp): the path from each vantage
	// point can then be told apart, by a firewall rule or a test.
	ProbeSource string `toml:"probe_source"`

	Key Secret `toml:"-"`
}

// DefaultPeerTimeout is [cluster] peer_timeout when it is not set.
const DefaultPeerTimeout = 15 * time.Second

// MinPeerTimeout is the shortest peer_timeout: below it one lost packet
// between two providers would look like a dead peer.
const MinPeerTimeout = time.Second

// ClusterKey decodes a gossip key as written in its file: base64 of 16, 24
// or 32 bytes.
func ClusterKey(s string) ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("the key is not base64: %w", err)
	}
	switch len(b) {
	case 16, 24, 32:
		return b, nil
	}
	return nil, fmt.Errorf("the key is %d bytes; it must be 16, 24 or 32 (AES-128, -192 or -256)", len(b))
}

func defaultCluster(c *Config) {
	if c.Cluster != nil {
		orDuration(&c.Cluster.PeerTimeout, DefaultPeerTimeout)
	}
}

const keyFix = "run `foghorn cluster-key /etc/foghorn/cluster-key` on one node, copy the file to the others (mode 0600), and set key_file = \"/etc/foghorn/cluster-key\""

func validateCluster(r *report, c *Config) {
	cl := c.Cluster
	if cl == nil {
		return
	}
	switch {
	case cl.Name == "":
		r.add("cluster", "cluster name", `add name = "fra" (this node's own name, different on each node)`, "missing: the peers tell the nodes apart by name")
	case !nameRE.MatchString(cl.Name):
		r.add("cluster.name", "cluster name", "use letters, digits, '-', '_' and '.', starting with a letter or digit",
			"name %q has characters that do not work in SMS and URLs", cl.Name)
	}
	bindOK := false
	if cl.Bind == "" {
		r.add("cluster", "cluster bind", `add bind = "0.0.0.0:7946" (the host:port gossip listens on, UDP and TCP)`, "missing")
	} else {
		bindOK = hostPort(r, "cluster.bind", "cluster bind", cl.Bind)
		if bindOK && cl.Bind == c.Server.Listen {
			r.add("cluster.bind", "cluster bind", "give gossip a port of its own, e.g. 7946", "%q is also [server] listen", cl.Bind)
		}
	}
	if cl.Advertise != "" {
		hostPort(r, "cluster.advertise", "cluster advertise", cl.Advertise)
	}
	self := map[string]bool{cl.Bind: true, cl.Advertise: true}
	valid, others := 0, 0
	for i, p := range cl.Peers {
		if hostPort(r, "cluster.peers", "cluster peers["+itoa(i)+"]", p) {
			valid++
			if !self[p] {
				others++
			}
		}
	}
	fixPeers := `list the other nodes' gossip addresses, e.g. peers = ["ams.example.net:7946"]`
	switch {
	case len(cl.Peers) == 0:
		r.add("cluster", "cluster peers", fixPeers, "missing: a cluster of one shares nothing and nobody watches it")
	case valid == len(cl.Peers) && others == 0:
		r.add("cluster.peers", "cluster peers", fixPeers, "the list names only this node itself (its bind or advertise address)")
	}
	if cl.Key.Empty() {
		if cl.KeyFile == "" && !r.inline["cluster.key_file"] {
			r.add("cluster", "cluster key_file", keyFix,
				"no gossip key: the nodes talk over the internet, and unencrypted, unauthenticated gossip would let anyone read incidents and forge acks")
		}
	} else if _, err := ClusterKey(cl.Key.Reveal()); err != nil {
		r.add("cluster.key_file", "cluster key_file", keyFix, "%v", err)
	}
	if s := cl.ProbeSource; s != "" {
		if ip := net.ParseIP(s); ip == nil {
			r.add("cluster.probe_source", "cluster probe_source", `write an IP address of this host, e.g. "192.0.2.10", or leave it out`, "%q is not an IP address", s)
		} else if err := localIP(ip); err != nil {
			r.add("cluster.probe_source", "cluster probe_source", "use an address of this host (ip addr), or leave it out", "%s is not an address of this host: %v", s, err)
		}
	}
	if d := cl.PeerTimeout; d.bad == nil && d.Duration < MinPeerTimeout {
		r.add("cluster.peer_timeout", "cluster peer_timeout", `use at least "1s"; the default "15s" suits two providers`,
			"%s is too short: one lost packet would look like a dead peer", d.Duration)
	}
}

// hostPort reports s unless it is host:port with a port from 1 to 65535.
func hostPort(r *report, path, key, s string) bool {
	_, port, err := net.SplitHostPort(s)
	n, perr := strconv.Atoi(port)
	if err != nil || perr != nil || n < 1 || n > 65535 {
		r.add(path, key, `write host:port, e.g. "ams.example.net:7946" or "0.0.0.0:7946"`, "%q is not a host:port address", s)
		return false
	}
	return true
}

// localIP reports an error unless ip is an address this host can send
// from: a probe bound to another one would fail every check.
func localIP(ip net.IP) error {
	c, err := net.ListenPacket("udp", net.JoinHostPort(ip.String(), "0"))
	if err != nil {
		return err
	}
	return c.Close()
}
