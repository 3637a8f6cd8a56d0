// Command foghorn is the out-of-band watchdog and escalating pager.
//
//	foghorn run -config FILE      probe, decide, page
//	foghorn demo                  the same on the embedded demo config
//	foghorn check-config FILE     validate a config without running it
//	foghorn oncall -config FILE   who is on call now and next
//	foghorn version
//	foghorn help [COMMAND]        one command's usage and flags (also: foghorn COMMAND -h)
package main

import (
	"fmt"
	"io"
	"os"
)

// version is stamped by `make build` (-ldflags "-X main.version=...").
var version = "dev"

const usage = `foghorn: out-of-band watchdog and escalating pager

usage:
  foghorn run -config FILE [-log-format text|json] [-log-level info]
  foghorn demo [-data-dir DIR]      run on the embedded demo config (no accounts needed)
  foghorn check-config FILE         print every problem in FILE, exit 1 if any
  foghorn oncall -config FILE       who is on call now, and the next handoffs
  foghorn passwd                    hash a dashboard password for a [[person]]
  foghorn token NAME [viewer]       a new API token; the config keeps only its SHA-256
  foghorn cluster-key FILE          a new gossip key for [cluster] key_file (never overwrites)
  foghorn vcard PERSON -config FILE a contact card with every number foghorn calls from (emergency bypass)
  foghorn audit -config FILE [-since 24h] [-target T] [-who W]   who did what (reads the store; works while foghorn is down)

talking to a running foghorn (flags: -url U or FOGHORN_URL, -config FILE, -as NOTE;
token from FOGHORN_API_TOKEN or the config's api_token_file; acts are recorded
under the token's name, -as only adds a note):
  foghorn status                    open incidents with their timelines
  foghorn ack|resolve|escalate ID
  foghorn snooze ID 30m
  foghorn silence TARGET|MATCHER... 2h
  foghorn override ABSENT COVER UNTIL
  foghorn power TARGET cycle [force] [dry-run]   BMC power action, behind the seatbelt
  foghorn test-page PERSON [3m]     a real SMS and call; says whether it was answered (run it weekly)
  foghorn lease HOST --for 20m --reason R [--wait 30m]   may HOST go down now? (exit 0 granted, 3 refused)
  foghorn lease list | release ID | extend ID --for 10m
  foghorn version
  foghorn help COMMAND              one command's usage and flags (or: foghorn COMMAND -h)

flags may stand before or after a command's arguments.

signals (run, demo): SIGHUP reloads the config (a bad one is refused and the
running config kept); SIGTERM or SIGINT shut down cleanly.
`

