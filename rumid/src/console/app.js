// Rumi operator console. Plain DOM code, no dependencies. Everything shown comes from the
// API and may come from untrusted packs: it is only ever put into the page as text
// (textContent), never as HTML. The token lives in this tab's sessionStorage and travels
// only in the Authorization header, never in a URL.
"use strict";

const KEY = "rumi.token";
const VIEWS = ["review", "packs", "health", "flows", "secrets", "containers", "grants", "audit"];
const $ = (id) => document.getElementById(id);
const enc = encodeURIComponent;

function token() { return sessionStorage.getItem(KEY); }

function say(text, kind) {
  const s = $("status");
  s.textContent = text;
  s.className = kind || "";
}

// One API call. Answers `data` of the success envelope, or the whole document for the
// answers without one (the flow run); throws with the envelope's code and message.
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

function text(v) { return v === undefined || v === null ? "" : String(v); }

function el(tag, content, cls) {
  const e = document.createElement(tag);
  e.textContent = text(content);
  if (cls) e.className = cls;
  return e;
}

function cell(row, content, cls) {
  const td = el("td", content, cls);
  row.appendChild(td);
  return td;
}

function button(label, cls, onClick) {
  const b = el("button", label, cls);
  b.type = "button";
  b.addEventListener("click", onClick);
  return b;
}

// Fills a table's body; each cell gets its column's name (shown beside it on narrow screens).
function fill(tableId, items, render, emptyText) {
  const table = $(tableId);
  const body = table.querySelector("tbody");
  const labels = [...table.querySelectorAll("thead th")].map((th) => th.textContent);
  body.replaceChildren();
  if (!items.length) {
    const tr = document.createElement("tr");
    cell(tr, emptyText, "empty").colSpan = labels.length;
    body.appendChild(tr);
    return;
  }
  for (const item of items) {
    const tr = render(item);
    [...tr.children].forEach((td, i) => { if (labels[i]) td.dataset.label = labels[i]; });
    body.appendChild(tr);
  }
}

// A definition list of [term, value] pairs.
function facts(dlId, pairs) {
  const dl = $(dlId);
  dl.replaceChildren();
  for (const [term, value, cls] of pairs) {
    dl.append(el("dt", term), el("dd", value === undefined || value === null || value === "" ? "—" : value, cls));
  }
}

function list(ulId, items) {
  const ul = $(ulId);
  ul.replaceChildren(...(items || []).map((p) => el("li", p, "mono")));
  if (!ul.children.length) ul.append(el("li", "none", "empty"));
}

// The confirmation step before every decision: resolves true only on Confirm.
function confirmStep(title, detail) {
  const d = $("confirm");
  $("confirm-title").textContent = title;
  $("confirm-detail").textContent = detail;
  return new Promise((resolve) => {
    const done = (yes) => {
      $("confirm-ok").onclick = null;
      $("confirm-cancel").onclick = null;
      d.onclose = null;
      if (d.open) d.close();
      resolve(yes);
    };
    $("confirm-ok").onclick = () => done(true);
    $("confirm-cancel").onclick = () => done(false);
    d.onclose = () => done(false); // Escape
    d.showModal();
  });
}

// Runs a decision after its confirmation, reports it, reloads the view.
async function decide(title, detail, fn) {
  if (!(await confirmStep(title, detail))) {
    say(title + ": cancelled");
    return false;
  }
  let ok = false;
  try {
    await fn();
    say(title + ": done", "ok");
    ok = true;
  } catch (e) {
    failed(title, e);
  }
  await show(current);
  return ok;
}

function failed(what, e) {
  say(what + ": " + e.message + (e.suggestion ? " (" + e.suggestion + ")" : ""), "error");
  if (e.status === 401) signOut();
}

function needReason(input) {
  const reason = input.value.trim();
  if (!reason) {
    say("a reason is needed to reject", "error");
    input.focus();
  }
  return reason;
}

// === Review: packs and handler candidates waiting for a decision ===

