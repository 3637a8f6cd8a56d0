package configs

import (
	"strconv"
	"strings"
)

// lineIndex maps key paths such as "target[2].http.status" to the line they
// are written on. BurntSushi/toml keeps key positions private (it reports
// them only for its own decode errors), and validation errors must name a
// line too, so this small scanner recovers them. It only has to find table
// headers and "key =" at the start of a statement; values are skipped with
// just enough lexing to know where multi-line strings and arrays end.
type lineIndex map[string]int

func indexLines(src string) lineIndex {
	idx := lineIndex{}
	count := map[string]int{} // array-of-tables path -> elements seen
	table := ""               // current table path, with indices
	var sc valueScanner
	for n, line := range strings.Split(src, "\n") {
		lineNo := n + 1
		if sc.open() {
			sc.scan(line)
			continue
		}
		s := strings.TrimSpace(line)
		switch {
		case s == "" || s[0] == '#':
		case strings.HasPrefix(s, "[["):
			end := strings.Index(s, "]]")
			if end < 0 {
				continue
			}
			p := resolve(splitKey(s[2:end]), count)
			count[p]++
			table = p + "[" + strconv.Itoa(count[p]-1) + "]"
			idx.set(table, lineNo)
		case s[0] == '[':
			end := strings.Index(s, "]")
			if end < 0 {
				continue
			}
			table = resolve(splitKey(s[1:end]), count)
			idx.set(table, lineNo)
		default:
			eq := keyEnd(s)
			if eq < 0 {
				continue
			}
			p := strings.Join(splitKey(s[:eq]), ".")
			if table != "" {
				p = table + "." + p
			}
			idx.set(p, lineNo)
			sc.scan(s[eq+1:])
		}
	}
	return idx
}

func (idx lineIndex) set(path string, line int) {
	if _, ok := idx[path]; !ok {
		idx[path] = line
	}
}

// alias makes every path under from also found under to: a misspelt
// table read as the table it was meant to be keeps its lines.
func (idx lineIndex) alias(from, to string) {
	for p, l := range idx {
		if p == from || strings.HasPrefix(p, from+".") || strings.HasPrefix(p, from+"[") {
			idx.set(to+p[len(from):], l)
		}
	}
}

// line returns the line of path, or of its nearest enclosing key or table
// when path itself is not in the file (a default, or a missing key).
func (idx lineIndex) line(path string) int {
	for path != "" {
		if l, ok := idx[path]; ok {
			return l
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			break
		}
		path = path[:i]
	}
	return 0
}

// resolve turns header segments into an indexed path: in [[policy.step]]
// "policy" refers to the latest [[policy]] element.
func resolve(segs []string, count map[string]int) string {
	p := ""
	for i, s := range segs {
		if p != "" {
			p += "."
		}
		p += s
		if i < len(segs)-1 {
			if c := count[p]; c > 0 {
				p += "[" + strconv.Itoa(c-1) + "]"
			}
		}
	}
	return p
}

// splitKey splits a dotted key, honouring quoted segments.
func splitKey(s string) []string {
	var segs []string
	var b strings.Builder
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0 && c == quote:
			quote = 0
		case quote != 0:
			b.WriteByte(c)
		case c == '"' || c == '\'':
			quote = c
		case c == '.':
			segs = append(segs, strings.TrimSpace(b.String()))
			b.Reset()
		case c == ' ' || c == '\t':
		default:
			b.WriteByte(c)
		}
	}
	return append(segs, strings.TrimSpace(b.String()))
}

// keyEnd finds the '=' that ends a key, outside quotes; -1 if none.
func keyEnd(s string) int {
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0 && c == quote:
			quote = 0
		case quote != 0:
		case c == '"' || c == '\'':
			quote = c
		case c == '=':
			return i
		}
	}
	return -1
}

// valueScanner follows a value across lines: open multi-line strings and
// unclosed brackets mean the next line is not a new statement.
type valueScanner struct {
	depth int
	ml    string // `"""` or `'''` while inside a multi-line string
}

func (v *valueScanner) open() bool { return v.depth > 0 || v.ml != "" }

func (v *valueScanner) scan(s string) {
	for i := 0; i < len(s); i++ {
		if v.ml != "" {
			if strings.HasPrefix(s[i:], v.ml) {
				i += 2
				v.ml = ""
			} else if v.ml == `"""` && s[i] == '\\' {
				i++
			}
			continue
		}
		switch c := s[i]; c {
		case '#':
			return
		case '[', '{':
			v.depth++
		case ']', '}':
			if v.depth > 0 {
				v.depth--
			}
		case '"', '\'':
			q := strings.Repeat(string(c), 3)
			if strings.HasPrefix(s[i:], q) {
				v.ml = q
				i += 2
				continue
			}
			for i++; i < len(s) && s[i] != c; i++ {
				if c == '"' && s[i] == '\\' {
					i++
				}
			}
		}
	}
}
