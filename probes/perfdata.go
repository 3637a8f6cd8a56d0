package probes

import (
	"math"
	"strconv"
	"strings"
	"unicode"
)

// parsePerfdata reads Nagios performance data, space-separated items of
//
//	'label with space'=value[UOM];[warn];[crit];[min];[max]
//
// and keeps label, value and unit. Plugins write all sorts of things here,
// so an item it cannot read is skipped, never fatal: a message with half
// its perfdata is better than none.
func parsePerfdata(s string) []Perf {
	var out []Perf
	for {
		s = strings.TrimLeftFunc(s, unicode.IsSpace)
		if s == "" {
			return out
		}
		label, rest, ok := perfLabel(s)
		var item string
		item, s = cutItem(rest)
		if !ok {
			continue
		}
		if p, ok := perfValue(label, item); ok {
			out = append(out, p)
		}
	}
}

// perfLabel splits off "label=" or "'quoted label'=", where a doubled
// single quote inside the quotes stands for one.
// rest is always shorter than s, so the caller's loop ends.
func perfLabel(s string) (label, rest string, ok bool) {
	if s[0] != '\'' {
		i := strings.IndexFunc(s, func(r rune) bool { return r == '=' || unicode.IsSpace(r) })
		switch {
		case i < 0:
			return "", "", false
		case i == 0 || s[i] != '=':
			return "", s[max(i, 1):], false
		}
		return s[:i], s[i+1:], true
	}
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		if s[i] != '\'' {
			b.WriteByte(s[i])
			continue
		}
		if i+1 < len(s) && s[i+1] == '\'' {
			b.WriteByte('\'')
			i++
			continue
		}
		if i+1 < len(s) && s[i+1] == '=' && b.Len() > 0 {
			return b.String(), s[i+2:], true
		}
		return "", s[i+1:], false
	}
	return "", "", false
}

// cutItem splits s at the first space.
func cutItem(s string) (item, rest string) {
	if i := strings.IndexFunc(s, unicode.IsSpace); i >= 0 {
		return s[:i], s[i:]
	}
	return s, ""
}

// perfValue reads "1.5ms;warn;crit;min;max", keeping "1.5" and "ms". A
// value of "U" (the plugin could not tell) or a non-finite number is
// skipped.
func perfValue(label, item string) (Perf, bool) {
	v, _, _ := strings.Cut(item, ";")
	n := numberLen(v)
	if n == 0 {
		return Perf{}, false
	}
	unit := v[n:]
	for _, r := range unit {
		if !unicode.IsLetter(r) && r != '%' && r != '/' {
			return Perf{}, false
		}
	}
	// Some plugins print a decimal comma under a non-C locale.
	f, err := strconv.ParseFloat(strings.Replace(v[:n], ",", ".", 1), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return Perf{}, false
	}
	return Perf{Label: label, Value: f, Unit: unit}, true
}

// numberLen is the length of the decimal number at the start of s: sign,
// digits, one decimal point or comma, and an exponent only when digits
// follow it, so "1EB" is 1 exabyte rather than a broken exponent.
func numberLen(s string) int {
	i := 0
	if i < len(s) && (s[i] == '-' || s[i] == '+') {
		i++
	}
	digits := 0
	for ; i < len(s) && isDigit(s[i]); i++ {
		digits++
	}
	if i < len(s) && (s[i] == '.' || s[i] == ',') {
		i++
		for ; i < len(s) && isDigit(s[i]); i++ {
			digits++
		}
	}
	if digits == 0 {
		return 0
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		j := i + 1
		if j < len(s) && (s[j] == '-' || s[j] == '+') {
			j++
		}
		if j < len(s) && isDigit(s[j]) {
			for j < len(s) && isDigit(s[j]) {
				j++
			}
			i = j
		}
	}
	return i
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
