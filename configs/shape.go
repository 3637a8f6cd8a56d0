package configs

import (
	"encoding"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// checkShape walks the file's generic TOML tree against the schema before
// it is decoded into a Config. The decoder stops at the first value of the
// wrong type, names it by a path without array indices (so `group = 5` in
// the first target is reported at the last target's line) and speaks in Go
// types; this walk instead reports every such value at its own line, in
// words, and removes it, so the decode that follows cannot fail and every
// other problem is still found. It also reports unknown keys and tables
// (a misspelt table is one problem, not one per key inside it) and secrets
// written inline.
func checkShape(r *report, tree map[string]any) {
	w := shapeWalker{r: r, tree: tree}
	w.table(tree, reflect.TypeOf(Config{}), "", "")
}

type shapeWalker struct {
	r    *report
	tree map[string]any
	// meant is what a wrongly typed value unmistakably meant ("true" for
	// a flag, "3" for a count): it is read as that, so its absence does
	// not add problems the file does not have. The type error is still
	// reported.
	meant any
}

var (
	durationType = reflect.TypeOf(Duration{})
	dateTimeType = reflect.TypeOf(DateTime{})

	tomlUnmarshaler = reflect.TypeOf((*toml.Unmarshaler)(nil)).Elem()
	textUnmarshaler = reflect.TypeOf((*encoding.TextUnmarshaler)(nil)).Elem()
)

// field is one schema key of a table.
type schemaField struct {
	name string
	typ  reflect.Type
}

func schemaFields(t reflect.Type) []schemaField {
	var fs []schemaField
	for i := 0; i < t.NumField(); i++ {
		if n := tomlName(t.Field(i)); n != "" && n != "-" && t.Field(i).IsExported() {
			fs = append(fs, schemaField{n, t.Field(i).Type})
		}
	}
	return fs
}

// table checks the keys of one TOML table against struct type t. path is
// the indexed path ("target[1].http"); header is how the file names the
// table ("target.http"), for messages about tables.
func (w *shapeWalker) table(m map[string]any, t reflect.Type, path, header string) {
	fields := schemaFields(t)
	find := func(k string) *schemaField {
		for i := range fields {
			if fields[i].name == k {
				return &fields[i]
			}
		}
		for i := range fields { // the decoder matches case-insensitively too
			if strings.EqualFold(fields[i].name, k) {
				return &fields[i]
			}
		}
		return nil
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := m[k]
		p, h := join(path, k), join(header, k)
		if f := find(k); f != nil {
			if !w.value(v, f.typ, p, h, k) {
				delete(m, k)
				if w.meant != nil {
					m[k], w.meant = w.meant, nil
				}
			}
			continue
		}
		delete(m, k)
		if isTable(v) {
			w.unknownTable(m, fields, v, path, header, k)
			continue
		}
		if file, env, ok := w.inlineSecret(t, path, k); ok {
			w.r.inline[join(path, file)] = true
			w.r.add(p, w.where(p), fmt.Sprintf("delete this line; write the secret into the file %s names (mode 0600, owned by the user foghorn runs as) or export %s", file, env),
				"secrets go in %s or %s, not in the config", file, env)
			continue
		}
		switch {
		case t == reflect.TypeOf(Person{}) && k == "password":
			w.r.add(p, w.where(p), "delete this line; run `foghorn passwd` and paste the password_hash line it prints",
				"a password never goes in the config: only its hash, in password_hash")
			continue
		case t == reflect.TypeOf(APIToken{}) && k == "token":
			w.r.add(p, w.where(p), "delete this line; run `foghorn token NAME` and paste the sha256 line it prints",
				"a token never goes in the config: only its SHA-256, in sha256")
			continue
		}
		fix := "remove it, or check the spelling against configs/example.toml"
		if s := closest(k, fieldNames(fields, false)); s != "" {
			fix = fmt.Sprintf("did you mean %q?", s)
		}
		w.r.add(p, w.where(path), fix, "unknown key %q", k)
	}
}

// unknownTable reports a table the schema does not have, once. When it is
// a near miss of a table that is absent (`[escalaton]`), its contents are
// read as that table, so what it says still counts and nothing follows
// from its absence (no default policy, so every target lacks one...).
func (w *shapeWalker) unknownTable(m map[string]any, fields []schemaField, v any, path, header, k string) {
	p := join(path, k)
	open, close := "[", "]"
	if _, ok := v.([]map[string]any); ok {
		open, close = "[[", "]]"
	}
	fix := "remove it, or check the spelling against configs/example.toml"
	s := closest(k, fieldNames(fields, true))
	if s != "" {
		fix = fmt.Sprintf("did you mean %s%s%s?", open, join(header, s), close)
	}
	at := p
	if open == "[[" {
		at = p + "[0]"
	}
	w.r.add(at, w.where(path), fix, "unknown table %s%s%s", open, join(header, k), close)
	// Only top-level tables are read as their near miss: a target's
	// [target.htp] may as well be a wrong kind, and reading it as http
	// would add a problem the file does not have.
	if s == "" || m[s] != nil || path != "" {
		return
	}
	if d := editDistance(strings.ToLower(k), s); d > 1 && (d > 2 || len(s) < 6) {
		return
	}
	w.r.lines.alias(p, join(path, s))
	m[s] = v
	for _, f := range fields {
		if f.name == s && w.value(v, f.typ, join(path, s), join(header, s), s) {
			return
		}
	}
	delete(m, s)
}

func fieldNames(fs []schemaField, tables bool) []string {
	var ns []string
	for _, f := range fs {
		if !tables || isTableType(f.typ) {
			ns = append(ns, f.name)
		}
	}
	return ns
}

func isTable(v any) bool {
	switch v.(type) {
	case map[string]any, []map[string]any:
		return true
	}
	return false
}

func isTableType(t reflect.Type) bool {
	t = deref(t)
	if reflect.PointerTo(t).Implements(textUnmarshaler) || reflect.PointerTo(t).Implements(tomlUnmarshaler) {
		return false
	}
	return t.Kind() == reflect.Struct || t.Kind() == reflect.Map
}

// where names a path the way a person reads it, from the names in the file.
func (w *shapeWalker) where(path string) string {
	return describeWith(func(kind string, i int) string {
		if els, ok := w.tree[kind].([]map[string]any); ok && i < len(els) {
			n, _ := els[i]["name"].(string)
			return n
		}
		return ""
	}, path)
}

// value checks v against the schema type t and reports it if it does not
// fit; false means the caller must drop it.
func (w *shapeWalker) value(v any, t reflect.Type, path, header, key string) bool {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	bad := func(fix string) bool {
		w.r.add(path, w.where(path), fix, "must be %s, not %s", want(t, header), found(v))
		return false
	}
	switch {
	case t == durationType:
		if _, ok := v.(string); ok {
			return true
		}
		ex := "30s"
		if n, ok := v.(int64); ok {
			ex = strconv.FormatInt(n, 10) + "s"
		}
		return bad(fmt.Sprintf("write %s = %q (with a unit: ms, s, m or h)", key, ex))
	case t == dateTimeType:
		if _, ok := v.(time.Time); ok {
			return true
		}
		return bad(fmt.Sprintf("write %s = 2026-01-05T09:00:00 (no quotes; local to the timezone key)", key))
	case reflect.PointerTo(t).Implements(tomlUnmarshaler):
		return true // reads any value itself, and reports its own errors
	case reflect.PointerTo(t).Implements(textUnmarshaler):
		// The decoder gives such a type the text of any scalar.
		if isTable(v) {
			return bad(fmt.Sprintf("write %s = \"...\" (see configs/example.toml)", key))
		}
		if _, ok := v.([]any); ok {
			return bad(fmt.Sprintf("write %s = \"...\" (see configs/example.toml)", key))
		}
		return true
	}
	switch t.Kind() {
	case reflect.String:
		if _, ok := v.(string); ok {
			return true
		}
		return bad(fmt.Sprintf("write %s = %q", key, scalarText(v)))
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if _, ok := v.(int64); ok {
			return true
		}
		if s, ok := v.(string); ok {
			if n, err := strconv.Atoi(strings.TrimSpace(s)); err == nil {
				w.meant = int64(n)
				return bad(fmt.Sprintf("write %s = %d, without quotes", key, n))
			}
		}
		return bad(fmt.Sprintf("write a whole number without quotes, e.g. %s = 3", key))
	case reflect.Float32, reflect.Float64:
		switch v.(type) {
		case int64, float64:
			return true
		}
		return bad(fmt.Sprintf("write a number without quotes, e.g. %s = 0.5", key))
	case reflect.Bool:
		if _, ok := v.(bool); ok {
			return true
		}
		if s, ok := v.(string); ok && (s == "true" || s == "false") {
			w.meant = s == "true"
			return bad(fmt.Sprintf("write %s = %s, without quotes", key, s))
		}
		return bad(fmt.Sprintf("write %s = true or %s = false", key, key))
	case reflect.Map:
		return w.stringMap(v, t, path, header, key)
	case reflect.Slice:
		if isTableType(t.Elem()) {
			return w.tables(v, t.Elem(), path, header)
		}
		items, ok := v.([]any)
		if !ok {
			if isTable(v) {
				return bad(fmt.Sprintf("write a list, e.g. %s = %s", key, listExample(t.Elem())))
			}
			return bad(fmt.Sprintf("write a list, even of one: %s = %s", key, listOf(v)))
		}
		good := true
		for i, it := range items {
			if !fits(it, t.Elem()) {
				w.r.add(path, w.where(path), fmt.Sprintf("write every item as %s, e.g. %s = %s", want(t.Elem(), header), key, listExample(t.Elem())),
					"item %d must be %s, not %s", i+1, want(t.Elem(), header), found(it))
				good = false
			}
		}
		return good
	case reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			return bad(fmt.Sprintf("write it as a table: a line [%s] followed by its keys (see configs/example.toml)", header))
		}
		w.table(m, t, path, header)
		return true
	}
	return true
}

