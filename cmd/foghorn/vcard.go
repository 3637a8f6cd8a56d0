package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"foghorn/configs"
)

// cmdVcard prints a contact card with every number foghorn calls and texts
// from, for PERSON to save and mark as an emergency bypass contact: a page
// then rings through Do Not Disturb whichever provider carries it.
func cmdVcard(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("vcard", stdout, stderr)
	path := fs.String("config", "/etc/foghorn/foghorn.toml", "config file (TOML)")
	if code, ok := fs.parse(args); !ok {
		return code
	}
	name := fs.Args()[0]
	cfg, err := configs.Load(*path)
	var ps configs.Problems
	if errors.As(err, &ps) {
		fmt.Fprintln(stderr, ps.Error())
		return 1
	} else if err != nil {
		fmt.Fprintln(stderr, "foghorn vcard:", err)
		return 1
	}
	if cfg.Person(name) == nil {
		known := make([]string, len(cfg.People))
		for i, p := range cfg.People {
			known[i] = p.Name
		}
		fmt.Fprintf(stderr, "foghorn vcard: no person %q in %s; the people are: %s\n", name, *path, strings.Join(known, ", "))
		return 1
	}
	ids := callerIDs(cfg)
	if len(ids) == 0 {
		fmt.Fprintf(stderr, "foghorn vcard: %s sets no number foghorn calls from: configure [twilio] from or a [[provider]]\n", *path)
		return 1
	}
	io.WriteString(stdout, vcard(name, ids))
	return 0
}

// callerID is one number foghorn calls from and whose it is.
type callerID struct{ number, provider string }

// callerIDs are [twilio]'s number and each [[provider]]'s, once each, in
// the order they are tried.
func callerIDs(cfg *configs.Config) []callerID {
	var out []callerID
	for _, n := range cfg.CallerIDs() {
		who := "twilio"
		for _, p := range cfg.Providers {
			if p.From == n && n != cfg.Twilio.From {
				who = p.Name
			}
		}
		out = append(out, callerID{n, who})
	}
	return out
}

// vcard is a vCard 3.0 (RFC 2426) for foghorn's numbers. The format is a
// few lines of text, and no vCard library is among the project's
// dependencies: writing it by hand, with the escaping and CRLF line ends
// the RFC asks for, is smaller than adding one. Each number carries
// Apple's label (itemN.X-ABLabel) naming its provider, which Android
// ignores.
func vcard(person string, ids []callerID) string {
	var b strings.Builder
	line := func(s string) { b.WriteString(fold(s) + "\r\n") }
	line("BEGIN:VCARD")
	line("VERSION:3.0")
	line("PRODID:-//foghorn//vcard " + esc(version) + "//EN")
	line("N:pager;foghorn;;;")
	line("FN:foghorn pager")
	line("ORG:foghorn")
	for i, id := range ids {
		item := fmt.Sprintf("item%d.", i+1)
		line(item + "TEL;TYPE=WORK,VOICE:" + id.number)
		line(item + "X-ABLabel:" + esc("foghorn "+id.provider))
	}
	names := make([]string, len(ids))
	for i, id := range ids {
		names[i] = id.number
	}
	line("NOTE:" + esc(fmt.Sprintf("foghorn pages %s from these numbers (%s). Make this contact an emergency bypass: "+
		"iPhone: Contacts > foghorn pager > Edit > Ringtone > Emergency Bypass on (and the same under Text Tone); "+
		"Android: star the contact and allow starred contacts' calls and messages in Do Not Disturb.", person, strings.Join(names, ", "))))
	line("CATEGORIES:foghorn")
	line("END:VCARD")
	return b.String()
}

// esc escapes a vCard text value (RFC 2426 5.8.4).
func esc(s string) string {
	return strings.NewReplacer(`\`, `\\`, ",", `\,`, ";", `\;`, "\n", `\n`, "\r", "").Replace(s)
}

// fold splits a line longer than 75 octets into continuation lines, each
// starting with a space (RFC 2425 5.8.1), never inside a UTF-8 character.
func fold(s string) string {
	const max = 75
	if len(s) <= max {
		return s
	}
	var b strings.Builder
	n := 0
	for _, r := range s {
		w := len(string(r))
		if n+w > max {
			b.WriteString("\r\n ")
			n = 1
		}
		b.WriteRune(r)
		n += w
	}
	return b.String()
}
