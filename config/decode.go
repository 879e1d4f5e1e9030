package config

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/den-run/den"
	"github.com/tailscale/hujson"
)

// Parse reads a configuration file's contents; name names it in messages.
// It returns every mistake it finds as [Errors] (an EINVALID den.Error),
// each with its line and column: syntax, a value of the wrong type, a
// duplicate or unknown key, a malformed class name or a duplicate tag. It
// does not check the file against the app's classes: [Project.Check] does.
func Parse(name string, src []byte) (*Project, error) {
	d := &decoder{src: src, file: name}
	if len(src) > MaxFileBytes {
		return nil, den.Errorf(den.ELIMIT, "config file %s is larger than %d bytes, the limit", name, MaxFileBytes)
	}
	root, err := hujson.Parse(src)
	if err != nil {
		return nil, d.syntax(err)
	}
	p := &Project{File: name, Vars: map[string]string{}}
	d.object(root, "the file", fields{
		"name":                func(v hujson.Value) { p.Name = d.str(v, "name") },
		"$schema":             func(v hujson.Value) { d.str(v, "$schema") },
		"main":                func(v hujson.Value) { d.str(v, "main") },
		"compatibility_date":  func(v hujson.Value) { d.str(v, "compatibility_date") },
		"compatibility_flags": func(v hujson.Value) { d.strings(v, "compatibility_flags") },
		"durable_objects": func(v hujson.Value) {
			d.object(v, "durable_objects", fields{
				"bindings": func(v hujson.Value) { p.Bindings = d.bindings(v) },
			})
		},
		"migrations": func(v hujson.Value) { p.Migrations = d.migrations(v) },
		"vars":       func(v hujson.Value) { d.vars(v, p.Vars) },
		"den":        func(v hujson.Value) { p.Den = d.den(v) },
	})
	d.checkTags(p.Migrations)
	if err := d.errs.err(); err != nil {
		return nil, err
	}
	return p, nil
}

// fields maps each key an object may hold to what reads its value.
type fields map[string]func(v hujson.Value)

type decoder struct {
	src   []byte
	file  string
	lines []int // the offset of each line's first byte, made by pos
	errs  Errors
}

// pos returns the position of byte offset off.
func (d *decoder) pos(off int) Pos {
	if d.lines == nil {
		d.lines = []int{0}
		for i, c := range d.src {
			if c == '\n' {
				d.lines = append(d.lines, i+1)
			}
		}
	}
	off = min(max(off, 0), len(d.src))
	line, _ := slices.BinarySearch(d.lines, off+1) // lines starting at or before off
	start := d.lines[line-1]
	return Pos{File: d.file, Line: line, Col: 1 + utf8.RuneCount(d.src[start:off])}
}

func (d *decoder) errorf(off int, format string, args ...any) {
	d.errs = append(d.errs, &Error{Pos: d.pos(off), Msg: fmt.Sprintf(format, args...)})
}

// syntax turns hujson's "hujson: line L, column C: msg" into an Error.
func (d *decoder) syntax(err error) error {
	msg := err.Error()
	var line, col int
	if _, serr := fmt.Sscanf(msg, "hujson: line %d, column %d:", &line, &col); serr == nil {
		if _, rest, ok := strings.Cut(msg, ": "); ok {
			if _, rest, ok = strings.Cut(rest, ": "); ok {
				msg = rest
			}
		}
		// hujson counts columns in bytes; count characters like pos.
		col = d.charCol(line, col)
	} else {
		line, col = 1, 1
	}
	es := Errors{{Pos: Pos{File: d.file, Line: line, Col: col}, Msg: "syntax error: " + msg + " (the file is JSON with comments and trailing commas)"}}
	return es.err()
}

// charCol converts a 1-based byte column on line to a character column.
func (d *decoder) charCol(line, col int) int {
	lines := strings.SplitAfter(string(d.src), "\n")
	if line < 1 || line > len(lines) {
		return col
	}
	l := lines[line-1]
	if col-1 > len(l) || col < 1 {
		return col
	}
	return 1 + utf8.RuneCountInString(l[:col-1])
}

