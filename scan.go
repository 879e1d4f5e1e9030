package den

import (
	"fmt"
	"math"
	"reflect"
	"strings"
	"sync"
	"time"
)

// rowSource is a row's values by column: a live statement's (Rows) or a
// copied one's (Row).
type rowSource interface {
	Type(i int) SQLType
	Int64(i int) int64
	Float64(i int) float64
	Text(i int) string
	Blob(i int) []byte
}

var errNoRow = Errorf(EINVALID, "SQL cursor is not on a row: call Next first")

// value returns column i as a Go value: int64, float64, string, []byte or nil.
func value(src rowSource, i int) any {
	switch src.Type(i) {
	case SQLInteger:
		return src.Int64(i)
	case SQLReal:
		return src.Float64(i)
	case SQLText:
		return src.Text(i)
	case SQLBlob:
		return src.Blob(i)
	}
	return nil
}

// Scanner is database/sql's Scanner: a type that scans itself from a value.
type scanner interface{ Scan(src any) error }

func scanRow(src rowSource, cols []string, dest []any) error {
	if len(dest) != len(cols) {
		return Errorf(EINVALID, "Scan: %d destinations for %d columns", len(dest), len(cols))
	}
	for i, d := range dest {
		if err := scanValue(src, i, cols[i], d); err != nil {
			return err
		}
	}
	return nil
}

// scanValue stores column i of src, named col, in dest.
func scanValue(src rowSource, i int, col string, dest any) error {
	t := src.Type(i)
	switch d := dest.(type) {
	case scanner:
		if err := d.Scan(value(src, i)); err != nil {
			return Errorf(EINVALID, "scan column %q: %w", col, err)
		}
		return nil
	case *any:
		*d = value(src, i)
		return nil
	case *string:
		if t != SQLText && t != SQLBlob {
			return scanError(col, t, dest)
		}
		*d = src.Text(i)
		return nil
	case *[]byte:
		switch t {
		case SQLNull:
			*d = nil
		case SQLBlob, SQLText:
			*d = src.Blob(i)
		default:
			return scanError(col, t, dest)
		}
		return nil
	case *int64:
		n, err := intValue(src, i, col, dest, math.MinInt64, math.MaxInt64)
		*d = n
		return err
	case *int:
		n, err := intValue(src, i, col, dest, math.MinInt, math.MaxInt)
		*d = int(n)
		return err
	case *float64:
		f, err := floatValue(src, i, col, dest)
		*d = f
		return err
	case *bool:
		if t != SQLInteger {
			return scanError(col, t, dest)
		}
		*d = src.Int64(i) != 0
		return nil
	case *time.Time:
		if t != SQLText {
			return scanError(col, t, dest)
		}
		tm, err := parseTime(src.Text(i))
		if err != nil {
			return Errorf(EINVALID, "scan column %q into *time.Time: %v", col, err)
		}
		*d = tm
		return nil
	case nil:
		return Errorf(EINVALID, "scan column %q into nil", col)
	}
	return scanReflect(src, i, col, dest)
}

// scanReflect handles named types and pointers to pointers.
func scanReflect(src rowSource, i int, col string, dest any) error {
	rv := reflect.ValueOf(dest)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return Errorf(EINVALID, "scan column %q into %T: want a non-nil pointer", col, dest)
	}
	ev := rv.Elem()
	t := src.Type(i)
	if ev.Kind() == reflect.Pointer {
		if t == SQLNull {
			ev.SetZero()
			return nil
		}
		p := reflect.New(ev.Type().Elem())
		if err := scanValue(src, i, col, p.Interface()); err != nil {
			return err
		}
		ev.Set(p)
		return nil
	}
	switch ev.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		bits := ev.Type().Bits()
		n, err := intValue(src, i, col, dest, -1<<(bits-1), 1<<(bits-1)-1)
		if err == nil {
			ev.SetInt(n)
		}
		return err
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		hi := int64(math.MaxInt64)
		if bits := ev.Type().Bits(); bits < 64 {
			hi = 1<<bits - 1
		}
		n, err := intValue(src, i, col, dest, 0, hi)
		if err == nil {
			ev.SetUint(uint64(n))
		}
		return err
	case reflect.Float32, reflect.Float64:
		f, err := floatValue(src, i, col, dest)
		if err == nil {
			if ev.Kind() == reflect.Float32 && !math.IsInf(f, 0) && math.Abs(f) > math.MaxFloat32 {
				return Errorf(EINVALID, "scan column %q into %T: %v does not fit", col, dest, f)
			}
			ev.SetFloat(f)
		}
		return err
	case reflect.String:
		if t != SQLText && t != SQLBlob {
			return scanError(col, t, dest)
		}
		ev.SetString(src.Text(i))
		return nil
	case reflect.Bool:
		if t != SQLInteger {
			return scanError(col, t, dest)
		}
		ev.SetBool(src.Int64(i) != 0)
		return nil
	case reflect.Slice:
		if ev.Type().Elem().Kind() != reflect.Uint8 {
			break
		}
		switch t {
		case SQLNull:
			ev.SetZero()
		case SQLBlob, SQLText:
			ev.SetBytes(src.Blob(i))
		default:
			return scanError(col, t, dest)
		}
		return nil
	case reflect.Interface:
		if ev.NumMethod() == 0 {
			if v := value(src, i); v != nil {
				ev.Set(reflect.ValueOf(v))
			} else {
				ev.SetZero()
			}
			return nil
		}
	}
	return Errorf(EINVALID, "scan column %q into %T: unsupported destination type", col, dest)
}

