package usage

import (
	"context"
	"encoding/hex"
	"time"

	"github.com/den-run/den"
	"zombiezen.com/go/sqlite"
)

// Usage is metered use in Cloudflare's billing units.
type Usage struct {
	// Requests is what is billed as requests: HTTP requests, RPC calls,
	// alarm runs and incoming WebSocket messages / 20.
	Requests          float64 `json:"requests"`
	HTTP              int64   `json:"http_requests"`
	RPC               int64   `json:"rpc_calls"`
	Alarms            int64   `json:"alarms"`
	WebSocketMessages int64   `json:"websocket_messages"`
	// BusySeconds is wall time in memory with work to do; DurationGBs is
	// what is billed for it (× 0.128 GB).
	BusySeconds float64 `json:"busy_seconds"`
	DurationGBs float64 `json:"duration_gb_s"`
	// HibernatedSeconds is time out of memory with WebSockets connected,
	// not billed; HibernatedGBs is what it would have cost in memory.
	HibernatedSeconds float64 `json:"hibernated_seconds"`
	HibernatedGBs     float64 `json:"hibernated_gb_s"`
	RowsRead          int64   `json:"rows_read"`
	RowsWritten       int64   `json:"rows_written"`
	// StoredBytes is the size of the data at the end of the period (the
	// last hourly sample); StoredGBMonths integrates the samples over it.
	StoredBytes    int64   `json:"stored_bytes"`
	StoredGBMonths float64 `json:"stored_gb_months"`
}

func (u *Usage) add(c counts) {
	u.HTTP += c.http
	u.RPC += c.rpc
	u.Alarms += c.alarms
	u.WebSocketMessages += c.messages
	u.BusySeconds += float64(c.busy) / nanosPerSecond
	u.HibernatedSeconds += float64(c.hibernated) / nanosPerSecond
	u.RowsRead += c.rowsRead
	u.RowsWritten += c.rowsWritten
	u.derive()
}

// plus adds o's additive fields to u (StoredBytes: the sum of both).
func (u *Usage) plus(o Usage) {
	u.HTTP += o.HTTP
	u.RPC += o.RPC
	u.Alarms += o.Alarms
	u.WebSocketMessages += o.WebSocketMessages
	u.BusySeconds += o.BusySeconds
	u.HibernatedSeconds += o.HibernatedSeconds
	u.RowsRead += o.RowsRead
	u.RowsWritten += o.RowsWritten
	u.StoredBytes += o.StoredBytes
	u.StoredGBMonths += o.StoredGBMonths
	u.derive()
}

func (u *Usage) derive() {
	u.Requests = float64(u.HTTP+u.RPC+u.Alarms) + float64(u.WebSocketMessages)/messagesPerRequestF
	u.DurationGBs = u.BusySeconds * GBPerInstance
	u.HibernatedGBs = u.HibernatedSeconds * GBPerInstance
}

// Scope is one namespace in a report: its binding name and class.
type Scope struct {
	Namespace string
	Class     string
}

// Query selects a report: the namespaces, one object of them (when ID is
// set, with one scope), and the period [From, To), widened to whole hours.
type Query struct {
	Scopes   []Scope
	ID       *[32]byte
	From, To time.Time
	Top      int // objects listed per namespace, by cost: 10 when zero
}

// Report is usage over a period, with its estimated bill.
type Report struct {
	From       time.Time         `json:"from"`
	To         time.Time         `json:"to"`
	Prices     PriceList         `json:"prices"`
	Usage      Usage             `json:"usage"`
	Bill       Bill              `json:"bill"`
	Namespaces []NamespaceReport `json:"namespaces"`
}

// NamespaceReport is one namespace's usage: in all, hour by hour, and for
// its costliest objects.
type NamespaceReport struct {
	Namespace string         `json:"namespace"`
	Class     string         `json:"class"`
	Usage     Usage          `json:"usage"`
	Bill      Bill           `json:"bill"`
	Hours     []HourReport   `json:"hours"`
	Objects   []ObjectReport `json:"objects"`
}

// HourReport is usage in one hour.
type HourReport struct {
	Hour  time.Time `json:"hour"`
	Usage Usage     `json:"usage"`
	Bill  Bill      `json:"bill"`
}

// ObjectReport is one object's usage over the period. Its stored data is
// its current size held over the whole period.
type ObjectReport struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Usage Usage  `json:"usage"`
	Bill  Bill   `json:"bill"`
}