// kind names a value's JSON kind for messages.
func kind(v hujson.Value) string {
	switch v.Value.Kind() {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case '0':
		return "a number"
	case 'n':
		return "null"
	default:
		return "a boolean"
	}
}

// object reads v as an object whose keys are those of fs, each at most
// once.
func (d *decoder) object(v hujson.Value, where string, fs fields) {
	obj, ok := v.Value.(*hujson.Object)
	if !ok {
		d.errorf(v.StartOffset, "%s must be an object, not %s", where, kind(v))
		return
	}
	seen := map[string]int{}
	for _, m := range obj.Members {
		key := m.Name.Value.(hujson.Literal).String()
		if first, dup := seen[key]; dup {
			d.errorf(m.Name.StartOffset, "duplicate key %q in %s (first at line %d)", key, where, d.pos(first).Line)
			continue
		}
		seen[key] = m.Name.StartOffset
		read, ok := fs[key]
		if !ok {
			d.errorf(m.Name.StartOffset, "unknown key %q in %s%s", key, where, suggest(key, fs))
			continue
		}
		read(m.Value)
	}
}

// suggest returns ": did you mean "x"?" for the known key nearest to key,
// or the list of known keys.
func suggest(key string, fs fields) string {
	known := make([]string, 0, len(fs))
	for k := range fs {
		known = append(known, k)
	}
	sort.Strings(known)
	best, bestDist := "", max(1, len(key)/4)+1
	for _, k := range known {
		if dist := distance(strings.ToLower(key), k); dist < bestDist {
			best, bestDist = k, dist
		}
	}
	if best != "" {
		return fmt.Sprintf(`; did you mean %q?`, best)
	}
	return "; known keys: " + strings.Join(known, ", ")
}

// distance is the Levenshtein distance between a and b, in bytes.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// str reads v as a string.
func (d *decoder) str(v hujson.Value, where string) string {
	lit, ok := v.Value.(hujson.Literal)
	if !ok || lit.Kind() != '"' {
		d.errorf(v.StartOffset, "%s must be a string, not %s", where, kind(v))
		return ""
	}
	return lit.String()
}

// scalar reads v as a string or a number (kept as written) or a boolean.
func (d *decoder) scalar(v hujson.Value, where string) string {
	lit, ok := v.Value.(hujson.Literal)
	if !ok || lit.Kind() == 'n' {
		d.errorf(v.StartOffset, "%s must be a string or a number, not %s", where, kind(v))
		return ""
	}
	if lit.Kind() == '"' {
		return lit.String()
	}
	return string(lit)
}

// array reads v as an array, calling read for each element.
func (d *decoder) array(v hujson.Value, where string, read func(i int, v hujson.Value)) {
	arr, ok := v.Value.(*hujson.Array)
	if !ok {
		d.errorf(v.StartOffset, "%s must be an array, not %s", where, kind(v))
		return
	}
	for i, e := range arr.Elements {
		read(i, e)
	}
}

func (d *decoder) strings(v hujson.Value, where string) []string {
	var out []string
	d.array(v, where, func(i int, v hujson.Value) {
		out = append(out, d.str(v, fmt.Sprintf("%s[%d]", where, i)))
	})
	return out
}

// classes reads a list of class names.
func (d *decoder) classes(v hujson.Value, where string) []Class {
	var out []Class
	d.array(v, where, func(i int, v hujson.Value) {
		name := d.str(v, fmt.Sprintf("%s[%d]", where, i))
		if name != "" || v.Value.Kind() == '"' {
			d.className(v.StartOffset, name)
		}
		out = append(out, Class{Name: name, Pos: d.pos(v.StartOffset)})
	})
	return out
}

// maxClassBytes is the longest class name, as the object store allows.
const maxClassBytes = 128

// className checks a class name: a letter, then letters, digits, '_' or
// '-', as the object store requires of the directory it names.
func (d *decoder) className(off int, name string) {
	ok := name != "" && len(name) <= maxClassBytes && isLetter(name[0])
	for i := 1; ok && i < len(name); i++ {
		c := name[i]
		ok = isLetter(c) || '0' <= c && c <= '9' || c == '_' || c == '-'
	}
	if !ok {
		d.errorf(off, "invalid class name %q: start with a letter and use only letters, digits, '_' and '-', at most %d characters", name, maxClassBytes)
	}
}

