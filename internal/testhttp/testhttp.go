// Package testhttp holds the HTTP helpers Den's tests share: a client whose
// connections close with the test, and a request that returns status and
// body or fails the test.
package testhttp

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Client returns an HTTP client whose idle connections close when the test
// ends (so leak checks see no stray goroutines), with a 10 s timeout.
func Client(tb testing.TB) *http.Client {
	tb.Helper()
	tr := &http.Transport{MaxIdleConnsPerHost: 8}
	tb.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// Do sends a request with body (none if "") and returns the status and the
// body, failing the test on a transport error.
func Do(tb testing.TB, c *http.Client, method, url, body string) (int, string) {
	tb.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		tb.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return resp.StatusCode, string(b)
}
