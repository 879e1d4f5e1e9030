package sqlite

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/den-run/den"
	"zombiezen.com/go/sqlite"
)

// The sandbox keeps user SQL inside the object's own database, as workerd's
// authorizer does (reference §5.3): the authorizer below, sqlite3_limit and
// SQLite's defensive mode. It applies only while user statements are
// compiled or stepped (sandbox.user); Den's own statements run unchecked.

// Connection limits (sqlite3_limit). Den's own statements stay within them
// too, except the length limit, which is raised for them: a key-value entry
// may take MaxKeyValueBytes, and its row a few bytes more.
var limits = []struct {
	id    sqlite.Limit
	value int32
}{
	{sqlite.LimitSQLLength, den.MaxSQLBytes},
	{sqlite.LimitColumn, den.MaxSQLColumns},
	{sqlite.LimitExprDepth, 100},
	{sqlite.LimitCompoundSelect, 5},
	{sqlite.LimitVDBEOp, 25_000},
	{sqlite.LimitFunctionArg, den.MaxSQLFunctionArgs},
	{sqlite.LimitAttached, 0},
	{sqlite.LimitLikePatternLength, den.MaxSQLLikePatternBytes},
	{sqlite.LimitVariableNumber, den.MaxSQLParams},
	{sqlite.LimitTriggerDepth, 10},
	{sqlite.LimitWorkerThreads, 0},
	{sqlite.LimitLength, internalMaxLength},
}

const internalMaxLength = den.MaxKeyValueBytes + 64<<10

// setupSandbox sets the limits, defensive mode and the authorizer on conn.
// The caller must call the returned function before it closes conn.
func setupSandbox(conn *sqlite.Conn, sb *sandbox) (unregister func(), err error) {
	if !rawOK() {
		return nil, errRawHandles
	}
	for _, l := range limits {
		conn.Limit(l.id, l.value)
	}
	if err := setDefensive(conn); err != nil { // not conn.SetDefensive: see raw.go
		return nil, err
	}
	return setAuthorizer(conn, sb) // not conn.SetAuthorizer: see authorizer.go
}

// sandbox is the connection's authorizer. Its fields are set by the DB's
// goroutine around user statements and read by the authorizer, which SQLite
// calls on the same goroutine while it compiles a statement.
type sandbox struct {
	user   bool   // a user statement is being compiled or stepped: apply the rules
	denied string // why the first refused action of this statement was refused

	// What the statement being compiled does, for the statement cache.
	writes bool // it may change the database (not a plain query)
	dml    bool // it inserts, updates or deletes rows of a user table
	ddl    bool // it changes the schema
	alter  bool // it is an ALTER TABLE
	// deferFK: it sets PRAGMA defer_foreign_keys, which holds until the
	// transaction ends (a held turn's next turn starts with it off: hold.go)
	deferFK bool
}

// reset clears what the sandbox learned about the last statement.
func (s *sandbox) reset() {
	s.denied, s.writes, s.dml, s.ddl, s.alter, s.deferFK = "", false, false, false, false, false
}

// authorize decides whether SQLite may compile a.
func (s *sandbox) authorize(a action) sqlite.AuthResult {
	if !s.user {
		return sqlite.AuthResultOK
	}
	reason := s.check(a)
	if reason == "" {
		return sqlite.AuthResultOK
	}
	if s.denied == "" {
		s.denied = reason
	}
	return sqlite.AuthResultDeny
}