// tables checks an array of tables ([[target]]) element by element.
func (w *shapeWalker) tables(v any, t reflect.Type, path, header string) bool {
	els, ok := v.([]map[string]any)
	if !ok {
		if items, isList := v.([]any); isList {
			for _, it := range items {
				m, isMap := it.(map[string]any)
				if !isMap {
					els = nil
					break
				}
				els = append(els, m)
			}
			ok = els != nil || len(items) == 0
		}
	}
	if !ok {
		w.r.add(path, w.where(path), fmt.Sprintf("write each as a table: a line [[%s]] followed by its keys (see configs/example.toml)", header),
			"must be one or more [[%s]] tables, not %s", header, found(v))
		return false
	}
	for i, m := range els {
		w.table(m, deref(t), path+"["+itoa(i)+"]", header)
	}
	return true
}

// stringMap checks a table of strings (labels, headers). A string or list
// here used to vanish without a word, leaving a target its group selector
// never matched.
func (w *shapeWalker) stringMap(v any, t reflect.Type, path, header, key string) bool {
	m, ok := v.(map[string]any)
	if !ok {
		ex := `{role = "router", site = "fra1"}`
		switch v := v.(type) {
		case string:
			if k, val, kv := strings.Cut(v, "="); kv {
				ex = fmt.Sprintf("{%s = %q}", strings.TrimSpace(k), strings.TrimSpace(val))
			} else {
				ex = fmt.Sprintf("{role = %q}", v)
			}
		case []any:
			var parts []string
			for _, it := range v {
				s, _ := it.(string)
				if k, val, kv := strings.Cut(s, "="); kv {
					parts = append(parts, fmt.Sprintf("%s = %q", strings.TrimSpace(k), strings.Trim(strings.TrimSpace(val), `"`)))
				}
			}
			if len(parts) == len(v) && len(parts) > 0 {
				ex = "{" + strings.Join(parts, ", ") + "}"
			}
		}
		w.r.add(path, w.where(path), fmt.Sprintf("write %s = %s", key, ex),
			"must be %s, not %s", want(t, header), found(v))
		return false
	}
	good := true
	for k, it := range m {
		if _, isStr := it.(string); !isStr {
			w.r.add(join(path, k), w.where(path), fmt.Sprintf("write %s = %q", k, scalarText(it)),
				"the value of %q must be a string in double quotes, not %s", k, found(it))
			good = false
		}
	}
	return good
}

