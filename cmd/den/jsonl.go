package main

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"
)

// The JSON lines form of an object's database, one JSON object a line:
//
//	{"type": "schema", "name": "t", "sql": "CREATE TABLE t (x)"}   every table, index, view, trigger
//	{"type": "row", "table": "t", "row": {"x": 1}}                  every row of the user's tables
//	{"type": "kv", "key": "k", "value": "text"}                     the key-value API (value: text if UTF-8, else {"base64": "..."})
//	{"type": "alarm", "time": "2026-01-01T00:00:00Z"}               the alarm, if set
//
// Values are JSON: null, numbers (INTEGER and REAL), strings (TEXT), and
// {"base64": "..."} for BLOBs; an infinite REAL is {"real": "Infinity"}.
// Schema lines come first (tables before what depends on them, in the
// database's own order); import creates tables, loads rows, then creates the
// rest, so rows do not fire triggers twice.

// line is one JSON line.
type line struct {
	Type  string         `json:"type"`
	Name  string         `json:"name,omitempty"`
	SQL   string         `json:"sql,omitempty"`
	Table string         `json:"table,omitempty"`
	Row   map[string]any `json:"row,omitempty"`
	Key   *string        `json:"key,omitempty"`
	Value any            `json:"value,omitempty"`
	Time  string         `json:"time,omitempty"`
}

// denSchema is Den's own tables, as sqlite/db.go creates them.
var denSchema = []string{
	"CREATE TABLE IF NOT EXISTS _cf_KV (key TEXT PRIMARY KEY, value BLOB) WITHOUT ROWID",
	"CREATE TABLE IF NOT EXISTS _cf_METADATA (key INTEGER PRIMARY KEY, value BLOB)",
}

// writeJSONL writes the database at path as JSON lines to w.
func writeJSONL(path string, w io.Writer) error {
	conn, err := sqlite.OpenConn(path, sqlite.OpenReadOnly)
	if err != nil {
		return err
	}
	defer conn.Close()
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	var tables []string
	err = sqlitex.ExecuteTransient(conn, `SELECT type, name, sql FROM sqlite_schema
		WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite\_%' ESCAPE '\' AND name NOT LIKE '\_cf\_%' ESCAPE '\' ORDER BY rowid`,
		&sqlitex.ExecOptions{ResultFunc: func(s *sqlite.Stmt) error {
			if s.ColumnText(0) == "table" {
				tables = append(tables, s.ColumnText(1))
			}
			return enc.Encode(line{Type: "schema", Name: s.ColumnText(1), SQL: s.ColumnText(2)})
		}})
	if err != nil {
		return err
	}
	for _, t := range tables {
		q := fmt.Sprintf("SELECT * FROM %q", t)
		err := sqlitex.ExecuteTransient(conn, q, &sqlitex.ExecOptions{ResultFunc: func(s *sqlite.Stmt) error {
			row := make(map[string]any, s.ColumnCount())
			for i := range s.ColumnCount() {
				row[s.ColumnName(i)] = columnJSON(s, i)
			}
			return enc.Encode(line{Type: "row", Table: t, Row: row})
		}})
		if err != nil {
			return err
		}
	}
	if hasTable(conn, "_cf_KV") {
		err := sqlitex.ExecuteTransient(conn, "SELECT key, value FROM _cf_KV ORDER BY key", &sqlitex.ExecOptions{ResultFunc: func(s *sqlite.Stmt) error {
			key := s.ColumnText(0)
			v := make([]byte, s.ColumnLen(1))
			s.ColumnBytes(1, v)
			var value any = map[string]string{"base64": base64.StdEncoding.EncodeToString(v)}
			if utf8.Valid(v) {
				value = string(v)
			}
			return enc.Encode(line{Type: "kv", Key: &key, Value: value})
		}})
		if err != nil {
			return err
		}
	}
	if hasTable(conn, "_cf_METADATA") {
		err := sqlitex.ExecuteTransient(conn, "SELECT value FROM _cf_METADATA WHERE key = 1", &sqlitex.ExecOptions{ResultFunc: func(s *sqlite.Stmt) error {
			return enc.Encode(line{Type: "alarm", Time: time.Unix(0, s.ColumnInt64(0)).UTC().Format(time.RFC3339Nano)})
		}})
		if err != nil {
			return err
		}
	}
	return bw.Flush()
}

func hasTable(conn *sqlite.Conn, name string) bool {
	n := 0
	sqlitex.ExecuteTransient(conn, "SELECT count(*) FROM sqlite_schema WHERE name = ?", &sqlitex.ExecOptions{
		Args:       []any{name},
		ResultFunc: func(s *sqlite.Stmt) error { n = s.ColumnInt(0); return nil },
	})
	return n > 0
}

