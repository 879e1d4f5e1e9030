// Den's operator dashboard: plain JavaScript, no dependencies, no build.
// The token lives in sessionStorage (this tab only) and goes out as a bearer
// header; everything shown is built with textContent, never innerHTML.
"use strict";

const TOKEN_KEY = "den-admin-token";
const $ = (sel) => document.querySelector(sel);

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null) continue;
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

class Unauthorized extends Error {}

async function api(method, path, body) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (!token) throw new Unauthorized("no token");
  const init = { method, headers: { Authorization: "Bearer " + token } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const resp = await fetch(path, init);
  if (resp.status === 401) throw new Unauthorized("the token was refused");
  const data = await resp.json().catch(() => ({}));
  if (!resp.ok) throw new Error(data.error || resp.status + " " + resp.statusText);
  return data;
}

const sql = (ns, id, query, params) =>
  api("POST", `/v1/namespaces/${enc(ns)}/objects/${enc(id)}/sql`, { sql: query, params: params || [] });

const enc = encodeURIComponent;

function bytes(n) {
  if (n === null || n === undefined) return "";
  const u = ["B", "kB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1000 && i < u.length - 1) { n /= 1000; i++; }
  return (i ? n.toFixed(1) : String(n)) + " " + u[i];
}
const when = (t) => (t ? new Date(t).toLocaleString() : "");
const money = (x) => "$" + (x < 0.01 && x > 0 ? x.toPrecision(2) : x.toFixed(2));
const num = (x) => (Number.isInteger(x) ? x.toLocaleString() : x.toLocaleString(undefined, { maximumFractionDigits: 3 }));

function crumbs(...parts) {
  const nav = $("#crumbs");
  nav.replaceChildren();
  parts.forEach((p, i) => {
    if (i) nav.append(" / ");
    nav.append(p.href ? el("a", { href: p.href }, p.text) : p.text);
  });
}

// barChart draws values (one per hour) as an SVG bar chart.
function barChart(title, points, fmt, testid) {
  const W = 600, H = 140, L = 48, B = 18;
  const NS = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(NS, "svg");
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.setAttribute("preserveAspectRatio", "none");
  const max = Math.max(0, ...points.map((p) => p.value));
  const add = (tag, attrs, text) => {
    const e = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    svg.append(e);
    return e;
  };
  add("line", { x1: L, y1: H - B, x2: W, y2: H - B });
  add("text", { x: 2, y: 10 }, fmt(max));
  add("text", { x: 2, y: H - B }, fmt(0));
  const w = (W - L) / Math.max(points.length, 1);
  points.forEach((p, i) => {
    const h = max > 0 ? ((H - B - 4) * p.value) / max : 0;
    const r = add("rect", { class: "bar", x: L + i * w + 1, y: H - B - h, width: Math.max(w - 2, 1), height: h });
    const tip = document.createElementNS(NS, "title");
    tip.textContent = `${new Date(p.hour).toLocaleString()}: ${fmt(p.value)}`;
    r.append(tip);
  });
  if (points.length) {
    add("text", { x: L, y: H - 4 }, new Date(points[0].hour).toLocaleString());
    add("text", { x: W - 4, y: H - 4, "text-anchor": "end" }, new Date(points[points.length - 1].hour).toLocaleString());
  }
  const total = points.reduce((s, p) => s + p.value, 0);
  return el("div", { class: "chart", "data-testid": testid, "data-total": String(total) }, el("h3", {}, title), svg);
}

function usageSection(report) {
  const box = el("div", { id: "usage" });
  const ns = report.namespaces[0];
  if (!ns) return box;
  const u = report.usage, b = report.bill;
  box.append(
    el("div", { class: "cards" },
      card("requests (billed)", num(u.requests), "usage-requests"),
      card("duration", num(u.duration_gb_s) + " GB-s", "usage-gbs"),
      card("rows read / written", num(u.rows_read) + " / " + num(u.rows_written), "usage-rows"),
      card("stored", bytes(u.stored_bytes), "usage-stored"),
      card("estimated bill", money(b.total), "usage-bill"),
      card("saved by hibernation", money(b.hibernation_saved), "usage-saved")),
    el("div", { class: "charts" },
      barChart("Requests per hour", ns.hours.map((h) => ({ hour: h.hour, value: h.usage.requests })), num, "chart-requests"),
      barChart("Duration per hour (GB-s)", ns.hours.map((h) => ({ hour: h.hour, value: h.usage.duration_gb_s })), num, "chart-duration"),
      barChart("Rows written per hour", ns.hours.map((h) => ({ hour: h.hour, value: h.usage.rows_written })), num, "chart-rows")),
    el("p", { class: "muted" },
      `List prices of ${report.prices.date} (${report.prices.plan}), before the monthly included amounts; `,
      el("a", { href: report.prices.source, rel: "noreferrer" }, "source"), "."));
  return box;
}

function card(k, v, testid) {
  return el("div", { class: "card", "data-testid": testid }, el("div", { class: "v" }, v), el("div", { class: "k" }, k));
}

function table(headers, rows, id) {
  return el("table", { id },
    el("thead", {}, el("tr", {}, headers.map((h) => el("th", { class: h.num ? "num" : undefined }, h.text || h)))),
    el("tbody", {}, rows));
}

async function viewNamespaces(view) {
  crumbs({ text: "namespaces" });
  const list = await api("GET", "/v1/namespaces");
  view.replaceChildren(
    el("h1", {}, "Namespaces"),
    table(["namespace", "class", { text: "objects", num: true }],
      list.map((n) => el("tr", {},
        el("td", {}, el("a", { href: `#/ns/${enc(n.name)}` }, n.name)),
        el("td", {}, n.class),
        el("td", { class: "num" }, num(n.objects)))), "namespaces"));
  const report = await api("GET", "/v1/usage");
  const rows = report.namespaces.map((n) => el("tr", {},
    el("td", {}, n.namespace), el("td", { class: "num" }, num(n.usage.requests)),
    el("td", { class: "num" }, num(n.usage.duration_gb_s)), el("td", { class: "num" }, bytes(n.usage.stored_bytes)),
    el("td", { class: "num" }, money(n.bill.total))));
  view.append(el("h2", {}, "Last 24 hours"),
    table(["namespace", { text: "requests", num: true }, { text: "GB-s", num: true }, { text: "stored", num: true }, { text: "bill", num: true }], rows, "usage-by-namespace"));
}

async function viewObjects(view, ns, params) {
  crumbs({ text: "namespaces", href: "#/" }, { text: ns });
  const by = params.get("by") || "name";
  const q = params.get("q") || "";
  const search = el("input", { id: "search", type: "search", placeholder: "search by name or ID prefix", value: q });
  const mode = el("select", { id: "search-by" }, el("option", { value: "name" }, "name"), el("option", { value: "id" }, "ID"));
  mode.value = by;
  const go = () => { location.hash = `#/ns/${enc(ns)}?by=${mode.value}&q=${enc(search.value.trim())}`; };
  search.addEventListener("keydown", (e) => { if (e.key === "Enter") go(); });
  const body = el("tbody", {});
  const more = el("button", { id: "more", hidden: "" }, "More");
  const count = el("span", { class: "muted", id: "shown" });
  view.replaceChildren(
    el("h1", {}, ns),
    el("div", { class: "toolbar" }, search, mode, el("button", { id: "search-go", onclick: go }, "Search"), count),
    el("table", { id: "objects" },
      el("thead", {}, el("tr", {}, ["ID", "name", "state", "stored", "last active", "alarm", "sockets"].map((h) => el("th", {}, h)))),
      body),
    more);
  let cursor = "";
  let shown = 0;
  const page = async () => {
    const p = new URLSearchParams({ limit: "50" });
    if (q) p.set(by === "id" ? "id" : "name", by === "id" ? q.toLowerCase() : q);
    if (cursor) p.set("cursor", cursor);
    const res = await api("GET", `/v1/namespaces/${enc(ns)}/objects?${p}`);
    for (const o of res.objects) {
      body.append(el("tr", { "data-id": o.id },
        el("td", {}, el("a", { class: "mono", href: `#/ns/${enc(ns)}/obj/${o.id}` }, o.id.slice(0, 16) + "…")),
        el("td", { class: "name" }, o.name ?? ""),
        el("td", {}, el("span", { class: "state " + o.state }, o.state)),
        el("td", { class: "num" }, bytes(o.bytes)),
        el("td", {}, when(o.last_active)),
        el("td", {}, when(o.alarm)),
        el("td", { class: "num" }, String(o.websockets))));
    }
    shown += res.objects.length;
    count.textContent = shown + " shown";
    cursor = res.cursor || "";
    more.hidden = !cursor;
  };
  more.addEventListener("click", () => page().catch(fail));
  await page();
  view.append(el("h2", {}, "Usage, last 24 hours"), usageSection(await api("GET", `/v1/usage?namespace=${enc(ns)}`)));
}

async function viewObject(view, ns, id) {
  crumbs({ text: "namespaces", href: "#/" }, { text: ns, href: `#/ns/${enc(ns)}` }, { text: id.slice(0, 16) + "…" });
  const o = await api("GET", `/v1/namespaces/${enc(ns)}/objects/${enc(id)}`);
  const del = el("button", { class: "danger", id: "delete" }, "Delete object");
  del.addEventListener("click", async () => {
    if (!confirm(`Delete ${o.name || o.id} and everything it stores? This cannot be undone.`)) return;
    await api("DELETE", `/v1/namespaces/${enc(ns)}/objects/${enc(id)}`).catch(fail);
    location.hash = `#/ns/${enc(ns)}`;
  });
  view.replaceChildren(
    el("h1", { id: "object-title" }, o.name || "(unnamed object)"),
    el("div", { class: "cards" },
      card("ID", el("span", { class: "mono", id: "object-id" }, o.id)),
      card("state", el("span", { id: "object-state", class: "state " + o.state }, o.state)),
      card("stored", bytes(o.bytes)),
      card("last active", when(o.last_active) || "—"),
      card("alarm", when(o.alarm) || "none"),
      card("WebSockets", String(o.websockets))),
    el("div", { class: "toolbar" }, del));

  view.append(el("h2", {}, "WebSockets"));
  view.append(o.sockets.length
    ? table(["tags", "state", "opened", "remote"], o.sockets.map((s) => el("tr", {},
        el("td", {}, s.tags.join(", ")), el("td", {}, s.hibernated ? "hibernated" : "active"),
        el("td", {}, when(s.opened)), el("td", {}, s.remote || ""))), "sockets")
    : el("p", { class: "muted", id: "sockets" }, "No WebSockets."));

  view.append(el("h2", {}, "Tables"));
  const tables = await sql(ns, id,
    "SELECT name, type FROM sqlite_schema WHERE type IN ('table', 'view') AND name NOT LIKE '\\_cf\\_%' ESCAPE '\\' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name");
  const rowsBox = el("div", { id: "rows" });
  if (tables.rows.length === 0) view.append(el("p", { class: "muted", id: "tables" }, "No SQL tables."));
  else view.append(el("div", { class: "toolbar", id: "tables" }, tables.rows.map(([name]) =>
    el("button", { "data-table": name, onclick: () => showRows(ns, id, name, rowsBox).catch(fail) }, name))));
  view.append(rowsBox);
  if (tables.rows.length) await showRows(ns, id, tables.rows[0][0], rowsBox);

  view.append(el("h2", {}, "Key-value pairs"));
  const kv = await api("GET", `/v1/namespaces/${enc(ns)}/objects/${enc(id)}/kv?limit=100`);
  view.append(kv.entries.length
    ? table(["key", "value"], kv.entries.map((e) => el("tr", {},
        el("td", { class: "mono" }, e.key),
        el("td", { class: "mono" }, e.value !== undefined ? e.value : "base64:" + e.base64))), "kv")
    : el("p", { class: "muted", id: "kv" }, "No key-value pairs."));
  if (kv.cursor) view.append(el("p", { class: "muted" }, "First 100 pairs shown."));

  view.append(el("h2", {}, "Usage, last 24 hours"),
    usageSection(await api("GET", `/v1/usage?namespace=${enc(ns)}&object=${enc(id)}`)));
}

async function showRows(ns, id, name, box) {
  const quoted = '"' + name.replaceAll('"', '""') + '"';
  const res = await sql(ns, id, `SELECT * FROM ${quoted} LIMIT 100`);
  box.replaceChildren(
    el("p", { class: "muted" }, `${name}: first ${res.rows.length} rows`),
    table(res.columns, res.rows.map((r) => el("tr", {}, r.map((v) => el("td", { class: "mono" }, v === null ? "NULL" : String(v))))), "table-rows"));
}

function fail(err) {
  if (err instanceof Unauthorized) {
    sessionStorage.removeItem(TOKEN_KEY);
    showLogin(err.message === "no token" ? "" : "The token was refused: check it and try again.");
    return;
  }
  $("#view").append(el("p", { class: "error", id: "error" }, String(err.message || err)));
}

function showLogin(msg) {
  $("#login").hidden = false;
  $("#view").replaceChildren();
  $("#signout").hidden = true;
  $("#login-error").textContent = msg || "";
  crumbs();
}

async function route() {
  const view = $("#view");
  if (!sessionStorage.getItem(TOKEN_KEY)) return showLogin();
  $("#login").hidden = true;
  $("#signout").hidden = false;
  const [path, query] = location.hash.replace(/^#/, "").split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  view.removeAttribute("data-ready");
  view.replaceChildren(el("p", { class: "muted" }, "Loading…"));
  try {
    if (parts[0] === "ns" && parts[2] === "obj" && parts[3]) await viewObject(view, parts[1], parts[3]);
    else if (parts[0] === "ns" && parts[1]) await viewObjects(view, parts[1], new URLSearchParams(query || ""));
    else await viewNamespaces(view);
    view.setAttribute("data-ready", location.hash || "#/");
  } catch (err) {
    fail(err);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("#login-form").addEventListener("submit", (e) => {
    e.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $("#login-token").value.trim());
    $("#login-token").value = "";
    route();
  });
  $("#signout").addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN_KEY);
    showLogin();
  });
  window.addEventListener("hashchange", route);
  route();
});
