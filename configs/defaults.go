package configs

import (
	"path/filepath"
	"time"

	"github.com/BurntSushi/toml"
)

// Defaults an operator would pick. They are documented in example.toml; a
// change here is a change in behaviour for every site that relies on them.
const (
	DefaultListen   = "127.0.0.1:8080"
	DefaultDataDir  = "/var/lib/foghorn"
	DefaultAPIBase  = "https://api.twilio.com"
	DefaultInterval = 30 * time.Second
	DefaultTimeout  = 5 * time.Second
	DefaultRise     = 2
	DefaultFall     = 3
)

func orDuration(d *Duration, v time.Duration) {
	if !d.Set() {
		d.Duration = v
	}
}

func orInt(p *int, v int) {
	if *p == 0 {
		*p = v
	}
}

func orString[S ~string](p *S, v S) {
	if *p == "" {
		*p = v
	}
}

func setDefaults(c *Config, md toml.MetaData, dir string) {
	orString(&c.Server.Listen, DefaultListen)
	orString(&c.Server.DataDir, DefaultDataDir)
	if !filepath.IsAbs(c.Server.DataDir) {
		c.Server.DataDir = filepath.Join(dir, c.Server.DataDir)
	}
	defaultCluster(c)
	defaultTelegram(c)  // telegram.go
	defaultNtfy(c)      // ntfy.go
	defaultProviders(c) // providers.go
	if !c.Server.Retention.Set() {
		c.Server.Retention.Duration = DefaultRetention
	}

	tw := &c.Twilio
	orString(&tw.APIBase, DefaultAPIBase)
	orString(&tw.SimulatorListen, "127.0.0.1:0")
	orDuration(&tw.SMSValidity, 15*time.Minute)
	if !md.IsDefined("twilio", "machine_detection") {
		tw.MachineDetection = true
	}
	orInt(&tw.SMSPer15m, 5)
	orInt(&tw.CallsPer15m, 3)
	orInt(&c.SMTP.Port, 587)
	defaultPushover(c) // pushover.go

	sc := &c.SelfCheck
	orString(&sc.Kind, "icmp")
	orInt(&sc.MinUp, 1)
	orDuration(&sc.Interval, DefaultInterval)
	orDuration(&sc.Timeout, DefaultTimeout)
	orDuration(&sc.HeartbeatInterval, time.Minute)

	e := &c.Escalation
	orDuration(&e.AckTimeout, 2*time.Hour)
	orDuration(&e.StormWindow, time.Minute)
	orInt(&e.MaxPerHour, 20)
	orString(&e.VoiceMinSeverity, "critical")

	p := &c.Power
	orDuration(&p.ConfirmTimeout, 5*time.Minute)
	orInt(&p.PerHostPerHour, 2)
	orInt(&p.PerSitePerHour, 5)

	defaultLeases(c) // leases.go

	for i := range c.People {
		orString(&c.People[i].TimeZone, "UTC")
		orString(&c.People[i].Role, "responder")
	}
	for i := range c.Rotations {
		orString(&c.Rotations[i].TimeZone, "UTC")
	}
	for i := range c.Policies {
		for j := range c.Policies[i].Steps {
			s := &c.Policies[i].Steps[j]
			if len(s.Channels) == 0 {
				s.Channels = []Channel{SMS}
			}
		}
	}
	for i := range c.Targets {
		targetDefaults(&c.Targets[i])
	}
	for i := range c.Groups {
		g := &c.Groups[i]
		orString(&g.Severity, "critical")
	}
	for i := range c.Maintenance {
		orString(&c.Maintenance[i].TimeZone, "UTC")
	}
	for i := range c.APITokens {
		orString(&c.APITokens[i].Role, "responder")
	}
}

// defaultTimeout is short for the kinds that only wait for a handshake: a
// healthy host answers a ping or a SYN in well under a second even across
// the internet, and a silent host must be declared down within about 15 s
// (three timed-out probes with fall 3). Kinds that wait for content get
// longer.
func defaultTimeout(kind string) time.Duration {
	switch kind {
	case "icmp", "tcp", "dns":
		return 1500 * time.Millisecond
	case "ipmi", "command":
		return 10 * time.Second
	}
	return DefaultTimeout
}

func targetDefaults(t *Target) {
	interval := DefaultInterval
	if t.Kind == "ipmi" {
		interval = time.Minute // BMCs are slow and have few session slots
	}
	orDuration(&t.Interval, interval)
	if !t.Timeout.Set() {
		t.Timeout.Duration = min(defaultTimeout(t.Kind), t.Interval.Duration/2)
	}
	orInt(&t.Rise, DefaultRise)
	orInt(&t.Fall, DefaultFall)
	orString(&t.Severity, "critical")
	switch t.Kind {
	case "icmp":
		if t.ICMP == nil {
			t.ICMP = &ICMP{}
		}
		orInt(&t.ICMP.Count, 3)
		if t.ICMP.MaxLoss == 0 {
			t.ICMP.MaxLoss = 50
		}
	case "http":
		if t.HTTP == nil {
			t.HTTP = &HTTP{}
		}
		orString(&t.HTTP.Method, "GET")
		if t.HTTP.FollowRedirects == nil {
			yes := true
			t.HTTP.FollowRedirects = &yes
		}
		orDuration(&t.HTTP.CertExpiryWarn, 14*24*time.Hour)
	case "tls":
		if t.TLS == nil {
			t.TLS = &TLS{}
		}
		orDuration(&t.TLS.CertExpiryWarn, 14*24*time.Hour)
	case "dns":
		if t.DNS != nil {
			orString(&t.DNS.Type, "A")
		}
	case "snmp":
		if t.SNMP == nil {
			t.SNMP = &SNMP{}
		}
		orString(&t.SNMP.Version, "2c")
		if t.SNMP.DetectReboot == nil {
			yes := true
			t.SNMP.DetectReboot = &yes
		}
	case "heartbeat":
		if t.Heartbeat == nil {
			t.Heartbeat = &Heartbeat{}
		}
		orDuration(&t.Heartbeat.Grace, time.Minute)
	case "ipmi":
		if t.IPMI == nil {
			t.IPMI = &IPMI{}
		}
		orString(&t.IPMI.Interface, "lanplus")
		orInt(&t.IPMI.CipherSuite, 3)
		orInt(&t.IPMI.Port, 623)
	}
}
