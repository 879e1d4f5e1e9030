package metrics

import (
	"net/http"
	"sync"
	"time"

	"github.com/den-run/den"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// AlarmCounts are the alarm runner's counters since it started.
type AlarmCounts struct {
	Run       uint64 // handler runs
	Retried   uint64 // failed runs that are retried
	Abandoned uint64 // alarms deleted after their retries ran out
}

// Sources are read at every scrape. Nil fields export nothing.
type Sources struct {
	Live        func() int              // objects in memory with an instance
	Resting     func() int              // objects whose instance left and whose database is open
	Queued      func() int              // events queued for live objects
	StoredBytes func() map[string]int64 // database bytes by namespace (binding)
	Alarms      func() AlarmCounts
}

// Metrics is a Prometheus registry of Den's metrics and the observer that
// feeds it. Its methods are safe for concurrent use.
type Metrics struct {
	reg *prometheus.Registry

	requests    *prometheus.CounterVec   // namespace, kind
	turns       *prometheus.CounterVec   // namespace, kind
	turnSeconds *prometheus.HistogramVec // namespace, kind
	errors      *prometheus.CounterVec   // namespace, kind, code
	activations *prometheus.CounterVec   // namespace
	evictions   *prometheus.CounterVec   // namespace
	commits     *prometheus.CounterVec   // namespace
	held        *prometheus.CounterVec   // namespace
	rowsRead    *prometheus.CounterVec   // namespace
	rowsWritten *prometheus.CounterVec   // namespace
	busySeconds *prometheus.CounterVec   // namespace

	wsActive     *prometheus.GaugeVec   // namespace
	wsHibernated *prometheus.GaugeVec   // namespace
	wsMessages   *prometheus.CounterVec // namespace

	barriers       prometheus.Counter
	barrierSeconds prometheus.Histogram
	barrierFlushes prometheus.Counter
	barrierFails   prometheus.Counter

	bound sync.Map // boundKey → *bound: the turn path's series, looked up once
}

type boundKey struct {
	ns   *den.Namespace
	kind den.EventKind
}

// bound holds the series one namespace and kind touch on every turn.
type bound struct {
	requests, turns, commits, held, rowsRead, rowsWritten, busy prometheus.Counter
	seconds                                                     prometheus.Observer
}

// New returns Metrics with the Go runtime's and the process's collectors
// and the gauges and counters of src.
func New(src Sources) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	ns, nsKind := []string{"namespace"}, []string{"namespace", "kind"}
	counter := func(name, help string, labels []string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	}
	m.requests = counter("den_requests_total", "Events offered to objects (HTTP requests, RPC calls, alarms, WebSocket events, internal turns), including those refused.", nsKind)
	m.turns = counter("den_turns_total", "Turns that ran.", nsKind)
	m.turnSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "den_turn_duration_seconds",
		Help:    "Wall time of a turn, construction included, the wait for durability not.",
		Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 10, 60},
	}, nsKind)
	m.errors = counter("den_errors_total", "Events that failed, by error code (refused events included).", []string{"namespace", "kind", "code"})
	m.activations = counter("den_activations_total", "Instances constructed: an object entering memory, or starting again after a reset.", ns)
	m.evictions = counter("den_evictions_total", "Objects that left memory (idle, over the live-object cap, reset or shut down).", ns)
	m.commits = counter("den_commits_total", "Turns whose writes committed.", ns)
	m.held = counter("den_turns_held_total", "Turns that ended without a COMMIT of their own: their writes committed with the turns after them (write coalescing).", ns)
	m.rowsRead = counter("den_rows_read_total", "Rows read, in Cloudflare's billing units.", ns)
	m.rowsWritten = counter("den_rows_written_total", "Rows written, in Cloudflare's billing units.", ns)
	m.busySeconds = counter("den_busy_seconds_total", "Wall time objects spent in memory with work to do (billed duration = this × 0.128 GB).", ns)
	m.wsActive = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "den_websockets_active", Help: "Hibernatable WebSockets whose object is in memory."}, ns)
	m.wsHibernated = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "den_websockets_hibernated", Help: "Hibernatable WebSockets connected while their object is out of memory."}, ns)
	m.wsMessages = counter("den_websocket_messages_total", "Incoming WebSocket messages delivered to objects.", ns)
	m.barriers = prometheus.NewCounter(prometheus.CounterOpts{Name: "den_durability_barriers_total", Help: "Durability barriers run (one sync for many commits)."})
	m.barrierSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "den_durability_barrier_seconds",
		Help:    "Time a durability barrier took to make its batch durable.",
		Buckets: []float64{.0001, .00025, .0005, .001, .002, .004, .008, .016, .032, .064, .128, .256, 1},
	})
	m.barrierFlushes = prometheus.NewCounter(prometheus.CounterOpts{Name: "den_durability_flushes_total", Help: "Commits made durable by barriers."})
	m.barrierFails = prometheus.NewCounter(prometheus.CounterOpts{Name: "den_durability_failures_total", Help: "Commits a barrier failed to make durable (their objects were reset)."})

	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.requests, m.turns, m.turnSeconds, m.errors, m.activations, m.evictions, m.commits, m.held,
		m.rowsRead, m.rowsWritten, m.busySeconds, m.wsActive, m.wsHibernated, m.wsMessages,
		m.barriers, m.barrierSeconds, m.barrierFlushes, m.barrierFails,
	)
	gauge := func(name, help string, f func() int) {
		if f != nil {
			m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 { return float64(f()) }))
		}
	}
	gauge("den_live_objects", "Objects in memory with an instance.", src.Live)
	gauge("den_resting_objects", "Objects whose instance was evicted and whose database is still open (--storage-idle-timeout).", src.Resting)
	gauge("den_queued_events", "Events queued for live objects and not yet handled (queue depth).", src.Queued)
	if src.StoredBytes != nil {
		m.reg.MustRegister(&storedCollector{f: src.StoredBytes, desc: prometheus.NewDesc("den_stored_bytes", "Bytes the objects' databases hold, by namespace, as last sampled.", ns, nil)})
	}
	if src.Alarms != nil {
		f := src.Alarms
		m.reg.MustRegister(
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "den_alarms_run_total", Help: "Alarm handler runs."}, func() float64 { return float64(f().Run) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "den_alarms_retried_total", Help: "Alarm handler runs that failed and are retried."}, func() float64 { return float64(f().Retried) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "den_alarms_abandoned_total", Help: "Alarms deleted after their retries ran out."}, func() float64 { return float64(f().Abandoned) }),
		)
	}
	return m
}

