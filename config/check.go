package config

import (
	"fmt"
	"sort"
	"strings"
)

// DeleteBoundMessage is the reference's message for a delete migration of a
// class that a binding still references (Cloudflare's, with the class
// name for %s).
const DeleteBoundMessage = "Cannot apply --delete-class migration to class %s without also removing the binding that references it"

// classState is what the migrations, in order, have made of one class.
type classState struct {
	live bool
	by   Pos    // the migration entry that made it so
	tag  string // that migration's tag
	op   string // "created", "renamed", "deleted", "transferred"
	to   string // the new name, for "renamed"
}

// classes replays the migrations and returns each class's final state,
// reporting impossible steps (creating a class that exists, renaming or
// deleting one that does not) to es.
func (p *Project) classes(es *Errors) map[string]*classState {
	state := map[string]*classState{}
	live := func(name string) bool { s := state[name]; return s != nil && s.live }
	set := func(name string, s classState) { state[name] = &s }
	for _, m := range p.Migrations {
		create := func(c Class) {
			if s := state[c.Name]; s != nil && s.live {
				es.add(c.Pos, "migration %q creates class %s, which migration %q already created (line %d)", m.Tag, c.Name, s.tag, s.by.Line)
				return
			}
			set(c.Name, classState{live: true, by: c.Pos, tag: m.Tag, op: "created"})
		}
		for _, c := range m.NewClasses {
			create(c)
		}
		for _, c := range m.NewSQLiteClasses {
			create(c)
		}
		for _, r := range m.RenamedClasses {
			switch {
			case r.From == "" || r.To == "":
			case !live(r.From):
				es.add(r.Pos, "migration %q renames class %s, which does not exist at that point: an earlier migration must create it", m.Tag, r.From)
			case live(r.To):
				es.add(r.Pos, "migration %q renames class %s to %s, which already exists; a rename creates its destination", m.Tag, r.From, r.To)
			default:
				set(r.From, classState{by: r.Pos, tag: m.Tag, op: "renamed", to: r.To})
				set(r.To, classState{live: true, by: r.Pos, tag: m.Tag, op: "created"})
			}
		}
		for _, c := range m.DeletedClasses {
			if !live(c.Name) {
				es.add(c.Pos, "migration %q deletes class %s, which does not exist at that point", m.Tag, c.Name)
				continue
			}
			set(c.Name, classState{by: c.Pos, tag: m.Tag, op: "deleted"})
		}
		for _, t := range m.Transferred {
			switch {
			case t.From == "" || t.To == "" || t.FromScript == "":
			case p.Name != "" && t.FromScript == p.Name:
				es.add(t.Pos, "migration %q transfers class %s from this app (%s); use renamed_classes within one app", m.Tag, t.From, p.Name)
			case live(t.To):
				es.add(t.Pos, "migration %q transfers into class %s, which already exists; do not create the destination first, the transfer creates it", m.Tag, t.To)
			default:
				set(t.To, classState{live: true, by: t.Pos, tag: m.Tag, op: "created"})
			}
		}
	}
	return state
}

// Check checks the file against registered, the class names the app
// registers in code. It reports, each at its line: a binding whose name is
// used twice, a binding to a class that is not registered, a binding to
// another app's class, a binding to a class that no migration creates (or
// that a migration deletes or renames away), and migrations that cannot
// apply in order. The error is [Errors], an EINVALID den.Error.
func (p *Project) Check(registered []string) error {
	var es Errors
	state := p.classes(&es)
	reg := map[string]bool{}
	for _, c := range registered {
		reg[c] = true
	}
	seen := map[string]Binding{}
	for _, b := range p.Bindings {
		if b.Name == "" || b.ClassName == "" {
			continue // Parse reported it
		}
		if first, dup := seen[b.Name]; dup {
			es.add(b.Pos, "duplicate binding %s (first at line %d): each binding name reaches one namespace", b.Name, first.Pos.Line)
			continue
		}
		seen[b.Name] = b
		if b.ScriptName != "" && b.ScriptName != p.Name {
			es.add(b.Pos, "binding %s: script_name %q names another app; Den serves one app per process, so a binding reaches only this app's classes: remove script_name", b.Name, b.ScriptName)
			continue
		}
		if !reg[b.ClassName] {
			es.add(b.Pos, "binding %s names class %s, which the app does not register in code (registered: %s)", b.Name, b.ClassName, list(registered))
			continue
		}
		s := state[b.ClassName]
		switch {
		case s == nil:
			es.add(b.Pos, "binding %s: class %s has no migration that creates it: add {\"tag\": %q, \"new_sqlite_classes\": [%q]} to migrations", b.Name, b.ClassName, p.nextTag(), b.ClassName)
		case s.live:
		case s.op == "deleted":
			es.add(b.Pos, DeleteBoundMessage+" (migration %q, line %d)", b.ClassName, s.tag, s.by.Line)
		case s.op == "renamed":
			es.add(b.Pos, "binding %s: class %s was renamed to %s by migration %q (line %d): bind %s", b.Name, b.ClassName, s.to, s.tag, s.by.Line, s.to)
		}
	}
	return es.err()
}

// nextTag suggests a tag for a new migration.
func (p *Project) nextTag() string {
	tags := map[string]bool{}
	for _, m := range p.Migrations {
		tags[m.Tag] = true
	}
	for n := len(p.Migrations) + 1; ; n++ {
		if t := fmt.Sprintf("v%d", n); !tags[t] {
			return t
		}
	}
}

func (es *Errors) add(pos Pos, format string, args ...any) {
	*es = append(*es, &Error{Pos: pos, Msg: fmt.Sprintf(format, args...)})
}

func list(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	s := append([]string(nil), names...)
	sort.Strings(s)
	return strings.Join(s, ", ")
}