func fits(v any, t reflect.Type) bool {
	if t == durationType {
		_, ok := v.(string)
		return ok
	}
	switch t.Kind() {
	case reflect.String:
		_, ok := v.(string)
		return ok
	case reflect.Int, reflect.Int64, reflect.Int32:
		_, ok := v.(int64)
		return ok
	case reflect.Float64:
		switch v.(type) {
		case int64, float64:
			return true
		}
	case reflect.Bool:
		_, ok := v.(bool)
		return ok
	}
	return false
}

// want says in words what a key of type t holds.
func want(t reflect.Type, header string) string {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == durationType:
		return `a duration in double quotes, such as "30s"`
	case t == dateTimeType:
		return "a date-time such as 2026-01-05T09:00:00"
	case reflect.PointerTo(t).Implements(textUnmarshaler):
		return "a string in double quotes"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string in double quotes"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "true or false"
	case reflect.Map:
		return "a table of strings"
	case reflect.Slice:
		switch deref(t.Elem()).Kind() {
		case reflect.String:
			return "a list of strings"
		case reflect.Int:
			return "a list of whole numbers"
		}
		return "a list"
	}
	return "a table [" + header + "]"
}

// found says in words what the file holds.
func found(v any) string {
	switch v := v.(type) {
	case string:
		return "the string " + strconv.Quote(v)
	case int64, float64:
		return fmt.Sprintf("the number %v", v)
	case bool:
		return fmt.Sprintf("%v", v)
	case time.Time:
		return "a date-time"
	case []any:
		return "a list"
	case map[string]any, []map[string]any:
		return "a table"
	}
	return fmt.Sprintf("%v", v)
}