func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

func (d *decoder) bindings(v hujson.Value) []Binding {
	var out []Binding
	d.array(v, "durable_objects.bindings", func(i int, v hujson.Value) {
		where := fmt.Sprintf("durable_objects.bindings[%d]", i)
		b := Binding{Pos: d.pos(v.StartOffset)}
		classOff := -1
		d.object(v, where, fields{
			"name":       func(v hujson.Value) { b.Name = d.str(v, where+".name") },
			"class_name": func(v hujson.Value) { b.ClassName, classOff = d.str(v, where+".class_name"), v.StartOffset },
			"script_name": func(v hujson.Value) {
				b.ScriptName = d.str(v, where+".script_name")
			},
			"environment": func(v hujson.Value) {
				d.errorf(v.StartOffset, "%s.environment: Den has no service environments; remove it", where)
			},
		})
		if _, ok := v.Value.(*hujson.Object); !ok {
			return
		}
		switch {
		case strings.TrimSpace(b.Name) == "":
			d.errorf(v.StartOffset, "%s has no name: set \"name\" to the binding's name, such as \"MY_DO\"", where)
		case b.ClassName == "" && classOff < 0:
			d.errorf(v.StartOffset, "%s (%s) has no class_name: set it to the class the binding reaches", where, b.Name)
		}
		if classOff >= 0 {
			d.className(classOff, b.ClassName)
		}
		out = append(out, b)
	})
	return out
}

func (d *decoder) migrations(v hujson.Value) []Migration {
	var out []Migration
	d.array(v, "migrations", func(i int, v hujson.Value) {
		where := fmt.Sprintf("migrations[%d]", i)
		m := Migration{Pos: d.pos(v.StartOffset)}
		hasTag := false
		d.object(v, where, fields{
			"tag":                func(v hujson.Value) { m.Tag, hasTag = d.str(v, where+".tag"), true },
			"new_classes":        func(v hujson.Value) { m.NewClasses = d.classes(v, where+".new_classes") },
			"new_sqlite_classes": func(v hujson.Value) { m.NewSQLiteClasses = d.classes(v, where+".new_sqlite_classes") },
			"deleted_classes":    func(v hujson.Value) { m.DeletedClasses = d.classes(v, where+".deleted_classes") },
			"renamed_classes": func(v hujson.Value) {
				d.array(v, where+".renamed_classes", func(j int, v hujson.Value) {
					w := fmt.Sprintf("%s.renamed_classes[%d]", where, j)
					r := Rename{Pos: d.pos(v.StartOffset)}
					d.object(v, w, fields{
						"from": func(v hujson.Value) { r.From = d.str(v, w+".from"); d.className(v.StartOffset, r.From) },
						"to":   func(v hujson.Value) { r.To = d.str(v, w+".to"); d.className(v.StartOffset, r.To) },
					})
					if _, ok := v.Value.(*hujson.Object); ok && (r.From == "" || r.To == "") {
						d.errorf(v.StartOffset, "%s needs both \"from\" and \"to\"", w)
					}
					m.RenamedClasses = append(m.RenamedClasses, r)
				})
			},
			"transferred_classes": func(v hujson.Value) {
				d.array(v, where+".transferred_classes", func(j int, v hujson.Value) {
					w := fmt.Sprintf("%s.transferred_classes[%d]", where, j)
					t := Transfer{Pos: d.pos(v.StartOffset)}
					d.object(v, w, fields{
						"from":        func(v hujson.Value) { t.From = d.str(v, w+".from"); d.className(v.StartOffset, t.From) },
						"from_script": func(v hujson.Value) { t.FromScript = d.str(v, w+".from_script") },
						"to":          func(v hujson.Value) { t.To = d.str(v, w+".to"); d.className(v.StartOffset, t.To) },
					})
					if _, ok := v.Value.(*hujson.Object); ok && (t.From == "" || t.FromScript == "" || t.To == "") {
						d.errorf(v.StartOffset, "%s needs \"from\", \"from_script\" and \"to\"", w)
					}
					m.Transferred = append(m.Transferred, t)
				})
			},
		})
		if _, ok := v.Value.(*hujson.Object); ok && (!hasTag || strings.TrimSpace(m.Tag) == "") {
			d.errorf(v.StartOffset, "%s has no tag: every migration needs a unique \"tag\", such as \"v%d\"", where, i+1)
		}
		out = append(out, m)
	})
	return out
}

