// Drives rumid's /console in headless Chromium for tests/e2e/console.rs.
//
//   RUMI_CONSOLE_TOKEN=… node console.mjs tour BASE SHOTS_DIR
//     Signs in at 1280 px and reviews and decides as an operator would: the files a
//     modified pack changed, then approve it (cancelling the confirmation once); a handler
//     candidate's description, risk, entrypoint and source, then approve it; reject an
//     approved pack; run the flow `hello`; then every view again at 390 px. Each view: its key
//     elements visible, nothing wider than the window, a full-page screenshot checked here
//     (its width, not blank) and kept in SHOTS_DIR with the page's HTML (the Rust test reads
//     both). Any console error, page error, failed request or HTTP error fails the run.
//   node console.mjs refused BASE
//     A wrong token is refused and nothing is shown (its one 401 is expected).
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";

const [mode, base, dir] = process.argv.slice(2);
const token = process.env.RUMI_CONSOLE_TOKEN || "";
const WAIT = { timeout: 20000 };
const WIDE = 1280;
const NARROW = 390;

const problems = [];
const check = (ok, what) => { if (!ok) throw new Error(what); };

const browser = await chromium.launch({
  executablePath: process.env.RUMI_CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu"],
});

// A page whose every console error, page error, failed request and HTTP error is a problem,
// except the statuses `allowed` names (path → status).
async function openPage(width, allowed = {}) {
  const context = await browser.newContext({ viewport: { width, height: 900 }, deviceScaleFactor: 1 });
  const page = await context.newPage();
  const label = width + "px";
  page.on("pageerror", (e) => problems.push(`${label}: page error: ${e}`));
  page.on("console", (m) => {
    if (m.type() !== "error") return;
    const url = m.location().url || "";
    // Chromium logs every HTTP error as a console error too; those are judged below.
    if (m.text().startsWith("Failed to load resource") && Object.keys(allowed).some((p) => url.endsWith(p))) return;
    problems.push(`${label}: console error: ${m.text()} ${url}`);
  });
  page.on("requestfailed", (r) => problems.push(`${label}: request failed: ${r.method()} ${r.url()}: ${r.failure()?.errorText}`));
  page.on("response", (r) => {
    const path = new URL(r.url()).pathname;
    if (r.status() >= 400 && allowed[path] !== r.status()) problems.push(`${label}: HTTP ${r.status()} for ${r.request().method()} ${path}`);
  });
  return page;
}

// Screenshots are judged in a page of their own (no CSP there, so a data: image loads).
let judge;
async function judgeShot(png, width, name) {
  check(png.readUInt32BE(16) === width, `${name}: screenshot is ${png.readUInt32BE(16)} px wide, not ${width}`);
  if (!judge) judge = await (await browser.newContext()).newPage();
  const s = await judge.evaluate(async (b64) => {
    const img = new Image();
    img.src = "data:image/png;base64," + b64;
    await img.decode();
    const c = document.createElement("canvas");
    c.width = img.width;
    c.height = img.height;
    const ctx = c.getContext("2d");
    ctx.drawImage(img, 0, 0);
    const d = ctx.getImageData(0, 0, c.width, c.height).data;
    const colors = new Set();
    let ink = 0, n = 0;
    for (let i = 0; i < d.length; i += 4 * 5) {
      n++;
      colors.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]);
      if (d[i] + d[i + 1] + d[i + 2] < 600) ink++;
    }
    return { width: img.width, height: img.height, colors: colors.size, ink: ink / n };
  }, png.toString("base64"));
  check(s.width === width && s.height >= 300, `${name}: screenshot is ${s.width}x${s.height}`);
  check(s.colors >= 16 && s.ink >= 0.004, `${name}: screenshot looks blank (${s.colors} colours, ${(s.ink * 100).toFixed(2)} % ink)`);
  return s;
}

