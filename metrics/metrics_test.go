package metrics_test

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/den-run/den"
	"github.com/den-run/den/metrics"
)

func TestMetricsExposition(t *testing.T) {
	key, _ := den.NewKey(nil)
	ns := den.NewNamespace("ROOMS", "Room", key, nil)
	id := ns.IDFromName("lobby")
	m := metrics.New(metrics.Sources{
		Live:        func() int { return 7 },
		Queued:      func() int { return 2 },
		StoredBytes: func() map[string]int64 { return map[string]int64{"ROOMS": 12288} },
		Alarms:      func() metrics.AlarmCounts { return metrics.AlarmCounts{Run: 5, Retried: 2, Abandoned: 1} },
	})
	m.Turn(den.TurnStats{Namespace: ns, ID: id, Kind: den.EventFetch, Duration: 3 * time.Millisecond, Busy: time.Second, RowsRead: 4, RowsWritten: 2, Wrote: true, Held: true, Activated: true})
	m.Turn(den.TurnStats{Namespace: ns, ID: id, Kind: den.EventCall, Duration: time.Millisecond, Code: den.EINVALID})
	m.Refused(ns, id, den.EventCall, den.EOVERLOADED)
	m.Idle(ns, id, 500*time.Millisecond)
	m.Left(ns, id, 12288, true)
	m.WebSocketOpened(ns, id)
	m.WebSocketOpened(ns, id)
	m.WebSocketsHibernated(ns, id, 2)
	m.WebSocketsWoken(ns, id, 1)
	m.WebSocketMessage(ns, id)
	m.Barrier(2*time.Millisecond, 3, 5, 0)

	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	for _, want := range []string{
		`den_requests_total{kind="fetch",namespace="ROOMS"} 1`,
		`den_requests_total{kind="rpc",namespace="ROOMS"} 2`,
		`den_turns_total{kind="rpc",namespace="ROOMS"} 1`,
		`den_turn_duration_seconds_bucket{kind="fetch",namespace="ROOMS",le="0.005"} 1`,
		`den_errors_total{code="invalid",kind="rpc",namespace="ROOMS"} 1`,
		`den_errors_total{code="overloaded",kind="rpc",namespace="ROOMS"} 1`,
		`den_activations_total{namespace="ROOMS"} 1`,
		`den_evictions_total{namespace="ROOMS"} 1`,
		`den_commits_total{namespace="ROOMS"} 1`,
		`den_turns_held_total{namespace="ROOMS"} 1`,
		`den_rows_read_total{namespace="ROOMS"} 4`,
		`den_rows_written_total{namespace="ROOMS"} 2`,
		`den_busy_seconds_total{namespace="ROOMS"} 1.5`,
		`den_websockets_active{namespace="ROOMS"} 1`,
		`den_websockets_hibernated{namespace="ROOMS"} 1`,
		`den_websocket_messages_total{namespace="ROOMS"} 1`,
		`den_durability_barriers_total 1`,
		`den_durability_flushes_total 5`,
		`den_durability_barrier_seconds_count 1`,
		`den_live_objects 7`,
		`den_queued_events 2`,
		`den_stored_bytes{namespace="ROOMS"} 12288`,
		`den_alarms_run_total 5`,
		`den_alarms_retried_total 2`,
		`den_alarms_abandoned_total 1`,
		`go_goroutines`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}
