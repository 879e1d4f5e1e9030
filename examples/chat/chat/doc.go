// Package chat is the chat example app: each room is an object of class
// ChatRoom (binding CHAT_ROOM) that holds its members' hibernatable
// WebSockets and keeps its last 100 messages in SQL.
//
//	GET /                                     a page to chat from a browser
//	GET /chat/{room}/websocket?name={user}    the room's WebSocket
//
// On the socket (all text, JSON):
//
//   - first the newcomer gets {"type": "history", "messages": [...]}, the
//     room's last 100 messages, oldest first;
//   - joins and leaves are announced to everyone as {"type": "join"|"leave",
//     "name": ...};
//   - a message {"message": "..."} is stored and sent to everyone in the
//     room as {"from": user, "message": ..., "timestamp": <ms>};
//   - {"type":"ping"} is answered {"type":"pong"} by the runtime itself,
//     without waking the room.
//
// The username is the socket's attachment, so it survives while the room is
// evicted from memory (hibernated); the next message constructs it again.
package chat
