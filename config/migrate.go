package config

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/den-run/den"
)

// Files Migrate keeps in the data directory.
const (
	// StateFile records the migrations applied, in order.
	StateFile = "migrations.json"
	// JournalFile holds the migration being applied; it exists only
	// between the start of a migration and its record in StateFile.
	JournalFile = "migrations.journal"
	// TrashDir holds a deleted class's data until it is removed.
	TrashDir = ".trash"
)

// MigrateOptions tune [Migrate]. The zero value is valid.
type MigrateOptions struct {
	// ClassFiles returns the files and directories that hold the data of
	// class in data directory data, relative to it. Nil means Den's
	// layout: objects/<class> and keys/<class>.key.
	ClassFiles func(class string) []string
	// Derived returns the files under a data directory that are derived
	// from its objects and rebuilt when missing (the alarm index): they are
	// removed before a migration moves or deletes a class.
	Derived []string
	// Lock takes another app's data directory for a transfer, so that no
	// server runs on it meanwhile. Nil takes no lock.
	Lock func(dir string) (unlock func() error, err error)
	// FS is the file system; nil means [OS].
	FS FS
	// Now is the clock for the record; nil means time.Now.
	Now func() time.Time
	// Logger receives a line per migration applied; nil discards.
	Logger *slog.Logger
}

// State is what StateFile records.
type State struct {
	Applied []Applied `json:"applied"`
}

// Applied is one migration applied to a data directory.
type Applied struct {
	Tag string    `json:"tag"`
	Sum string    `json:"sum"` // of the migration's content, to notice a later edit
	At  time.Time `json:"at"`
}

// journal is a migration being applied: its steps, each idempotent.
type journal struct {
	Tag   string   `json:"tag"`
	Sum   string   `json:"sum"`
	Locks []string `json:"locks,omitempty"` // other apps' data directories
	Steps []step   `json:"steps"`
}

// step is one idempotent change. Paths are relative to the data directory
// unless absolute (another app's).
type step struct {
	Op   string `json:"op"` // "move", "remove", "removeAll"
	From string `json:"from,omitempty"`
	To   string `json:"to,omitempty"`
	Path string `json:"path,omitempty"`
}

// Migrate applies p's migrations that data has not applied yet, in order,
// and returns their tags. Call it with the data directory locked and before
// any object runs.
//
// It first finishes a migration a crash interrupted (its journal). It then
// checks that the migrations already applied to data are p's first ones,
// unchanged: once applied, a tag must stay in every later file. Each new
// migration is planned, written to the journal, carried out step by step
// (each step idempotent and synced), recorded in StateFile, and its journal
// removed; a crash anywhere in between is finished by the next call.
//
// Creating a class changes nothing on disk (its key and objects appear on
// first use; objects already there from before the app had a file are
// kept). A rename moves the class's key and objects to the new name, so
// every ID and every byte of data stay. A delete moves them to the trash,
// then removes them. A transfer moves them from the data directory of the
// app named by from_script (den.apps in the file) under its lock.
//
// Errors are EINVALID for a file that disagrees with the directory, and
// EINTERNAL for a failed step (the journal finishes it at the next call).
func Migrate(ctx context.Context, data string, p *Project, opts MigrateOptions) ([]string, error) {
	m := &migrator{data: data, p: p, opts: opts}
	if m.opts.FS == nil {
		m.opts.FS = OS
	}
	if m.opts.Now == nil {
		m.opts.Now = time.Now
	}
	if m.opts.Logger == nil {
		m.opts.Logger = slog.New(slog.DiscardHandler)
	}
	if m.opts.ClassFiles == nil {
		m.opts.ClassFiles = DenClassFiles
	}
	return m.run(ctx)
}

// DenClassFiles returns where Den keeps a class's data, relative to the data
// directory: its objects and its namespace key.
func DenClassFiles(class string) []string {
	return []string{filepath.Join("objects", class), filepath.Join("keys", class+".key")}
}

type migrator struct {
	data string
	p    *Project
	opts MigrateOptions
}

func (m *migrator) path(p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(m.data, p)
}