func scalarText(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case int64, float64, bool:
		return fmt.Sprint(v)
	case []any:
		if len(v) == 1 {
			return scalarText(v[0])
		}
	}
	return "..."
}

// listOf writes a scalar as the list it was probably meant to be:
// "sms, voice" -> ["sms", "voice"].
func listOf(v any) string {
	s, ok := v.(string)
	if !ok {
		return "[" + fmt.Sprint(v) + "]"
	}
	var q []string
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			q = append(q, strconv.Quote(part))
		}
	}
	return "[" + strings.Join(q, ", ") + "]"
}

func listExample(t reflect.Type) string {
	if deref(t).Kind() == reflect.Int {
		return "[200, 204]"
	}
	return `["a", "b"]`
}

func join(path, k string) string {
	if path == "" {
		return k
	}
	return path + "." + k
}

// inlineSecret tells whether k, written in a table of type t, is a secret
// that belongs in k_file or the environment; it returns both names.
func (w *shapeWalker) inlineSecret(t reflect.Type, path, k string) (file, env string, ok bool) {
	for _, f := range schemaFields(t) {
		if f.name == k+"_file" {
			file = f.name
			ok = true
		}
	}
	if !ok {
		return "", "", false
	}
	target := ""
	if strings.HasPrefix(path, "target[") {
		if i, err := strconv.Atoi(path[len("target["):strings.IndexByte(path, ']')]); err == nil {
			if els, isEls := w.tree["target"].([]map[string]any); isEls && i < len(els) {
				target, _ = els[i]["name"].(string)
			}
		}
	}
	return file, secretEnv(t, k, target), true
}