// MaxReportHours bounds a report's period: 400 days.
const MaxReportHours = 400 * 24

const (
	sums          = "sum(http), sum(rpc), sum(alarms), sum(messages), sum(busy), sum(hibernated), sum(rows_read), sum(rows_written)"
	sqlHours      = "SELECT hour, " + sums + " FROM usage WHERE hour >= ?1 AND hour < ?2 AND class = ?3 GROUP BY hour"
	sqlHoursOf    = "SELECT hour, " + sums + " FROM usage WHERE class = ?3 AND id = ?4 AND hour >= ?1 AND hour < ?2 GROUP BY hour"
	sqlStoredRows = "SELECT hour, bytes FROM stored WHERE hour >= ?1 AND hour < ?2 AND class = ?3"
	// sqlTop ranks objects by their estimated cost (?4..?7 are the prices
	// of a request, a GB-s, a row read and a row written).
	sqlTop = `SELECT u.*, coalesce(o.name, ''), coalesce(o.bytes, 0) FROM (
		SELECT id, ` + sums + ` FROM usage WHERE hour >= ?1 AND hour < ?2 AND class = ?3 GROUP BY id
		ORDER BY (sum(http) + sum(rpc) + sum(alarms) + sum(messages) / 20.0) * ?4 + sum(busy) / 1e9 * 0.128 * ?5
			+ sum(rows_read) * ?6 + sum(rows_written) * ?7 DESC LIMIT ?8
	) u LEFT JOIN objects o ON o.class = ?3 AND o.id = u.id`
)

// Report returns the usage q selects, priced with Prices. Usage not yet
// written is not in it: call Flush first to include it.
func (m *Meter) Report(ctx context.Context, q Query) (*Report, error) {
	from, to := time.Unix(hourOf(q.From), 0).UTC(), time.Unix(hourOf(q.To.Add(time.Hour-1)), 0).UTC()
	if !to.After(from) {
		return nil, den.Errorf(den.EINVALID, "usage period is empty: from %s is not before to %s", q.From.Format(time.RFC3339), q.To.Format(time.RFC3339))
	}
	hours := int(to.Sub(from) / time.Hour)
	if hours > MaxReportHours {
		return nil, den.Errorf(den.EINVALID, "usage period is %d hours; the limit is %d (400 days)", hours, MaxReportHours)
	}
	if q.Top <= 0 {
		q.Top = 10
	}
	r := &Report{From: from, To: to, Prices: Prices, Namespaces: []NamespaceReport{}}
	m.rmu.Lock()
	defer m.rmu.Unlock()
	if m.rd == nil {
		return nil, den.Errorf(den.EUNAVAILABLE, "usage is not open")
	}
	for _, s := range q.Scopes {
		nr, err := m.namespaceReport(s, q, from, hours)
		if err != nil {
			return nil, den.Errorf(den.EINTERNAL, "usage report: %w", err)
		}
		r.Usage.plus(nr.Usage)
		r.Namespaces = append(r.Namespaces, *nr)
	}
	r.Bill = Prices.Price(r.Usage)
	return r, nil
}