// Shows a view and checks it: loaded, key elements visible and inside the window, no
// horizontal overflow, a judged screenshot.
const shots = [];
async function view(page, name, keys, width, extra) {
  await page.click(`nav button[data-view="${name}"]`);
  await page.locator(`#app[data-loaded="${name}"]`).waitFor(WAIT);
  if (extra) await extra();
  for (const key of keys) {
    const loc = page.locator(key).first();
    await loc.waitFor({ state: "visible", ...WAIT });
    const box = await loc.boundingBox();
    check(box && box.width > 0 && box.height > 0, `${name} ${width}px: ${key} has no size`);
    check(box.x >= 0 && box.x + box.width <= width + 1, `${name} ${width}px: ${key} sticks out of the window (${box.x}+${box.width})`);
  }
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check(overflow <= 0, `${name} ${width}px: the page is ${overflow} px wider than the window`);
  const status = await page.locator("#status").getAttribute("class");
  check(status !== "error", `${name} ${width}px: ${await page.locator("#status").innerText()}`);
  const file = join(dir, `${name}-${width}.png`);
  const png = await page.screenshot({ path: file, fullPage: true });
  const judged = await judgeShot(png, width, `${name} ${width}px`);
  writeFileSync(join(dir, `${name}-${width}.html`), await page.content());
  shots.push({ view: name, width, file, ...judged });
}

async function signIn(page) {
  await page.goto(base + "/console");
  await page.locator("#signin-panel").waitFor({ state: "visible", ...WAIT });
  await page.fill("#token", token);
  await page.click("#signin");
  await page.locator('#app[data-loaded="review"]').waitFor(WAIT);
}

async function confirm(page, yes) {
  await page.locator("#confirm").waitFor({ state: "visible", ...WAIT });
  await page.click(yes ? "#confirm-ok" : "#confirm-cancel");
  await page.locator("#confirm").waitFor({ state: "hidden", ...WAIT });
}

