// Command app is the Den side of the WebSocket benchmark (go run ./bench/ws):
// rooms of hibernatable WebSockets, as bench/ws/worker.js is for workerd.
//
//	GET /room/{room}?name={user}   accept a WebSocket into the room
//
// A text message "b:<text>" is sent to every socket of the room as <text>
// (fan-out only). Any other text is a chat message: stored in the room's SQL
// table and sent to everyone as {"from","message","timestamp"}. The text
// {"type":"ping"} is answered {"type":"pong"} by the runtime.
package main

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/den-run/den"
	"github.com/den-run/den/serve"
)

func main() {
	serve.Main(serve.App{
		Name:     "bench-ws",
		Classes:  []den.Class{{Name: "Room", New: newRoom}},
		Bindings: map[string]string{"ROOM": "Room"},
		Worker: func(env *den.Env) http.Handler {
			ns := env.Namespace("ROOM")
			mux := http.NewServeMux()
			mux.HandleFunc("GET /room/{room}", func(w http.ResponseWriter, r *http.Request) {
				ns.GetByName(r.PathValue("room")).ServeHTTP(w, r)
			})
			return mux
		},
	})
}

type room struct{ st den.State }

func newRoom(st den.State, env *den.Env) (any, error) {
	if _, err := st.Storage().SQL().Exec(`CREATE TABLE IF NOT EXISTS messages (
		id INTEGER PRIMARY KEY AUTOINCREMENT, sender TEXT NOT NULL, message TEXT NOT NULL, ts INTEGER NOT NULL)`); err != nil {
		return nil, err
	}
	pair, _ := den.NewWebSocketRequestResponsePair(`{"type":"ping"}`, `{"type":"pong"}`)
	st.SetWebSocketAutoResponse(pair)
	return &room{st: st}, nil
}

func (r *room) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	ws, err := r.st.AcceptWebSocket(w, req)
	if err != nil {
		http.Error(w, err.Error(), den.HTTPStatus(err))
		return
	}
	ws.SerializeAttachment(req.URL.Query().Get("name"))
}

func (r *room) WebSocketMessage(ctx context.Context, ws den.WebSocket, typ den.MessageType, data []byte) error {
	msg := string(data)
	if text, ok := strings.CutPrefix(msg, "b:"); ok {
		for _, o := range r.st.GetWebSockets("") {
			o.SendText(text)
		}
		return nil
	}
	var from string
	ws.DeserializeAttachment(&from)
	ts := time.Now().UnixMilli()
	if _, err := r.st.Storage().SQL().Exec("INSERT INTO messages (sender, message, ts) VALUES (?, ?, ?)", from, msg, ts); err != nil {
		return err
	}
	b, _ := json.Marshal(map[string]any{"from": from, "message": msg, "timestamp": ts})
	out := string(b)
	for _, o := range r.st.GetWebSockets("") {
		o.SendText(out)
	}
	return nil
}