func scanError(col string, t SQLType, dest any) error {
	if t == SQLNull {
		return Errorf(EINVALID, "scan column %q into %T: the value is NULL; scan into a pointer to a pointer, *any or a Scanner", col, dest)
	}
	return Errorf(EINVALID, "scan column %q into %T: cannot convert %s", col, dest, t)
}

// intValue returns column i as an integer within [lo, hi].
func intValue(src rowSource, i int, col string, dest any, lo, hi int64) (int64, error) {
	var n int64
	switch t := src.Type(i); t {
	case SQLInteger:
		n = src.Int64(i)
	case SQLReal:
		f := src.Float64(i)
		if f != math.Trunc(f) || f < -(1<<63) || f >= 1<<63 {
			return 0, Errorf(EINVALID, "scan column %q into %T: %v is not a whole number that fits", col, dest, f)
		}
		n = int64(f)
	default:
		return 0, scanError(col, t, dest)
	}
	if n < lo || n > hi {
		return 0, Errorf(EINVALID, "scan column %q into %T: %d does not fit", col, dest, n)
	}
	return n, nil
}

func floatValue(src rowSource, i int, col string, dest any) (float64, error) {
	switch t := src.Type(i); t {
	case SQLReal:
		return src.Float64(i), nil
	case SQLInteger:
		return float64(src.Int64(i)), nil
	default:
		return 0, scanError(col, t, dest)
	}
}

// timeLayouts are the forms of TEXT a time.Time scans from: RFC 3339 (what
// Exec binds a time.Time as) and SQLite's own.
var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04",
	"2006-01-02T15:04",
	"2006-01-02",
}

func parseTime(s string) (time.Time, error) {
	for _, layout := range timeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a time in RFC 3339 or SQLite's YYYY-MM-DD HH:MM:SS form", s)
}

var (
	timeType    = reflect.TypeFor[time.Time]()
	scannerType = reflect.TypeFor[scanner]()
)

// isStructTarget reports whether p points to a struct that is scanned field
// by field (not a time.Time or a Scanner).
func isStructTarget(p any) bool {
	t := reflect.TypeOf(p)
	return t != nil && t.Kind() == reflect.Pointer && t.Elem().Kind() == reflect.Struct &&
		t.Elem() != timeType && !t.Implements(scannerType)
}

func structTarget(dst any) (reflect.Value, error) {
	rv := reflect.ValueOf(dst)
	if rv.Kind() != reflect.Pointer || rv.IsNil() || rv.Elem().Kind() != reflect.Struct {
		return reflect.Value{}, Errorf(EINVALID, "ScanStruct: want a non-nil pointer to a struct, not %T", dst)
	}
	return rv.Elem(), nil
}

// structFields maps each struct type to its fields by lowercased column
// name; computed once per type.
var structFields sync.Map // reflect.Type → map[string][]int

func fieldsOf(t reflect.Type) map[string][]int {
	if m, ok := structFields.Load(t); ok {
		return m.(map[string][]int)
	}
	m := map[string][]int{}
	addFields(m, t, nil)
	structFields.Store(t, m)
	return m
}

// addFields adds t's fields to m, outer fields before those of embedded
// structs so that they win.
func addFields(m map[string][]int, t reflect.Type, index []int) {
	var embedded []reflect.StructField
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag, hasTag := f.Tag.Lookup("sql")
		if tag == "-" {
			continue
		}
		if f.Anonymous && !hasTag && f.Type.Kind() == reflect.Struct && f.Type != timeType {
			embedded = append(embedded, f)
			continue
		}
		if !f.IsExported() {
			continue
		}
		name := f.Name
		if tag != "" {
			name = tag
		}
		key := strings.ToLower(name)
		if _, dup := m[key]; !dup {
			m[key] = append(append([]int(nil), index...), i)
		}
	}
	for _, f := range embedded {
		addFields(m, f.Type, append(append([]int(nil), index...), f.Index...))
	}
}

// planStruct returns the field index of each column of cols in t, nil for a
// column with no field.
func planStruct(t reflect.Type, cols []string) [][]int {
	fields := fieldsOf(t)
	plan := make([][]int, len(cols))
	for i, col := range cols {
		plan[i] = fields[strings.ToLower(col)]
	}
	return plan
}

func scanStruct(src rowSource, cols []string, plan [][]int, rv reflect.Value) error {
	for i, index := range plan {
		if index == nil {
			continue
		}
		if err := scanValue(src, i, cols[i], rv.FieldByIndex(index).Addr().Interface()); err != nil {
			return err
		}
	}
	return nil
}
