package den

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
)

// Stub is a handle to one object. Making one creates nothing; the object is
// constructed on the first event a stub delivers. A Stub is safe for
// concurrent use.
type Stub struct {
	ns  *Namespace
	id  ID
	err error
}

// ID returns the object's ID.
func (s *Stub) ID() ID { return s.id }

// Name returns the name the stub's ID was made from, or "".
func (s *Stub) Name() string { return s.id.Name() }

// Fetch delivers req to the object's ServeHTTP and returns its response once
// the writes behind it are durable. The request body is read in full first
// (at most MaxFetchBytes), so a slow client never holds the object, and the
// response body is buffered. req's context bounds the wait.
func (s *Stub) Fetch(req *http.Request) (*http.Response, error) {
	if s.err != nil {
		return nil, s.err
	}
	out := req.Clone(req.Context())
	if req.Body != nil && req.Body != http.NoBody {
		body, err := io.ReadAll(io.LimitReader(req.Body, MaxFetchBytes+1))
		req.Body.Close()
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok || len(body) > MaxFetchBytes {
			return nil, Errorf(ETOOLARGE, "Request body too large: bodies sent to a Durable Object are limited to %d bytes.", MaxFetchBytes)
		}
		if err != nil {
			return nil, Errorf(EINVALID, "read request body: %w", err)
		}
		out.Body = io.NopCloser(bytes.NewReader(body))
		out.ContentLength = int64(len(body))
		out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	} else {
		out.Body = http.NoBody
	}
	out.RequestURI = ""
	return s.ns.d.Fetch(req.Context(), s.ns, s.id, out)
}

// Call calls the object's exported method with args and returns the result
// as JSON. Arguments and results are serialized as JSON even in-process (see
// [Call] for the typed form and the method signatures that qualify).
func (s *Stub) Call(ctx context.Context, method string, args ...any) (json.RawMessage, error) {
	if s.err != nil {
		return nil, s.err
	}
	b, err := EncodeArgs(args...)
	if err != nil {
		return nil, err
	}
	return s.ns.d.Call(ctx, s.ns, s.id, method, b)
}

// Call calls method on the object behind stub and decodes its result into R.
//
// A method qualifies for RPC when it is exported, not reserved (ServeHTTP,
// Alarm, the WebSocket handlers and their JavaScript names), and has the form
//
//	func (o *T) Name([ctx context.Context,] args...) ([R,] [error])
//
// Each argument and the result must encode to JSON and back. An error the
// method returns reaches the caller as a remote *Error, and the turn's writes
// roll back.
func Call[R any](ctx context.Context, stub *Stub, method string, args ...any) (R, error) {
	var r R
	raw, err := stub.Call(ctx, method, args...)
	if err != nil {
		return r, err
	}
	if err := DecodeResult(raw, &r); err != nil {
		return r, err
	}
	return r, nil
}

// EncodeArgs serializes RPC arguments as a JSON array.
func EncodeArgs(args ...any) ([]byte, error) {
	if args == nil {
		args = []any{}
	}
	b, err := json.Marshal(args)
	if err != nil {
		return nil, Errorf(EINVALID, "encode RPC arguments: %w", err)
	}
	if err := checkRPCSize(len(b)); err != nil {
		return nil, err
	}
	return b, nil
}

// EncodeResult serializes an RPC result.
func EncodeResult(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, Errorf(EINTERNAL, "encode RPC result: %w", err)
	}
	if err := checkRPCSize(len(b)); err != nil {
		return nil, err
	}
	return b, nil
}

// DecodeResult decodes a serialized RPC result into v.
func DecodeResult(raw []byte, v any) error {
	if len(raw) == 0 {
		raw = []byte("null")
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return Errorf(EINVALID, "decode RPC result into %T: %w", v, err)
	}
	return nil
}

func checkRPCSize(n int) error {
	if n > MaxRPCBytes {
		return Errorf(ELIMIT, "Serialized RPC arguments or return values are limited to 32MiB, but the size of this value was: %d bytes.", n)
	}
	return nil
}

// ServeHTTP forwards r to the object and copies its response to w, so a
// worker can route with ns.GetByName(name).ServeHTTP(w, r). An error becomes
// a plain-text response with the status [HTTPStatus] gives it; an overloaded
// object answers 503 with Retry-After. A 101 response with which the object
// accepted a WebSocket is connected to w's connection (see
// [WebSocketUpgrade]).
func (s *Stub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	resp, err := s.Fetch(r)
	if err != nil {
		WriteError(w, err)
		return
	}
	defer resp.Body.Close()
	if up, ok := resp.Body.(WebSocketUpgrade); ok && resp.StatusCode == http.StatusSwitchingProtocols {
		// The object accepted a WebSocket: hand the connection over.
		if err := up.Connect(w, r, resp.Header); err != nil && AsError(err).Code != ECANCELED {
			WriteError(w, err) // a no-op once the connection is hijacked
		}
		return
	}
	h := w.Header()
	for k, v := range resp.Header {
		h[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	io.Copy(w, resp.Body)
}

// WriteError writes err as a plain-text HTTP response with its status.
func WriteError(w http.ResponseWriter, err error) {
	status := HTTPStatus(err)
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	http.Error(w, AsError(err).Message, status)
}