async function loadReview() {
  const [pending, cap, pip] = await Promise.all([
    api("GET", "/api/packs/pending"),
    api("GET", "/api/capability/requests?status=pending"),
    api("GET", "/api/pip/requests?status=pending"),
  ]);
  fill("packs", pending.packs, (p) => {
    const tr = document.createElement("tr");
    tr.dataset.pack = p.pack_id;
    cell(tr, p.pack_id, "mono");
    cell(tr, p.status);
    cell(tr, p.version);
    cell(tr, p.name);
    cell(tr, "").append(button("Review", "review", () => openPackReview(p.pack_id)));
    return tr;
  }, "no pack waits for a decision");
  const shown = $("pack-review").dataset.pack;
  if (shown && !pending.packs.some((p) => p.pack_id === shown)) closeReview("pack-review");

  fill("capability", cap.items, (i) => {
    const tr = document.createElement("tr");
    tr.dataset.key = i.candidate_key;
    cell(tr, i.candidate.handler_id, "mono");
    cell(tr, i.candidate.permission_id, "mono");
    cell(tr, i.candidate.pack_id, "mono");
    cell(tr, i.candidate.risk);
    cell(tr, "").append(button("Review", "review", () => openCandidateReview(i)));
    return tr;
  }, "no pending handler");
  const key = $("cap-review").dataset.key;
  if (key && !cap.items.some((i) => i.candidate_key === key)) closeReview("cap-review");

  fill("pip", pip.items, (i) => {
    const tr = document.createElement("tr");
    cell(tr, i.candidate_key, "mono");
    cell(tr, i.candidate.packages.join(", "));
    const td = cell(tr, "");
    const reason = el("input", "", "reason");
    reason.placeholder = "reason (to reject)";
    td.append(
      button("Install…", "approve", () => decide("install the pip packages of " + i.candidate.pack_id,
        i.candidate.packages.join(", "),
        () => api("POST", "/api/pip/requests/" + enc(i.candidate_key) + "/approve", {}))),
      reason,
      button("Reject…", "reject", () => {
        const r = needReason(reason);
        if (r) decide("reject the pip request of " + i.candidate.pack_id, "reason: " + r,
          () => api("POST", "/api/pip/requests/" + enc(i.candidate_key) + "/reject", { reason: r }));
      }));
    return tr;
  }, "no pending pip request");
}

function closeReview(id) {
  $(id).hidden = true;
  delete $(id).dataset.pack;
  delete $(id).dataset.key;
}

async function openPackReview(id) {
  let p;
  try {
    p = await api("GET", "/api/packs/" + enc(id) + "/status");
  } catch (e) {
    failed("review " + id, e);
    return;
  }
  if (current !== "review") await show("review");
  const panel = $("pack-review");
  panel.dataset.pack = p.pack_id;
  $("pack-review-title").textContent = "Pack " + p.pack_id;
  facts("pack-review-facts", [
    ["State", p.status],
    ["Name", p.name],
    ["Version", p.version],
    ["Identity", p.pack_identity, "mono"],
    ["Description", p.description],
    ["Directory", p.path, "mono"],
    ["Files at the last approval", p.approved_files],
    ["Rejection reason", p.rejection_reason],
    ["Record problem", p.record_problem],
    ["Manifest problem", p.error ? p.error.code + ": " + p.error.message : ""],
  ]);
  const c = p.changes;
  $("changes").hidden = !c;
  $("changes-none").textContent = c ? "" : p.status === "modified"
    ? "modified, but the changed paths are not known"
    : p.approved_files ? "no change since the last approval" : "never approved: every file is new";
  if (c) {
    list("changes-added", c.added);
    list("changes-changed", c.changed);
    list("changes-removed", c.removed);
  }
  $("pack-reason").value = "";
  $("pack-approve").hidden = p.status === "approved";
  $("pack-approve").onclick = () => {
    const detail = c
      ? "Added " + c.added.length + ", changed " + c.changed.length + ", removed " + c.removed.length +
        " since the last approval. The files as they are now will be hashed and trusted."
      : "The files as they are now will be hashed and trusted.";
    decide("approve pack " + p.pack_id, detail, () => api("POST", "/api/packs/" + enc(p.pack_id) + "/approve"));
  };
  $("pack-reject").onclick = () => rejectPack(p.pack_id, $("pack-reason"));
  panel.hidden = false;
  panel.scrollIntoView({ block: "nearest" });
}

