package main

import (
	"errors"
	"fmt"
	"io"

	"foghorn/configs"
)

// cmdCheck validates a config and prints every problem at once. It never
// prints a secret: Problems carry file names and variable names only.
func cmdCheck(args []string, stdout, stderr io.Writer) int {
	if len(args) != 1 {
		fmt.Fprintln(stderr, "usage: foghorn check-config FILE")
		return 2
	}
	cfg, err := configs.LoadArmed(args[0]) // what run would refuse, check-config refuses
	var ps configs.Problems
	switch {
	case errors.As(err, &ps):
		fmt.Fprintln(stderr, ps.Error())
		fmt.Fprintf(stderr, "%s: %d problem(s); nothing was started\n", args[0], len(ps))
		return 1
	case err != nil:
		fmt.Fprintf(stderr, "foghorn: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "%s: ok: %d targets, %d groups, %d people, %d rotations, %d policies, %d maintenance windows\n",
		args[0], len(cfg.Targets), len(cfg.Groups), len(cfg.People), len(cfg.Rotations), len(cfg.Policies), len(cfg.Maintenance))
	if len(cfg.Targets) == 0 {
		fmt.Fprintf(stdout, "%s: no targets of its own: it pages for Alertmanager's alerts only (POST /api/v1/alertmanager)\n", args[0])
	}
	return 0
}