// subcommands is what each command's -h and `foghorn help NAME` print.
var subcommands = map[string]subcommand{
	"run": {synopsis: "-config FILE [-log-format text|json] [-log-level info]", about: `
Probe the targets, decide, page: the daemon. SIGHUP reloads the config (a bad
one is refused and the running config kept); SIGTERM or SIGINT shut down cleanly.`},
	"demo": {synopsis: "[-data-dir DIR] [-story=false]", about: `
Run on the embedded demo config: simulated phones, no accounts needed.`},
	"check-config": {synopsis: "FILE", min: 1, max: 1, about: `
Print every problem in FILE with its line and the fix; exit 1 if there is any.`},
	"oncall": {synopsis: "-config FILE [-next 3] [-at TIME]   or   foghorn oncall -url URL [-next 3] [-at TIME]", about: `
Who is on call now (or at -at, an RFC 3339 time) in each rotation, and the
next handoffs; overrides count.`},
	"passwd": {about: `
Hash a dashboard password for a [[person]]'s password_hash: typed twice at a
terminal, or one line on standard input.`},
	"token": {synopsis: "NAME [viewer|responder|lease]", min: 1, max: 2, about: `
A new API token for a script (NAME: letters, digits, - _ .). The token is printed
once on stderr; the [[api_token]] table for the config, with only its SHA-256,
on stdout. The role is responder (may act) unless viewer (may only read) or lease
(may read and take maintenance leases, nothing else).`},
	"cluster-key": {synopsis: "FILE", min: 1, max: 1, about: `
Write a new gossip key for [cluster] key_file to FILE (32 random bytes, base64,
mode 0600). An existing FILE is never overwritten: copy the one key to every node.`},
	"vcard": {synopsis: "[-config FILE] PERSON", min: 1, max: 1, about: `
Print a vCard 3.0 "foghorn pager" with every number foghorn calls and texts
from ([twilio] from and each [[provider]]'s), for PERSON to save as a contact
and mark as an emergency bypass (README "Emergency bypass").`},
	"audit": {synopsis: "[-config FILE | -data-dir DIR | -url URL] [-since 24h] [-target NAME] [-who NAME] [-limit 200] [-json]", about: `
Who did what, when, and why it was allowed or refused. With -config or -data-dir
it reads the store itself (works while foghorn is down); with -url it asks a
running foghorn.`},
	"status": {synopsis: clientFlagsSynopsis, about: `
Open incidents with their timelines, from a running foghorn.` + clientAbout},
	"ack": {synopsis: clientFlagsSynopsis + " [-as NOTE] ID", min: 1, max: 1, about: `
Acknowledge incident ID: paging stops for everyone. If it was already acked,
says by whom.` + clientAbout},
	"resolve": {synopsis: clientFlagsSynopsis + " [-as NOTE] ID", min: 1, max: 1, about: `
Close incident ID by hand.` + clientAbout},
	"escalate": {synopsis: clientFlagsSynopsis + " [-as NOTE] ID", min: 1, max: 1, about: `
Page the next step of incident ID's policy now.` + clientAbout},
	"snooze": {synopsis: clientFlagsSynopsis + " [-as NOTE] ID DURATION", min: 2, max: 2, about: `
Acknowledge incident ID for DURATION (30m, 2h), then page again.` + clientAbout},
	"silence": {synopsis: clientFlagsSynopsis + " [-as NOTE] TARGET|MATCHER... DURATION", min: 2, max: -1, about: `
Page nobody for matching incidents for DURATION. A bare word is a target name;
a matcher is label=value, label!=value or label=~regexp.` + clientAbout},
	"override": {synopsis: clientFlagsSynopsis + " [-as NOTE] ABSENT COVER UNTIL", min: 3, max: 3, about: `
COVER takes ABSENT's shifts until UNTIL, an RFC 3339 time like
2026-12-01T09:00:00+01:00.` + clientAbout},
	"power": {synopsis: clientFlagsSynopsis + " [-as NOTE] TARGET status|on|off|soft|reset|cycle [force] [dry-run]", min: 2, max: 4, about: `
A BMC power action on TARGET, behind the seatbelt: dry-run says what would
happen, force overrides a refusal that allows it.` + clientAbout},
	"test-page": {synopsis: clientFlagsSynopsis + " PERSON [WAIT]", min: 1, max: 2, about: `
A real SMS and call to PERSON; waits up to WAIT (default 3m) and says whether
it was answered. Run it weekly.` + clientAbout},
	"lease": {synopsis: clientFlagsSynopsis + " HOST -for 20m [-reason TEXT] [-wait 30m]   or   lease list | release ID | extend ID -for 10m", min: 1, max: 2, about: `
Ask for a maintenance lease on HOST: permission to take it down for a while.
Granted (exit 0) only while its groups keep min_up without it, within
max_concurrent, with the group's lease_requires targets OK, no critical
incident open in the group and no power action running there; refused (exit 3)
with the reason in words. -wait queues until it can be granted or the wait runs
out. While leased, HOST going down is recorded, not paged; back up, the lease
ends by itself; not back by its end, it pages. Exit 1 when foghorn cannot be
reached or the token is refused.` + clientAbout},
	"version": {about: "Print foghorn's version."},
	"help":    {synopsis: "[COMMAND]", max: 1, about: "Print the overview, or COMMAND's usage and flags."},
}

func main() {
	os.Exit(cli(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// cli runs one subcommand and returns the exit code.
func cli(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "run":
		return cmdRun(args[1:], stdout, stderr)
	case "demo":
		return cmdDemo(args[1:], stdout, stderr)
	case "check-config":
		return cmdCheck(args[1:], stdout, stderr)
	case "token":
		return cmdToken(args[1:], stdout, stderr)
	case "cluster-key":
		return cmdClusterKey(args[1:], stdout, stderr)
	case "passwd":
		return cmdPasswd(args[1:], stdin, stdout, stderr)
	case "oncall":
		return cmdOncall(args[1:], stdout, stderr)
	case "audit":
		return cmdAudit(args[1:], stdout, stderr)
	case "vcard":
		return cmdVcard(args[1:], stdout, stderr)
	case "status", "ack", "resolve", "escalate", "snooze", "silence", "override", "power", "test-page":
		return cmdClient(args[0], args[1:], stdout, stderr)
	case "lease":
		return cmdLease(args[1:], stdout, stderr)
	case "version":
		if code, ok := newFlags("version", stdout, stderr).parse(args[1:]); !ok {
			return code
		}
		fmt.Fprintln(stdout, "foghorn", version)
		return 0
	case "-version", "--version":
		fmt.Fprintln(stdout, "foghorn", version)
		return 0
	case "help":
		return cmdHelp(args[1:], stdout, stderr)
	case "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "foghorn: unknown command %q\n\n%s", args[0], usage)
	return 2
}