async function tour() {
  const page = await openPage(WIDE);
  await signIn(page);

  // The favicon is public: the browser's own request needs no token.
  const icon = await page.evaluate(async () => {
    const r = await fetch("/favicon.ico");
    return { status: r.status, type: r.headers.get("content-type"), size: (await r.arrayBuffer()).byteLength };
  });
  check(icon.status === 200 && icon.type === "image/x-icon" && icon.size > 100, "favicon: " + JSON.stringify(icon));

  // A modified pack: the files it changed, a cancelled confirmation, then the approval.
  await view(page, "review", ["#packs", "#capability", "#pip"], WIDE, async () => {
    const box = page.locator('#packs tr[data-pack="box"]');
    await box.locator("button.review").click();
    await page.locator("#pack-review").waitFor({ state: "visible", ...WAIT });
    await page.locator("#changes-added li", { hasText: "backend/blocks/added.py" }).waitFor(WAIT);
    await page.locator("#changes-changed li", { hasText: "backend/blocks/main.py" }).waitFor(WAIT);
    await page.locator("#changes-removed li", { hasText: "backend/blocks/gone.py" }).waitFor(WAIT);
    const handler = page.locator('#capability tr[data-key^="tools:"]');
    await handler.locator("button.review").click();
    await page.locator("#cap-source", { hasText: "CONSOLE_REVIEW_MARKER" }).waitFor(WAIT);
    const capFacts = await page.locator("#cap-review-facts").innerText();
    for (const want of ["Echoes its arguments back", "low: returns its input", "handler.py:execute", "tools.echo"]) {
      check(capFacts.includes(want), `handler review lacks ${want}: ${capFacts}`);
    }
    check((await page.locator("#cap-source-note").innerText()).includes("the file the scan found"), "source note");
  });

  await page.click("#pack-approve");
  await confirm(page, false);
  check((await page.locator("#status").innerText()).includes("cancelled"), "cancel is not reported");
  check(await page.locator('#packs tr[data-pack="box"]').count() === 1, "a cancelled approval approved");
  await page.click("#pack-approve");
  await confirm(page, true);
  await page.locator('#packs tr[data-pack="box"]').waitFor({ state: "detached", ...WAIT });
  await page.locator("#pack-review").waitFor({ state: "hidden", ...WAIT });

  await page.locator('#capability tr[data-key^="tools:"] button.review').click();
  await page.locator("#cap-source", { hasText: "CONSOLE_REVIEW_MARKER" }).waitFor(WAIT);
  await page.click("#cap-approve");
  await confirm(page, true);
  await page.locator('#capability tr[data-key^="tools:"]').waitFor({ state: "detached", ...WAIT });

  // A pack's name holding markup stays text.
  const clean = await page.evaluate(() => window.__rumi_xss === undefined && !document.querySelector("#packs img"));
  check(clean, "pack-supplied markup was rendered as HTML");
  check((await page.locator('#packs tr[data-pack="evil"]').innerText()).includes("<img"), "the hostile name is not shown as text");

  // Reject an approved pack, with a reason and a confirmation.
  await view(page, "packs", ["#all-packs", '#all-packs tr[data-pack="steady"] button.reject'], WIDE);
  const steady = page.locator('#all-packs tr[data-pack="steady"]');
  await steady.locator("button.reject").click();
  check((await page.locator("#status").innerText()).includes("reason"), "reject without a reason was not stopped");
  await steady.locator("input.reason").fill("found a problem in the console test");
  await steady.locator("button.reject").click();
  await confirm(page, true);
  await page.locator('#all-packs tr[data-pack="steady"] td', { hasText: "blocked" }).waitFor(WAIT);

  await view(page, "health", ["#health-summary dd", '#helpers tr[data-helper="egressd"]', '#helpers tr[data-helper="capd"]', "#probes tbody tr"], WIDE);
  for (const h of ["egressd", "capd"]) {
    const state = await page.locator(`#helpers tr[data-helper="${h}"] td`).nth(1).innerText();
    check(state === "up", `${h} is ${state}`);
  }

  // Run a flow and read its answer.
  await view(page, "flows", ['#flows tr[data-flow="hello"]', "#flow-answer"], WIDE, async () => {
    await page.locator('#flows tr[data-flow="hello"] button.run').click();
    await page.fill("#flow-inputs", '{"name": "World"}');
    await page.click("#flow-run-go");
    await page.locator("#flow-answer", { hasText: "Hello, World!" }).waitFor({ timeout: 60000 });
    check((await page.locator("#flow-answer-meta").innerText()).startsWith("answered in"), "run meta");
  });

  await view(page, "secrets", ['#secrets tr[data-key="CONSOLE_API_KEY"]'], WIDE);
  const masked = await page.locator('#secrets tr[data-key="CONSOLE_API_KEY"] td.masked').innerText();
  check(masked === "********", "the secret's value cell is " + masked);
  await view(page, "containers", ["#docker dd", "#containers tbody td", "#spares tbody td"], WIDE);
  check((await page.locator("#spares").innerText()).includes("strict mode"), "the spares table says why it is empty");
  await view(page, "grants", ["#network", "#grants"], WIDE);
  await view(page, "audit", ['#audit td:text-is("pack_approved")', '#audit td:text-is("capability_handler_approved_and_installed")'], WIDE);

  // Every view again on a phone-sized screen.
  const narrow = await openPage(NARROW);
  await signIn(narrow);
  await view(narrow, "review", ['#packs tr[data-pack="evil"]', "#pack-review", "#pack-approve"], NARROW, async () => {
    await narrow.locator('#packs tr[data-pack="evil"] button.review').click();
    await narrow.locator("#pack-review").waitFor({ state: "visible", ...WAIT });
  });
  await view(narrow, "packs", ['#all-packs tr[data-pack="box"]'], NARROW);
  await view(narrow, "health", ['#helpers tr[data-helper="capd"]'], NARROW);
  await view(narrow, "flows", ['#flows tr[data-flow="hello"]', "#flow-answer"], NARROW, async () => {
    await narrow.locator('#flows tr[data-flow="hello"] button.run').click();
    await narrow.fill("#flow-inputs", '{"name": "Narrow"}');
    await narrow.click("#flow-run-go");
    await narrow.locator("#flow-answer", { hasText: "Hello, Narrow!" }).waitFor({ timeout: 60000 });
  });
  await view(narrow, "secrets", ['#secrets tr[data-key="CONSOLE_API_KEY"]'], NARROW);
  await view(narrow, "containers", ["#docker dd", "#spares tbody td"], NARROW);
  await view(narrow, "grants", ["#network", "#grants"], NARROW);
  await view(narrow, "audit", ['#audit td:text-is("pack_approved")'], NARROW);
}

async function refused() {
  const page = await openPage(WIDE, { "/api/health": 401 });
  await page.goto(base + "/console");
  await page.fill("#token", "not-the-token");
  await page.click("#signin");
  await page.locator("#status.error").waitFor(WAIT);
  check(await page.locator("#app").isHidden(), "app shown after a refused sign-in");
  check(await page.locator("#views").isHidden(), "views shown after a refused sign-in");
}

try {
  if (mode === "tour") await tour();
  else if (mode === "refused") await refused();
  else throw new Error("mode must be tour or refused");
} catch (e) {
  problems.push(String(e && e.stack || e));
} finally {
  await browser.close();
}
if (problems.length) {
  console.error(problems.join("\n"));
  process.exit(1);
}
console.log(JSON.stringify({ ok: true, shots }));