function rejectPack(id, input) {
  const reason = needReason(input);
  if (!reason) return;
  decide("reject pack " + id, "It is blocked and runs nothing until approved again. Reason: " + reason,
    () => api("POST", "/api/packs/" + enc(id) + "/reject", { reason }));
}

async function openCandidateReview(i) {
  const c = i.candidate;
  const panel = $("cap-review");
  panel.dataset.key = i.candidate_key;
  $("cap-review-title").textContent = "Handler " + c.handler_id;
  facts("cap-review-facts", [
    ["Permission", c.permission_id, "mono"],
    ["Pack", c.pack_id, "mono"],
    ["Description", c.description],
    ["Risk", c.risk],
    ["Entrypoint", c.entrypoint, "mono"],
    ["SHA-256 at the scan", c.sha256, "mono"],
    ["Candidate", i.candidate_key, "mono"],
    ["Last error", i.last_error],
  ]);
  $("cap-source").textContent = "";
  $("cap-source-note").textContent = "loading…";
  $("cap-reason").value = "";
  $("cap-approve").onclick = () => decide("approve handler " + c.handler_id,
    "It will serve " + c.permission_id + " for every principal granted it. Risk: " + (c.risk || "not stated"),
    () => api("POST", "/api/capability/requests/" + enc(i.candidate_key) + "/approve", {}));
  $("cap-reject").onclick = () => {
    const r = needReason($("cap-reason"));
    if (r) decide("reject handler " + c.handler_id, "reason: " + r,
      () => api("POST", "/api/capability/requests/" + enc(i.candidate_key) + "/reject", { reason: r }));
  };
  panel.hidden = false;
  try {
    const s = await api("GET", "/api/capability/requests/" + enc(i.candidate_key) + "/source");
    $("cap-source").textContent = s.content;
    let note = s.file + ", " + s.size + " bytes";
    if (s.truncated) note += "; only the beginning is shown";
    note += s.matches_candidate ? "; the file the scan found"
      : s.truncated ? "" : "; CHANGED since the scan: approval will refuse it, scan again";
    $("cap-source-note").textContent = note;
    $("cap-source-note").className = s.matches_candidate ? "note" : "note warn";
  } catch (e) {
    $("cap-source-note").textContent = "cannot show the source: " + e.message;
    $("cap-source-note").className = "note warn";
  }
  panel.scrollIntoView({ block: "nearest" });
}

// === Packs: every installed pack; reject an approved one ===

async function loadPacks() {
  const all = await api("GET", "/api/packs");
  fill("all-packs", all.packs, (p) => {
    const tr = document.createElement("tr");
    tr.dataset.pack = p.pack_id;
    cell(tr, p.pack_id, "mono");
    cell(tr, p.status);
    cell(tr, p.version);
    cell(tr, p.name);
    cell(tr, p.approved_at, "mono");
    const td = cell(tr, "");
    td.append(button("Review", "review", () => openPackReview(p.pack_id)));
    if (p.status === "approved") {
      const reason = el("input", "", "reason");
      reason.placeholder = "reason (to reject)";
      td.append(reason, button("Reject…", "reject", () => rejectPack(p.pack_id, reason)));
    }
    return tr;
  }, "no pack is installed");
}

// === Health and helpers ===

async function loadHealth() {
  const h = await api("GET", "/api/health");
  facts("health-summary", [
    ["Status", h.status, "state-" + text(h.status).toLowerCase()],
    ["Version", h.version],
    ["Security mode", h.security_mode],
    ["Policy version", h.policy_version, "mono"],
    ["Packs", h.packs ? h.packs.total + " installed, " + h.packs.pending + " waiting" : ""],
    ["Audit", h.audit ? (h.audit.writable ? "writable" : "NOT writable: " + text(h.audit.reason)) : ""],
    ["Checked at", h.timestamp, "mono"],
  ]);
  fill("probes", Object.entries(h.probes || {}), ([name, p]) => {
    const tr = document.createElement("tr");
    cell(tr, name, "mono");
    cell(tr, p.status, "state-" + text(p.status).toLowerCase());
    cell(tr, typeof p.duration_ms === "number" ? p.duration_ms.toFixed(2) : "");
    cell(tr, p.message);
    return tr;
  }, "no probe");
  fill("helpers", Object.entries(h.helpers || {}), ([name, x]) => {
    const tr = document.createElement("tr");
    tr.dataset.helper = name;
    cell(tr, name, "mono");
    cell(tr, x.state, x.state === "up" ? "state-up" : "state-down");
    cell(tr, x.pid);
    cell(tr, x.policy_version, "mono");
    cell(tr, x.restarts);
    cell(tr, x.audit ? x.audit.state : "");
    cell(tr, x.last_error);
    return tr;
  }, "no helper");
}

