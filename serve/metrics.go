package serve

import (
	"context"
	"path/filepath"
	"sync"
	"time"

	"github.com/den-run/den"
	"github.com/den-run/den/actor"
	"github.com/den-run/den/admin"
	"github.com/den-run/den/alarm"
	"github.com/den-run/den/hub"
	"github.com/den-run/den/metrics"
	"github.com/den-run/den/sqlite"
	metering "github.com/den-run/den/usage"
)

// UsageFile is the node's usage history and catalog of objects, under the
// data directory.
const UsageFile = "usage.sqlite"

// see is what lets operators see inside the server: Prometheus metrics, the
// usage meter (and catalog of objects), and the observer that feeds both.
type see struct {
	metrics *metrics.Metrics
	meter   *metering.Meter

	mu     sync.Mutex // protects following fields, set once the parts they name are open
	host   *actor.Host
	runner *alarm.Runner
	alarms *alarm.Index
	env    *den.Env
	hub    *hub.Hub
}

// openSee opens the usage meter under data (filling its catalog from the
// object databases under objects if it is new) and makes the metrics. Call
// it before anything that observes.
func openSee(ctx context.Context, data, objects string, s *Server) (*see, error) {
	v := &see{}
	store := sqlite.NewStore(objects)
	v.meter = metering.New(metering.Config{Path: filepath.Join(data, UsageFile), Logger: s.log, Scan: store.ScanObjects})
	if err := v.meter.Open(ctx); err != nil {
		return nil, err
	}
	v.metrics = metrics.New(metrics.Sources{
		Live:        v.live,
		Resting:     v.resting,
		Queued:      v.queued,
		StoredBytes: v.storedBytes,
		Alarms:      v.alarmCounts,
	})
	return v, nil
}

// attach records the parts the metrics and the admin API read.
func (v *see) attach(host *actor.Host, runner *alarm.Runner, alarms *alarm.Index, env *den.Env, sockets *hub.Hub) {
	v.mu.Lock()
	v.host, v.runner, v.alarms, v.env, v.hub = host, runner, alarms, env, sockets
	v.mu.Unlock()
}

func (v *see) parts() (*actor.Host, *alarm.Runner, *alarm.Index, *den.Env) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.host, v.runner, v.alarms, v.env
}

func (v *see) live() int {
	if h, _, _, _ := v.parts(); h != nil {
		return h.Live()
	}
	return 0
}

func (v *see) resting() int {
	if h, _, _, _ := v.parts(); h != nil {
		return h.Resting()
	}
	return 0
}

func (v *see) queued() int {
	if h, _, _, _ := v.parts(); h != nil {
		return h.Queued()
	}
	return 0
}

// storedBytes returns the catalog's bytes by namespace (binding).
func (v *see) storedBytes() map[string]int64 {
	_, _, _, env := v.parts()
	out := map[string]int64{}
	if env == nil {
		return out
	}
	byClass := v.meter.StoredBytes()
	for _, ns := range env.Namespaces() {
		out[ns.Binding()] = byClass[ns.Class()]
	}
	return out
}

func (v *see) alarmCounts() metrics.AlarmCounts {
	_, r, _, _ := v.parts()
	if r == nil {
		return metrics.AlarmCounts{}
	}
	st := r.Stats()
	return metrics.AlarmCounts{Run: st.Delivered + st.Failed, Retried: st.Failed - min(st.Failed, st.Abandoned), Abandoned: st.Abandoned}
}

// observer returns what the host (and the WebSocket hub) report to: the
// metrics and the meter.
func (v *see) observer() *observer { return &observer{m: v.metrics, u: v.meter} }

// adminSee returns the operator API's view of the server.
func (v *see) adminSee() admin.See {
	return admin.See{
		Catalog:       v.meter,
		Objects:       v.host,
		Alarm:         v.alarm,
		DeleteOutside: v.deleteOutside,
		Sockets:       hubSockets{v},
		Usage:         v.usage,
		Metrics:       v.metrics.Handler(),
	}
}

// alarm returns the object's due time in the node's alarm schedule.
func (v *see) alarm(class string, id den.ID) (time.Time, bool) {
	_, _, idx, _ := v.parts()
	if idx == nil {
		return time.Time{}, false
	}
	row, ok, err := idx.Lookup(class, id.Bytes())
	if err != nil || !ok {
		return time.Time{}, false
	}
	return row.Due, true
}

