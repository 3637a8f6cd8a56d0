package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A suite with a passing, a skipping and a failing test: the summary ends
// with the counts and the result, names the skipped test with its reason,
// shows the failing test's output (and not the passing one's), keeps
// everything in the log, and exits with go test's status.
func TestSummaryCountsSkipsAndEndsWithTheResult(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("go.mod", "module demo\n\ngo 1.22\n")
	write("demo_test.go", `package demo

import "testing"

func TestQuiet(t *testing.T)  { t.Log("quiet-output") }
func TestNoPeer(t *testing.T) { t.Skip("snmpd not installed") }
func TestBroken(t *testing.T) { t.Error("broken-output") }
`)
	logPath := filepath.Join(t.TempDir(), "sub", "test.log")
	var out, errOut bytes.Buffer
	wd, _ := os.Getwd()
	if err := os.Chdir(dir); err != nil {
		t.Fatal(err)
	}
	code := run([]string{"go", "test", "-count=1", "./..."}, logPath, &out, &errOut)
	os.Chdir(wd)
	got := out.String()
	if code != 1 {
		t.Errorf("exit %d, want 1 (a test failed)\n%s%s", code, got, errOut.String())
	}
	lines := strings.Split(strings.TrimSpace(got), "\n")
	if n := len(lines); n < 2 || lines[n-2] != "tests: 3 run, 1 passed, 1 failed, 1 skipped" || lines[n-1] != "FAIL" {
		t.Errorf("last lines are not the counts and the result:\n%s", got)
	}
	for _, want := range []string{"demo TestNoPeer: demo_test.go:6: snmpd not installed", "broken-output", "FAIL\tdemo"} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "quiet-output") {
		t.Errorf("a passing test's output was printed:\n%s", got)
	}
	log, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"quiet-output", "--- SKIP: TestNoPeer", "--- FAIL: TestBroken"} {
		if !strings.Contains(string(log), want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
}
