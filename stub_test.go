package den_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/den-run/den"
)

// echo is a Dispatcher that answers from the caller's goroutine: enough to
// test what the stub does on its side of the boundary.
type echo struct{ err error }

func (e echo) Fetch(ctx context.Context, ns *den.Namespace, id den.ID, req *http.Request) (*http.Response, error) {
	if e.err != nil {
		return nil, e.err
	}
	body, _ := io.ReadAll(req.Body)
	return &http.Response{StatusCode: 201, Header: http.Header{"X-Id": {id.String()}}, Body: io.NopCloser(strings.NewReader(string(body)))}, nil
}

func (e echo) Call(ctx context.Context, ns *den.Namespace, id den.ID, method string, args []byte) ([]byte, error) {
	if e.err != nil {
		return nil, e.err
	}
	return args, nil
}

func TestStubForwardsHTTP(t *testing.T) {
	ns := den.NewNamespace("ECHO", "Echo", mustKey(t, 1), echo{})
	stub := ns.GetByName("x")
	if stub.Name() != "x" || !stub.ID().Equal(ns.IDFromName("x")) {
		t.Fatal("stub identity")
	}
	rec := httptest.NewRecorder()
	stub.ServeHTTP(rec, httptest.NewRequest("POST", "/p", strings.NewReader("hello")))
	if rec.Code != 201 || rec.Body.String() != "hello" || rec.Header().Get("X-Id") != stub.ID().String() {
		t.Fatalf("got %d %q %v", rec.Code, rec.Body.String(), rec.Header())
	}
}

func TestStubMapsErrorsToStatuses(t *testing.T) {
	for _, tc := range []struct {
		err    error
		status int
	}{
		{&den.Error{Code: den.EOVERLOADED, Message: den.MsgOverloadedQueue, Overloaded: true}, 503},
		{den.Errorf(den.EINVALID, "bad"), 400},
		{den.Errorf(den.ENOTFOUND, "none"), 404},
		{den.Errorf(den.ETOOLARGE, "big"), 413},
		{io.EOF, 500},
	} {
		ns := den.NewNamespace("ECHO", "Echo", mustKey(t, 1), echo{err: tc.err})
		rec := httptest.NewRecorder()
		ns.GetByName("x").ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
		if rec.Code != tc.status || !strings.Contains(rec.Body.String(), den.AsError(tc.err).Message) {
			t.Errorf("%v: got %d %q, want %d", tc.err, rec.Code, rec.Body.String(), tc.status)
		}
		if tc.status == 503 && rec.Header().Get("Retry-After") == "" {
			t.Error("503 without Retry-After")
		}
	}
}

func TestStubRefusesHugeBodies(t *testing.T) {
	ns := den.NewNamespace("ECHO", "Echo", mustKey(t, 1), echo{})
	req := httptest.NewRequest("POST", "/", io.LimitReader(zeros{}, den.MaxFetchBytes+1))
	_, err := ns.GetByName("x").Fetch(req)
	if den.ErrorCode(err) != den.ETOOLARGE {
		t.Fatalf("got %v", err)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

func TestCallEncodesArguments(t *testing.T) {
	ns := den.NewNamespace("ECHO", "Echo", mustKey(t, 1), echo{})
	got, err := den.Call[[]any](context.Background(), ns.GetByName("x"), "M", 1, "two", map[string]bool{"three": true}, []byte("4"))
	if err != nil {
		t.Fatal(err)
	}
	want := `[1 two map[three:true] NA==]`
	if s := strings.TrimSpace(fmt.Sprint(got)); s != want {
		t.Fatalf("round trip = %s, want %s", s, want)
	}
	if _, err := ns.GetByName("x").Call(context.Background(), "M", make(chan int)); den.ErrorCode(err) != den.EINVALID {
		t.Fatalf("unencodable argument: %v", err)
	}
	if _, err := ns.GetByName("x").Call(context.Background(), "M", strings.Repeat("x", den.MaxRPCBytes)); den.ErrorCode(err) != den.ELIMIT || !strings.Contains(err.Error(), "limited to 32MiB") {
		t.Fatalf("oversized arguments: %v", err)
	}
}