func (m *Meter) namespaceReport(s Scope, q Query, from time.Time, hours int) (*NamespaceReport, error) {
	nr := &NamespaceReport{Namespace: s.Namespace, Class: s.Class, Hours: make([]HourReport, hours), Objects: []ObjectReport{}}
	f := from.Unix()
	for i := range nr.Hours {
		nr.Hours[i].Hour = from.Add(time.Duration(i) * time.Hour)
	}
	query := sqlHours
	if q.ID != nil {
		query = sqlHoursOf
	}
	stmt := m.rd.Prep(query)
	stmt.BindInt64(1, f)
	stmt.BindInt64(2, f+int64(hours)*secondsPerHour)
	stmt.BindText(3, s.Class)
	if q.ID != nil {
		stmt.BindBytes(4, q.ID[:])
	}
	err := each(stmt, func() {
		i := int((stmt.ColumnInt64(0) - f) / secondsPerHour)
		if i >= 0 && i < hours {
			nr.Hours[i].Usage.add(readCounts(stmt, 1))
		}
	})
	if err != nil {
		return nil, err
	}
	if q.ID == nil {
		stmt = m.rd.Prep(sqlStoredRows)
		stmt.BindInt64(1, f)
		stmt.BindInt64(2, f+int64(hours)*secondsPerHour)
		stmt.BindText(3, s.Class)
		err = each(stmt, func() {
			i := int((stmt.ColumnInt64(0) - f) / secondsPerHour)
			if i >= 0 && i < hours {
				b := stmt.ColumnInt64(1)
				nr.Hours[i].Usage.StoredBytes = b
				nr.Hours[i].Usage.StoredGBMonths = float64(b) / BytesPerGB / hoursPerMonthFloat
			}
		})
		if err != nil {
			return nil, err
		}
	} else if o, ok, err := m.lookup(s.Class, *q.ID); err != nil {
		return nil, err
	} else if ok {
		for i := range nr.Hours {
			nr.Hours[i].Usage.StoredBytes = o.Bytes
			nr.Hours[i].Usage.StoredGBMonths = float64(o.Bytes) / BytesPerGB / hoursPerMonthFloat
		}
	}
	for i := range nr.Hours {
		h := &nr.Hours[i]
		h.Bill = Prices.Price(h.Usage)
		last := nr.Usage.StoredBytes
		nr.Usage.plus(h.Usage)
		if h.Usage.StoredBytes == 0 {
			nr.Usage.StoredBytes = last // keep the last sample as the period's end
		} else {
			nr.Usage.StoredBytes = h.Usage.StoredBytes
		}
	}
	nr.Bill = Prices.Price(nr.Usage)
	if q.ID != nil {
		name := ""
		if o, ok, err := m.lookup(s.Class, *q.ID); err == nil && ok {
			name = o.Name
		}
		nr.Objects = append(nr.Objects, ObjectReport{ID: hex.EncodeToString(q.ID[:]), Name: name, Usage: nr.Usage, Bill: nr.Bill})
		return nr, nil
	}
	p := Prices
	stmt = m.rd.Prep(sqlTop)
	stmt.BindInt64(1, f)
	stmt.BindInt64(2, f+int64(hours)*secondsPerHour)
	stmt.BindText(3, s.Class)
	stmt.BindFloat(4, p.PerMillionRequests/1e6)
	stmt.BindFloat(5, p.PerMillionGBSeconds/1e6)
	stmt.BindFloat(6, p.PerMillionRowsRead/1e6)
	stmt.BindFloat(7, p.PerMillionRowsWritten/1e6)
	stmt.BindInt64(8, int64(q.Top))
	err = each(stmt, func() {
		var id [32]byte
		stmt.ColumnBytes(0, id[:])
		o := ObjectReport{ID: hex.EncodeToString(id[:]), Name: stmt.ColumnText(9)}
		o.Usage.add(readCounts(stmt, 1))
		o.Usage.StoredBytes = stmt.ColumnInt64(10)
		o.Usage.StoredGBMonths = float64(o.Usage.StoredBytes) / BytesPerGB * float64(hours) / hoursPerMonthFloat
		o.Bill = p.Price(o.Usage)
		nr.Objects = append(nr.Objects, o)
	})
	return nr, err
}

// lookup is Lookup with m.rmu held.
func (m *Meter) lookup(class string, id [32]byte) (den.ObjectInfo, bool, error) {
	stmt := m.rd.Prep(sqlLookup)
	stmt.BindText(1, class)
	stmt.BindBytes(2, id[:])
	objs, err := readObjects(stmt, class, 1)
	if err != nil || len(objs) == 0 {
		return den.ObjectInfo{}, false, err
	}
	return objs[0], true, nil
}

func readCounts(stmt *sqlite.Stmt, col int) counts {
	return counts{
		http: stmt.ColumnInt64(col), rpc: stmt.ColumnInt64(col + 1), alarms: stmt.ColumnInt64(col + 2),
		messages: stmt.ColumnInt64(col + 3), busy: stmt.ColumnInt64(col + 4), hibernated: stmt.ColumnInt64(col + 5),
		rowsRead: stmt.ColumnInt64(col + 6), rowsWritten: stmt.ColumnInt64(col + 7),
	}
}

// each calls fn for each row stmt returns, then resets it.
func each(stmt *sqlite.Stmt, fn func()) (err error) {
	defer func() {
		if rerr := stmt.Reset(); err == nil {
			err = rerr
		}
	}()
	for {
		ok, err := stmt.Step()
		if err != nil || !ok {
			return err
		}
		fn()
	}
}
