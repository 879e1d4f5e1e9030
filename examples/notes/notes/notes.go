// Package notes is the notes example app: the one-database-per-user pattern.
// Each user (the X-User-ID header) is an object of class Notes with its own
// SQLite database, schema migrated when the object starts, searched with
// FTS5.
//
//	POST   /notes            {"title", "content"} → 201 and the note
//	GET    /notes            → the notes, most recently updated first
//	GET    /notes?q=words    → the notes whose title or content has every word
//	PUT    /notes/{id}       {"title", "content"} → the updated note
//	DELETE /notes/{id}       → 204
//
// A note is {"id", "title", "content", "created_at", "updated_at"}, the times
// in milliseconds since the Unix epoch. Errors are {"error": "..."}: 401
// without X-User-ID, 400 for invalid JSON or a missing title, 404 for an
// unknown note.
package notes

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/den-run/den"
	"github.com/den-run/den/serve"
)

// Names of the app's class and binding.
const (
	ClassName = "Notes"
	Binding   = "NOTES"
)

// Limits of the app's own.
const (
	MaxUserIDBytes = 256
	MaxTitleBytes  = 1000
	MaxBodyBytes   = 1 << 20
)

// App returns the notes app, ready for serve.Main or serve.Start.
func App() serve.App {
	return serve.App{
		Name:     "notes",
		Classes:  []den.Class{Class()},
		Bindings: map[string]string{Binding: ClassName},
		Worker:   Worker,
	}
}

// Class returns the Notes class.
func Class() den.Class { return den.Class{Name: ClassName, New: newNotes} }

// Note is one note, as stored and as sent.
type Note struct {
	ID        string `json:"id" sql:"id"`
	Title     string `json:"title" sql:"title"`
	Content   string `json:"content" sql:"content"`
	CreatedAt int64  `json:"created_at" sql:"created_at"`
	UpdatedAt int64  `json:"updated_at" sql:"updated_at"`
}

// migrations bring a user's database to the current schema, one version at
// a time; the version reached is kept under the key schemaKey.
var migrations = []string{
	// 1: the notes, by recency.
	`CREATE TABLE notes (
		id TEXT PRIMARY KEY,
		title TEXT NOT NULL,
		content TEXT NOT NULL DEFAULT '',
		created_at INTEGER NOT NULL,
		updated_at INTEGER NOT NULL
	);
	CREATE INDEX notes_by_updated ON notes (updated_at DESC)`,
	// 2: full-text search over title and content, kept in step by triggers.
	`CREATE VIRTUAL TABLE notes_fts USING fts5(title, content, content='notes', content_rowid='rowid');
	CREATE TRIGGER notes_ai AFTER INSERT ON notes BEGIN
		INSERT INTO notes_fts (rowid, title, content) VALUES (new.rowid, new.title, new.content);
	END;
	CREATE TRIGGER notes_ad AFTER DELETE ON notes BEGIN
		INSERT INTO notes_fts (notes_fts, rowid, title, content) VALUES ('delete', old.rowid, old.title, old.content);
	END;
	CREATE TRIGGER notes_au AFTER UPDATE ON notes BEGIN
		INSERT INTO notes_fts (notes_fts, rowid, title, content) VALUES ('delete', old.rowid, old.title, old.content);
		INSERT INTO notes_fts (rowid, title, content) VALUES (new.rowid, new.title, new.content);
	END;
	INSERT INTO notes_fts (notes_fts) VALUES ('rebuild')`,
}

const schemaKey = "schema_version"

// Notes is one user's notes.
type Notes struct {
	st   den.State
	mux  *http.ServeMux
	last int64 // the latest time handed out: each write gets a later one
}

// newNotes migrates the schema before the object takes any event.
func newNotes(st den.State, env *den.Env) (any, error) {
	n := &Notes{st: st}
	err := st.BlockConcurrencyWhile(context.Background(), func(ctx context.Context) error {
		if err := migrate(st.Storage()); err != nil {
			return err
		}
		last, err := den.ScanOne[int64](st.Storage().SQL().Exec("SELECT coalesce(max(updated_at), 0) FROM notes"))
		n.last = last
		return err
	})
	if err != nil {
		return nil, err
	}
	n.mux = http.NewServeMux()
	n.mux.HandleFunc("POST /notes", n.create)
	n.mux.HandleFunc("GET /notes", n.list)
	n.mux.HandleFunc("PUT /notes/{id}", n.update)
	n.mux.HandleFunc("DELETE /notes/{id}", n.remove)
	return n, nil
}

