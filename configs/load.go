package configs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

// Load reads, decodes, defaults and validates the config at path. On any
// problem it returns Problems listing all of them; the caller keeps running
// whatever config it had.
func Load(path string) (*Config, error) { return load(path, false) }

func load(path string, armed bool) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		abs = path
	}
	return parse(path, filepath.Dir(abs), data, os.Getenv, armed)
}

// Parse is Load for bytes already read. name is the file name used in
// problems; dir resolves relative paths in the config (data_dir, *_file);
// env looks up secrets given by environment variable.
func Parse(name, dir string, data []byte, env func(string) string) (*Config, error) {
	return parse(name, dir, data, env, false)
}

// parse is Parse; armed adds the checks of a config that is to run
// (armed.go), in the same list as every other problem.
func parse(name, dir string, data []byte, env func(string) string, armed bool) (*Config, error) {
	r := &report{file: name, lines: indexLines(string(data)), inline: map[string]bool{}}
	cfg := &Config{File: name}
	var tree map[string]any
	if _, err := toml.Decode(string(data), &tree); err != nil {
		return nil, decodeProblem(name, err) // syntax: nothing else can be read
	}
	checkShape(r, tree)
	// What is left fits the schema; decoding it again from text is the
	// simple way to reuse the decoder's own conversions (durations,
	// date-times, *bool) on the cleaned tree.
	var clean strings.Builder
	if err := toml.NewEncoder(&clean).Encode(tree); err != nil {
		return nil, fmt.Errorf("config %s: re-encode: %w", name, err)
	}
	md, err := toml.Decode(clean.String(), cfg)
	if err != nil {
		// checkShape missed a case: still report it, with what it found.
		return nil, append(r.ps, decodeProblem(name, err).(Problems)...).sorted()
	}
	unknownKeys(r, cfg, md)
	setDefaults(cfg, md, dir)
	loadSecrets(r, cfg, dir, env)
	validate(r, cfg)
	if armed {
		checkArmed(r, cfg)
	}
	if len(r.ps) > 0 {
		return nil, append(r.ps, r.ws...).sorted()
	}
	cfg.Warnings = r.ws.sorted()
	return cfg, nil
}

// decodeProblem turns the decoder's error (syntax, or a value of the wrong
// type) into a Problem with its line.
func decodeProblem(name string, err error) error {
	var pe toml.ParseError
	if errors.As(err, &pe) {
		key := ""
		if pe.LastKey != "" {
			key = pe.LastKey
		}
		return Problems{{File: name, Line: pe.Position.Line, Key: key,
			Msg: "cannot read TOML: " + pe.Message,
			Fix: "correct the syntax at that line (strings in double quotes, durations as strings like \"30s\", one [[target]] header per target)"}}
	}
	// Type errors come as "toml: line N (last key "k"): msg".
	line, key, msg := 0, "", err.Error()
	if m := typeErrRE.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		key, msg = m[2], m[3]
	}
	return Problems{{File: name, Line: line, Key: key, Msg: "cannot read TOML: " + msg,
		Fix: "give the value the type the key expects (see configs/example.toml)"}}
}

// unknownKeys reports every key the schema does not have, with a
// suggestion, so a typo such as "intervall" is never silently ignored.
// checkShape reports and removes them first, at their exact line; this is
// the safety net for any the walk did not see.
func unknownKeys(r *report, cfg *Config, md toml.MetaData) {
	seen := map[string]int{}
	for _, k := range md.Undecoded() {
		ks := k.String()
		n := seen[ks]
		seen[ks]++
		path := nthPath(r.lines, ks, n)
		parent := strings.Join(k[:len(k)-1], ".")
		fix := "remove it, or check the spelling against configs/example.toml"
		if s := closest(k[len(k)-1], knownKeys(k[:len(k)-1])); s != "" {
			fix = fmt.Sprintf("did you mean %q?", s)
		}
		where := describe(cfg, parentPath(path))
		if where == "" {
			where = parent
		}
		r.add(path, where, fix, "unknown key %q", k[len(k)-1])
	}
}

