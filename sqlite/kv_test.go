package sqlite_test

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/den-run/den"
	"github.com/den-run/den/sqlite"
)

func TestGetPut(t *testing.T) {
	db := mustDB(t)
	if v, ok, err := db.Get("missing"); err != nil || ok || v != nil {
		t.Errorf("Get(missing) = %q, %v, %v", v, ok, err)
	}
	must(t, db.Put("a", []byte("1")))
	must(t, db.Put("a", []byte("2")))
	if v, ok := mustGet(t, db, "a"); !ok || v != "2" {
		t.Errorf("Get(a) = %q, %v, want 2", v, ok)
	}
	for _, empty := range [][]byte{nil, {}} {
		must(t, db.Put("empty", empty))
		v, ok, err := db.Get("empty")
		if err != nil || !ok || v == nil || len(v) != 0 {
			t.Errorf("Get(empty) after Put(%#v) = %#v, %v, %v; want a non-nil empty value", empty, v, ok, err)
		}
	}
	got, err := sqlite.QueryStrings(db, "SELECT typeof(value) FROM _cf_KV WHERE key = 'empty'")
	must(t, err)
	if !slices.Equal(got, []string{"blob"}) {
		t.Errorf("empty value stored as %q, want blob", got)
	}

	// The value returned is the caller's to keep.
	v1, _, _ := db.Get("a")
	v1[0] = 'x'
	if v, _ := mustGet(t, db, "a"); v != "2" {
		t.Errorf("Get(a) = %q after changing an earlier result", v)
	}
	// Keys are any UTF-8, including NUL and the empty string.
	for _, k := range []string{"", "\x00", "a\x00b", "é", "日本", "\U0010FFFF"} {
		must(t, db.Put(k, []byte(k)))
		if v, ok := mustGet(t, db, k); !ok || v != k {
			t.Errorf("Get(%q) = %q, %v", k, v, ok)
		}
	}
	// Binary values round-trip.
	bin := []byte{0, 0xff, 0xfe, 0, 1}
	must(t, db.Put("bin", bin))
	if v, _, _ := db.Get("bin"); !bytes.Equal(v, bin) {
		t.Errorf("Get(bin) = %x, want %x", v, bin)
	}
}

func TestGetMany(t *testing.T) {
	db := mustDB(t)
	fill(t, db, "b", "é", "a", "z")
	got, err := db.GetMany([]string{"z", "missing", "é", "a", "a", "zz"})
	must(t, err)
	if k := strings.Join(keys(got), ","); k != "a,z,é" {
		t.Errorf("GetMany keys = %s, want a,z,é (UTF-8 byte order, missing left out, each once)", k)
	}
	for _, e := range got {
		if string(e.Value) != "v:"+e.Key {
			t.Errorf("GetMany value of %q = %q", e.Key, e.Value)
		}
	}
	if got, err := db.GetMany(nil); err != nil || len(got) != 0 {
		t.Errorf("GetMany(nil) = %v, %v", got, err)
	}
	if got, err := db.GetMany([]string{"missing"}); err != nil || len(got) != 0 {
		t.Errorf("GetMany(missing) = %v, %v", got, err)
	}
}

func TestDelete(t *testing.T) {
	db := mustDB(t)
	fill(t, db, "a", "b", "c")
	if ok, err := db.Delete("a"); err != nil || !ok {
		t.Errorf("Delete(a) = %v, %v, want true", ok, err)
	}
	if ok, err := db.Delete("a"); err != nil || ok {
		t.Errorf("Delete(a) again = %v, %v, want false", ok, err)
	}
	if n, err := db.DeleteMany([]string{"b", "missing", "c", "b"}); err != nil || n != 2 {
		t.Errorf("DeleteMany = %d, %v, want 2", n, err)
	}
	if n, err := db.DeleteMany(nil); err != nil || n != 0 {
		t.Errorf("DeleteMany(nil) = %d, %v, want 0", n, err)
	}
	if all, _ := db.List(den.ListOptions{}); len(all) != 0 {
		t.Errorf("keys left: %q", keys(all))
	}
}