// check returns why a is refused, or "" if it is allowed.
func (s *sandbox) check(a action) string {
	switch op := a.op; op {
	case sqlite.OpSelect, sqlite.OpRecursive:
		return ""
	case sqlite.OpRead:
		t := a.Table()
		if reserved(t) {
			if c := a.Column(); c != "" {
				return fmt.Sprintf("access to %s.%s is prohibited", t, c)
			}
			return fmt.Sprintf("access to %s is prohibited", t)
		}
		if hiddenTables[strings.ToLower(t)] {
			return fmt.Sprintf("not authorized to use virtual table %s", t)
		}
		return checkSchema(a.Database(), true)
	case sqlite.OpInsert, sqlite.OpUpdate, sqlite.OpDelete:
		t := a.Table()
		if reserved(t) {
			return fmt.Sprintf("access to %s is prohibited", t)
		}
		if hiddenTables[strings.ToLower(t)] {
			return fmt.Sprintf("not authorized to use virtual table %s", t)
		}
		// SQLite updates sqlite_temp_master (empty here) when it renames.
		if r := checkSchema(a.Database(), op == sqlite.OpUpdate); r != "" {
			return r
		}
		s.writes = true
		if a.accessor == "" && !isSchemaTable(t) {
			s.dml = true
		}
		return ""
	case sqlite.OpCreateTable, sqlite.OpCreateIndex, sqlite.OpCreateTrigger, sqlite.OpCreateView,
		sqlite.OpDropTable, sqlite.OpDropIndex, sqlite.OpDropTrigger, sqlite.OpDropView:
		s.writes, s.ddl = true, true
		if r := checkNames(a); r != "" {
			return r
		}
		return checkSchema(a.Database(), false)
	case sqlite.OpCreateVTable, sqlite.OpDropVTable:
		s.writes, s.ddl = true, true
		if r := checkNames(a); r != "" {
			return r
		}
		if m := a.Module(); !vtableModules[strings.ToLower(m)] {
			return fmt.Sprintf("virtual table module %s is not allowed: use fts5, fts5vocab, rtree or rtree_i32", m)
		}
		return checkSchema(a.Database(), false)
	case sqlite.OpCreateTempTable, sqlite.OpCreateTempIndex, sqlite.OpCreateTempTrigger, sqlite.OpCreateTempView,
		sqlite.OpDropTempTable, sqlite.OpDropTempIndex, sqlite.OpDropTempTrigger, sqlite.OpDropTempView:
		return msgTemp
	case sqlite.OpAlterTable:
		s.writes, s.ddl, s.alter = true, true, true
		if t := a.Table(); reserved(t) {
			return fmt.Sprintf("access to %s is prohibited", t)
		}
		return checkSchema(a.Database(), false)
	case sqlite.OpReindex, sqlite.OpAnalyze:
		s.writes = true // ANALYZE writes sqlite_stat tables; allowed on every table, as PRAGMA optimize needs
		return ""
	case sqlite.OpFunction:
		name := a.arg2 // the function's name
		if !functions[strings.ToLower(name)] {
			return "not authorized to use function: " + name
		}
		return ""
	case sqlite.OpPragma:
		return s.checkPragma(a.Pragma(), a.PragmaArg(), a.Database())
	case sqlite.OpTransaction, sqlite.OpSavepoint:
		return den.MsgSQLTransaction
	case sqlite.OpAttach, sqlite.OpDetach:
		return "ATTACH and DETACH are not allowed: an object has only its own database"
	default:
		return "not authorized: " + op.String()
	}
}

const msgTemp = "TEMP tables, indexes, triggers and views are not allowed: create them in the main schema"

// checkNames refuses a schema action that names a reserved object.
func checkNames(a action) string {
	for _, name := range []string{a.Table(), a.Index(), a.Trigger(), a.View()} {
		if reserved(name) {
			return fmt.Sprintf("names that begin with _cf_ are reserved for Den: %s", name)
		}
		if hiddenTables[strings.ToLower(name)] {
			return fmt.Sprintf("the name %s is reserved by SQLite", name)
		}
	}
	return ""
}

// checkSchema refuses any schema but main, and temp when reading (SQLite
// consults the empty temp schema itself).
func checkSchema(schema string, tempOK bool) string {
	switch {
	case schema == "" || strings.EqualFold(schema, "main"):
		return ""
	case strings.EqualFold(schema, "temp"):
		if tempOK {
			return ""
		}
		return msgTemp
	}
	return fmt.Sprintf("access to schema %s is prohibited: an object has only its main database", schema)
}

// reserved reports whether name begins with Den's reserved prefix, in any
// case (workerd's isAllowedName).
func reserved(name string) bool {
	return len(name) >= 4 && strings.EqualFold(name[:4], "_cf_")
}

// isSchemaTable reports whether t is one of SQLite's own tables.
func isSchemaTable(t string) bool {
	return len(t) >= 7 && strings.EqualFold(t[:7], "sqlite_")
}

// hiddenTables are the eponymous virtual tables that expose the database
// file itself (pages, cells, statements), and so Den's own tables.
var hiddenTables = map[string]bool{"dbstat": true, "sqlite_dbpage": true, "sqlite_stmt": true}

// vtableModules are the virtual table modules user SQL may create.
var vtableModules = map[string]bool{"fts5": true, "fts5vocab": true, "rtree": true, "rtree_i32": true}