func (m *migrator) run(ctx context.Context) ([]string, error) {
	fsys := m.opts.FS
	state, err := m.readState()
	if err != nil {
		return nil, err
	}
	if b, err := fsys.ReadFile(m.path(JournalFile)); err == nil {
		var j journal
		if err := json.Unmarshal(b, &j); err != nil {
			return nil, den.Errorf(den.EINVALID, "migration journal %s is damaged (%v): restore the data directory from backup", m.path(JournalFile), err)
		}
		m.opts.Logger.Warn("finishing a migration a crash interrupted", "tag", j.Tag)
		if state, err = m.apply(state, j); err != nil {
			return nil, err
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, den.Errorf(den.EINTERNAL, "read migration journal: %w", err)
	}
	if err := m.checkApplied(state); err != nil {
		return nil, err
	}
	var done []string
	for _, mig := range m.p.Migrations[len(state.Applied):] {
		if err := ctx.Err(); err != nil {
			return done, den.Errorf(den.ECANCELED, "migrations: %w", context.Cause(ctx))
		}
		j, err := m.plan(mig)
		if err != nil {
			return done, err
		}
		if state, err = m.apply(state, j); err != nil {
			return done, err
		}
		done = append(done, mig.Tag)
		m.opts.Logger.Info("applied migration", "tag", mig.Tag, "data", m.data)
	}
	return done, nil
}

// apply carries out j: journal, steps, record, journal removed. Every part
// may already be done.
func (m *migrator) apply(state State, j journal) (State, error) {
	fsys := m.opts.FS
	fail := func(what string, err error) (State, error) {
		return state, den.Errorf(den.EINTERNAL, "migration %q: %s: %w (the next start finishes it)", j.Tag, what, err)
	}
	for _, dir := range j.Locks {
		if m.opts.Lock == nil {
			continue
		}
		unlock, err := m.opts.Lock(dir)
		if err != nil {
			return state, den.Errorf(den.ErrorCode(err), "migration %q: take the data directory of the app transferred from: %w", j.Tag, err)
		}
		defer unlock()
	}
	b, err := json.MarshalIndent(j, "", "  ")
	if err != nil {
		return fail("encode the journal", err)
	}
	if err := fsys.WriteFile(m.path(JournalFile), b); err != nil {
		return fail("write the journal", err)
	}
	for _, s := range j.Steps {
		if err := m.step(s); err != nil {
			return fail(s.String(), err)
		}
	}
	if !state.has(j.Tag) {
		state.Applied = append(state.Applied, Applied{Tag: j.Tag, Sum: j.Sum, At: m.opts.Now().UTC()})
		b, err := json.MarshalIndent(state, "", "  ")
		if err != nil {
			return fail("encode the record", err)
		}
		if err := fsys.WriteFile(m.path(StateFile), append(b, '\n')); err != nil {
			state.Applied = state.Applied[:len(state.Applied)-1]
			return fail("record it", err)
		}
	}
	if err := fsys.Remove(m.path(JournalFile)); err != nil {
		return fail("remove the journal", err)
	}
	if err := fsys.SyncDir(m.data); err != nil {
		return fail("sync the data directory", err)
	}
	return state, nil
}

func (s step) String() string {
	switch s.Op {
	case "move":
		return fmt.Sprintf("move %s to %s", s.From, s.To)
	case "removeAll":
		return "remove " + s.Path + " and everything in it"
	default:
		return "remove " + s.Path
	}
}

// step carries out one step; done already, it changes nothing.
func (m *migrator) step(s step) error {
	fsys := m.opts.FS
	switch s.Op {
	case "move":
		from, to := m.path(s.From), m.path(s.To)
		there, err := exists(fsys, from)
		if err != nil || !there {
			return err // moved already, or nothing to move
		}
		if err := fsys.MkdirAll(filepath.Dir(to)); err != nil {
			return err
		}
		if err := fsys.Rename(from, to); err != nil {
			return err
		}
		if err := fsys.SyncDir(filepath.Dir(to)); err != nil {
			return err
		}
		return fsys.SyncDir(filepath.Dir(from))
	case "remove":
		p := m.path(s.Path)
		if err := fsys.Remove(p); err != nil {
			return err
		}
		return fsys.SyncDir(filepath.Dir(p))
	case "removeAll":
		p := m.path(s.Path)
		if err := fsys.RemoveAll(p); err != nil {
			return err
		}
		return fsys.SyncDir(filepath.Dir(p))
	}
	return fmt.Errorf("unknown step %q", s.Op)
}

func (st State) has(tag string) bool {
	for _, a := range st.Applied {
		if a.Tag == tag {
			return true
		}
	}
	return false
}

func (m *migrator) readState() (State, error) {
	var st State
	b, err := m.opts.FS.ReadFile(m.path(StateFile))
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, den.Errorf(den.EINTERNAL, "read the migration record: %w", err)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, den.Errorf(den.EINVALID, "migration record %s is damaged (%v): restore the data directory from backup", m.path(StateFile), err)
	}
	return st, nil
}

// checkApplied checks that the applied migrations are the file's first
// ones, in order and unchanged.
func (m *migrator) checkApplied(st State) error {
	var es Errors
	at := map[string]int{}
	for i, mig := range m.p.Migrations {
		at[mig.Tag] = i
	}
	for i, a := range st.Applied {
		j, ok := at[a.Tag]
		switch {
		case !ok:
			es.add(m.p.migrationsPos(), "migration %q was applied to %s on %s; every later config must keep it: put it back in migrations (position %d)", a.Tag, m.data, a.At.Format(time.DateOnly), i+1)
		case j != i:
			es.add(m.p.Migrations[j].Pos, "migration %q was applied to %s as number %d; it is number %d here: keep applied migrations in their order and add new ones at the end", a.Tag, m.data, i+1, j+1)
		case Sum(m.p.Migrations[j]) != a.Sum:
			es.add(m.p.Migrations[j].Pos, "migration %q was changed after it was applied to %s on %s: restore it, and make the change in a new migration", a.Tag, m.data, a.At.Format(time.DateOnly))
		}
	}
	return es.err()
}

