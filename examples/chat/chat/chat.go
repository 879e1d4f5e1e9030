package chat

import (
	"context"
	_ "embed"
	"encoding/json"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/den-run/den"
	"github.com/den-run/den/serve"
)

// Names of the app's class and binding.
const (
	ClassName = "ChatRoom"
	Binding   = "CHAT_ROOM"
)

// Limits of the app's own.
const (
	HistorySize     = 100  // messages kept per room and sent to newcomers
	MaxNameBytes    = 64   // bytes of a username
	MaxRoomBytes    = 128  // bytes of a room name
	MaxMessageBytes = 4096 // bytes of one chat message
)

// Ping and Pong are the auto-response the runtime answers for the room.
const (
	Ping = `{"type":"ping"}`
	Pong = `{"type":"pong"}`
)

//go:embed index.html
var indexHTML []byte

// App returns the chat app, ready for serve.Main or serve.Start.
func App() serve.App {
	return serve.App{
		Name:     "chat",
		Classes:  []den.Class{Class()},
		Bindings: map[string]string{Binding: ClassName},
		Worker:   Worker,
	}
}

// Class returns the ChatRoom class.
func Class() den.Class { return den.Class{Name: ClassName, New: newRoom} }

// Worker is the app's front router.
func Worker(env *den.Env) http.Handler {
	ns := env.Namespace(Binding)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write(indexHTML)
	})
	mux.HandleFunc("GET /chat/{room}/websocket", func(w http.ResponseWriter, r *http.Request) {
		room := r.PathValue("room")
		if room == "" || len(room) > MaxRoomBytes {
			http.Error(w, "a room name has 1 to 128 bytes", http.StatusBadRequest)
			return
		}
		ns.GetByName(room).ServeHTTP(w, r) // the room accepts the socket
	})
	return mux
}

// Message is one chat message, as stored and as broadcast.
type Message struct {
	From      string `json:"from" sql:"sender"`
	Message   string `json:"message" sql:"message"`
	Timestamp int64  `json:"timestamp" sql:"ts"`
}

// Room is one chat room.
type Room struct {
	st   den.State
	last int64 // the latest timestamp handed out: each message gets a later one
}

func newRoom(st den.State, env *den.Env) (any, error) {
	r := &Room{st: st}
	// Cheap on purpose: it runs again every time the room wakes up.
	err := st.BlockConcurrencyWhile(context.Background(), func(ctx context.Context) error {
		_, err := st.Storage().SQL().Exec(`CREATE TABLE IF NOT EXISTS messages (
			id INTEGER PRIMARY KEY AUTOINCREMENT,
			sender TEXT NOT NULL, message TEXT NOT NULL, ts INTEGER NOT NULL)`)
		return err
	})
	if err != nil {
		return nil, err
	}
	pair, err := den.NewWebSocketRequestResponsePair(Ping, Pong)
	if err != nil {
		return nil, err
	}
	st.SetWebSocketAutoResponse(pair)
	return r, nil
}

// ServeHTTP accepts a member's WebSocket: the history goes to the newcomer
// first, then everyone hears of the join.
func (r *Room) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	name := strings.TrimSpace(req.URL.Query().Get("name"))
	if name == "" || len(name) > MaxNameBytes || !utf8.ValidString(name) {
		http.Error(w, "name: 1 to 64 bytes of text, such as ?name=ann", http.StatusBadRequest)
		return
	}
	history, err := den.ScanAll[Message](r.st.Storage().SQL().Exec(
		"SELECT sender, message, ts FROM (SELECT * FROM messages ORDER BY id DESC LIMIT ?) ORDER BY id", HistorySize))
	if err != nil {
		http.Error(w, err.Error(), den.HTTPStatus(err))
		return
	}
	ws, err := r.st.AcceptWebSocket(w, req)
	if err != nil {
		http.Error(w, err.Error(), den.HTTPStatus(err))
		return
	}
	if err := ws.SerializeAttachment(name); err != nil {
		http.Error(w, err.Error(), den.HTTPStatus(err))
		return
	}
	if history == nil {
		history = []Message{}
	}
	ws.SendText(encode(map[string]any{"type": "history", "messages": history}))
	r.broadcast(encode(map[string]string{"type": "join", "name": name}))
}

// WebSocketMessage stores a chat message and sends it to everyone.
func (r *Room) WebSocketMessage(ctx context.Context, ws den.WebSocket, typ den.MessageType, data []byte) error {
	var in struct {
		Message *string `json:"message"`
	}
	if typ != den.TextMessage || json.Unmarshal(data, &in) != nil || in.Message == nil {
		return ws.SendText(`{"type":"error","error":"send {\"message\": \"...\"}"}`)
	}
	if len(*in.Message) > MaxMessageBytes {
		return ws.SendText(`{"type":"error","error":"a message has at most 4096 bytes"}`)
	}
	m := Message{From: name(ws), Message: *in.Message, Timestamp: r.now()}
	sql := r.st.Storage().SQL()
	if _, err := sql.Exec("INSERT INTO messages (sender, message, ts) VALUES (?, ?, ?)", m.From, m.Message, m.Timestamp); err != nil {
		return err
	}
	if _, err := sql.Exec("DELETE FROM messages WHERE id <= (SELECT max(id) FROM messages) - ?", HistorySize); err != nil {
		return err
	}
	r.broadcast(encode(m)) // leaves once the message is durable
	return nil
}

// WebSocketClose tells everyone that a member left.
func (r *Room) WebSocketClose(ctx context.Context, ws den.WebSocket, code int, reason string, wasClean bool) error {
	r.broadcast(encode(map[string]string{"type": "leave", "name": name(ws)}))
	return nil
}

// WebSocketError treats a broken socket as a leave.
func (r *Room) WebSocketError(ctx context.Context, ws den.WebSocket, err error) error {
	return r.WebSocketClose(ctx, ws, den.CloseAbnormal, err.Error(), false)
}

func (r *Room) broadcast(msg string) {
	for _, ws := range r.st.GetWebSockets("") {
		ws.SendText(msg)
	}
}

// now returns a message's time in milliseconds, later than the last one.
func (r *Room) now() int64 {
	r.last = max(time.Now().UnixMilli(), r.last+1)
	return r.last
}

func name(ws den.WebSocket) string {
	var n string
	if ok, err := ws.DeserializeAttachment(&n); !ok || err != nil {
		return "?"
	}
	return n
}

func encode(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only maps and Message: cannot fail
	}
	return string(b)
}
