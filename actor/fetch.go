package actor

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strconv"

	"github.com/den-run/den"
)

// fetch runs an HTTP event on the live instance and buffers its response:
// nothing reaches the client before the turn's writes are durable.
func (a *actor) fetch(ctx context.Context, ev *event) (*http.Response, error) {
	h, ok := a.obj.(http.Handler)
	if !ok {
		return nil, a.errorf(den.Errorf(den.ENOTFOUND, "Durable Object class %q has no fetch handler: implement http.Handler (ServeHTTP)", a.class.Name))
	}
	rec := &recorder{header: http.Header{}}
	h.ServeHTTP(rec, ev.req.WithContext(ctx))
	return rec.response(ev.req), nil
}

// recorder is the http.ResponseWriter an object's ServeHTTP writes to.
type recorder struct {
	header  http.Header
	status  int
	body    bytes.Buffer
	upgrade den.WebSocketUpgrade // the socket State.AcceptWebSocket accepted, if any
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
}

func (r *recorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.body.Write(p)
}

func (r *recorder) response(req *http.Request) *http.Response {
	if r.upgrade != nil {
		return &http.Response{
			Status: "101 Switching Protocols", StatusCode: http.StatusSwitchingProtocols,
			Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header: r.header, Body: r.upgrade, Request: req,
		}
	}
	if r.status == 0 {
		r.status = http.StatusOK
	}
	if r.header.Get("Content-Type") == "" && r.body.Len() > 0 {
		r.header.Set("Content-Type", http.DetectContentType(r.body.Bytes()))
	}
	r.header.Set("Content-Length", strconv.Itoa(r.body.Len()))
	return &http.Response{
		Status:        strconv.Itoa(r.status) + " " + http.StatusText(r.status),
		StatusCode:    r.status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        r.header,
		Body:          io.NopCloser(bytes.NewReader(r.body.Bytes())),
		ContentLength: int64(r.body.Len()),
		Request:       req,
	}
}
