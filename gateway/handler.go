package gateway

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/den-run/den"
	"github.com/den-run/den/internal/reqlog"
)

// handler wraps the worker in the gateway's middleware: access log
// (outermost, so it sees every status), panic recovery and the body limit.
func (s *Server) handler(log *slog.Logger) http.Handler {
	limit := s.MaxBodyBytes
	if limit == 0 {
		limit = DefaultMaxBodyBytes
	}
	return &middleware{next: s.Handler, log: log, maxBody: limit}
}

type middleware struct {
	next    http.Handler
	log     *slog.Logger
	maxBody int64 // negative: no cap
}

func (m *middleware) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	info := &reqlog.Info{ID: requestID(r)}
	r = r.WithContext(reqlog.With(r.Context(), info))
	w.Header().Set(RequestIDHeader, info.ID)
	rw := &responseWriter{ResponseWriter: w, maxBody: m.maxBody}
	defer m.logAccess(rw, r, start)
	defer m.recover(rw, r)
	if m.maxBody >= 0 {
		if r.ContentLength > m.maxBody {
			rw.bodyTooLarge = true
			rw.WriteHeader(http.StatusRequestEntityTooLarge)
			return
		}
		// MaxBytesReader gets the server's own writer: it tells the
		// server to close the connection once the limit is hit.
		r.Body = &limitedBody{ReadCloser: http.MaxBytesReader(w, r.Body, m.maxBody), rw: rw}
	}
	m.next.ServeHTTP(rw, r)
}

// recover turns a panic in the worker into a 500 and a logged stack, so one
// bad request does not take the server down.
func (m *middleware) recover(rw *responseWriter, r *http.Request) {
	v := recover()
	if v == nil {
		return
	}
	if v == http.ErrAbortHandler { // the handler's way to abort the response
		panic(v)
	}
	m.log.LogAttrs(r.Context(), slog.LevelError, "panic in handler",
		slog.String("method", r.Method),
		slog.String("path", r.URL.Path),
		slog.String("panic", fmt.Sprint(v)),
		slog.String("stack", string(debug.Stack())),
	)
	if rw.wroteHeader {
		// Part of the response is out: abort the connection so the client
		// cannot take a truncated response for a whole one.
		rw.status = http.StatusInternalServerError
		panic(http.ErrAbortHandler)
	}
	den.WriteError(rw, den.Errorf(den.EINTERNAL, "Internal Server Error"))
}

// logAccess logs one line per request: Debug for successes, Info for client
// errors and Warn for server errors. It builds nothing when the level is off.
func (m *middleware) logAccess(rw *responseWriter, r *http.Request, start time.Time) {
	status := rw.status
	if status == 0 {
		status = http.StatusOK // the handler wrote nothing
	}
	level := slog.LevelDebug
	switch {
	case status >= 500:
		level = slog.LevelWarn
	case status >= 400:
		level = slog.LevelInfo
	}
	ctx := r.Context()
	if !m.log.Enabled(ctx, level) {
		return
	}
	attrs := []slog.Attr{
		slog.String("method", r.Method),
		slog.String("path", r.URL.Path),
		slog.Int("status", status),
		slog.Int64("bytes", rw.bytes),
		slog.Duration("dur", time.Since(start)),
		slog.String("remote", r.RemoteAddr),
	}
	if info := reqlog.From(ctx); info != nil {
		attrs = append(attrs, slog.String("request_id", info.ID))
		if ns, id := info.Object(); id != "" {
			attrs = append(attrs, slog.String("namespace", ns), slog.String("object_id", id))
		}
	}
	m.log.LogAttrs(ctx, level, "request", attrs...)
}

// RequestIDHeader carries a request's ID. The gateway keeps a client's own
// (up to 64 visible ASCII characters) or makes one, answers with it, and
// every log line about the request carries it as request_id.
const RequestIDHeader = "X-Request-Id"

// requestID returns the client's request ID if it is usable, else a new one.
func requestID(r *http.Request) string {
	id := r.Header.Get(RequestIDHeader)
	if id == "" || len(id) > 64 {
		return reqlog.NewID()
	}
	for i := 0; i < len(id); i++ {
		if id[i] <= ' ' || id[i] > '~' {
			return reqlog.NewID()
		}
	}
	return id
}

// limitedBody notes when the body limit is hit, so the response becomes a
// 413 whatever error the handler made of it.
type limitedBody struct {
	io.ReadCloser
	rw *responseWriter
}

func (b *limitedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			b.rw.bodyTooLarge = true
		}
	}
	return n, err
}

// responseWriter records the status and size of a response and replaces it
// with a 413 when the request body was too large. It is used by the
// request's goroutine only, as http.ResponseWriter is.
type responseWriter struct {
	http.ResponseWriter
	maxBody      int64
	status       int
	bytes        int64
	wroteHeader  bool
	bodyTooLarge bool // the body limit was hit
	discard      bool // the 413 replaced the handler's response
}

func (w *responseWriter) WriteHeader(code int) {
	if w.wroteHeader {
		w.ResponseWriter.WriteHeader(code) // let net/http report the superfluous call
		return
	}
	if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		w.ResponseWriter.WriteHeader(code) // informational: the real status follows
		return
	}
	w.wroteHeader = true
	if w.bodyTooLarge {
		w.writeTooLarge()
		return
	}
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *responseWriter) writeTooLarge() {
	w.status = http.StatusRequestEntityTooLarge
	w.discard = true
	h := w.ResponseWriter.Header()
	for k := range h {
		delete(h, k)
	}
	msg := fmt.Sprintf("Request body too large: the limit is %d bytes.\n", w.maxBody)
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Connection", "close")
	w.ResponseWriter.WriteHeader(http.StatusRequestEntityTooLarge)
	n, _ := io.WriteString(w.ResponseWriter, msg)
	w.bytes += int64(n)
}

func (w *responseWriter) Write(p []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if w.discard {
		return len(p), nil
	}
	n, err := w.ResponseWriter.Write(p)
	w.bytes += int64(n)
	return n, err
}

// Flush sends any buffered data to the client, for streaming responses.
func (w *responseWriter) Flush() {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if w.discard {
		return
	}
	http.NewResponseController(w.ResponseWriter).Flush()
}

// Hijack hands the connection to the handler, for WebSockets. The
// connection keeps the server's read and write deadlines: a handler that
// keeps it longer clears them with SetDeadline(time.Time{}).
func (w *responseWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, rw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err == nil && !w.wroteHeader {
		w.wroteHeader = true
		w.status = http.StatusSwitchingProtocols
	}
	return conn, rw, err
}

// Unwrap returns the server's writer, for http.ResponseController.
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