// Handler serves the metrics in Prometheus's text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// Registry returns the registry, for tests and for adding collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

func (m *Metrics) series(ns *den.Namespace, kind den.EventKind) *bound {
	k := boundKey{ns, kind}
	if b, ok := m.bound.Load(k); ok {
		return b.(*bound)
	}
	n, kn := ns.Binding(), kind.String()
	b := &bound{
		requests:    m.requests.WithLabelValues(n, kn),
		turns:       m.turns.WithLabelValues(n, kn),
		seconds:     m.turnSeconds.WithLabelValues(n, kn),
		commits:     m.commits.WithLabelValues(n),
		held:        m.held.WithLabelValues(n),
		rowsRead:    m.rowsRead.WithLabelValues(n),
		rowsWritten: m.rowsWritten.WithLabelValues(n),
		busy:        m.busySeconds.WithLabelValues(n),
	}
	v, _ := m.bound.LoadOrStore(k, b)
	return v.(*bound)
}

// Turn counts a turn; see den.Observer.
func (m *Metrics) Turn(s den.TurnStats) {
	b := m.series(s.Namespace, s.Kind)
	b.requests.Inc()
	b.turns.Inc()
	b.seconds.Observe(s.Duration.Seconds())
	if s.Wrote {
		b.commits.Inc()
	}
	if s.Held {
		b.held.Inc()
	}
	if s.RowsRead > 0 {
		b.rowsRead.Add(float64(s.RowsRead))
	}
	if s.RowsWritten > 0 {
		b.rowsWritten.Add(float64(s.RowsWritten))
	}
	if s.Busy > 0 {
		b.busy.Add(s.Busy.Seconds())
	}
	if s.Activated {
		m.activations.WithLabelValues(s.Namespace.Binding()).Inc()
	}
	if s.Code != "" {
		m.errors.WithLabelValues(s.Namespace.Binding(), s.Kind.String(), s.Code).Inc()
	}
}