// columnJSON returns column i of s as a JSON value.
func columnJSON(s *sqlite.Stmt, i int) any {
	switch s.ColumnType(i) {
	case sqlite.TypeNull:
		return nil
	case sqlite.TypeInteger:
		return s.ColumnInt64(i)
	case sqlite.TypeFloat:
		f := s.ColumnFloat(i)
		if math.IsInf(f, 0) || math.IsNaN(f) {
			return map[string]string{"real": fmt.Sprint(f)}
		}
		return f
	case sqlite.TypeBlob:
		b := make([]byte, s.ColumnLen(i))
		s.ColumnBytes(i, b)
		return map[string]string{"base64": base64.StdEncoding.EncodeToString(b)}
	}
	return s.ColumnText(i)
}

// valueSQL converts a JSON value back to a SQLite parameter.
func valueSQL(v any) (any, error) {
	switch v := v.(type) {
	case nil, string, bool:
		return v, nil
	case json.Number:
		if n, err := v.Int64(); err == nil {
			return n, nil
		}
		return v.Float64()
	case map[string]any:
		if s, ok := v["base64"].(string); ok && len(v) == 1 {
			return base64.StdEncoding.DecodeString(s)
		}
		if s, ok := v["real"].(string); ok && len(v) == 1 {
			switch s {
			case "+Inf", "Inf", "Infinity":
				return math.Inf(1), nil
			case "-Inf", "-Infinity":
				return math.Inf(-1), nil
			}
			return math.NaN(), nil
		}
	}
	return nil, fmt.Errorf("unsupported value %v", v)
}

// readJSONL builds the database at path (which must not exist) from the
// JSON lines r reads.
func readJSONL(r io.Reader, path string) error {
	conn, err := sqlite.OpenConn(path, sqlite.OpenReadWrite|sqlite.OpenCreate)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := sqlitex.ExecuteTransient(conn, "BEGIN", nil); err != nil {
		return err
	}
	for _, q := range denSchema {
		if err := sqlitex.ExecuteTransient(conn, q, nil); err != nil {
			return err
		}
	}
	var later []string // indexes, views, triggers: after the rows
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for n := 1; sc.Scan(); n++ {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		dec := json.NewDecoder(strings.NewReader(sc.Text()))
		dec.UseNumber()
		dec.DisallowUnknownFields()
		var l line
		if err := dec.Decode(&l); err != nil {
			return fmt.Errorf("line %d: %v", n, err)
		}
		if err := applyLine(conn, l, &later); err != nil {
			return fmt.Errorf("line %d: %v", n, err)
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	for _, q := range later {
		if err := sqlitex.ExecuteTransient(conn, q, nil); err != nil {
			return fmt.Errorf("%s: %v", q, err)
		}
	}
	return sqlitex.ExecuteTransient(conn, "COMMIT", nil)
}

func applyLine(conn *sqlite.Conn, l line, later *[]string) error {
	switch l.Type {
	case "schema":
		if strings.HasPrefix(strings.ToUpper(strings.TrimSpace(l.SQL)), "CREATE TABLE") || strings.HasPrefix(strings.ToUpper(strings.TrimSpace(l.SQL)), "CREATE VIRTUAL TABLE") {
			return sqlitex.ExecuteTransient(conn, l.SQL, nil)
		}
		*later = append(*later, l.SQL)
		return nil
	case "row":
		cols := make([]string, 0, len(l.Row))
		args := make([]any, 0, len(l.Row))
		for c, v := range l.Row {
			a, err := valueSQL(v)
			if err != nil {
				return err
			}
			cols = append(cols, fmt.Sprintf("%q", c))
			args = append(args, a)
		}
		q := fmt.Sprintf("INSERT INTO %q (%s) VALUES (%s)", l.Table, strings.Join(cols, ", "), strings.TrimSuffix(strings.Repeat("?, ", len(cols)), ", "))
		return sqlitex.ExecuteTransient(conn, q, &sqlitex.ExecOptions{Args: args})
	case "kv":
		if l.Key == nil {
			return fmt.Errorf(`a kv line needs "key"`)
		}
		v, err := valueSQL(l.Value)
		if err != nil {
			return err
		}
		if s, ok := v.(string); ok {
			v = []byte(s)
		}
		return sqlitex.ExecuteTransient(conn, "INSERT OR REPLACE INTO _cf_KV VALUES (?, ?)", &sqlitex.ExecOptions{Args: []any{*l.Key, v}})
	case "alarm":
		t, err := time.Parse(time.RFC3339Nano, l.Time)
		if err != nil {
			return err
		}
		return sqlitex.ExecuteTransient(conn, "INSERT OR REPLACE INTO _cf_METADATA VALUES (1, ?)", &sqlitex.ExecOptions{Args: []any{t.UnixNano()}})
	}
	return fmt.Errorf("unknown line type %q: want schema, row, kv or alarm", l.Type)
}
