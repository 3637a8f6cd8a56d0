//go:build failpoints

// Package failpoint kills the process at named points, so the soak can
// SIGKILL foghorn exactly inside the claim → send → mark window instead of
// hoping a random kill lands there. Only a build with the failpoints tag
// (go build -tags failpoints) has them; in the production build Hit and
// HitIf are empty and inlined away.
//
// FOGHORN_FAILPOINT names the points to fire, comma-separated, each with
// the hit that fires it: "engine.before-mark:3" kills the process at the
// third time that point is reached, "pager.after-api" at the first.
package failpoint

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// Enabled reports whether this build has failpoints.
const Enabled = true

// Env is the variable read at start.
const Env = "FOGHORN_FAILPOINT"

var (
	mu     sync.Mutex
	armed  = parse(os.Getenv(Env)) // point -> hits left before it fires
	killed bool
)

func parse(s string) map[string]int {
	out := map[string]int{}
	for _, f := range strings.Split(s, ",") {
		name, count, _ := strings.Cut(strings.TrimSpace(f), ":")
		if name == "" {
			continue
		}
		n, err := strconv.Atoi(count)
		if err != nil || n < 1 {
			n = 1
		}
		out[name] = n
	}
	return out
}

// Hit kills the process with SIGKILL when name is armed and this is the
// hit that fires it. It says so on stderr first, so whoever runs the
// process knows the kill was the failpoint's.
func Hit(name string) {
	mu.Lock()
	defer mu.Unlock() // never reached when it fires
	n, ok := armed[name]
	if !ok || killed {
		return
	}
	if n > 1 {
		armed[name] = n - 1
		return
	}
	killed = true
	fmt.Fprintf(os.Stderr, "failpoint %s hit: SIGKILL\n", name)
	syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {} // the signal is on its way; nothing more of this process runs
}

// HitIf is Hit when cond holds: a point that only counts when there was
// something to lose (a claim that claimed nothing is not worth a kill).
func HitIf(cond bool, name string) {
	if cond {
		Hit(name)
	}
}
