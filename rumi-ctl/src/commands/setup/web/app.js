// The page of `rumi-ctl setup --web`. The token arrives in the URL's fragment (never sent to
// the server by the browser); it is kept in this tab's sessionStorage, removed from the
// address bar, and sent as a header on every API request. Everything the server answers is
// shown as text (textContent), never as markup.
"use strict";

const TOKEN_HEADER = "X-Rumi-Setup-Token";
const STORE_KEY = "rumi-setup-token";

function takeToken() {
  const match = /(?:^#|&)token=([0-9a-f]+)/.exec(window.location.hash);
  if (match) {
    sessionStorage.setItem(STORE_KEY, match[1]);
    history.replaceState(null, "", window.location.pathname);
  }
  return sessionStorage.getItem(STORE_KEY);
}

const token = takeToken();
const $ = (id) => document.getElementById(id);

function setStatus(text, isError) {
  const el = $("status");
  el.textContent = text;
  el.className = isError ? "error" : "";
}

async function api(method, path, body) {
  const init = { method, headers: { [TOKEN_HEADER]: token || "" }, credentials: "omit", cache: "no-store" };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const resp = await fetch(path, init);
  let data = null;
  try {
    data = await resp.json();
  } catch (_) {
    data = { error: "the server answered " + resp.status + " without JSON" };
  }
  if (!resp.ok) {
    throw new Error((data && data.error) || "HTTP " + resp.status);
  }
  return data;
}

function clearResult() {
  $("summary").textContent = "";
  $("summary").className = "";
  $("findings").hidden = true;
  $("findings").tBodies[0].replaceChildren();
  $("lines").replaceChildren();
}

function cell(text, className) {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

function showFindings(title, data) {
  clearResult();
  const rows = data.findings || [];
  const errors = rows.filter((f) => f.level === "error").length;
  const warnings = rows.filter((f) => f.level === "warning").length;
  $("summary").textContent = title + ": " + errors + " error(s), " + warnings + " warning(s)";
  $("summary").className = errors > 0 ? "error" : "";
  const body = $("findings").tBodies[0];
  for (const f of rows) {
    const tr = document.createElement("tr");
    tr.append(cell(f.level, "level-" + f.level), cell(f.check), cell(f.message), cell(f.fix));
    body.append(tr);
  }
  $("findings").hidden = false;
}

function showLines(title, lines) {
  clearResult();
  $("summary").textContent = title;
  for (const [text, failed] of lines) {
    const li = document.createElement("li");
    li.textContent = text;
    if (failed) li.className = "failed";
    $("lines").append(li);
  }
}

async function run(button, work) {
  const buttons = document.querySelectorAll("button");
  buttons.forEach((b) => { b.disabled = true; });
  setStatus(button.textContent.replace("…", "") + " running…", false);
  try {
    await work();
    setStatus("Done: " + button.textContent.replace("…", ""), false);
  } catch (e) {
    clearResult();
    setStatus(e.message, true);
  } finally {
    buttons.forEach((b) => { b.disabled = false; });
  }
}

function check() {
  return api("GET", "/api/check").then((d) => showFindings("check", d));
}

function doctor() {
  return api("GET", "/api/doctor").then((d) => showFindings("doctor", d));
}

async function init() {
  const d = await api("POST", "/api/init", { example: $("init-example").checked });
  const lines = [["home " + d.home, false]];
  for (const dir of d.created_dirs) lines.push(["created " + dir + "/", false]);
  lines.push([d.key_created ? "created the instance key (0600)" : "kept the existing instance key", false]);
  if (d.example_pack) lines.push(["wrote the example pack " + d.example_pack, false]);
  showLines("init", lines);
}

async function recover() {
  const pack = $("restore-pack").value.trim();
  const what = pack
    ? "Recover repairs modes and leftovers, and moves the latest backup of " + pack + " back into ecosystem/ (the current copy is backed up first; it then needs approval again). Go on?"
    : "Recover repairs modes of the settings and audit directories and key files, removes leftovers of interrupted writes and rebuilds the pending export. Go on?";
  if (!window.confirm(what)) {
    setStatus("Recover cancelled", false);
    return;
  }
  const d = await api("POST", "/api/recover", { confirm: true, restore_pack: pack || null });
  const lines = d.repairs.map((r) => [(r.ok ? "done " : "FAILED ") + r.repair, !r.ok]);
  showLines(lines.length ? "recover" : "recover: nothing to repair", lines);
}

document.addEventListener("DOMContentLoaded", () => {
  if (!token) {
    setStatus("No token: open the URL rumi-ctl setup --web printed (it ends with #token=…)", true);
    return;
  }
  $("do-check").addEventListener("click", (e) => run(e.target, check));
  $("do-doctor").addEventListener("click", (e) => run(e.target, doctor));
  $("do-init").addEventListener("click", (e) => run(e.target, init));
  $("do-recover").addEventListener("click", (e) => run(e.target, recover));
  run($("do-doctor"), doctor);
});
