package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ---- foghorn, run, killed and run again ----

// span is a stretch of time, open while to is zero.
type span struct{ from, to time.Time }

// death is how one run of foghorn ended before its time.
type death struct {
	at    time.Time
	how   string // "SIGKILL" (random), or the failpoint that fired
	armed string // the failpoint the run carried, if any
}

type foghorn struct {
	o       options
	ns      *netns
	cfg     string
	logPath string
	log     *os.File
	env     []string

	mu       sync.Mutex
	cmd      *exec.Cmd
	done     chan struct{}
	exitAt   time.Time // when the current run ended, once done is closed
	fired    string    // failpoint that said it fired, this run
	armed    string
	starts   int
	deaths   []death
	down     []span // foghorn not running (killed until running again)
	errors   int
	panics   int
	reloads  int // "config reloaded" lines
	refused  int // "config reload refused" lines
	lastErrs []string
}

// start runs foghorn, with failpoint ("name:count") armed if not empty,
// and returns once it logs "foghorn running".
func (f *foghorn) start(failpoint string) error {
	argv := f.ns.wrap([]string{f.o.bin, "run", "-config", f.cfg, "-log-format", "json"})
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), f.env...)
	if failpoint != "" {
		cmd.Env = append(cmd.Env, "FOGHORN_FAILPOINT="+failpoint)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start foghorn: %w", err)
	}
	ready, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		once := sync.Once{}
		for sc.Scan() {
			line := sc.Text()
			f.mu.Lock()
			fmt.Fprintln(f.log, line)
			var m struct{ Level, Msg string }
			json.Unmarshal([]byte(line), &m)
			switch {
			case m.Level == "ERROR":
				f.errors++
				if len(f.lastErrs) < 200 {
					f.lastErrs = append(f.lastErrs, m.Msg)
				}
			case strings.HasPrefix(line, "failpoint ") && strings.HasSuffix(line, " hit: SIGKILL"):
				f.fired = strings.TrimSuffix(strings.TrimPrefix(line, "failpoint "), " hit: SIGKILL")
			}
			switch m.Msg {
			case "config reloaded":
				f.reloads++
			case "config reload refused; the running config stays in force":
				f.refused++
			}
			if strings.HasPrefix(line, "panic:") || strings.Contains(line, "BUG") || strings.HasPrefix(line, "fatal error:") {
				f.panics++
			}
			f.mu.Unlock()
			if m.Msg == "foghorn running" {
				once.Do(func() { close(ready) })
			}
		}
		cmd.Wait()
		f.mu.Lock()
		f.exitAt = time.Now()
		f.mu.Unlock()
	}()
	f.mu.Lock()
	f.cmd, f.done, f.fired, f.armed, f.exitAt = cmd, done, "", failpoint, time.Time{}
	f.starts++
	f.mu.Unlock()
	select {
	case <-ready:
		f.mu.Lock()
		if n := len(f.down); n > 0 && f.down[n-1].to.IsZero() {
			f.down[n-1].to = time.Now()
		}
		f.mu.Unlock()
		return nil
	case <-done:
		f.mu.Lock()
		fired := f.fired
		f.mu.Unlock()
		if fired != "" {
			// The failpoint fired while starting up (a claim of pages
			// due since before the kill): a kill like any other.
			f.died("failpoint " + fired)
			return f.start("")
		}
		return fmt.Errorf("foghorn exited before it was running; see %s", f.logPath)
	case <-time.After(f.o.startTimeout):
		return fmt.Errorf("foghorn not running within %s; see %s", f.o.startTimeout, f.logPath)
	}
}

// died records the end of a run, at the moment the process ended.
func (f *foghorn) died(how string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := time.Now()
	if !f.exitAt.IsZero() {
		now = f.exitAt
	}
	f.deaths = append(f.deaths, death{at: now, how: how, armed: f.armed})
	f.down = append(f.down, span{from: now})
}

// exited is closed when the current run ends by itself (a failpoint).
func (f *foghorn) exited() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.done
}

// kill is the VPS losing power: SIGKILL, no shutdown. If a failpoint got
// there first, that is the death recorded.
func (f *foghorn) kill() (how string) {
	f.mu.Lock()
	cmd, done := f.cmd, f.done
	f.mu.Unlock()
	cmd.Process.Signal(syscall.SIGKILL)
	<-done
	f.mu.Lock()
	how = "SIGKILL"
	if f.fired != "" {
		how = "failpoint " + f.fired
	}
	f.mu.Unlock()
	f.died(how)
	return how
}

// reap records a run that ended by itself (its failpoint fired).
func (f *foghorn) reap() string {
	<-f.exited()
	f.mu.Lock()
	how := "exited by itself"
	if f.fired != "" {
		how = "failpoint " + f.fired
	}
	f.mu.Unlock()
	f.died(how)
	return how
}

func (f *foghorn) signal(sig syscall.Signal) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.cmd.Process.Signal(sig)
}

// stop is a clean shutdown, bounded.
func (f *foghorn) stop() error {
	f.mu.Lock()
	cmd, done := f.cmd, f.done
	f.mu.Unlock()
	if cmd == nil {
		return nil
	}
	select {
	case <-done:
		return fmt.Errorf("foghorn had already exited before the final stop")
	default:
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(f.o.grace):
		cmd.Process.Kill()
		<-done
		return fmt.Errorf("foghorn did not stop within %s of SIGTERM", f.o.grace)
	}
	if c := cmd.ProcessState.ExitCode(); c != 0 {
		return fmt.Errorf("foghorn exited %d after SIGTERM", c)
	}
	return nil
}

func (f *foghorn) downSpans() []span {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]span(nil), f.down...)
}

func (f *foghorn) deathList() []death {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]death(nil), f.deaths...)
}