var typeErrRE = regexp.MustCompile(`^toml: line (\d+) \(last key "([^"]*)"\): (.*)$`)

var indexRE = regexp.MustCompile(`\[\d+\]`)

// nthPath finds the n-th indexed path in the file whose unindexed form is
// key; Undecoded keys carry no array index, but they come in file order.
func nthPath(idx lineIndex, key string, n int) string {
	var paths []string
	for p := range idx {
		if indexRE.ReplaceAllString(p, "") == key {
			paths = append(paths, p)
		}
	}
	sort.Slice(paths, func(i, j int) bool { return idx[paths[i]] < idx[paths[j]] })
	if n < len(paths) {
		return paths[n]
	}
	return key
}

func parentPath(p string) string {
	if i := strings.LastIndex(p, "."); i >= 0 {
		return p[:i]
	}
	return ""
}

// knownKeys lists the toml keys of the schema table at path.
func knownKeys(path []string) []string {
	t := reflect.TypeOf(Config{})
	for _, seg := range path {
		t = deref(t)
		if t.Kind() != reflect.Struct {
			return nil
		}
		found := false
		for i := 0; i < t.NumField(); i++ {
			if tomlName(t.Field(i)) == seg {
				t, found = t.Field(i).Type, true
				break
			}
		}
		if !found {
			return nil
		}
	}
	t = deref(t)
	if t.Kind() != reflect.Struct {
		return nil
	}
	var keys []string
	for i := 0; i < t.NumField(); i++ {
		if n := tomlName(t.Field(i)); n != "" && n != "-" {
			keys = append(keys, n)
		}
	}
	return keys
}

func deref(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	return t
}

func tomlName(f reflect.StructField) string {
	return strings.Split(f.Tag.Get("toml"), ",")[0]
}

// closest returns the known key nearest to k, if it is a likely typo.
func closest(k string, known []string) string {
	best, bestD := "", 3
	for _, c := range known {
		if d := editDistance(strings.ToLower(k), c); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// describe names an indexed path the way a person reads it:
// "target[2].http" -> `target "web1" http`.
func describe(cfg *Config, path string) string {
	return describeWith(func(kind string, i int) string { return elementName(cfg, kind, i) }, path)
}

// describeWith is describe with names from nameOf(kind, index), "" when
// the element has none.
func describeWith(nameOf func(kind string, i int) string, path string) string {
	if path == "" {
		return ""
	}
	var parts []string
	for _, seg := range strings.Split(path, ".") {
		name, i := seg, -1
		if b := strings.IndexByte(seg, '['); b >= 0 {
			name = seg[:b]
			i, _ = strconv.Atoi(strings.Trim(seg[b:], "[]"))
		}
		if i < 0 {
			parts = append(parts, name)
			continue
		}
		parts = append(parts, element(name, i, nameOf(name, i)))
	}
	return strings.Join(parts, " ")
}

// element names the i-th element of kind: `target "web1"`, `step 2`, or
// `target #3` when it has no name.
func element(kind string, i int, n string) string {
	switch {
	case kind == "step" || kind == "check":
		return kind + " " + strconv.Itoa(i+1)
	case n == "":
		return kind + " #" + strconv.Itoa(i+1)
	}
	return kind + " " + strconv.Quote(n)
}

func elementName(cfg *Config, name string, i int) string {
	var n string
	switch {
	case name == "target" && i < len(cfg.Targets):
		n = cfg.Targets[i].Name
	case name == "person" && i < len(cfg.People):
		n = cfg.People[i].Name
	case name == "rotation" && i < len(cfg.Rotations):
		n = cfg.Rotations[i].Name
	case name == "policy" && i < len(cfg.Policies):
		n = cfg.Policies[i].Name
	case name == "group" && i < len(cfg.Groups):
		n = cfg.Groups[i].Name
	case name == "maintenance" && i < len(cfg.Maintenance):
		n = cfg.Maintenance[i].Name
	}
	return n
}