func TestPutMany(t *testing.T) {
	db := mustDB(t)
	must(t, db.PutMany(nil))
	must(t, db.PutMany([]den.Entry{{Key: "a", Value: []byte("1")}, {Key: "b"}, {Key: "a", Value: []byte("2")}}))
	if v, _ := mustGet(t, db, "a"); v != "2" {
		t.Errorf("Get(a) = %q, want the last value 2", v)
	}
	if v, ok := mustGet(t, db, "b"); !ok || v != "" {
		t.Errorf("Get(b) = %q, %v", v, ok)
	}
}

func TestLimits(t *testing.T) {
	db := mustDB(t)
	fill(t, db, "kept")
	ok2048 := strings.Repeat("k", den.MaxKeyBytes)
	bad := strings.Repeat("k", den.MaxKeyBytes+1)
	must(t, db.Put(ok2048, []byte("v")))
	must(t, db.Put("big", make([]byte, den.MaxKeyValueBytes-len("big"))))

	const keyMsg = "Keys cannot be larger than 2048 bytes. A key of size 2049 was provided."
	batch := make([]string, den.MaxBatchKeys+1)
	entries := make([]den.Entry, den.MaxBatchKeys+1)
	for i := range batch {
		batch[i] = fmt.Sprint("k", i)
		entries[i] = den.Entry{Key: batch[i]}
	}
	for _, tc := range []struct {
		name string
		err  error
		code string
		msg  string
	}{
		{"Put long key", db.Put(bad, nil), den.ELIMIT, keyMsg},
		{"Get long key", lastErr3(db.Get(bad)), den.ELIMIT, keyMsg},
		{"Delete long key", lastErr(db.Delete(bad)), den.ELIMIT, keyMsg},
		{"GetMany long key", lastErr(db.GetMany([]string{"a", bad})), den.ELIMIT, keyMsg},
		{"DeleteMany long key", lastErr(db.DeleteMany([]string{"kept", bad})), den.ELIMIT, keyMsg},
		{"Put big entry", db.Put("big2", make([]byte, den.MaxKeyValueBytes)), den.ELIMIT, "Key and value together cannot be larger than 2097152 bytes (2 MiB). Key \"big2\" and its value are 2097156 bytes."},
		{"PutMany one bad", db.PutMany([]den.Entry{{Key: "new1"}, {Key: bad}, {Key: "new2"}}), den.ELIMIT, keyMsg},
		{"PutMany 129", db.PutMany(entries), den.ELIMIT, "Maximum number of key value pairs is 128. 129 pairs were provided."},
		{"GetMany 129", lastErr(db.GetMany(batch)), den.ELIMIT, "Maximum number of key value pairs is 128. 129 pairs were provided."},
		{"DeleteMany 129", lastErr(db.DeleteMany(append(batch[:128:128], "kept"))), den.ELIMIT, "Maximum number of key value pairs is 128. 129 pairs were provided."},
		{"Put not UTF-8", db.Put("a\xffb", nil), den.EINVALID, ""},
		{"Get not UTF-8", lastErr3(db.Get("\xc3")), den.EINVALID, ""},
		{"DeleteMany not UTF-8", lastErr(db.DeleteMany([]string{"kept", "\xff"})), den.EINVALID, ""},
		{"List both starts", lastErr(db.List(den.ListOptions{Start: "a", StartAfter: "b"})), den.EINVALID, "List cannot be called with both Start and StartAfter values."},
		{"List negative limit", lastErr(db.List(den.ListOptions{Limit: -1})), den.EINVALID, "List limit must be positive."},
	} {
		e := wantCode(t, tc.err, tc.code)
		if tc.msg != "" && e.Message != tc.msg {
			t.Errorf("%s: message %q, want %q", tc.name, e.Message, tc.msg)
		}
	}
	// Nothing the failed calls were given was written or deleted.
	all, err := db.List(den.ListOptions{})
	must(t, err)
	if got := keys(all); !slices.Equal(got, []string{"big", "kept", ok2048}) {
		t.Errorf("keys after failed calls = %.40q", got)
	}
}

