// The workerd side of Den's benchmarks: the counter app in JavaScript, with
// two SQLite-backed Durable Object classes.
//
//   POST /kv/{name}    key-value: get, add one, put
//   POST /sql/{name}   SQL: one upsert returning the new value
//   GET  /kv/{name}, GET /sql/{name}   read the value
//
// Each answers the counter's value as decimal text.
import { DurableObject } from "cloudflare:workers";

export class CounterKV extends DurableObject {
  async fetch(request) {
    let n = (await this.ctx.storage.get("count")) ?? 0;
    if (request.method === "POST") {
      n++;
      await this.ctx.storage.put("count", n);
    }
    return new Response(String(n), { headers: { "Content-Type": "text/plain; charset=utf-8" } });
  }
}

export class CounterSQL extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS c(name TEXT PRIMARY KEY, n INTEGER NOT NULL)");
  }

  fetch(request) {
    const sql = this.ctx.storage.sql;
    let n = 0;
    if (request.method === "POST") {
      n = sql.exec("INSERT INTO c(name, n) VALUES('count', 1) ON CONFLICT(name) DO UPDATE SET n = n + 1 RETURNING n").one().n;
    } else {
      const rows = sql.exec("SELECT n FROM c WHERE name = 'count'").toArray();
      n = rows.length ? rows[0].n : 0;
    }
    return new Response(String(n), { headers: { "Content-Type": "text/plain; charset=utf-8" } });
  }
}

export default {
  fetch(request, env) {
    const [, kind, name, ...rest] = new URL(request.url).pathname.split("/");
    const ns = kind === "kv" ? env.KV : kind === "sql" ? env.SQL : null;
    if (!ns || !name || rest.length || name.length > 256) {
      return new Response("Not Found", { status: 404 });
    }
    return ns.get(ns.idFromName(name)).fetch(request);
  },
};