// deleteOutside deletes what an object being deleted keeps outside its own
// database. It runs inside the wiping turn, so nothing can schedule a new
// alarm for the object meanwhile.
func (v *see) deleteOutside(ctx context.Context, ns *den.Namespace, id den.ID) error {
	_, _, idx, _ := v.parts()
	if idx != nil {
		if err := idx.Forget(ctx, ns.Class(), id); err != nil {
			return err
		}
	}
	return nil // the history goes when the object closes (actor.Config.OnWiped)
}

func (v *see) usage(ctx context.Context, nss []*den.Namespace, id *den.ID, from, to time.Time) (any, error) {
	q := metering.Query{From: from, To: to}
	for _, ns := range nss {
		q.Scopes = append(q.Scopes, metering.Scope{Namespace: ns.Binding(), Class: ns.Class()})
	}
	if id != nil {
		b := id.Bytes()
		q.ID = &b
	}
	return v.meter.Report(ctx, q)
}

func (v *see) close() error { return v.meter.Close() }

// observer fans the host's and the hub's reports out to the metrics and the
// usage meter.
type observer struct {
	m *metrics.Metrics
	u *metering.Meter
}

var (
	_ den.Observer          = (*observer)(nil)
	_ den.WebSocketObserver = (*observer)(nil)
)

func (o *observer) Turn(s den.TurnStats) { o.m.Turn(s); o.u.Turn(s) }
func (o *observer) Refused(ns *den.Namespace, id den.ID, kind den.EventKind, code string) {
	o.m.Refused(ns, id, kind, code)
	o.u.Refused(ns, id, kind, code)
}
func (o *observer) Idle(ns *den.Namespace, id den.ID, busy time.Duration) {
	o.m.Idle(ns, id, busy)
	o.u.Idle(ns, id, busy)
}
func (o *observer) Left(ns *den.Namespace, id den.ID, bytes int64, stored bool) {
	o.m.Left(ns, id, bytes, stored)
	o.u.Left(ns, id, bytes, stored)
}
func (o *observer) WebSocketOpened(ns *den.Namespace, id den.ID) {
	o.m.WebSocketOpened(ns, id)
	o.u.WebSocketOpened(ns, id)
}
func (o *observer) WebSocketMessage(ns *den.Namespace, id den.ID) {
	o.m.WebSocketMessage(ns, id)
	o.u.WebSocketMessage(ns, id)
}
func (o *observer) WebSocketClosed(ns *den.Namespace, id den.ID, hibernated bool) {
	o.m.WebSocketClosed(ns, id, hibernated)
	o.u.WebSocketClosed(ns, id, hibernated)
}
func (o *observer) WebSocketsHibernated(ns *den.Namespace, id den.ID, n int) {
	o.m.WebSocketsHibernated(ns, id, n)
	o.u.WebSocketsHibernated(ns, id, n)
}
func (o *observer) WebSocketsWoken(ns *den.Namespace, id den.ID, n int) {
	o.m.WebSocketsWoken(ns, id, n)
	o.u.WebSocketsWoken(ns, id, n)
}

// WebSocketObserver returns what the WebSocket hub reports sockets to (the
// metrics' gauges and the usage meter), or nil if the server is not open.
func (s *Server) WebSocketObserver() den.WebSocketObserver {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.see == nil {
		return nil
	}
	return s.see.observer()
}

// Meter returns the server's usage meter and object catalog, or nil if the
// server is not open.
func (s *Server) Meter() *metering.Meter {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.see == nil {
		return nil
	}
	return s.see.meter
}

// hubSockets shows the operator API an object's WebSockets, once the hub is
// attached.
type hubSockets struct{ v *see }

func (s hubSockets) hub() *hub.Hub {
	s.v.mu.Lock()
	defer s.v.mu.Unlock()
	return s.v.hub
}

func (s hubSockets) Sockets(ns *den.Namespace, id den.ID) []admin.SocketInfo {
	h := s.hub()
	if h == nil {
		return nil
	}
	list := h.List(ns, id)
	out := make([]admin.SocketInfo, len(list))
	for i, w := range list {
		out[i] = admin.SocketInfo{Tags: w.Tags, Hibernated: w.Hibernated, Opened: w.Opened, Remote: w.Remote}
	}
	return out
}

// CloseSockets closes the object's sockets with 1001 before it is deleted.
func (s hubSockets) CloseSockets(ctx context.Context, ns *den.Namespace, id den.ID) error {
	if h := s.hub(); h != nil {
		h.CloseObject(ns, id, "Durable Object deleted")
	}
	return nil
}