// lastErr3 and lastErr return the error of a call's results.
func lastErr3[T, U any](_ T, _ U, err error) error { return err }
func lastErr[T any](_ T, err error) error          { return err }

func TestList(t *testing.T) {
	db := mustDB(t)
	all := []string{"", "a", "a\x00", "a\x00b", "ab", "abc", "b", "ba", "z", "é", "éa", "\xef\xbf\xbf", "\xef\xbf\xbfz", "\U0010FFFF"}
	fill(t, db, all...)
	// "é" (0xC3 0xA9) is after "z" in UTF-8 byte order; U+FFFF and
	// U+10FFFF come last.
	for _, tc := range []struct {
		opts den.ListOptions
		want []string
	}{
		{den.ListOptions{}, all},
		{den.ListOptions{Reverse: true}, reversed(all)},
		{den.ListOptions{Limit: 3}, all[:3]},
		{den.ListOptions{Reverse: true, Limit: 2}, []string{"\U0010FFFF", "\xef\xbf\xbfz"}},
		{den.ListOptions{Start: "ab"}, all[4:]},
		{den.ListOptions{StartAfter: "a"}, all[2:]},
		{den.ListOptions{StartAfter: "a\x00"}, all[3:]},
		{den.ListOptions{Start: "a", End: "b"}, []string{"a", "a\x00", "a\x00b", "ab", "abc"}},
		{den.ListOptions{Start: "a", End: "b", Reverse: true, Limit: 2}, []string{"abc", "ab"}},
		{den.ListOptions{End: "a"}, []string{""}},
		{den.ListOptions{Prefix: "a"}, []string{"a", "a\x00", "a\x00b", "ab", "abc"}},
		{den.ListOptions{Prefix: "a", Start: "ab"}, []string{"ab", "abc"}},
		{den.ListOptions{Prefix: "a", StartAfter: "ab"}, []string{"abc"}},
		{den.ListOptions{Prefix: "a", End: "ab"}, []string{"a", "a\x00", "a\x00b"}},
		{den.ListOptions{Prefix: "a", Reverse: true, Limit: 1}, []string{"abc"}},
		{den.ListOptions{Prefix: "é"}, []string{"é", "éa"}},
		{den.ListOptions{Start: "z"}, []string{"z", "é", "éa", "\xef\xbf\xbf", "\xef\xbf\xbfz", "\U0010FFFF"}},
		{den.ListOptions{Start: "z", End: "é"}, []string{"z"}},
		{den.ListOptions{Prefix: "\xef\xbf\xbf"}, []string{"\xef\xbf\xbf", "\xef\xbf\xbfz"}},
		{den.ListOptions{Prefix: "\xff"}, nil},
		{den.ListOptions{Prefix: "\xf4"}, []string{"\U0010FFFF"}},
		{den.ListOptions{Start: "b", End: "a"}, nil},
		{den.ListOptions{Start: "b", End: "b"}, nil},
		{den.ListOptions{Prefix: "b", End: "b"}, nil},
		{den.ListOptions{Prefix: "c"}, nil},
		{den.ListOptions{Start: "\xff"}, nil},
	} {
		got, err := db.List(tc.opts)
		if err != nil {
			t.Errorf("List(%#v): %v", tc.opts, err)
			continue
		}
		if !slices.Equal(keys(got), tc.want) {
			t.Errorf("List(%#v) = %q, want %q", tc.opts, keys(got), tc.want)
		}
		for _, e := range got {
			if string(e.Value) != "v:"+e.Key {
				t.Errorf("List(%#v): value of %q = %q", tc.opts, e.Key, e.Value)
			}
		}
	}
}

func TestListPrefixAllFF(t *testing.T) {
	// A prefix with no successor (all 0xff) has no upper bound; keys are
	// UTF-8 so none can match, but the range query must still run.
	db := mustDB(t)
	fill(t, db, "a", "\U0010FFFF")
	got, err := db.List(den.ListOptions{Prefix: "\xff\xff"})
	must(t, err)
	if len(got) != 0 {
		t.Errorf("List(prefix ff ff) = %q", keys(got))
	}
}

