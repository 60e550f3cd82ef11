// Drives rumid's /console in headless Chromium: signs in, approves a pending pack, waits for
// the audit line, checks that pack-supplied text never ran as HTML, takes a screenshot.
//   node console.mjs BASE TOKEN PACK SCREENSHOT
import { chromium } from "playwright-core";

const [base, token, pack, shot] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.RUMI_CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu"],
});
const errors = [];
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.on("pageerror", (e) => errors.push("page error: " + e));
  page.on("console", (m) => {
    // The refused sign-in below answers 401 on purpose.
    if (m.type() === "error" && !m.text().includes("401")) errors.push("console: " + m.text());
  });
  await page.goto(base + "/console");

  // A wrong token is refused and nothing is shown.
  await page.fill("#token", "not-the-token");
  await page.click("#signin");
  await page.locator("#status.error").waitFor({ timeout: 15000 });
  if (!(await page.locator("#app").isHidden())) throw new Error("app shown after a refused sign-in");

  await page.fill("#token", token);
  await page.click("#signin");
  const row = page.locator(`#packs tr[data-pack="${pack}"]`);
  await row.waitFor({ timeout: 15000 });
  await row.locator("button.approve").click();
  await row.waitFor({ state: "detached", timeout: 15000 });
  await page.locator("#audit td", { hasText: "pack_approved" }).first().waitFor({ timeout: 15000 });

  // A pack's name holding markup stays text.
  const injected = await page.evaluate(() => window.__rumi_xss === undefined && !document.querySelector("#packs img"));
  if (!injected) throw new Error("pack-supplied markup was rendered as HTML");
  const text = await page.locator("#packs").innerText();
  if (!text.includes("<img")) throw new Error("the hostile pack name is not shown as text: " + text);

  await page.screenshot({ path: shot, fullPage: true });
} finally {
  await browser.close();
}
if (errors.length) {
  console.error(errors.join("\n"));
  process.exit(1);
}
console.log("console ok");