// Refused counts an event that never ran; see den.Observer.
func (m *Metrics) Refused(ns *den.Namespace, id den.ID, kind den.EventKind, code string) {
	m.series(ns, kind).requests.Inc()
	m.errors.WithLabelValues(ns.Binding(), kind.String(), code).Inc()
}

// Idle counts the object's busy time; see den.Observer.
func (m *Metrics) Idle(ns *den.Namespace, id den.ID, busy time.Duration) {
	if busy > 0 {
		m.series(ns, den.EventInternal).busy.Add(busy.Seconds()) // per namespace: any kind's series holds it
	}
}

// Left counts an object leaving memory; see den.Observer.
func (m *Metrics) Left(ns *den.Namespace, id den.ID, bytes int64, stored bool) {
	m.evictions.WithLabelValues(ns.Binding()).Inc()
}

// WebSocketOpened counts an active socket; see den.WebSocketObserver.
func (m *Metrics) WebSocketOpened(ns *den.Namespace, id den.ID) {
	m.wsActive.WithLabelValues(ns.Binding()).Inc()
}

// WebSocketMessage counts an incoming message; see den.WebSocketObserver.
func (m *Metrics) WebSocketMessage(ns *den.Namespace, id den.ID) {
	m.wsMessages.WithLabelValues(ns.Binding()).Inc()
}

// WebSocketClosed uncounts a socket; see den.WebSocketObserver.
func (m *Metrics) WebSocketClosed(ns *den.Namespace, id den.ID, hibernated bool) {
	if hibernated {
		m.wsHibernated.WithLabelValues(ns.Binding()).Dec()
	} else {
		m.wsActive.WithLabelValues(ns.Binding()).Dec()
	}
}

// WebSocketsHibernated moves n sockets from active to hibernated; see
// den.WebSocketObserver.
func (m *Metrics) WebSocketsHibernated(ns *den.Namespace, id den.ID, n int) {
	m.wsActive.WithLabelValues(ns.Binding()).Sub(float64(n))
	m.wsHibernated.WithLabelValues(ns.Binding()).Add(float64(n))
}

// WebSocketsWoken moves n sockets from hibernated to active; see
// den.WebSocketObserver.
func (m *Metrics) WebSocketsWoken(ns *den.Namespace, id den.ID, n int) {
	m.wsHibernated.WithLabelValues(ns.Binding()).Sub(float64(n))
	m.wsActive.WithLabelValues(ns.Binding()).Add(float64(n))
}

// Barrier counts a durability barrier; it is commit.Config.OnBarrier.
func (m *Metrics) Barrier(busy time.Duration, databases, flushes, failures int) {
	m.barriers.Inc()
	m.barrierSeconds.Observe(busy.Seconds())
	m.barrierFlushes.Add(float64(flushes))
	if failures > 0 {
		m.barrierFails.Add(float64(failures))
	}
}

var (
	_ den.Observer          = (*Metrics)(nil)
	_ den.WebSocketObserver = (*Metrics)(nil)
)

// storedCollector exports den_stored_bytes from a function read at scrape.
type storedCollector struct {
	f    func() map[string]int64
	desc *prometheus.Desc
}

func (c *storedCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *storedCollector) Collect(ch chan<- prometheus.Metric) {
	for ns, n := range c.f() {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(n), ns)
	}
}