func reversed(s []string) []string {
	r := slices.Clone(s)
	slices.Reverse(r)
	return r
}

func TestDeleteAll(t *testing.T) {
	db := mustDB(t)
	fill(t, db, "a", "b")
	must(t, sqlite.Exec(db, `
		INSERT INTO _cf_METADATA VALUES (1, x'01');
		CREATE TABLE parent (id INTEGER PRIMARY KEY, name TEXT);
		CREATE TABLE child (id INTEGER PRIMARY KEY AUTOINCREMENT, pid INTEGER NOT NULL REFERENCES parent(id));
		CREATE INDEX child_pid ON child(pid);
		CREATE VIEW "we""ird view" AS SELECT * FROM parent;
		CREATE TRIGGER parent_log AFTER INSERT ON parent BEGIN INSERT INTO child(pid) VALUES (new.id); END;
		CREATE TABLE "Sqlite3_like_name" (x);
		INSERT INTO parent VALUES (1, 'one'), (2, 'two');
		INSERT INTO child(pid) VALUES (1);
		CREATE VIRTUAL TABLE docs USING fts5(body);
		INSERT INTO docs VALUES ('hello world');`))

	// Inside a Transaction it fails, and changes nothing.
	err := db.Transaction(func() error { return db.DeleteAll() })
	e := wantCode(t, err, den.EINVALID)
	if e.Message != "Cannot call DeleteAll() within a transaction" {
		t.Errorf("message %q", e.Message)
	}
	if _, ok := mustGet(t, db, "a"); !ok {
		t.Error("DeleteAll inside a Transaction deleted a key")
	}

	must(t, db.Begin())
	must(t, db.DeleteAll())
	_, err = db.Commit()
	must(t, err)
	if all, _ := db.List(den.ListOptions{}); len(all) != 0 {
		t.Errorf("keys left: %q", keys(all))
	}
	names, err := sqlite.QueryStrings(db, "SELECT name FROM sqlite_schema WHERE name NOT LIKE 'sqlite%' ORDER BY name")
	must(t, err)
	if !slices.Equal(names, []string{"_cf_KV", "_cf_METADATA"}) {
		t.Errorf("schema after DeleteAll: %q", names)
	}
	meta, err := sqlite.QueryStrings(db, "SELECT count(*) FROM _cf_METADATA")
	must(t, err)
	if !slices.Equal(meta, []string{"0"}) {
		t.Errorf("metadata rows after DeleteAll: %q", meta)
	}
	fk, err := sqlite.QueryStrings(db, "PRAGMA defer_foreign_keys")
	must(t, err)
	if !slices.Equal(fk, []string{"0"}) {
		t.Errorf("defer_foreign_keys after DeleteAll = %q, want 0", fk)
	}
	// The database is usable afterwards, SQL included.
	fill(t, db, "c")
	must(t, sqlite.Exec(db, "CREATE TABLE parent (id INTEGER PRIMARY KEY)"))
}

func TestDeleteAllRollsBack(t *testing.T) {
	db := mustDB(t)
	fill(t, db, "a")
	must(t, sqlite.Exec(db, "CREATE TABLE t (x)"))
	must(t, db.Begin())
	must(t, db.DeleteAll())
	must(t, db.Rollback())
	if _, ok := mustGet(t, db, "a"); !ok {
		t.Error("rolled-back DeleteAll deleted a key")
	}
	if names, _ := sqlite.QueryStrings(db, "SELECT name FROM sqlite_schema WHERE name = 't'"); len(names) != 1 {
		t.Error("rolled-back DeleteAll dropped a table")
	}
}

