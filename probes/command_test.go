package probes

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"foghorn/configs"
)

const pluginDir = "/usr/lib/nagios/plugins"

func needPlugin(t *testing.T, name string) string {
	t.Helper()
	p := filepath.Join(pluginDir, name)
	if _, err := os.Stat(p); err != nil {
		missingPeer(t, "%s is missing (Debian package monitoring-plugins-basic)", p)
	}
	return p
}

func commandTarget(timeout time.Duration, argv ...string) *configs.Target {
	tg := probeTarget("command", "", timeout)
	tg.Command = &configs.Command{Argv: argv}
	return tg
}

// pluginScript writes an executable shell script into a test directory.
func pluginScript(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "plugin.sh")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCommandDummy(t *testing.T) {
	t.Parallel()
	dummy := needPlugin(t, "check_dummy")
	cases := []struct {
		code   string
		status Status
		msg    string
	}{
		{"0", OK, "OK: all good"},
		{"1", Warning, "WARNING: all good"},
		{"2", Critical, "CRITICAL: all good"},
		{"3", Unknown, "UNKNOWN: all good"},
		{"7", Unknown, "UNKNOWN: Status 7 is not a supported error state"},
	}
	for _, c := range cases {
		t.Run(c.code, func(t *testing.T) {
			t.Parallel()
			r := probeCommand(context.Background(), commandTarget(5*time.Second, dummy, c.code, "all good"), nil)
			if r.Status != c.status || r.Msg != c.msg {
				t.Fatalf("got %v %q, want %v %q", r.Status, r.Msg, c.status, c.msg)
			}
		})
	}
}

func TestCommandCheckTCP(t *testing.T) {
	t.Parallel()
	checkTCP := needPlugin(t, "check_tcp")
	_, port, _ := strings.Cut(bannerServer(t), ":")
	r := probeCommand(context.Background(), commandTarget(5*time.Second, checkTCP, "-H", "127.0.0.1", "-p", port), nil)
	if r.Status != OK || !strings.HasPrefix(r.Msg, "TCP OK") || strings.Contains(r.Msg, "|") {
		t.Fatalf("got %v %q", r.Status, r.Msg)
	}
	if len(r.Perf) != 1 || r.Perf[0].Label != "time" || r.Perf[0].Unit != "s" {
		t.Errorf("perf = %+v, want check_tcp's time in s", r.Perf)
	}

	_, closed, _ := strings.Cut(closedPort(t), ":")
	r = probeCommand(context.Background(), commandTarget(5*time.Second, checkTCP, "-H", "127.0.0.1", "-p", closed), nil)
	if r.Status != Critical || !strings.Contains(r.Msg, "Connection refused") {
		t.Fatalf("got %v %q", r.Status, r.Msg)
	}
}

func TestCommandOutput(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, body string
		status     Status
		msg        string
		perf       []Perf
	}{
		{
			"long output and perfdata on several lines",
			`echo "DISK OK - free space: / 3326 MB (56%); | /=2643MB;5948;5958;0;5968"
echo "/ 15272 MB (77%);"
echo "/boot 68 MB (69%); | /boot=68MB;88;93;0;98"
echo "'/var/log files'=818MB;970;975;0;980 bogus=;; load=0,5"
exit 0`,
			OK, "DISK OK - free space: / 3326 MB (56%);",
			[]Perf{{"/", 2643, "MB"}, {"/boot", 68, "MB"}, {"/var/log files", 818, "MB"}, {"load", 0.5, ""}},
		},
		{"no output", "exit 2", Critical, "exited 2 with no output", nil},
		{"stderr only", "echo 'cannot read config' >&2; exit 3", Unknown, "exited 3 with no output (stderr: cannot read config)", nil},
		{"killed by a signal", "kill -9 $$", Unknown, "was killed by signal 9 (killed) with no output", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			r := probeCommand(context.Background(), commandTarget(5*time.Second, pluginScript(t, c.body)), nil)
			if r.Status != c.status || !strings.Contains(r.Msg, c.msg) {
				t.Fatalf("got %v %q, want %v containing %q", r.Status, r.Msg, c.status, c.msg)
			}
			if len(r.Perf) != len(c.perf) {
				t.Fatalf("perf = %+v, want %+v", r.Perf, c.perf)
			}
			for i := range c.perf {
				if r.Perf[i] != c.perf[i] {
					t.Errorf("perf[%d] = %+v, want %+v", i, r.Perf[i], c.perf[i])
				}
			}
		})
	}
}

