package configs

import (
	"fmt"
	"sort"
	"strings"
)

// Problem is one thing wrong with a config: where, what, and how to fix it.
type Problem struct {
	File string
	Line int    // 0 when the decoder could not tell
	Key  string // as a person reads it: `target "web1" timeout`
	Msg  string
	Fix  string
	// Warning marks a problem that does not stop the config (a secret
	// file others can read): check-config prints it, run logs it.
	Warning bool
}

func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		fmt.Fprintf(&b, ":%d", p.Line)
	}
	b.WriteString(": ")
	if p.Key != "" {
		b.WriteString(p.Key + ": ")
	}
	if p.Warning {
		b.WriteString("warning: ")
	}
	b.WriteString(p.Msg)
	if p.Fix != "" {
		b.WriteString("; fix: " + p.Fix)
	}
	return b.String()
}

// Problems is every problem found in one file. check-config prints them all
// at once so a user fixes a config in one pass, not one error per run.
type Problems []Problem

func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

func (ps Problems) sorted() Problems {
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].Line < ps[j].Line })
	return ps
}

// report collects problems for one file, finding each key's line.
type report struct {
	file  string
	lines lineIndex
	ps    Problems
	ws    Problems // warnings
	// inline holds the *_file paths ("twilio.auth_token_file") whose
	// secret was written inline instead: that is already reported, so
	// "no secret given" is not said again.
	inline map[string]bool
}

// add records a problem at path (e.g. "target[2].timeout"); key is the
// human name printed before the message.
func (r *report) add(path, key, fix, format string, args ...any) {
	r.ps = append(r.ps, Problem{
		File: r.file,
		Line: r.lines.line(path),
		Key:  key,
		Msg:  fmt.Sprintf(format, args...),
		Fix:  fix,
	})
}

// warn records a warning at path, like add.
func (r *report) warn(path, key, fix, format string, args ...any) {
	r.ws = append(r.ws, Problem{
		File:    r.file,
		Line:    r.lines.line(path),
		Key:     key,
		Msg:     fmt.Sprintf(format, args...),
		Fix:     fix,
		Warning: true,
	})
}

// Count says how many of ps stop the config and how many only warn.
func (ps Problems) Count() (problems, warnings int) {
	for _, p := range ps {
		if p.Warning {
			warnings++
		} else {
			problems++
		}
	}
	return problems, warnings
}
