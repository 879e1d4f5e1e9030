package admin

import (
	"net/http/pprof"
)

// routeDebug serves Go's profiler (net/http/pprof) under /debug/pprof/,
// behind the token like every other endpoint: profiles show code paths,
// and a CPU profile or trace costs the server while it runs.
func (h *Handler) routeDebug() {
	h.mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	h.mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	h.mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	h.mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	h.mux.HandleFunc("POST /debug/pprof/symbol", pprof.Symbol)
	h.mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
}
