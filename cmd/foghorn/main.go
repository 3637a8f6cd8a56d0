// Command foghorn is the out-of-band watchdog and escalating pager.
//
//	foghorn run -config FILE      probe, decide, page
//	foghorn demo                  the same on the embedded demo config
//	foghorn check-config FILE     validate a config without running it
//	foghorn oncall -config FILE   who is on call now and next
//	foghorn version
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
  foghorn version

signals (run, demo): SIGHUP reloads the config (a bad one is refused and the
running config kept); SIGTERM or SIGINT shut down cleanly.
`

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
		return cmdRun(args[1:], stderr)
	case "demo":
		return cmdDemo(args[1:], stderr)
	case "check-config":
		return cmdCheck(args[1:], stdout, stderr)
	case "token":
		return cmdToken(args[1:], stdout, stderr)
	case "passwd":
		return cmdPasswd(args[1:], stdin, stdout, stderr)
	case "oncall":
		return cmdOncall(args[1:], stdout, stderr)
	case "audit":
		return cmdAudit(args[1:], stdout, stderr)
	case "status", "ack", "resolve", "escalate", "snooze", "silence", "override", "power", "test-page":
		return cmdClient(args[0], args[1:], stdout, stderr)
	case "version", "-version", "--version":
		fmt.Fprintln(stdout, "foghorn", version)
		return 0
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "foghorn: unknown command %q\n\n%s", args[0], usage)
	return 2
}