// functions is the function allow-list (workerd's ALLOWED_SQLITE_FUNCTIONS,
// reference §5.3), less load_extension, plus if, ceiling, log10 and power,
// SQLite's other names for allowed functions.
var functions = setOf(
	// core
	"abs", "changes", "char", "coalesce", "concat", "concat_ws", "format", "glob", "hex", "if",
	"ifnull", "iif", "instr", "last_insert_rowid", "length", "like", "likelihood", "likely",
	"lower", "ltrim", "max", "min", "nullif", "octet_length", "printf", "quote", "random",
	"randomblob", "replace", "round", "rtrim", "sign", "soundex", "substr", "substring",
	"total_changes", "trim", "typeof", "unhex", "unicode", "unlikely", "upper", "zeroblob",
	// date and time
	"date", "time", "datetime", "julianday", "unixepoch", "strftime", "timediff",
	"current_date", "current_time", "current_timestamp",
	// aggregates
	"avg", "count", "group_concat", "string_agg", "sum", "total",
	// window
	"row_number", "rank", "dense_rank", "percent_rank", "cume_dist", "ntile", "lag", "lead",
	"first_value", "last_value", "nth_value",
	// math
	"acos", "acosh", "asin", "asinh", "atan", "atan2", "atanh", "ceil", "ceiling", "cos", "cosh",
	"degrees", "exp", "floor", "ln", "log", "log10", "log2", "mod", "pi", "pow", "power", "radians",
	"sin", "sinh", "sqrt", "tan", "tanh", "trunc",
	// JSON
	"json", "jsonb", "json_array", "jsonb_array", "json_array_length", "json_extract",
	"jsonb_extract", "->", "->>", "json_insert", "jsonb_insert", "json_object", "jsonb_object",
	"json_patch", "jsonb_patch", "json_remove", "jsonb_remove", "json_replace", "jsonb_replace",
	"json_set", "jsonb_set", "json_type", "json_valid", "json_quote", "json_group_array",
	"jsonb_group_array", "json_group_object", "jsonb_group_object", "json_each", "json_tree",
	// FTS5 and R*Tree
	"match", "highlight", "bm25", "snippet", "rtreecheck",
	// what SQLite itself calls to carry out ALTER TABLE
	"sqlite_rename_column", "sqlite_rename_table", "sqlite_rename_test", "sqlite_drop_column",
	"sqlite_rename_quotefix",
)

// boolPragmas may be read, or set to a boolean.
var boolPragmas = setOf("case_sensitive_like", "foreign_keys", "defer_foreign_keys",
	"ignore_check_constraints", "legacy_alter_table", "recursive_triggers", "reverse_unordered_selects")

