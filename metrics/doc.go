// Package metrics exports what a Den node does as Prometheus metrics, with
// github.com/prometheus/client_golang: it is the den.Observer and
// den.WebSocketObserver that counts turns, requests, errors, activations and
// evictions, rows and sockets by namespace, plus gauges and counters read at
// scrape time from the rest of the node (live objects, queued events, stored
// bytes, alarms) and the Go runtime's own metrics.
//
// Labels never name an object, only a namespace (the binding, such as
// NOTES), an event kind and an error code, so the number of series stays
// small however many objects there are. docs/OPERATIONS.md lists every
// metric.
package metrics