// migrationsPos is where a message about the list as a whole points.
func (p *Project) migrationsPos() Pos {
	if len(p.Migrations) > 0 {
		return p.Migrations[len(p.Migrations)-1].Pos
	}
	return Pos{File: p.File, Line: 1, Col: 1}
}

// Sum returns a digest of what mig does (not where it is written), to
// notice a migration edited after it was applied.
func Sum(mig Migration) string {
	names := func(cs []Class) []string {
		out := make([]string, len(cs))
		for i, c := range cs {
			out[i] = c.Name
		}
		return out
	}
	type rename struct{ From, To string }
	type transfer struct{ From, FromScript, To string }
	v := struct {
		Tag                 string
		New, NewSQLite, Del []string
		Renamed             []rename
		Transferred         []transfer
	}{Tag: mig.Tag, New: names(mig.NewClasses), NewSQLite: names(mig.NewSQLiteClasses), Del: names(mig.DeletedClasses)}
	for _, r := range mig.RenamedClasses {
		v.Renamed = append(v.Renamed, rename{r.From, r.To})
	}
	for _, t := range mig.Transferred {
		v.Transferred = append(v.Transferred, transfer{t.From, t.FromScript, t.To})
	}
	b, _ := json.Marshal(v)
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:16])
}

// plan returns the journal of mig: its steps against the directory as it
// is. It refuses a migration whose destination already holds data.
func (m *migrator) plan(mig Migration) (journal, error) {
	j := journal{Tag: mig.Tag, Sum: Sum(mig)}
	files := m.opts.ClassFiles
	changes := len(mig.RenamedClasses)+len(mig.DeletedClasses)+len(mig.Transferred) > 0
	if changes {
		for _, d := range m.opts.Derived {
			j.Steps = append(j.Steps, step{Op: "remove", Path: d})
		}
	}
	empty := func(class string, where string) error {
		for _, f := range files(class) {
			there, err := exists(m.opts.FS, m.path(f))
			if err != nil {
				return den.Errorf(den.EINTERNAL, "migration %q: %w", mig.Tag, err)
			}
			if there {
				return den.Errorf(den.EINVALID, "%s: migration %q %s, but %s already exists: move it away (or restore the data directory from backup) and start again", mig.Pos, mig.Tag, where, m.path(f))
			}
		}
		return nil
	}
	for _, r := range mig.RenamedClasses {
		if err := empty(r.To, "renames class "+r.From+" to "+r.To); err != nil {
			return j, err
		}
		from, to := files(r.From), files(r.To)
		for i := range from {
			j.Steps = append(j.Steps, step{Op: "move", From: from[i], To: to[i]})
		}
	}
	for _, c := range mig.DeletedClasses {
		for i, f := range files(c.Name) {
			trash := filepath.Join(TrashDir, mig.Tag+"-"+c.Name+"-"+fmt.Sprint(i))
			j.Steps = append(j.Steps, step{Op: "move", From: f, To: trash})
		}
	}
	if len(mig.DeletedClasses) > 0 {
		j.Steps = append(j.Steps, step{Op: "removeAll", Path: TrashDir})
	}
	for _, t := range mig.Transferred {
		app, ok := m.p.Den.Apps[t.FromScript]
		if !ok || app.Value == "" {
			return j, den.Errorf(den.EINVALID, "%s: migration %q transfers class %s from app %q: say where that app keeps its data with \"den\": {\"apps\": {%q: {\"data\": \"PATH\"}}}", t.Pos, mig.Tag, t.From, t.FromScript, t.FromScript)
		}
		src, err := filepath.Abs(m.p.Path(app.Value))
		if err != nil {
			return j, den.Errorf(den.EINVALID, "%s: %w", app.Pos, err)
		}
		if err := empty(t.To, "transfers class "+t.From+" from "+t.FromScript+" into "+t.To); err != nil {
			return j, err
		}
		from, to := files(t.From), files(t.To)
		found := false
		for i := range from {
			there, err := exists(m.opts.FS, filepath.Join(src, from[i]))
			if err != nil {
				return j, den.Errorf(den.EINTERNAL, "migration %q: %w", mig.Tag, err)
			}
			found = found || there
			j.Steps = append(j.Steps, step{Op: "move", From: filepath.Join(src, from[i]), To: to[i]})
		}
		if !found {
			return j, den.Errorf(den.EINVALID, "%s: migration %q transfers class %s from app %q, but %s holds no data of that class (%s): check den.apps.%s.data", t.Pos, mig.Tag, t.From, t.FromScript, src, from[0], t.FromScript)
		}
		for _, d := range m.opts.Derived {
			j.Steps = append(j.Steps, step{Op: "remove", Path: filepath.Join(src, d)})
		}
		j.Locks = append(j.Locks, src)
	}
	return j, nil
}
