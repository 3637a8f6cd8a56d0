package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strconv"
	"time"

	"foghorn/configs"
	"foghorn/escalation"
	"foghorn/store"
)

// cmdOncall prints who is on call now in each rotation and the next
// handoffs. With -config it reads the rotations from the config and the
// overrides from the store in its data_dir, read-only and without the
// data dir's lock (as `foghorn audit` does), so it agrees with the API,
// the dashboard and the SMS ONCALL reply; when the store cannot be read
// it says that overrides are not shown. With -url it asks a running
// foghorn.
func cmdOncall(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("oncall", stdout, stderr)
	path := fs.String("config", "", "config file (TOML); overrides are read from the store in its data_dir")
	base := fs.String("url", "", "ask a running foghorn instead of reading -config (default FOGHORN_URL when no -config)")
	next := fs.Int("next", 3, "how many handoffs to show after the current shift")
	at := fs.String("at", "", "show the rotation at this time (RFC 3339) instead of now")
	if code, ok := fs.parse(args); !ok {
		return code
	}
	when := time.Now()
	if *at != "" {
		var err error
		if when, err = time.Parse(time.RFC3339, *at); err != nil {
			fmt.Fprintf(stderr, "foghorn oncall: -at %q: write it like 2026-12-24T09:00:00+01:00\n", *at)
			return 2
		}
	}
	if *base == "" && *path == "" {
		*base = os.Getenv("FOGHORN_URL")
	}
	if *base != "" {
		return oncallFromAPI(*base, *next, *at, stdout, stderr)
	}
	if *path == "" {
		fmt.Fprintln(stderr, "usage: foghorn oncall -config FILE [-next 3] [-at 2026-12-24T09:00:00+01:00]   or   foghorn oncall -url URL [-next 3] [-at ...]")
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
	if len(cfg.Rotations) == 0 {
		fmt.Fprintln(stdout, "no rotations in", *path)
		return 0
	}
	ovs, err := readOverrides(cfg.Server.DataDir, when)
	if err != nil {
		// Said on stdout, beside the answer it qualifies: whoever reads
		// the rotation must know an override could change it.
		fmt.Fprintf(stdout, "overrides NOT shown: %v\n  (the running foghorn knows them: foghorn oncall -url URL)\n", err)
	}
	rots, err := escalation.Rotas(cfg.Rotations, ovs, when, *next+1)
	if err != nil {
		fmt.Fprintln(stderr, "foghorn oncall:", err)
		return 1
	}
	printOncall(stdout, rots)
	return 0
}

// readOverrides reads the overrides in force at t or later from the
// store in dir without writing to it.
func readOverrides(dir string, t time.Time) ([]escalation.Override, error) {
	db, err := store.OpenReadOnly(dir)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return escalation.Overrides(ctx, db, t)
}

// oncallFromAPI asks a running foghorn, whose answer includes overrides.
func oncallFromAPI(base string, next int, at string, stdout, stderr io.Writer) int {
	c := &client{base: base, token: os.Getenv("FOGHORN_API_TOKEN"), http: &http.Client{Timeout: 15 * time.Second}}
	q := url.Values{"next": {strconv.Itoa(next)}}
	if at != "" {
		q.Set("at", at)
	}
	var rots map[string][]escalation.Shift
	if err := c.do("GET", "/api/v1/oncall?"+q.Encode(), nil, &rots); err != nil {
		fmt.Fprintln(stderr, "foghorn oncall:", err)
		return 1
	}
	printOncall(stdout, rots)
	return 0
}

// printOncall prints each rotation's stretches in the rotation's zone,
// whichever way they were found, so -config and -url print alike.
func printOncall(w io.Writer, rots map[string][]escalation.Shift) {
	names := make([]string, 0, len(rots))
	for n := range rots {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		shifts := rots[n]
		zone := ""
		if len(shifts) > 0 {
			zone = shifts[0].Zone
		}
		loc, err := time.LoadLocation(zone)
		if err != nil || zone == "" {
			loc = time.Local
		}
		fmt.Fprintf(w, "%s (%s):\n", n, loc)
		for j, s := range shifts {
			label := "  next"
			if j == 0 {
				label = "  now "
			}
			who := s.Person
			if s.Covering != "" {
				who += " (covering " + s.Covering + ")"
			}
			until := "no handoff"
			if !s.End.IsZero() {
				until = "until " + s.End.In(loc).Format("Mon 2006-01-02 15:04 MST")
			}
			fmt.Fprintf(w, "%s %-12s %s\n", label, who, until)
		}
	}
}
