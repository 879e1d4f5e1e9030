// The workerd side of Den's alarm benchmark (go run ./bench/alarms): the
// reminders of examples/reminders in a SQLite-backed Durable Object class,
// with the same HTTP contract and the same storage keys.
//
//   POST /reminders/{user}  {"at": <unix ms>, "message": "..."}  201 and the reminder
//   GET  /reminders/{user}  200 {"pending": [{"at", "message"}],
//                                "delivered": [{"at", "message", "delivered_at"}]}
//
// Each user is one object. Its alarm is always set to its earliest pending
// reminder; the alarm moves every reminder that is due to delivered and sets
// the next alarm. One difference from the Go example: the handler does not
// delete the alarm when nothing is left pending (see alarm). With -notify the
// harness binds COLLECTOR, and the handler then tells it which messages it
// delivered; workerd's output gate holds that request until the writes
// before it are durable, so a notification means the delivery is on disk.
import { DurableObject } from "cloudflare:workers";

const MAX_USER_BYTES = 256;
const MAX_MESSAGE_BYTES = 4096;
const MAX_PENDING = 1000;
const MAX_AT = 9999999999999999;

const pad = (n, width) => String(n).padStart(width, "0");
const pendingKey = (at, id) => `p:${pad(at, 16)}:${pad(id, 10)}`; // p:<at>:<id>
const deliveredKey = (id) => `d:${pad(id, 10)}`;
const atOf = (pendingKey) => Number(pendingKey.slice(2, 18));

export class Reminders extends DurableObject {
  async fetch(request) {
    if (request.method === "POST") return this.add(request);
    return Response.json(await this.list());
  }

  // add stores a pending reminder and moves the alarm to the earliest one.
  async add(request) {
    let rem;
    try {
      rem = await request.json();
    } catch {
      return new Response("Bad Request: the body is not JSON", { status: 400 });
    }
    const at = rem?.at;
    const message = rem?.message ?? "";
    if (!Number.isSafeInteger(at) || at <= 0 || at > MAX_AT) {
      return new Response(`Bad Request: "at" must be a time in Unix milliseconds, from 1 to ${MAX_AT}`, { status: 400 });
    }
    if (typeof message !== "string" || new TextEncoder().encode(message).length > MAX_MESSAGE_BYTES) {
      return new Response(`Bad Request: "message" is a string of at most ${MAX_MESSAGE_BYTES} bytes`, { status: 400 });
    }
    const storage = this.ctx.storage;
    const pending = await storage.list({ prefix: "p:", limit: MAX_PENDING });
    if (pending.size >= MAX_PENDING) {
      return new Response(`a user may have at most ${MAX_PENDING} pending reminders`, { status: 429 });
    }
    const id = ((await storage.get("next-id")) ?? 0) + 1;
    await storage.put({ "next-id": id, [pendingKey(at, id)]: { id, at, message } });
    await this.setNextAlarm();
    return Response.json({ at, message }, { status: 201 });
  }

  // list returns the user's reminders: pending ones by due time, delivered
  // ones in the order they were delivered.
  async list() {
    const storage = this.ctx.storage;
    const pending = [...(await storage.list({ prefix: "p:" })).values()].map(({ at, message }) => ({ at, message }));
    const done = [...(await storage.list({ prefix: "d:" })).values()];
    done.sort((a, b) => a.delivered_at - b.delivered_at || a.at - b.at || a.id - b.id);
    const delivered = done.map(({ at, message, delivered_at }) => ({ at, message, delivered_at }));
    return { pending, delivered };
  }

  // alarm moves every reminder that is due from pending to delivered, keyed
  // by its id so that each is delivered once, and sets the alarm to the next
  // pending one. It leaves the alarm alone when none is left: the runtime
  // deletes the running alarm when the handler succeeds, and deleting it
  // here would also cancel the retry of a handler that fails after it.
  async alarm(info) {
    const storage = this.ctx.storage;
    const now = Date.now();
    const due = await storage.list({ start: "p:", end: pendingKey(now + 1, 0) });
    const messages = new Set();
    for (const [key, st] of due) {
      const dkey = deliveredKey(st.id);
      if ((await storage.get(dkey)) === undefined) {
        await storage.put(dkey, { ...st, delivered_at: now });
        messages.add(st.message);
      }
      await storage.delete(key);
    }
    const next = await storage.list({ prefix: "p:", limit: 1 });
    if (next.size > 0) await storage.setAlarm(atOf([...next.keys()][0]));
    await this.notify(messages, info);
  }

  // notify is the benchmark's instrumentation: it tells the collector which
  // messages this handler delivered, and on a retry (the try before may have
  // failed to tell it) every message delivered so far; the collector counts
  // each message once. If the request fails the handler fails, and is retried.
  async notify(messages, info) {
    if (!this.env.COLLECTOR) return; // go run ./bench/alarms -notify binds it
    if (info?.isRetry) {
      for (const st of (await this.ctx.storage.list({ prefix: "d:" })).values()) messages.add(st.message);
    }
    if (messages.size === 0) return;
    const body = JSON.stringify({ messages: [...messages], retry: info?.retryCount ?? 0 });
    const resp = await this.env.COLLECTOR.fetch("http://collector/delivered", { method: "POST", body });
    if (!resp.ok) throw new Error(`the collector answered ${resp.status}`);
  }

  // setNextAlarm sets the alarm to the earliest pending reminder, or deletes it.
  async setNextAlarm() {
    const storage = this.ctx.storage;
    const first = await storage.list({ prefix: "p:", limit: 1 });
    if (first.size === 0) return storage.deleteAlarm();
    return storage.setAlarm(atOf([...first.keys()][0]));
  }
}

export default {
  fetch(request, env) {
    const [, kind, user, ...rest] = new URL(request.url).pathname.split("/");
    if (kind !== "reminders" || !user || rest.length || !["GET", "POST"].includes(request.method)) {
      return new Response("Not Found", { status: 404 });
    }
    if (new TextEncoder().encode(decodeURIComponent(user)).length > MAX_USER_BYTES) {
      return new Response(`Bad Request: a user name is 1 to ${MAX_USER_BYTES} bytes`, { status: 400 });
    }
    return env.REMINDERS.get(env.REMINDERS.idFromName(user)).fetch(request);
  },
};
