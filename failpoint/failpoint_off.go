//go:build !failpoints

// Package failpoint kills the process at named points, so the soak can
// SIGKILL foghorn exactly inside the claim → send → mark window instead of
// hoping a random kill lands there. Only a build with the failpoints tag
// (go build -tags failpoints) has them; in the production build Hit and
// HitIf are empty and inlined away.
package failpoint

// Hit does nothing in a build without the failpoints tag.
func Hit(string) {}

// HitIf does nothing in a build without the failpoints tag.
func HitIf(bool, string) {}

// Enabled reports whether this build has failpoints.
const Enabled = false