// migrate runs the migrations the database has not had, each with the
// version it reaches in one transaction.
func migrate(s den.Storage) error {
	v, _, err := den.GetJSON[int](s, schemaKey)
	if err != nil {
		return err
	}
	for ; v < len(migrations); v++ {
		err := s.Transaction(func() error {
			if _, err := s.SQL().Exec(migrations[v]); err != nil {
				return fmt.Errorf("migration %d: %w", v+1, err)
			}
			return den.PutJSON(s, schemaKey, v+1)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

func (n *Notes) ServeHTTP(w http.ResponseWriter, r *http.Request) { n.mux.ServeHTTP(w, r) }

func (n *Notes) sql() den.SQL { return n.st.Storage().SQL() }

// now returns the time of a write: the clock in milliseconds, or one more
// than the last, so that times order the writes.
func (n *Notes) now() int64 {
	n.last = max(time.Now().UnixMilli(), n.last+1)
	return n.last
}

func (n *Notes) create(w http.ResponseWriter, r *http.Request) {
	in, err := readInput(r)
	if err != nil {
		writeError(w, err)
		return
	}
	now := n.now()
	note, err := den.ScanOne[Note](n.sql().Exec(
		"INSERT INTO notes (id, title, content, created_at, updated_at) VALUES (?, ?, ?, ?, ?) RETURNING *",
		newID(), *in.Title, in.contentOr(""), now, now))
	if err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Location", "/notes/"+note.ID)
	writeJSON(w, http.StatusCreated, note)
}

func (n *Notes) list(w http.ResponseWriter, r *http.Request) {
	var notes []Note
	var err error
	if q := match(r.URL.Query().Get("q")); q != "" {
		notes, err = den.ScanAll[Note](n.sql().Exec(`SELECT n.* FROM notes_fts JOIN notes n ON n.rowid = notes_fts.rowid
			WHERE notes_fts MATCH ? ORDER BY n.updated_at DESC`, q))
	} else {
		notes, err = den.ScanAll[Note](n.sql().Exec("SELECT * FROM notes ORDER BY updated_at DESC"))
	}
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, notes)
}

func (n *Notes) update(w http.ResponseWriter, r *http.Request) {
	in, err := readInput(r)
	if err != nil {
		writeError(w, err)
		return
	}
	note, err := den.ScanOne[Note](n.sql().Exec(
		"UPDATE notes SET title = ?, content = coalesce(?, content), updated_at = ? WHERE id = ? RETURNING *",
		*in.Title, in.Content, n.now(), r.PathValue("id")))
	if den.ErrorCode(err) == den.ENOTFOUND {
		err = den.Errorf(den.ENOTFOUND, "no note %q", r.PathValue("id"))
	}
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, note)
}

func (n *Notes) remove(w http.ResponseWriter, r *http.Request) {
	c, err := n.sql().Exec("DELETE FROM notes WHERE id = ?", r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	if c.RowsWritten() == 0 {
		writeError(w, den.Errorf(den.ENOTFOUND, "no note %q", r.PathValue("id")))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// input is the body of a POST or a PUT. Content may be left out: "" for a
// new note, unchanged for an update.
type input struct {
	Title   *string `json:"title"`
	Content *string `json:"content"`
}

func (in input) contentOr(def string) string {
	if in.Content == nil {
		return def
	}
	return *in.Content
}

func readInput(r *http.Request) (input, error) {
	var in input
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes+1))
	if err != nil {
		return in, den.Errorf(den.EINVALID, "read body: %v", err)
	}
	if len(body) > MaxBodyBytes {
		return in, den.Errorf(den.ETOOLARGE, "a note is limited to %d bytes", MaxBodyBytes)
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return in, den.Errorf(den.EINVALID, `invalid JSON: %v; send {"title": "...", "content": "..."}`, err)
	}
	if in.Title == nil || strings.TrimSpace(*in.Title) == "" {
		return in, den.Errorf(den.EINVALID, "title is required")
	}
	if len(*in.Title) > MaxTitleBytes {
		return in, den.Errorf(den.EINVALID, "a title is limited to %d bytes", MaxTitleBytes)
	}
	return in, nil
}

// match turns a search box's words into an FTS5 query that finds the notes
// with every word: each word quoted, so FTS5's operators are plain text.
func match(q string) string {
	words := strings.Fields(q)
	for i, w := range words {
		words[i] = `"` + strings.ReplaceAll(w, `"`, `""`) + `"`
	}
	return strings.Join(words, " ")
}

func newID() string {
	b := make([]byte, 8)
	rand.Read(b) // never fails
	return hex.EncodeToString(b)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// writeError answers {"error": message} with the status of err's code.
func writeError(w http.ResponseWriter, err error) {
	status := den.HTTPStatus(err)
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	writeMessage(w, status, den.AsError(err).Message)
}

// writeMessage answers {"error": msg} with status.
func writeMessage(w http.ResponseWriter, status int, msg string) {
	b, _ := json.Marshal(map[string]string{"error": msg})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// Worker returns the front router: it requires X-User-ID and forwards the
// request to that user's object.
func Worker(env *den.Env) http.Handler {
	ns := env.Namespace(Binding)
	forward := func(w http.ResponseWriter, r *http.Request) {
		user := r.Header.Get("X-User-ID")
		if user == "" || len(user) > MaxUserIDBytes {
			w.Header().Set("WWW-Authenticate", "X-User-ID")
			writeMessage(w, http.StatusUnauthorized, fmt.Sprintf("send the header X-User-ID (1 to %d bytes): it names the user whose notes these are", MaxUserIDBytes))
			return
		}
		ns.GetByName(user).ServeHTTP(w, r)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/notes", forward)
	mux.HandleFunc("/notes/{id}", forward)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeMessage(w, http.StatusNotFound, "not found: the API is /notes and /notes/{id}")
	})
	return mux
}