func setOf(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

// checkPragma applies the pragma allow-list (reference §5.3).
func (s *sandbox) checkPragma(name, arg, schema string) string {
	p := strings.ToLower(name)
	if schema != "" && !strings.EqualFold(schema, "main") {
		return fmt.Sprintf("PRAGMA %s.%s is not allowed: an object has only its main database", schema, name)
	}
	switch {
	case p == "data_version" || p == "page_size":
		if arg != "" {
			return fmt.Sprintf("PRAGMA %s is read-only", name)
		}
	case boolPragmas[p]:
		if arg != "" && !isBool(arg) {
			return fmt.Sprintf("PRAGMA %s takes true, false, yes, no, on, off, 1 or 0, not %q", name, arg)
		}
		s.deferFK = s.deferFK || (p == "defer_foreign_keys" && arg != "")
	case p == "foreign_key_list" || p == "index_info" || p == "index_list" || p == "index_xinfo" ||
		p == "table_info" || p == "table_xinfo":
		if arg == "" {
			return fmt.Sprintf("PRAGMA %s needs the name of a table or index", name)
		}
		return checkPragmaName(name, arg)
	case p == "foreign_key_check" || p == "table_list":
		return checkPragmaName(name, arg)
	case p == "quick_check":
		if _, err := strconv.Atoi(arg); err == nil {
			return ""
		}
		return checkPragmaName(name, arg)
	case p == "optimize":
		if arg != "" {
			if _, err := strconv.ParseInt(arg, 0, 32); err != nil {
				return fmt.Sprintf("PRAGMA optimize takes a 32-bit mask, not %q", arg)
			}
		}
		s.writes = true // it may run ANALYZE
	default:
		return "not authorized to use pragma: " + name
	}
	return ""
}

// checkPragmaName refuses a pragma argument that names a reserved object,
// or the index SQLite made for one.
func checkPragmaName(pragma, arg string) string {
	name := arg
	if len(name) > len("sqlite_autoindex_") && strings.EqualFold(name[:len("sqlite_autoindex_")], "sqlite_autoindex_") {
		name = name[len("sqlite_autoindex_"):]
	}
	if reserved(name) {
		return fmt.Sprintf("PRAGMA %s(%s) is prohibited: names that begin with _cf_ are reserved for Den", pragma, arg)
	}
	return ""
}

func isBool(arg string) bool {
	switch strings.ToLower(arg) {
	case "true", "false", "yes", "no", "on", "off", "1", "0":
		return true
	}
	return false
}

// renameTarget returns the new name an ALTER TABLE … RENAME TO statement
// gives its table, and whether stmt is one. The authorizer is not told the
// new name, so Den reads it from the statement's text.
func renameTarget(stmt string) (string, bool) {
	toks := tokens(stmt, 8)
	// ALTER TABLE [schema .] name RENAME TO new
	if len(toks) < 6 || !toks[0].is("ALTER") || !toks[1].is("TABLE") {
		return "", false
	}
	i := 3
	if toks[i].text == "." {
		i += 2
	}
	if i+2 >= len(toks) || !toks[i].is("RENAME") || !toks[i+1].is("TO") {
		return "", false
	}
	if toks[i+2].is("TO") { // RENAME to TO x: a column named "to"
		return "", false
	}
	return toks[i+2].name(), true
}

// token is one SQL token: a word, a quoted name or string, or a symbol.
type token struct {
	text   string
	quoted bool
}

// is reports whether t is the bare keyword kw, in any case.
func (t token) is(kw string) bool { return !t.quoted && strings.EqualFold(t.text, kw) }

// name returns the identifier t spells, unquoted.
func (t token) name() string {
	if !t.quoted {
		return t.text
	}
	open, body := t.text[0], t.text[1:len(t.text)-1]
	switch open {
	case '"', '`', '\'':
		q := string(open)
		return strings.ReplaceAll(body, q+q, q)
	}
	return body // [name]
}

// tokens splits the start of sql into at most max tokens, skipping spaces
// and comments as SQLite does.
func tokens(sql string, max int) []token {
	var toks []token
	for i := skipGap(sql, 0); i < len(sql) && len(toks) < max; i = skipGap(sql, i) {
		c := sql[i]
		switch {
		case c == '"' || c == '`' || c == '\'' || c == '[':
			end := byte(c)
			if c == '[' {
				end = ']'
			}
			j := i + 1
			for j < len(sql) {
				if sql[j] == end {
					if end != ']' && j+1 < len(sql) && sql[j+1] == end {
						j += 2 // a doubled quote
						continue
					}
					break
				}
				j++
			}
			if j >= len(sql) {
				return toks // unterminated: SQLite refuses it anyway
			}
			toks = append(toks, token{text: sql[i : j+1], quoted: true})
			i = j + 1
		case isWordByte(c):
			j := i
			for j < len(sql) && isWordByte(sql[j]) {
				j++
			}
			toks = append(toks, token{text: sql[i:j]})
			i = j
		default:
			toks = append(toks, token{text: sql[i : i+1]})
			i++
		}
	}
	return toks
}

// isWordByte reports whether c may be part of a bare word: letters, digits,
// '_', '$' and every byte of a non-ASCII character, as in SQLite.
func isWordByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '$' || c >= 0x80
}

// blank reports whether sql holds no statement: only spaces, semicolons and
// comments.
func blank(sql string) bool {
	i := skipGap(sql, 0)
	for i < len(sql) && sql[i] == ';' {
		i = skipGap(sql, i+1)
	}
	return i >= len(sql)
}

// skipGap returns the index of the first byte at or after i that is neither
// whitespace nor part of a comment, or len(sql). An unterminated comment runs
// to the end, as in SQLite.
func skipGap(sql string, i int) int {
	for i < len(sql) {
		switch c := sql[i]; {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f':
			i++
		case c == '-' && i+1 < len(sql) && sql[i+1] == '-':
			j := strings.IndexByte(sql[i:], '\n')
			if j < 0 {
				return len(sql)
			}
			i += j + 1
		case c == '/' && i+1 < len(sql) && sql[i+1] == '*':
			j := strings.Index(sql[i+2:], "*/")
			if j < 0 {
				return len(sql)
			}
			i += j + 4
		default:
			return i
		}
	}
	return i
}