// TestCommandEnv: a plugin must not see our secrets. Not parallel: it
// sets an environment variable.
func TestCommandEnv(t *testing.T) {
	t.Setenv("FOGHORN_TWILIO_AUTH_TOKEN", "do-not-leak")
	plugin := pluginScript(t, `echo "OK - $(env | grep -c FOGHORN_) foghorn vars, LC_ALL=$LC_ALL, PATH set: ${PATH:+yes}"`)
	r := probeCommand(context.Background(), commandTarget(5*time.Second, plugin), nil)
	if r.Status != OK || r.Msg != "OK - 0 foghorn vars, LC_ALL=C, PATH set: yes" {
		t.Fatalf("got %v %q", r.Status, r.Msg)
	}
}

func TestCommandCannotRun(t *testing.T) {
	t.Parallel()
	for _, argv := range [][]string{{"/nonexistent/check_foo"}, {filepath.Join(t.TempDir())}} {
		r := probeCommand(context.Background(), commandTarget(time.Second, argv...), nil)
		if r.Status != Unknown || !strings.Contains(r.Msg, "cannot run "+argv[0]) {
			t.Errorf("%v: got %v %q", argv, r.Status, r.Msg)
		}
	}
	for _, tg := range []*configs.Target{commandTarget(time.Second), probeTarget("command", "", time.Second)} {
		if r := probeCommand(context.Background(), tg, nil); r.Status != Unknown || !strings.Contains(r.Msg, "command.argv is empty") {
			t.Errorf("got %v %q", r.Status, r.Msg)
		}
	}
}

// TestCommandTimeoutKillsGroup runs a plugin that hangs in a child
// process: on timeout the whole process group must die, leaving no
// orphaned sleep behind.
func TestCommandTimeoutKillsGroup(t *testing.T) {
	t.Parallel()
	pidFile := filepath.Join(t.TempDir(), "child.pid")
	plugin := pluginScript(t, "echo 'checking slowly'\nsleep 30 &\necho $! > "+pidFile+"\nwait\n")
	start := time.Now()
	r := probeCommand(context.Background(), commandTarget(500*time.Millisecond, plugin), nil)
	took := time.Since(start)
	if r.Status != Critical || r.Msg != plugin+" timed out after 500ms; killed its process group (said: checking slowly)" {
		t.Fatalf("got %v %q", r.Status, r.Msg)
	}
	if took > 1500*time.Millisecond {
		t.Errorf("took %s, want about the 500ms timeout", took)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	waitGone(t, pid)
}

// TestCommandLeftoversKilled: a plugin that exits but leaves a child
// running in its group must not leave it behind either.
func TestCommandLeftoversKilled(t *testing.T) {
	t.Parallel()
	pidFile := filepath.Join(t.TempDir(), "child.pid")
	plugin := pluginScript(t, "sleep 30 >/dev/null 2>&1 &\necho $! > "+pidFile+"\necho 'OK - done'\nexit 0\n")
	r := probeCommand(context.Background(), commandTarget(5*time.Second, plugin), nil)
	if r.Status != OK || r.Msg != "OK - done" {
		t.Fatalf("got %v %q", r.Status, r.Msg)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	waitGone(t, pid)
}

// TestCommandEscapedChild: a child that left the group with setsid keeps
// the output pipe open; the probe must still return soon after the plugin
// exits, with the plugin's verdict.
func TestCommandEscapedChild(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("setsid"); err != nil {
		t.Skip("setsid not installed")
	}
	pidFile := filepath.Join(t.TempDir(), "child.pid")
	plugin := pluginScript(t, "setsid sleep 5 &\necho $! > "+pidFile+"\necho 'OK - fine'\nexit 0\n")
	start := time.Now()
	r := probeCommand(context.Background(), commandTarget(5*time.Second, plugin), nil)
	if b, err := os.ReadFile(pidFile); err == nil {
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	if r.Status != OK || r.Msg != "OK - fine" {
		t.Fatalf("got %v %q", r.Status, r.Msg)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("took %s: the escaped child's pipe held the probe", took)
	}
}

// waitGone waits until pid no longer runs (gone or a zombie that init has
// yet to reap).
func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil || strings.Contains(string(stat), ") Z ") {
			return
		}
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("child %d still alive after the plugin was done: %s", pid, stat)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