// checkTags reports duplicate tags.
func (d *decoder) checkTags(ms []Migration) {
	first := map[string]Migration{}
	for _, m := range ms {
		if m.Tag == "" {
			continue
		}
		if f, dup := first[m.Tag]; dup {
			d.errs = append(d.errs, &Error{Pos: m.Pos, Msg: fmt.Sprintf("duplicate migration tag %q (first at line %d): tags must be unique", m.Tag, f.Pos.Line)})
			continue
		}
		first[m.Tag] = m
	}
}

func (d *decoder) vars(v hujson.Value, out map[string]string) {
	obj, ok := v.Value.(*hujson.Object)
	if !ok {
		d.errorf(v.StartOffset, "vars must be an object, not %s", kind(v))
		return
	}
	seen := map[string]bool{}
	for _, m := range obj.Members {
		key := m.Name.Value.(hujson.Literal).String()
		if seen[key] {
			d.errorf(m.Name.StartOffset, "duplicate key %q in vars", key)
			continue
		}
		seen[key] = true
		if lit, ok := m.Value.Value.(hujson.Literal); ok && lit.Kind() == '"' {
			out[key] = lit.String()
			continue
		}
		val := m.Value.Clone()
		val.Minimize()
		out[key] = string(val.Pack())
	}
}

func (d *decoder) den(v hujson.Value) Den {
	s := Den{Settings: map[string]Setting{}, ClassMaxDBSize: map[string]Setting{}, Apps: map[string]Setting{}}
	fs := fields{
		"class_max_db_size": func(v hujson.Value) {
			d.mapOf(v, "den.class_max_db_size", func(key string, off int, v hujson.Value) {
				d.className(off, key)
				s.ClassMaxDBSize[key] = Setting{Value: d.scalar(v, "den.class_max_db_size."+key), Pos: d.pos(v.StartOffset)}
			})
		},
		"apps": func(v hujson.Value) {
			d.mapOf(v, "den.apps", func(name string, off int, v hujson.Value) {
				w := "den.apps." + name
				d.object(v, w, fields{
					"data": func(v hujson.Value) { s.Apps[name] = Setting{Value: d.str(v, w+".data"), Pos: d.pos(v.StartOffset)} },
				})
			})
		},
		"admin_token": func(v hujson.Value) {
			d.errorf(v.StartOffset, "den.admin_token: a token does not belong in a file that is committed; set DEN_ADMIN_TOKEN or let Den keep it in DATA/admin.token")
		},
	}
	for key := range SettingKeys {
		fs[key] = func(v hujson.Value) {
			s.Settings[key] = Setting{Value: d.scalar(v, "den."+key), Pos: d.pos(v.StartOffset)}
		}
	}
	d.object(v, "den", fs)
	return s
}

// mapOf reads v as an object with any keys, calling read for each member.
func (d *decoder) mapOf(v hujson.Value, where string, read func(key string, keyOff int, v hujson.Value)) {
	obj, ok := v.Value.(*hujson.Object)
	if !ok {
		d.errorf(v.StartOffset, "%s must be an object, not %s", where, kind(v))
		return
	}
	seen := map[string]bool{}
	for _, m := range obj.Members {
		key := m.Name.Value.(hujson.Literal).String()
		if seen[key] {
			d.errorf(m.Name.StartOffset, "duplicate key %q in %s", key, where)
			continue
		}
		seen[key] = true
		read(key, m.Name.StartOffset, m.Value)
	}
}
