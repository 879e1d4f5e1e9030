// The workerd side of Den's WebSocket benchmark (go run ./bench/ws): the
// same rooms as bench/ws/app, with the hibernation API.
//
//   GET /room/{room}?name={user}   accept a WebSocket into the room
//
// "b:<text>" is sent to every socket of the room as <text>; any other text
// is stored in SQL and sent to everyone as {"from","message","timestamp"};
// {"type":"ping"} is answered by the runtime.
import { DurableObject } from "cloudflare:workers";

export class Room extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS messages (id INTEGER PRIMARY KEY AUTOINCREMENT, sender TEXT NOT NULL, message TEXT NOT NULL, ts INTEGER NOT NULL)");
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair('{"type":"ping"}', '{"type":"pong"}'));
  }

  fetch(request) {
    const [client, server] = Object.values(new WebSocketPair());
    this.ctx.acceptWebSocket(server);
    server.serializeAttachment(new URL(request.url).searchParams.get("name") ?? "");
    return new Response(null, { status: 101, webSocket: client });
  }

  webSocketMessage(ws, msg) {
    if (typeof msg === "string" && msg.startsWith("b:")) {
      const text = msg.slice(2);
      for (const s of this.ctx.getWebSockets()) s.send(text);
      return;
    }
    const from = ws.deserializeAttachment();
    const ts = Date.now();
    this.ctx.storage.sql.exec("INSERT INTO messages (sender, message, ts) VALUES (?, ?, ?)", from, msg, ts);
    const out = JSON.stringify({ from, message: msg, timestamp: ts });
    for (const s of this.ctx.getWebSockets()) s.send(out);
  }

  webSocketClose(ws, code, reason, wasClean) {}
}

export default {
  fetch(request, env) {
    const [, kind, name] = new URL(request.url).pathname.split("/");
    if (kind !== "room" || !name) return new Response("Not Found", { status: 404 });
    return env.ROOM.get(env.ROOM.idFromName(name)).fetch(request);
  },
};