// === Flows: list, run one, show the answer ===

async function loadFlows() {
  const f = await api("GET", "/api/flows");
  fill("flows", f.flows, (x) => {
    const tr = document.createElement("tr");
    tr.dataset.flow = x.flow_id;
    cell(tr, x.flow_id, "mono");
    cell(tr, x.source ? x.source.kind + (x.source.pack_id ? " " + x.source.pack_id : "") : "");
    cell(tr, x.steps);
    cell(tr, !x.schedule ? "" : x.schedule.cron ? "cron " + x.schedule.cron : "every " + x.schedule.interval + " s");
    cell(tr, "").append(button("Run…", "run", () => openFlowRun(x.flow_id)));
    return tr;
  }, "no flow is loaded");
  fill("flow-diagnostics", f.diagnostics, (d) => {
    const tr = document.createElement("tr");
    cell(tr, d.level, d.level === "error" ? "fail" : "");
    cell(tr, d.path, "mono");
    cell(tr, d.message);
    return tr;
  }, "none");
}

function openFlowRun(id) {
  const panel = $("flow-run");
  panel.dataset.flow = id;
  $("flow-run-title").textContent = "Run flow " + id;
  if (!$("flow-inputs").value.trim()) $("flow-inputs").value = "{}";
  $("flow-answer").textContent = "";
  $("flow-answer-meta").textContent = "";
  panel.hidden = false;
  panel.scrollIntoView({ block: "nearest" });
}

async function runFlow() {
  const id = $("flow-run").dataset.flow;
  let inputs;
  try {
    inputs = JSON.parse($("flow-inputs").value || "{}");
  } catch (e) {
    say("inputs are not JSON: " + e.message, "error");
    return;
  }
  if (inputs === null || typeof inputs !== "object" || Array.isArray(inputs)) {
    say("inputs must be a JSON object", "error");
    return;
  }
  const go = $("flow-run-go");
  go.disabled = true;
  $("flow-answer-meta").textContent = "running…";
  $("flow-answer-meta").className = "note";
  $("flow-answer").textContent = "";
  try {
    const r = await api("POST", "/api/flows/" + enc(id) + "/run", { inputs });
    let meta = "answered in " + Number(r.execution_time).toFixed(3) + " s";
    if (r.truncated) meta += "; truncated to what fits";
    if (r.aborted) meta += "; aborted by a step";
    $("flow-answer-meta").textContent = meta;
    $("flow-answer").textContent = JSON.stringify(r.result, null, 2);
    say("run flow " + id + ": done", "ok");
  } catch (e) {
    $("flow-answer-meta").textContent = "failed: " + e.message;
    $("flow-answer-meta").className = "note warn";
    failed("run flow " + id, e);
  } finally {
    go.disabled = false;
  }
}

// === Secrets: key names and metadata; the API never returns a value ===

async function loadSecrets() {
  const s = await api("GET", "/api/secrets");
  fill("secrets", s.keys, (k) => {
    const tr = document.createElement("tr");
    tr.dataset.key = k.key;
    cell(tr, k.key, "mono");
    cell(tr, k.value, "masked"); // the API's fixed mask, or null: never a value
    cell(tr, k.deleted ? "deleted" : "set");
    cell(tr, k.created_at, "mono");
    cell(tr, k.updated_at, "mono");
    cell(tr, k.deleted_at, "mono");
    return tr;
  }, "no secret");
}

// === Containers and spares ===

