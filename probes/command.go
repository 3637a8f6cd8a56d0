package probes

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"foghorn/configs"
)

// maxOutput caps what a plugin may print; Nagios itself keeps less.
const maxOutput = 64 << 10

// probeCommand runs a Nagios plugin: exit 0 OK, 1 WARNING, 2 CRITICAL,
// anything else UNKNOWN; the first line up to '|' is the message, and
// perfdata comes after '|' on the first line and in the long output.
//
// The plugin runs in its own process group, and the whole group is
// killed on timeout and again once the plugin exits: a plugin's children
// (ssh, snmpget, a stuck sleep) must not outlive the check and pile up
// across 10,000 runs. A timeout is Critical, as in Nagios 4.
func probeCommand(ctx context.Context, t *configs.Target, _ *Memory) Result {
	start := time.Now()
	ctx, cancel := bound(ctx, t)
	defer cancel()
	if t.Command == nil || len(t.Command.Argv) == 0 || t.Command.Argv[0] == "" {
		return unknown(t, start, "config: command.argv is empty")
	}
	argv := t.Command.Argv
	var stdout, stderr capped
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Env = pluginEnv()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	// A grandchild that left the group (setsid) could hold our pipes open;
	// stop waiting for its output shortly after the plugin is gone.
	cmd.WaitDelay = 500 * time.Millisecond

	err := cmd.Run()
	if cmd.Process != nil {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // leftovers; ESRCH when none
	}
	var exit *exec.ExitError
	switch {
	case err != nil && ctx.Err() != nil:
		return fail(t, start, "%s timed out after %s; killed its process group%s",
			argv[0], budget(ctx), firstLine(" (said: %s)", stdout.String(), stderr.String()))
	case err != nil && !errors.As(err, &exit) && !errors.Is(err, exec.ErrWaitDelay):
		return unknown(t, start, "cannot run %s: %v", argv[0], err)
	}

	code := cmd.ProcessState.ExitCode()
	status := Unknown
	if code >= 0 && code <= 2 {
		status = Status(code)
	}
	first, long, _ := strings.Cut(stdout.String(), "\n")
	msg, perf, _ := strings.Cut(first, "|")
	if _, more, ok := strings.Cut(long, "|"); ok {
		perf += " " + more
	}
	msg = strings.TrimSpace(msg)
	if msg == "" {
		how := fmt.Sprintf("exited %d", code)
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			how = fmt.Sprintf("was killed by signal %d (%v)", int(ws.Signal()), ws.Signal())
		}
		msg = fmt.Sprintf("%s %s with no output%s", argv[0], how, firstLine(" (stderr: %s)", stderr.String()))
	}
	return finish(t, start, status, msg, parsePerfdata(perf)...)
}

// pluginEnv is the environment a plugin gets: the basics it needs and
// nothing else, since ours may carry secrets (FOGHORN_TWILIO_AUTH_TOKEN).
// LC_ALL=C keeps decimal points in perfdata, as Nagios does.
func pluginEnv() []string {
	env := []string{"LC_ALL=C"}
	for _, k := range []string{"PATH", "HOME", "USER", "LOGNAME", "TMPDIR", "TZ"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		} else if k == "PATH" {
			env = append(env, "PATH=/usr/local/bin:/usr/bin:/bin")
		}
	}
	return env
}

// firstLine formats the first non-empty line among outs, or returns "".
func firstLine(format string, outs ...string) string {
	for _, o := range outs {
		if l, _, _ := strings.Cut(strings.TrimSpace(o), "\n"); l != "" {
			return fmt.Sprintf(format, l)
		}
	}
	return ""
}

// capped keeps the first maxOutput bytes and discards the rest, so a
// chatty plugin neither blocks on a full pipe nor grows our memory.
type capped struct{ b []byte }

func (c *capped) Write(p []byte) (int, error) {
	if room := maxOutput - len(c.b); room > 0 {
		c.b = append(c.b, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

func (c *capped) String() string { return string(c.b) }