// FuzzList compares List with a model: a sorted slice filtered by the
// options as the API documents them, independently of den.KeyRange.
func FuzzList(f *testing.F) {
	f.Add("a|b|c|ab|é|z", "", "", "", "", false, 0)
	f.Add("a|a\x00|a\x00b|b", "", "a", "", "", false, 0)
	f.Add("a|ab|abc|b", "", "", "", "a", true, 2)
	f.Add("a|ab|abc|b", "ab", "", "abc", "a", false, 0)
	f.Add("z|é|éa|\U0010FFFF|\uffff", "z", "", "é", "", true, 1)
	f.Add("x|y", "b", "a", "", "", false, 0)
	f.Add("x|y", "", "", "", "", false, -1)
	f.Add("\xef\xbf\xbf|\xef\xbf\xbfa|\xf4\x8f\xbf\xbf", "", "", "", "\xef\xbf", false, 0)
	f.Add("a|b", "", "", "", "\xff", false, 0)
	f.Add("|a|b", "", "", "a", "", true, 0)
	f.Add("a\xc3|b", "", "a\xc3", "", "", false, 0)
	db := mustDB(f)
	f.Fuzz(func(t *testing.T, rawKeys, start, startAfter, end, prefix string, reverse bool, limit int) {
		var model []string
		for k := range strings.SplitSeq(rawKeys, "|") {
			if utf8.ValidString(k) && len(k) <= den.MaxKeyBytes {
				model = append(model, k)
			}
		}
		slices.Sort(model)
		model = slices.Compact(model)
		if len(model) > den.MaxBatchKeys {
			model = model[:den.MaxBatchKeys]
		}
		must(t, db.Begin())
		defer db.Rollback()
		entries := make([]den.Entry, len(model))
		for i, k := range model {
			entries[i] = den.Entry{Key: k, Value: []byte("v:" + k)}
		}
		must(t, db.PutMany(entries))

		opts := den.ListOptions{Start: start, StartAfter: startAfter, End: end, Prefix: prefix, Reverse: reverse, Limit: limit}
		got, err := db.List(opts)
		if start != "" && startAfter != "" || limit < 0 {
			wantCode(t, err, den.EINVALID)
			return
		}
		must(t, err)
		var want []string
		for _, k := range model {
			if start != "" && k < start || startAfter != "" && k <= startAfter ||
				end != "" && k >= end || !strings.HasPrefix(k, prefix) {
				continue
			}
			want = append(want, k)
		}
		if reverse {
			slices.Reverse(want)
		}
		if limit > 0 && len(want) > limit {
			want = want[:limit]
		}
		if !slices.Equal(keys(got), want) {
			t.Fatalf("List(%#v) over %q = %q, want %q", opts, model, keys(got), want)
		}
		for _, e := range got {
			if string(e.Value) != "v:"+e.Key {
				t.Fatalf("value of %q = %q", e.Key, e.Value)
			}
		}
	})
}

func BenchmarkGet(b *testing.B) {
	db := mustDB(b)
	for i := range 1000 {
		must(b, db.Put(fmt.Sprintf("key-%04d", i), make([]byte, 100)))
	}
	get := func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, ok, err := db.Get("key-0500"); err != nil || !ok {
				b.Fatal(ok, err)
			}
		}
	}
	// Outside a transaction each Get takes and drops a WAL read lock; the
	// runtime's turns share one.
	b.Run("autocommit", get)
	b.Run("turn", func(b *testing.B) {
		must(b, db.Begin())
		defer db.Rollback()
		get(b)
	})
}

func BenchmarkPut(b *testing.B) {
	db := mustDB(b)
	v := make([]byte, 100)
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		must(b, db.Begin())
		must(b, db.Put(fmt.Sprintf("key-%04d", i%1000), v))
		if _, err := db.Commit(); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkList(b *testing.B) {
	db := mustDB(b)
	for i := range 1000 {
		must(b, db.Put(fmt.Sprintf("key-%04d", i), make([]byte, 100)))
	}
	b.ReportAllocs()
	for b.Loop() {
		got, err := db.List(den.ListOptions{Prefix: "key-05", Limit: 50})
		if err != nil || len(got) != 50 {
			b.Fatal(len(got), err)
		}
	}
}
