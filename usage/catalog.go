package usage

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"time"

	"github.com/den-run/den"
	"zombiezen.com/go/sqlite"
)

// Catalog page limits.
const (
	DefaultPageSize = 100
	MaxPageSize     = 1000
)

const (
	objectColumns = "id, name, bytes, created, last_active"
	// The pages have no LIMIT ?: readObjects stops at the limit. SQLite
	// recompiles a statement with a bound LIMIT and a two-sided range at
	// every step after new bindings.
	sqlByID   = "SELECT " + objectColumns + " FROM objects WHERE class = ?1 AND id > ?2 AND id <= ?3 ORDER BY id"
	sqlByName = "SELECT " + objectColumns + " FROM objects WHERE class = ?1 AND name != '' AND name >= ?2 AND name < ?3 AND (name, id) > (?4, ?5) AND id >= ?6 AND id <= ?7 ORDER BY name, id"
	sqlLookup = "SELECT " + objectColumns + " FROM objects WHERE class = ?1 AND id = ?2"
)

// List returns a page of the catalog's objects of class that q selects, and
// the cursor of the next page ("" after the last). Without a name prefix
// objects come in ID order, through the primary key; with one, in name
// order, through the name index: either way a page costs the same however
// many objects there are. It returns EINVALID for a malformed cursor or ID
// prefix.
func (m *Meter) List(ctx context.Context, class string, q den.ObjectQuery) ([]den.ObjectInfo, string, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = DefaultPageSize
	}
	limit = min(limit, MaxPageSize)
	lo, hi, err := idRange(q.IDPrefix)
	if err != nil {
		return nil, "", err
	}
	afterID, afterName, err := parseCursor(q.Cursor)
	if err != nil {
		return nil, "", err
	}
	m.rmu.Lock()
	defer m.rmu.Unlock()
	if m.rd == nil {
		return nil, "", den.Errorf(den.EUNAVAILABLE, "usage is not open")
	}
	var stmt *sqlite.Stmt
	if q.NamePrefix == "" {
		stmt = m.rd.Prep(sqlByID)
		after := before(lo)
		if afterID != nil && string(afterID) > string(after) {
			after = afterID
		}
		stmt.BindText(1, class)
		stmt.BindBytes(2, after)
		stmt.BindBytes(3, hi)
	} else {
		stmt = m.rd.Prep(sqlByName)
		stmt.BindText(1, class)
		stmt.BindText(2, q.NamePrefix)
		stmt.BindText(3, q.NamePrefix+"\xff") // no UTF-8 string has the byte 0xff
		if afterID == nil {
			afterID = []byte{}
		}
		stmt.BindText(4, afterName)
		stmt.BindBytes(5, afterID)
		stmt.BindBytes(6, lo)
		stmt.BindBytes(7, hi)
	}
	objs, err := readObjects(stmt, class, limit+1)
	if err != nil {
		return nil, "", den.Errorf(den.EINTERNAL, "list objects: %w", err)
	}
	next := ""
	if len(objs) > limit {
		objs = objs[:limit]
		last := objs[limit-1]
		next = hex.EncodeToString(last.ID[:])
		if q.NamePrefix != "" {
			next += "." + base64.RawURLEncoding.EncodeToString([]byte(last.Name))
		}
	}
	return objs, next, nil
}

// Lookup returns the catalog's row for object id of class.
func (m *Meter) Lookup(ctx context.Context, class string, id [32]byte) (den.ObjectInfo, bool, error) {
	m.rmu.Lock()
	defer m.rmu.Unlock()
	if m.rd == nil {
		return den.ObjectInfo{}, false, den.Errorf(den.EUNAVAILABLE, "usage is not open")
	}
	o, ok, err := m.lookup(class, id)
	if err != nil {
		return den.ObjectInfo{}, false, den.Errorf(den.EINTERNAL, "look up object: %w", err)
	}
	return o, ok, nil
}

func readObjects(stmt *sqlite.Stmt, class string, limit int) (_ []den.ObjectInfo, err error) {
	defer func() {
		if rerr := stmt.Reset(); err == nil {
			err = rerr
		}
	}()
	objs := make([]den.ObjectInfo, 0, min(limit, 128))
	for len(objs) < limit {
		ok, err := stmt.Step()
		if err != nil {
			return nil, err
		}
		if !ok {
			return objs, nil
		}
		o := den.ObjectInfo{Class: class, Name: stmt.ColumnText(1), Bytes: stmt.ColumnInt64(2)}
		stmt.ColumnBytes(0, o.ID[:])
		if ns := stmt.ColumnInt64(3); ns > 0 {
			o.Created = time.Unix(0, ns)
		}
		if ns := stmt.ColumnInt64(4); ns > 0 {
			o.LastActive = time.Unix(0, ns)
		}
		objs = append(objs, o)
	}
	return objs, nil
}

// idRange returns the lowest and highest IDs that begin with the hex prefix.
func idRange(prefix string) (lo, hi []byte, err error) {
	if len(prefix) > 64 || strings.Trim(prefix, "0123456789abcdef") != "" {
		return nil, nil, den.Errorf(den.EINVALID, "invalid ID prefix %q: use up to 64 lowercase hex digits", prefix)
	}
	lo, _ = hex.DecodeString(prefix + strings.Repeat("0", 64-len(prefix)))
	hi, _ = hex.DecodeString(prefix + strings.Repeat("f", 64-len(prefix)))
	return lo, hi, nil
}

// before returns a key just below id, so that "id > before(id)" includes id.
func before(id []byte) []byte {
	if len(id) == 0 {
		return id
	}
	b := append([]byte(nil), id...)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] > 0 {
			b[i]--
			return b
		}
	}
	return []byte{} // all zeros: the empty blob sorts before it
}

// parseCursor reads a cursor made by List: the last ID in hex, then, for a
// name order, "." and the last name in unpadded base64url.
func parseCursor(c string) (id []byte, name string, err error) {
	if c == "" {
		return nil, "", nil
	}
	h, n, named := strings.Cut(c, ".")
	id, herr := hex.DecodeString(h)
	if herr != nil || len(id) != 32 {
		return nil, "", den.Errorf(den.EINVALID, "invalid cursor %q: pass back the cursor a page returned", c)
	}
	if named {
		b, err := base64.RawURLEncoding.DecodeString(n)
		if err != nil {
			return nil, "", den.Errorf(den.EINVALID, "invalid cursor %q: pass back the cursor a page returned", c)
		}
		name = string(b)
	}
	return id, name, nil
}