async function loadContainers() {
  const [d, c] = await Promise.all([api("GET", "/api/docker/status"), api("GET", "/api/containers")]);
  facts("docker", [
    ["Engine", d.available ? "available" : "not available", d.available ? "state-up" : "state-down"],
    ["Detail", d.detail],
    ["Runtime image", d.image, "mono"],
    ["Security mode", d.security_mode],
  ]);
  fill("containers", c.containers, (x) => {
    const tr = document.createElement("tr");
    cell(tr, x.name, "mono");
    cell(tr, x.pack_id, "mono");
    cell(tr, x.type);
    cell(tr, x.state);
    cell(tr, x.spare ? "yes" : "no");
    return tr;
  }, "no container");
  fill("spares", Object.entries(c.spares || {}), ([k, v]) => {
    const tr = document.createElement("tr");
    cell(tr, k, "mono");
    cell(tr, typeof v === "object" && v !== null ? JSON.stringify(v) : v);
    return tr;
  }, d.security_mode === "strict" ? "no spare containers configured" : "none: spares are Docker containers, used only in strict mode");
}

// === Grants ===

async function loadGrants() {
  const [net, grants] = await Promise.all([api("GET", "/api/network/list"), api("GET", "/api/capability/grants")]);
  fill("network", net.grants.filter((g) => g.enabled), (g) => {
    const tr = document.createElement("tr");
    cell(tr, g.pack_id, "mono");
    cell(tr, g.allowed_domains.join(", "));
    cell(tr, g.allowed_ports.join(", "));
    cell(tr, "").append(button("Revoke…", "revoke", () => decide("revoke the network grant of " + g.pack_id,
      "Its next request through the egress proxy is refused.",
      () => api("POST", "/api/network/revoke", { pack_id: g.pack_id, reason: "revoked in the console" }))));
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
    cell(tr, "").append(button("Revoke…", "revoke", () => decide("revoke " + r.perm + " of " + r.principal, "",
      () => api("POST", "/api/capability/grants/revoke", { principal_id: r.principal, permission_id: r.perm }))));
    return tr;
  }, "no capability grant");
}

// === Audit ===

async function loadAudit() {
  const audit = await api("GET", "/api/audit/recent?limit=50");
  fill("audit", audit.events, (e) => {
    const tr = document.createElement("tr");
    cell(tr, e.ts, "mono");
    cell(tr, e.category);
    cell(tr, e.action);
    cell(tr, e.owner_pack, "mono");
    cell(tr, e.success === false ? (e.error_type || "failed") : "ok", e.success === false ? "fail" : "");
    return tr;
  }, "no event yet");
}

// === Views ===

const LOADERS = {
  review: loadReview, packs: loadPacks, health: loadHealth, flows: loadFlows,
  secrets: loadSecrets, containers: loadContainers, grants: loadGrants, audit: loadAudit,
};
let current = "review";

async function show(view) {
  if (!VIEWS.includes(view)) view = "review";
  current = view;
  for (const v of VIEWS) $("view-" + v).hidden = v !== view;
  for (const b of $("views").querySelectorAll("button")) {
    b.classList.toggle("current", b.dataset.view === view);
    b.setAttribute("aria-pressed", String(b.dataset.view === view));
  }
  if (location.hash !== "#" + view) history.replaceState(null, "", "#" + view);
  $("app").dataset.loaded = "";
  try {
    await LOADERS[view]();
    $("app").dataset.loaded = view;
  } catch (e) {
    failed("cannot load " + view, e);
  }
}

function showApp(on) {
  $("app").hidden = !on;
  $("views").hidden = !on;
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
  await show(location.hash.slice(1));
}

document.addEventListener("DOMContentLoaded", () => {
  $("signin-form").addEventListener("submit", (ev) => { ev.preventDefault(); signIn($("token").value); });
  $("refresh").addEventListener("click", () => show(current));
  $("signout").addEventListener("click", () => { signOut(); say("signed out"); });
  for (const b of $("views").querySelectorAll("button")) b.addEventListener("click", () => show(b.dataset.view));
  $("pack-review-close").addEventListener("click", () => closeReview("pack-review"));
  $("cap-review-close").addEventListener("click", () => closeReview("cap-review"));
  $("flow-run-close").addEventListener("click", () => { $("flow-run").hidden = true; });
  $("flow-run-go").addEventListener("click", runFlow);
  if (token()) { showApp(true); show(location.hash.slice(1)); } else { showApp(false); }
});
