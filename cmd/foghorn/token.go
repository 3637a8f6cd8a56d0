package main

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"regexp"
)

var tokenNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

// cmdToken makes a new API token: the token itself is printed once, for
// the script that will use it; the config gets only its SHA-256.
func cmdToken(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("token", stdout, stderr)
	if code, ok := fs.parse(args); !ok {
		return code
	}
	args = fs.Args()
	if !tokenNameRE.MatchString(args[0]) {
		fmt.Fprintf(stderr, "foghorn token: name %q: use letters, digits, - _ . (starting with a letter or digit)\n", args[0])
		return 2
	}
	role := "responder"
	if len(args) == 2 {
		if args[1] != "viewer" && args[1] != "responder" && args[1] != "lease" {
			fmt.Fprintln(stderr, "foghorn token: the role is viewer, responder or lease")
			return 2
		}
		role = args[1]
	}
	b := make([]byte, 24)
	rand.Read(b)
	tok := hex.EncodeToString(b)
	sum := sha256.Sum256([]byte(tok))
	fmt.Fprintf(stderr, "token (shown once; give it to the script as FOGHORN_API_TOKEN):\n%s\n\nadd to the config, then reload:\n", tok)
	fmt.Fprintf(stdout, "[[api_token]]\nname = %q\nsha256 = %q\nrole = %q\n", args[0], hex.EncodeToString(sum[:]), role)
	return 0
}
