// Command testsum runs `go test -json` and prints what a plain `go test`
// would (each package's result, the output of failed tests), keeps the
// verbose log in a file, and ends with how many tests ran, failed and
// skipped: a test that skips for a missing peer (snmpd, ipmi_sim, ...)
// says so only in verbose output, so without a count 35 tests can skip
// without a word. It exits with go test's status.
//
//	go run ./tools/testsum -log bin/test.log -- go test -race ./...
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

func main() {
	logPath := flag.String("log", "bin/test.log", "where the verbose output of every test goes")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: testsum [-log FILE] -- go test [flags] [packages]")
		flag.PrintDefaults()
	}
	flag.Parse()
	args := flag.Args()
	if len(args) < 2 {
		flag.Usage()
		os.Exit(2)
	}
	os.Exit(run(args, *logPath, os.Stdout, os.Stderr))
}

// run starts args with -json added after "test" and summarizes its output.
func run(args []string, logPath string, stdout, stderr io.Writer) int {
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
		fmt.Fprintf(stderr, "testsum: %v\n", err)
		return 1
	}
	logf, err := os.Create(logPath)
	if err != nil {
		fmt.Fprintf(stderr, "testsum: %v\n", err)
		return 1
	}
	defer logf.Close()

	cmdArgs := append([]string(nil), args[1:]...)
	if i := indexOf(cmdArgs, "test"); i >= 0 {
		cmdArgs = append(cmdArgs[:i+1], append([]string{"-json"}, cmdArgs[i+1:]...)...)
	}
	cmd := exec.Command(args[0], cmdArgs...)
	cmd.Stderr = stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		fmt.Fprintf(stderr, "testsum: %v\n", err)
		return 1
	}
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(stderr, "testsum: start %s: %v\n", args[0], err)
		return 1
	}
	s := newSummary(stdout, logf)
	s.read(out)
	code := 0
	if err := cmd.Wait(); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			fmt.Fprintf(stderr, "testsum: %v\n", err)
			return 1
		}
		code = ee.ExitCode()
	}
	if code == 0 && s.failed > 0 {
		code = 1
	}
	s.finish(logPath, code)
	return code
}

func indexOf(xs []string, x string) int {
	for i, v := range xs {
		if v == x {
			return i
		}
	}
	return -1
}

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Action  string
	Package string
	Test    string
	Output  string
}

type summary struct {
	out, log io.Writer
	// held is each running top-level test's output, printed only if it fails.
	held                      map[string][]string
	run, passed, failed, skip int
	subSkipped                int
	skipped                   []string // "pkg TestX: reason"
	reason                    map[string]string
}

func newSummary(out, log io.Writer) *summary {
	return &summary{out: out, log: log, held: map[string][]string{}, reason: map[string]string{}}
}

func (s *summary) read(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var e event
		if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &e) != nil {
			fmt.Fprintf(s.out, "%s\n", line) // not an event: go's own words
			fmt.Fprintf(s.log, "%s\n", line)
			continue
		}
		s.event(e)
	}
}

func (s *summary) event(e event) {
	key := e.Package + " " + e.Test
	top := e.Test != "" && !strings.Contains(e.Test, "/")
	topKey := key
	if i := strings.Index(e.Test, "/"); i >= 0 {
		topKey = e.Package + " " + e.Test[:i]
	}
	switch e.Action {
	case "output", "build-output":
		io.WriteString(s.log, e.Output)
		if e.Test == "" {
			if e.Output != "PASS\n" { // plain go test does not print it either
				io.WriteString(s.out, e.Output)
			}
			return
		}
		s.held[topKey] = append(s.held[topKey], e.Output)
		if t := strings.TrimSpace(e.Output); top && t != "" && !strings.HasPrefix(t, "---") && !strings.HasPrefix(t, "===") {
			s.reason[key] = t // the last thing a skipping test said is why
		}
	case "run":
		if top {
			s.run++
		}
	case "pass":
		if top {
			s.passed++
			delete(s.held, key)
		}
	case "skip":
		if !top {
			if e.Test != "" {
				s.subSkipped++
			}
			return
		}
		s.skip++
		r := s.reason[key]
		if r == "" {
			r = "(no reason given)"
		}
		s.skipped = append(s.skipped, fmt.Sprintf("%s %s: %s", e.Package, e.Test, r))
		delete(s.held, key)
	case "fail":
		if top {
			s.failed++
			s.flush(key)
		} else if e.Test == "" {
			// A package that died (timeout, panic) leaves tests without an
			// end: show what they said.
			var keys []string
			for k := range s.held {
				if strings.HasPrefix(k, e.Package+" ") {
					keys = append(keys, k)
				}
			}
			sort.Strings(keys)
			for _, k := range keys {
				s.flush(k)
			}
		}
	}
}

func (s *summary) flush(key string) {
	for _, o := range s.held[key] {
		io.WriteString(s.out, o)
	}
	delete(s.held, key)
}

// finish prints the skipped tests and the counts last, so the last lines
// are the suite's result.
func (s *summary) finish(logPath string, code int) {
	if len(s.skipped) > 0 {
		fmt.Fprintf(s.out, "skipped tests (the full log: %s):\n", logPath)
		for _, k := range s.skipped {
			fmt.Fprintf(s.out, "  %s\n", k)
		}
	}
	sub := ""
	if s.subSkipped > 0 {
		sub = fmt.Sprintf(" (and %d subtests skipped)", s.subSkipped)
	}
	fmt.Fprintf(s.out, "tests: %d run, %d passed, %d failed, %d skipped%s\n", s.run, s.passed, s.failed, s.skip, sub)
	if code == 0 {
		fmt.Fprintln(s.out, "PASS")
	} else {
		fmt.Fprintln(s.out, "FAIL")
	}
}
