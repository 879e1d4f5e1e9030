package reqlog_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/den-run/den/internal/reqlog"
)

type object struct{}

func (object) LogObject() (string, string) { return "ROOMS", "abc" }

func TestHandlerAddsTheRequestAndObject(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(reqlog.Handler(slog.NewJSONHandler(&buf, nil)))
	info := &reqlog.Info{ID: "r1"}
	ctx := reqlog.With(context.Background(), info)
	line := func() map[string]any {
		t.Helper()
		var m map[string]any
		if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
			t.Fatal(err)
		}
		buf.Reset()
		return m
	}

	log.InfoContext(ctx, "before")
	if m := line(); m["request_id"] != "r1" || m["namespace"] != nil {
		t.Errorf("before reaching an object: %v", m)
	}
	info.Reached("NOTES", [32]byte{0xab})
	info.Reached("OTHER", [32]byte{0xcd}) // the first object stays
	log.InfoContext(ctx, "after")
	if m := line(); m["namespace"] != "NOTES" || m["object_id"] != "ab"+string(bytes.Repeat([]byte("00"), 31)) {
		t.Errorf("after reaching an object: %v", m)
	}
	// Inside a turn the turn's object wins; a line's own attributes win.
	turn := context.WithValue(ctx, reqlog.ObjectKey{}, object{})
	log.InfoContext(turn, "in turn", "namespace", "MINE")
	if m := line(); m["namespace"] != "MINE" || m["object_id"] != "abc" || m["request_id"] != "r1" {
		t.Errorf("in a turn: %v", m)
	}
	log.Info("no context")
	if m := line(); m["request_id"] != nil {
		t.Errorf("without a context: %v", m)
	}
}
