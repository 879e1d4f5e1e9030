package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/den-run/den"
	"github.com/den-run/den/serve"
)

// target says where the operator's commands act: a running server's admin
// API (--admin URL, with --token or DEN_ADMIN_TOKEN), or else a data
// directory while no server runs (--data, DEN_DATA, ./.den). Both speak the
// same API: the data directory is served in-process by serve.OpenData.
type target struct {
	admin, token, data string
	json               bool
	progress           bool
}

// flags defines the target's flags on fs.
func (t *target) flags(fs *flag.FlagSet) {
	fs.StringVar(&t.admin, "admin", "", "URL of a running server's admin API, such as http://127.0.0.1:8788 (else work on --data)")
	fs.StringVar(&t.token, "token", "", "admin API bearer token (default $DEN_ADMIN_TOKEN)")
	fs.StringVar(&t.data, "data", "", "data directory of a stopped server (default $DEN_DATA, else ./.den)")
	fs.BoolVar(&t.json, "json", false, "print JSON for scripts")
	fs.BoolVar(&t.progress, "progress", false, "show a progress bar even when stderr is not a terminal")
}

// client talks to the operator API.
type client struct {
	base  string
	token string
	hc    *http.Client
	close func() error
}

// connect opens the target.
func (t *target) connect(ctx context.Context) (*client, error) {
	if t.admin != "" {
		token := t.token
		if token == "" {
			token = os.Getenv("DEN_ADMIN_TOKEN")
		}
		if token == "" {
			return nil, usagef("--admin needs --token or DEN_ADMIN_TOKEN (the server's admin.token file holds it)")
		}
		u, err := url.Parse(t.admin)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, usagef("--admin %q: want a URL such as http://127.0.0.1:8788", t.admin)
		}
		return &client{base: strings.TrimRight(t.admin, "/"), token: token, hc: &http.Client{}, close: func() error { return nil }}, nil
	}
	dir := t.data
	if dir == "" {
		dir = os.Getenv("DEN_DATA")
	}
	if dir == "" {
		dir = serve.DefaultData
	}
	d, err := serve.OpenData(ctx, dir, nil)
	if err != nil {
		return nil, err
	}
	tr := &handlerTransport{h: d.Handler()}
	return &client{base: "http://data", hc: &http.Client{Transport: tr}, close: func() error {
		tr.wg.Wait()
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		return d.Close(cctx)
	}}, nil
}

// apiError is an error the API answered.
type apiError struct {
	status int
	msg    string
}

func (e *apiError) Error() string { return e.msg }

// do sends a request and returns the response, or the API's error.
func (c *client) do(ctx context.Context, method, path string, body io.Reader, contentType string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 300 {
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		var e struct{ Error string }
		if json.Unmarshal(b, &e) != nil || e.Error == "" {
			e.Error = fmt.Sprintf("%s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(b))
		}
		return nil, &apiError{status: resp.StatusCode, msg: e.Error}
	}
	return resp, nil
}

// call sends a JSON request (body may be nil) and decodes the JSON answer
// into out, returning the answer's bytes too.
func (c *client) call(ctx context.Context, method, path string, body, out any) ([]byte, error) {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		r = bytes.NewReader(b)
	}
	resp, err := c.do(ctx, method, path, r, "application/json")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			return b, fmt.Errorf("%s %s: bad answer: %v", method, path, err)
		}
	}
	return b, nil
}

// objectPath returns the API path of an object: ns and id escaped.
func objectPath(ns, id string) string {
	return "/v1/namespaces/" + url.PathEscape(ns) + "/objects/" + url.PathEscape(id)
}

// printJSON prints an API answer indented.
func printJSON(w io.Writer, b []byte) error {
	var buf bytes.Buffer
	if err := json.Indent(&buf, bytes.TrimSpace(b), "", "  "); err != nil {
		_, err := w.Write(b)
		return err
	}
	buf.WriteByte('\n')
	_, err := w.Write(buf.Bytes())
	return err
}

// objectArgs checks for exactly NAMESPACE ID.
func objectArgs(args []string) (ns, id string, err error) {
	if len(args) != 2 {
		return "", "", usagef("want NAMESPACE and ID (64 hex digits or name:NAME), got %d arguments", len(args))
	}
	return args[0], args[1], nil
}

// when returns the bookmark --bookmark gives, or the one for --at, or ""
// if neither is set.
func when(ctx context.Context, c *client, ns, id, bookmark, at string) (string, error) {
	switch {
	case bookmark != "" && at != "":
		return "", usagef("give --bookmark or --at, not both")
	case bookmark != "":
		if _, err := den.ParseBookmark(bookmark); err != nil {
			return "", usagef("%s", den.AsError(err).Message)
		}
		return bookmark, nil
	case at != "":
		t, err := den.ParseTime(at)
		if err != nil {
			return "", usagef("--at: %s", den.AsError(err).Message)
		}
		var out struct{ Bookmark string }
		_, err = c.call(ctx, "GET", objectPath(ns, id)+"/bookmark?at="+url.QueryEscape(t.UTC().Format(time.RFC3339Nano)), nil, &out)
		return out.Bookmark, err
	}
	return "", nil
}

// withClient runs fn with a connected client and closes it.
func (t *target) withClient(ctx context.Context, fn func(c *client) error) error {
	c, err := t.connect(ctx)
	if err != nil {
		return err
	}
	err = fn(c)
	if cerr := c.close(); err == nil {
		err = cerr
	}
	return err
}

// handlerTransport serves requests with an in-process handler, streaming
// the response body (an export may be gigabytes).
type handlerTransport struct {
	h  http.Handler
	wg sync.WaitGroup // the handler goroutines
}

func (t *handlerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	pr, pw := io.Pipe()
	w := &pipeResponse{header: http.Header{}, pw: pw, ready: make(chan struct{})}
	t.wg.Go(func() {
		defer func() {
			w.WriteHeader(http.StatusOK)
			pw.Close()
		}()
		t.h.ServeHTTP(w, req)
	})
	select {
	case <-w.ready:
	case <-req.Context().Done():
		pr.Close()
		return nil, req.Context().Err()
	}
	return &http.Response{StatusCode: w.status, Status: http.StatusText(w.status), Header: w.sent, Body: pr, Request: req}, nil
}

// pipeResponse is an http.ResponseWriter whose body goes into a pipe.
type pipeResponse struct {
	header, sent http.Header
	pw           *io.PipeWriter
	status       int
	once         sync.Once
	ready        chan struct{}
}

func (w *pipeResponse) Header() http.Header { return w.header }

func (w *pipeResponse) WriteHeader(status int) {
	w.once.Do(func() {
		w.status, w.sent = status, w.header.Clone()
		close(w.ready)
	})
}

func (w *pipeResponse) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.pw.Write(p)
}

var errNotFound = errors.New("not found")

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
