package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"

	"foghorn/cmd/foghorn/dashboard"
)

// cmdPasswd prints a password_hash line for a [[person]]: typed twice at
// a terminal, or read from standard input in a script.
func cmdPasswd(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if code, ok := newFlags("passwd", stdout, stderr).parse(args); !ok {
		return code
	}
	var pw string
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(stderr, "password: ")
		a, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			fmt.Fprintln(stderr, "foghorn passwd:", err)
			return 1
		}
		fmt.Fprint(stderr, "again: ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil || string(a) != string(b) {
			fmt.Fprintln(stderr, "foghorn passwd: the two passwords differ; nothing printed")
			return 1
		}
		pw = string(a)
	} else {
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && line == "" {
			fmt.Fprintln(stderr, "foghorn passwd: no password on standard input")
			return 1
		}
		pw = strings.TrimRight(line, "\r\n")
	}
	h, err := dashboard.HashPassword(pw)
	if err != nil {
		fmt.Fprintln(stderr, "foghorn passwd:", err)
		return 1
	}
	fmt.Fprintf(stdout, "password_hash = %q   # put this line in the person's [[person]] table\n", h)
	return 0
}
