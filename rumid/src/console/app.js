// Rumi operator console. Plain DOM code, no dependencies. Everything shown comes from the
// API and may come from untrusted packs: it is only ever put into the page as text
// (textContent), never as HTML.
"use strict";

const KEY = "rumi.token";
const $ = (id) => document.getElementById(id);

function token() { return sessionStorage.getItem(KEY); }

function say(text, kind) {
  const s = $("status");
  s.textContent = text;
  s.className = kind || "";
}

async function api(method, path, body) {
  const headers = { "Authorization": "Bearer " + token() };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const r = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  let doc = null;
  try { doc = await r.json(); } catch (_) { /* not JSON */ }
  if (!r.ok || !doc || doc.success !== true) {
    const e = doc || {};
    const message = typeof e.error === "string" ? e.error : "HTTP " + r.status;
    const err = new Error((e.error_code ? e.error_code + ": " : "") + message);
    err.suggestion = e.suggestion || "";
    err.status = r.status;
    throw err;
  }
  return doc.data !== undefined ? doc.data : doc;
}

function cell(row, text, cls) {
  const td = document.createElement("td");
  td.textContent = text === undefined || text === null ? "" : String(text);
  if (cls) td.className = cls;
  row.appendChild(td);
  return td;
}

function button(label, cls, onClick) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = label;
  b.className = cls;
  b.addEventListener("click", onClick);
  return b;
}

function fill(tableId, items, render, emptyText) {
  const body = $(tableId).querySelector("tbody");
  body.replaceChildren();
  if (!items.length) {
    const tr = document.createElement("tr");
    const td = cell(tr, emptyText, "empty");
    td.colSpan = $(tableId).querySelectorAll("th").length;
    body.appendChild(tr);
    return;
  }
  for (const item of items) body.appendChild(render(item));
}

// A decision cell: Approve, a reason field, Reject.
function decision(tr, approve, reject) {
  const td = document.createElement("td");
  const reason = document.createElement("input");
  reason.className = "reason";
  reason.placeholder = "reason (to reject)";
  td.append(button("Approve", "approve", approve), reason, button("Reject", "reject", () => reject(reason.value)));
  tr.appendChild(td);
}

async function act(what, fn) {
  try {
    await fn();
    say(what + ": done", "ok");
  } catch (e) {
    say(what + ": " + e.message, "error");
    if (e.status === 401) signOut();
  }
  await refresh();
}

const enc = encodeURIComponent;

async function refresh() {
  try {
    const [pending, cap, pip, net, grants, audit] = await Promise.all([
      api("GET", "/api/packs/pending"),
      api("GET", "/api/capability/requests?status=pending"),
      api("GET", "/api/pip/requests?status=pending"),
      api("GET", "/api/network/list"),
      api("GET", "/api/capability/grants"),
      api("GET", "/api/audit/recent?limit=50"),
    ]);
    fill("packs", pending.packs, (p) => {
      const tr = document.createElement("tr");
      tr.dataset.pack = p.pack_id;
      cell(tr, p.pack_id, "mono");
      cell(tr, p.status);
      cell(tr, p.version);
      cell(tr, p.name);
      decision(tr,
        () => act("approve " + p.pack_id, () => api("POST", "/api/packs/" + enc(p.pack_id) + "/approve")),
        (reason) => act("reject " + p.pack_id, () => api("POST", "/api/packs/" + enc(p.pack_id) + "/reject", { reason })));
      return tr;
    }, "no pack waits for a decision");
    fill("capability", cap.items, (i) => {
      const tr = document.createElement("tr");
      cell(tr, i.candidate_key, "mono");
      cell(tr, i.candidate.permission_id);
      decision(tr,
        () => act("approve handler", () => api("POST", "/api/capability/requests/" + enc(i.candidate_key) + "/approve", {})),
        (reason) => act("reject handler", () => api("POST", "/api/capability/requests/" + enc(i.candidate_key) + "/reject", { reason })));
      return tr;
    }, "no pending handler");
    fill("pip", pip.items, (i) => {
      const tr = document.createElement("tr");
      cell(tr, i.candidate_key, "mono");
      cell(tr, i.candidate.packages.join(", "));
      decision(tr,
        () => act("install pip packages", () => api("POST", "/api/pip/requests/" + enc(i.candidate_key) + "/approve", {})),
        (reason) => act("reject pip request", () => api("POST", "/api/pip/requests/" + enc(i.candidate_key) + "/reject", { reason })));
      return tr;
    }, "no pending pip request");
    fill("network", net.grants.filter((g) => g.enabled), (g) => {
      const tr = document.createElement("tr");
      cell(tr, g.pack_id, "mono");
      cell(tr, g.allowed_domains.join(", "));
      cell(tr, g.allowed_ports.join(", "));
      const td = document.createElement("td");
      td.append(button("Revoke", "revoke", () => act("revoke network grant of " + g.pack_id,
        () => api("POST", "/api/network/revoke", { pack_id: g.pack_id, reason: "revoked in the console" }))));
      tr.appendChild(td);
      return tr;
    }, "no network grant");
    const rows = [];
    for (const g of grants.grants) {
      for (const [perm, entry] of Object.entries(g.permissions)) {
        if (entry.enabled) rows.push({ principal: g.principal_id, perm });
      }
    }
    fill("grants", rows, (r) => {
      const tr = document.createElement("tr");
      cell(tr, r.principal, "mono");
      cell(tr, r.perm, "mono");
      const td = document.createElement("td");
      td.append(button("Revoke", "revoke", () => act("revoke " + r.perm + " of " + r.principal,
        () => api("POST", "/api/capability/grants/revoke", { principal_id: r.principal, permission_id: r.perm }))));
      tr.appendChild(td);
      return tr;
    }, "no capability grant");
    fill("audit", audit.events, (e) => {
      const tr = document.createElement("tr");
      cell(tr, e.ts, "mono");
      cell(tr, e.category);
      cell(tr, e.action);
      cell(tr, e.owner_pack, "mono");
      cell(tr, e.success === false ? (e.error_type || "failed") : "ok", e.success === false ? "fail" : "");
      return tr;
    }, "no event yet");
  } catch (e) {
    say("cannot load: " + e.message, "error");
    if (e.status === 401) signOut();
  }
}

function showApp(on) {
  $("app").hidden = !on;
  $("signin-panel").hidden = on;
  $("refresh").hidden = !on;
  $("signout").hidden = !on;
  $("who").textContent = on ? "signed in" : "";
}

function signOut() {
  sessionStorage.removeItem(KEY);
  showApp(false);
}

async function signIn(value) {
  sessionStorage.setItem(KEY, value.trim());
  try {
    await api("GET", "/api/health");
  } catch (e) {
    sessionStorage.removeItem(KEY);
    say("sign-in refused: " + e.message, "error");
    return;
  }
  $("token").value = "";
  say("signed in", "ok");
  showApp(true);
  await refresh();
}

document.addEventListener("DOMContentLoaded", () => {
  $("signin-form").addEventListener("submit", (ev) => { ev.preventDefault(); signIn($("token").value); });
  $("refresh").addEventListener("click", refresh);
  $("signout").addEventListener("click", () => { signOut(); say("signed out"); });
  if (token()) { showApp(true); refresh(); } else { showApp(false); }
});
