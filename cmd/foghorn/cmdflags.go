package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
)

// cmdFlags is the one flag set every subcommand uses, so they all keep
// the same conventions: -h prints the command's usage on stdout and exits
// 0, flags may stand before or after the arguments, a wrong number of
// arguments prints the usage on stderr and exits 2.
type cmdFlags struct {
	*flag.FlagSet
	name           string
	stdout, stderr io.Writer
	rest           []string
}

// newFlags is the flag set of subcommand name, which must be in subcommands.
func newFlags(name string, stdout, stderr io.Writer) *cmdFlags {
	f := &cmdFlags{FlagSet: flag.NewFlagSet(name, flag.ContinueOnError), name: name, stdout: stdout, stderr: stderr}
	// parse says what went wrong, in its own words, and where the usage goes.
	f.SetOutput(io.Discard)
	f.Usage = func() {}
	return f
}

// parse reads the flags wherever they stand among args (Go's flag package
// alone stops at the first argument, and `foghorn ack 1 -config x` then
// ignored -config); after "--" everything is an argument. When ok is
// false the command returns code at once: 0 after -h, 2 after a bad flag
// or a wrong number of arguments, each with what to type.
func (f *cmdFlags) parse(args []string) (code int, ok bool) {
	sc := subcommands[f.name]
	f.rest = nil
	for {
		err := f.FlagSet.Parse(args)
		if errors.Is(err, flag.ErrHelp) {
			f.help(f.stdout)
			return 0, false
		}
		if err != nil {
			msg := err.Error()
			if flagName, undefined := strings.CutPrefix(msg, "flag provided but not defined: "); undefined {
				msg = "unknown flag " + flagName
			}
			fmt.Fprintf(f.stderr, "foghorn %s: %s\nusage: %s\n(foghorn help %s tells more)\n", f.name, msg, sc.line(f.name), f.name)
			return 2, false
		}
		left := f.FlagSet.Args()
		if n := len(args) - len(left); n > 0 && args[n-1] == "--" {
			f.rest = append(f.rest, left...)
			break
		}
		if len(left) == 0 {
			break
		}
		f.rest = append(f.rest, left[0])
		args = left[1:]
	}
	if len(f.rest) < sc.min || (sc.max >= 0 && len(f.rest) > sc.max) {
		fmt.Fprintf(f.stderr, "usage: %s\n(foghorn help %s tells more)\n", sc.line(f.name), f.name)
		return 2, false
	}
	return 0, true
}

// Args, NArg and Arg are the arguments parse found among the flags.
func (f *cmdFlags) Args() []string { return f.rest }

// NArg is the number of arguments.
func (f *cmdFlags) NArg() int { return len(f.rest) }

// Arg is the i'th argument, or "".
func (f *cmdFlags) Arg(i int) string {
	if i < 0 || i >= len(f.rest) {
		return ""
	}
	return f.rest[i]
}

// help writes the command's usage line, what it does and its flags.
func (f *cmdFlags) help(w io.Writer) {
	sc := subcommands[f.name]
	fmt.Fprintf(w, "usage: %s\n\n%s\n", sc.line(f.name), strings.TrimSpace(sc.about))
	n := 0
	f.VisitAll(func(*flag.Flag) { n++ })
	if n > 0 {
		fmt.Fprintln(w, "\nflags (before or after the arguments):")
		f.SetOutput(w)
		f.PrintDefaults()
		f.SetOutput(io.Discard)
	}
}

// subcommand is what -h and `foghorn help NAME` say about one command.
type subcommand struct {
	synopsis string // the usage line after "foghorn NAME"
	about    string
	min, max int // how many arguments it takes; max -1 is any number
}

func (sc subcommand) line(name string) string {
	return strings.TrimSpace("foghorn " + name + " " + sc.synopsis)
}

// cmdHelp is `foghorn help [NAME]`: NAME's help, or the overview.
func cmdHelp(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("help", stdout, stderr)
	if code, ok := fs.parse(args); !ok {
		return code
	}
	if fs.NArg() == 0 {
		fmt.Fprint(stdout, usage)
		return 0
	}
	name := fs.Arg(0)
	if _, ok := subcommands[name]; !ok {
		fmt.Fprintf(stderr, "foghorn help: no command %q; the commands are: %s\n", name, strings.Join(commandNames(), ", "))
		return 2
	}
	// The command's own -h, so help and -h cannot disagree.
	return cli([]string{name, "-h"}, strings.NewReader(""), stdout, stderr)
}

// commandNames lists the subcommands, sorted.
func commandNames() []string {
	names := make([]string, 0, len(subcommands))
	for n := range subcommands {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
