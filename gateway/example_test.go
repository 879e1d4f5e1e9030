package gateway_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"

	"github.com/den-run/den/gateway"
)

func ExampleServer() {
	s := &gateway.Server{
		Addr: "127.0.0.1:0", // a free port; BoundAddr tells which
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "hello from the worker")
		}),
		Logger: slog.New(slog.DiscardHandler),
	}
	if err := s.Open(context.Background()); err != nil {
		panic(err)
	}
	defer s.Close(context.Background()) // drains requests in flight

	resp, err := http.Get("http://" + s.BoundAddr() + "/")
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.StatusCode, string(body))
	// Output: 200 hello from the worker
}
