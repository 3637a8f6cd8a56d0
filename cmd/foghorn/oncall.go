package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"time"

	"foghorn/configs"
	"foghorn/escalation"
)

// cmdOncall prints who is on call now in each rotation and the next
// handoffs, from the config. Overrides live in the running foghorn's
// store; its API shows them (issue 7 adds `oncall` against the API).
func cmdOncall(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("oncall", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "config file (TOML)")
	url := fs.String("url", os.Getenv("FOGHORN_URL"), "ask a running foghorn (its overrides count) instead of reading -config")
	next := fs.Int("next", 3, "how many handoffs to show after the current shift")
	at := fs.String("at", "", "show the rotation at this time (RFC 3339) instead of now")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *url != "" {
		return oncallFromAPI(*url, *next, stdout, stderr)
	}
	if *path == "" {
		fmt.Fprintln(stderr, "usage: foghorn oncall -config FILE [-next 3] [-at 2026-12-24T09:00:00+01:00]   or   foghorn oncall -url URL")
		return 2
	}
	cfg, err := configs.Load(*path)
	var ps configs.Problems
	if errors.As(err, &ps) {
		fmt.Fprintln(stderr, ps.Error())
		return 1
	} else if err != nil {
		fmt.Fprintln(stderr, "foghorn oncall:", err)
		return 1
	}
	now := time.Now()
	if *at != "" {
		if now, err = time.Parse(time.RFC3339, *at); err != nil {
			fmt.Fprintf(stderr, "foghorn oncall: -at %q: write it like 2026-12-24T09:00:00+01:00\n", *at)
			return 2
		}
	}
	if len(cfg.Rotations) == 0 {
		fmt.Fprintln(stdout, "no rotations in", *path)
	}
	for i := range cfg.Rotations {
		ro := &cfg.Rotations[i]
		shifts, err := escalation.Shifts(ro, now, *next+1)
		if err != nil {
			fmt.Fprintln(stderr, "foghorn oncall:", err)
			return 1
		}
		loc, _ := time.LoadLocation(ro.TimeZone)
		fmt.Fprintf(stdout, "%s (%s):\n", ro.Name, ro.TimeZone)
		for j, s := range shifts {
			label := "  next"
			if j == 0 {
				label = "  now "
			}
			until := "no handoff"
			if !s.End.IsZero() {
				until = "until " + s.End.In(loc).Format("Mon 2006-01-02 15:04 MST")
			}
			fmt.Fprintf(stdout, "%s %-12s %s\n", label, s.Person, until)
		}
	}
	return 0
}

// oncallFromAPI asks a running foghorn, whose answer includes overrides.
func oncallFromAPI(base string, next int, stdout, stderr io.Writer) int {
	c := &client{base: base, token: os.Getenv("FOGHORN_API_TOKEN"), http: &http.Client{Timeout: 15 * time.Second}}
	var rots map[string][]escalation.Shift
	if err := c.do("GET", fmt.Sprintf("/api/v1/oncall?next=%d", next), nil, &rots); err != nil {
		fmt.Fprintln(stderr, "foghorn oncall:", err)
		return 1
	}
	names := make([]string, 0, len(rots))
	for n := range rots {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(stdout, "%s:\n", n)
		for j, s := range rots[n] {
			label := "  next"
			if j == 0 {
				label = "  now "
			}
			until := "no handoff"
			if !s.End.IsZero() {
				until = "until " + s.End.Local().Format("Mon 2006-01-02 15:04 MST")
			}
			fmt.Fprintf(stdout, "%s %-12s %s\n", label, s.Person, until)
		}
	}
	return 0
}
