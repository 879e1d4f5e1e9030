package gateway

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/den-run/den"
)

// Defaults for the zero values of [Server]'s fields.
const (
	DefaultAddr              = "127.0.0.1:8787"
	DefaultMaxHeaderBytes    = 64 << 10
	DefaultMaxBodyBytes      = 32 << 20
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultReadTimeout       = 60 * time.Second
	DefaultWriteTimeout      = 60 * time.Second
	DefaultIdleTimeout       = 120 * time.Second
)

// Server serves Handler over HTTP. Set its fields, then call Open; the fields
// must not change afterwards. A zero field takes its default; a negative
// limit or timeout means none. Open, BoundAddr and Close are safe for
// concurrent use; Handler is called from one goroutine per connection.
type Server struct {
	// Addr is the TCP address to listen on, DefaultAddr (loopback) when
	// empty. Port 0 picks a free port; BoundAddr reports it.
	Addr string
	// Handler is the worker: the app's front router.
	Handler http.Handler
	// MaxHeaderBytes caps the request line and headers; larger requests get
	// 431 Request Header Fields Too Large. A negative value means net/http's
	// own default (1 MiB).
	MaxHeaderBytes int
	// MaxBodyBytes caps a request body; a larger one gets 413 Content Too
	// Large. A negative value means no cap.
	MaxBodyBytes int64
	// ReadHeaderTimeout bounds reading the request headers, so a client
	// that sends them slowly is cut off.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading a whole request, body included.
	ReadTimeout time.Duration
	// WriteTimeout bounds the time from the end of the request headers to
	// the end of the response.
	WriteTimeout time.Duration
	// IdleTimeout bounds how long a keep-alive connection waits for its
	// next request.
	IdleTimeout time.Duration
	// Logger receives the access log and server errors; nil means
	// slog.Default().
	Logger *slog.Logger

	mu       sync.Mutex // protects following fields
	srv      *http.Server
	ln       net.Listener
	done     chan struct{} // closed when the serving goroutine returns
	serveErr error         // what Serve returned, unless the server was shut down
	closing  chan struct{} // made by the first Close, closed when it returns

	closeErr error // the first Close's result, written before closing is closed
}

// Open listens on Addr and starts serving in a goroutine the Server owns.
// ctx bounds only the listen. Open fails if the Server was opened before.
func (s *Server) Open(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil || s.closing != nil {
		return den.Errorf(den.EINVALID, "gateway: server already opened or closed")
	}
	if s.Handler == nil {
		return den.Errorf(den.EINVALID, "gateway: no handler")
	}
	addr := s.Addr
	if addr == "" {
		addr = DefaultAddr
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return den.Errorf(den.EUNAVAILABLE, "gateway: listen on %s: %w", addr, err)
	}
	log := s.logger()
	s.ln = ln
	s.srv = &http.Server{
		Handler:           s.handler(log),
		MaxHeaderBytes:    orDefault(s.MaxHeaderBytes, DefaultMaxHeaderBytes),
		ReadHeaderTimeout: orDefault(s.ReadHeaderTimeout, DefaultReadHeaderTimeout),
		ReadTimeout:       orDefault(s.ReadTimeout, DefaultReadTimeout),
		WriteTimeout:      orDefault(s.WriteTimeout, DefaultWriteTimeout),
		IdleTimeout:       orDefault(s.IdleTimeout, DefaultIdleTimeout),
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	s.done = make(chan struct{})
	srv, done := s.srv, s.done
	go func() {
		defer close(done)
		err := srv.Serve(ln)
		if !errors.Is(err, http.ErrServerClosed) {
			log.Error("gateway stopped serving", "addr", ln.Addr().String(), "err", err)
			s.mu.Lock()
			s.serveErr = err
			s.mu.Unlock()
		}
	}()
	return nil
}

// BoundAddr returns the address the server listens on, such as
// 127.0.0.1:43127 when Addr asked for port 0, or "" before Open.
func (s *Server) BoundAddr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// Close stops accepting connections, closes idle ones and waits for the
// requests in flight to finish, then for the serving goroutine to return. If
// ctx ends first, Close closes every connection and returns an ETIMEOUT
// error. Close is idempotent and safe to call concurrently: every call
// returns the first call's result once it is known. Hijacked connections
// (WebSockets) are not waited for.
func (s *Server) Close(ctx context.Context) error {
	s.mu.Lock()
	if s.closing != nil {
		closing := s.closing
		s.mu.Unlock()
		select {
		case <-closing:
			return s.closeErr // written before closing was closed
		case <-ctx.Done():
			return den.Errorf(den.ETIMEOUT, "gateway: wait for close: %w", context.Cause(ctx))
		}
	}
	s.closing = make(chan struct{})
	srv, done := s.srv, s.done
	s.mu.Unlock()

	var err error
	if srv != nil {
		if err = srv.Shutdown(ctx); err != nil {
			srv.Close() // ctx ended: cut the connections still busy
			err = den.Errorf(den.ETIMEOUT, "gateway: drain requests in flight: %w", err)
		}
		<-done
		s.mu.Lock()
		if err == nil && s.serveErr != nil {
			err = den.Errorf(den.EINTERNAL, "gateway: serve: %w", s.serveErr)
		}
		s.mu.Unlock()
	}
	s.closeErr = err
	close(s.closing)
	return err
}

func (s *Server) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

// orDefault returns v, def when v is zero, and zero when v is negative
// (net/http reads zero as "no limit").
func orDefault[T int | int64 | time.Duration](v, def T) T {
	switch {
	case v == 0:
		return def
	case v < 0:
		return 0
	}
	return v
}
