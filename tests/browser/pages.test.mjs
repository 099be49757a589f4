// The pages in real headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core),
// against the real portal binary and the Dokploy simulator running as its own process.
// Screenshots of each final state go to target/browser/.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createServer } from "node:net";
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { createInterface } from "node:readline";
import { chromium } from "playwright-core";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const binary = process.env.STACKLEDGER_BIN || join(root, "target", "debug", "stackledger");
const shots = join(root, "target", "browser");
mkdirSync(shots, { recursive: true });
const KEY = "browser-test-key";
const TOKEN = "browser-admin-token";

let browser;
let simulator;
let simulatorUrl;
const dataDir = mkdtempSync(join(tmpdir(), "stackledger-browser-"));

/** Starts a process and resolves with it once a JSON log line carries an address. */
function startLogged(args) {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, args, { stdio: ["ignore", "ignore", "pipe"] });
    const lines = createInterface({ input: child.stderr });
    lines.on("line", (line) => {
      try {
        const address = JSON.parse(line).fields?.address;
        if (address) resolve({ child, address });
      } catch { /* not JSON */ }
    });
    child.on("exit", (code) => reject(new Error(`${args[0]} exited with ${code}`)));
  });
}

function freePort() {
  return new Promise((resolve) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** A portal on `port`; by default on the shared simulator and data directory. */
async function portal(port, extra = [], { dokploy = simulatorUrl, data = dataDir } = {}) {
  return startLogged([
    "--listen", `127.0.0.1:${port}`, "--log-format", "json", "--data-dir", data,
    "--dokploy-url", dokploy, "--dokploy-api-key", KEY,
    "--health-url", `${dokploy}/__sim/apps/{name}/health`,
    "--health-interval", "20ms", "--deploy-poll-interval", "20ms", "--retry-base", "50ms",
    "--admin-token", TOKEN, ...extra,
  ]);
}

function stop(child) {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve();
    child.once("exit", resolve);
    child.kill("SIGTERM");
  });
}

async function fault(body, dokploy = simulatorUrl) {
  const response = await fetch(`${dokploy}/__sim/faults`, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  });
  assert.equal(response.status, 201);
}

async function newPage() {
  const context = await browser.newContext();
  const page = await context.newPage();
  const offOrigin = [];
  page.on("request", (request) => {
    if (!request.url().startsWith("http://127.0.0.1")) offOrigin.push(request.url());
  });
  page.offOrigin = offOrigin;
  return page;
}

before(async () => {
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  const sim = await startLogged(["simulate", "--listen", "127.0.0.1:0", "--api-key", KEY, "--log-format", "json"]);
  simulator = sim.child;
  simulatorUrl = `http://${sim.address}`;
});

after(async () => {
  await browser?.close();
  if (simulator) await stop(simulator);
  rmSync(dataDir, { recursive: true, force: true });
});

test("an invalid name shows the reason and keeps deploy disabled", async () => {
  const { child, address } = await portal(await freePort());
  const page = await newPage();
  await page.goto(`http://${address}/`);
  await page.fill("#name", "1x");
  await page.waitForFunction(() => document.getElementById("name-status").textContent.length > 0);
  assert.match(await page.textContent("#name-status"), /at least 3|start with a letter/);
  assert.equal(await page.isDisabled("#deploy"), true);
  await page.fill("#name", "valid-name");
  await page.waitForFunction(() => document.getElementById("name-status").textContent === "Available");
  assert.equal(await page.isDisabled("#deploy"), false);
  await page.screenshot({ path: join(shots, "invalid-name.png") });
  assert.deepEqual(page.offOrigin, []);
  await stop(child);
});

test("a deployment runs to the link of the live stack", async () => {
  const { child, address } = await portal(await freePort());
  const page = await newPage();
  await page.goto(`http://${address}/`);
  await page.fill("#name", "browser-ok");
  await page.waitForFunction(() => !document.getElementById("deploy").disabled);
  await page.click("#deploy");
  await page.waitForSelector("#result.success a", { timeout: 30000 });
  assert.equal(await page.textContent("#result a"), "https://browser-ok.ai.flexinit.nl");
  assert.match(page.url(), /\?d=dep_[0-9a-f]{32}$/);
  assert.equal(await page.locator("#phases li.done").count(), 8);
  await page.screenshot({ path: join(shots, "deployed.png") });
  assert.deepEqual(page.offOrigin, []);
  await stop(child);
});

test("a failure shows what was rolled back", async () => {
  const { child, address } = await portal(await freePort());
  await fault({ deployOutcome: "error", times: 1 });
  const page = await newPage();
  await page.goto(`http://${address}/`);
  await page.fill("#name", "browser-fail");
  await page.waitForFunction(() => !document.getElementById("deploy").disabled);
  await page.click("#deploy");
  await page.waitForSelector("#result.failure", { timeout: 30000 });
  const result = await page.textContent("#result");
  assert.match(result, /deploy_failed|Dokploy reported the deploy as error/);
  assert.match(result, /Everything it created was removed/);
  assert.equal(await page.locator("#phases li.failed").count(), 1);
  await page.screenshot({ path: join(shots, "failed.png") });
  await stop(child);
});

test("restarting the server mid-deployment resumes the page without duplicate lines", async () => {
  const port = await freePort();
  let { child, address } = await portal(port);
  await fault({ path: "domain.create", delayMs: 1500, times: 1 });
  const page = await newPage();
  await page.goto(`http://${address}/`);
  await page.fill("#name", "browser-restart");
  await page.waitForFunction(() => !document.getElementById("deploy").disabled);
  await page.click("#deploy");
  await page.waitForFunction(() => document.getElementById("message").textContent.includes("domain.create"), null, { timeout: 30000 });
  await stop(child);
  ({ child } = await portal(port));
  await page.waitForSelector("#result.success", { timeout: 60000 });
  const lines = await page.locator("#log li").allTextContents();
  assert.ok(lines.length > 10, `the log shows the run (${lines.length} lines)`);
  assert.ok(lines.some((line) => line.startsWith("Recovering")), "the recovery shows");
  const ids = await page.evaluate(() => [...document.querySelectorAll("#log li")].length);
  assert.equal(ids, lines.length);
  assert.equal(new Set(lines.map((line, i) => line + i)).size, lines.length);
  await page.screenshot({ path: join(shots, "resumed.png") });
  await stop(child);
});

test("the audit page refuses a wrong token and shows a timeline with a retry badge", async () => {
  const { child, address } = await portal(await freePort());
  await fault({ path: "application.create", status: 503, times: 1 });
  const deployed = await fetch(`http://${address}/api/deploy`, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ name: "browser-retry" }),
  }).then((r) => r.json());
  const stream = await fetch(`http://${address}/api/status/${deployed.deploymentId}`);
  await stream.text();
  const page = await newPage();
  await page.goto(`http://${address}/audit`);
  await page.fill("#token", "wrong-token");
  await page.click("#token-form button");
  await page.waitForFunction(() => document.getElementById("token-status").textContent.includes("refused"));
  assert.equal(await page.isHidden("#deployments"), true);
  await page.fill("#token", TOKEN);
  await page.click("#token-form button");
  await page.waitForSelector("#rows tr");
  await page.click("text=browser-retry");
  await page.waitForSelector("#timeline .badge.retry");
  assert.equal(await page.textContent("#timeline .badge.retry"), "1 retry");
  assert.match(await page.textContent("#receipt"), /^[0-9a-f]{64}$/);
  await page.click("#verify");
  await page.waitForFunction(() => document.getElementById("verify-result").textContent.includes("verifies"));
  // The verification itself is an operator action on the record, with the token's name.
  await page.waitForSelector("#action-rows tr.ledger_verified");
  assert.match(await page.textContent("#action-rows tr.ledger_verified"), /admin verified the log through \d+: intact/);
  assert.match(await page.textContent("#action-rows"), /request\(s\) refused: no or wrong admin token/);
  await page.screenshot({ path: join(shots, "audit.png") });
  assert.deepEqual(page.offOrigin, []);
  await stop(child);
});

test("a read-only portal shows the damage it found in a banner on the audit page", async () => {
  // A ledger (and its witness) exists once a portal has run; then one bit of the witness flips.
  await stop((await portal(await freePort())).child);
  const witness = join(dataDir, "ledger", "witness");
  const bytes = readFileSync(witness);
  bytes[20] ^= 1;
  writeFileSync(witness, bytes);
  const { child, address } = await portal(await freePort(), ["--read-only"]);
  const refused = await fetch(`http://${address}/api/deploy`, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ name: "browser-read-only" }),
  });
  assert.equal(refused.status, 503);
  assert.equal((await refused.json()).error.code, "read_only");
  const page = await newPage();
  await page.goto(`http://${address}/audit`);
  await page.waitForSelector("#read-only", { state: "visible" });
  const banner = await page.textContent("#read-only");
  assert.match(banner, /read-only/);
  assert.match(banner, /refuses deploys/);
  assert.match(banner, /witness file .*witness is damaged at offset 16/);
  assert.equal(await page.locator("#read-only *").count(), 0, "server text is text, never markup");
  await page.screenshot({ path: join(shots, "read-only.png") });
  assert.deepEqual(page.offOrigin, []);
  await stop(child);
});

/** A simulator of its own (an empty Dokploy to check for leftovers) and a data dir of its own. */
async function ownDokploy() {
  const { child, address } = await startLogged(["simulate", "--listen", "127.0.0.1:0", "--api-key", KEY, "--log-format", "json"]);
  const data = mkdtempSync(join(tmpdir(), "stackledger-browser-cancel-"));
  return { child, url: `http://${address}`, data };
}

/** Types `name` on the page, deploys it and returns the portal's 202 answer. */
async function deployFromPage(page, address, name) {
  await page.goto(`http://${address}/`);
  await page.fill("#name", name);
  await page.waitForFunction(() => !document.getElementById("deploy").disabled);
  const [answer] = await Promise.all([
    page.waitForResponse((response) => response.url().endsWith("/api/deploy")),
    page.click("#deploy"),
  ]);
  assert.equal(answer.status(), 202);
  return answer.json();
}

/** Where the page keeps things: the URL, cookies, local and session storage, as text. */
async function kept(page) {
  return page.evaluate(() => ({
    url: location.href,
    cookie: document.cookie,
    local: JSON.stringify({ ...localStorage }),
    session: JSON.stringify({ ...sessionStorage }),
  }));
}

/** Waits for `selector`; on a timeout the error says what the page showed instead. */
async function shows(page, selector) {
  try {
    await page.waitForSelector(selector, { timeout: 30000 });
  } catch (error) {
    const showed = await page.evaluate(() => ["message", "waiting", "cancel-status", "result"]
      .map((id) => `#${id}: ${document.getElementById(id).textContent}`)
      .concat([...document.querySelectorAll("#log li")].slice(-5).map((line) => "log: " + line.textContent))
      .join("\n"));
    throw new Error(`${selector} did not show; the page showed\n${showed}`, { cause: error });
  }
}

async function pressCancel(page) {
  await page.click("#cancel");
  await page.waitForSelector("#cancel-confirm", { state: "visible" });
  assert.equal(await page.evaluate(() => document.activeElement.id), "cancel-yes", "the question takes the focus");
  await page.click("#cancel-yes");
}

test("a queued deployment shows its place, and each tab cancels its own deployment", async () => {
  const dokploy = await ownDokploy();
  // The first deployment holds the only running slot: its stack never turns healthy.
  await fault({ unhealthy: "browser-hold", polls: "forever" }, dokploy.url);
  const { child, address } = await portal(await freePort(), ["--running-max", "1"], { dokploy: dokploy.url, data: dokploy.data });
  const first = await newPage();
  const held = await deployFromPage(first, address, "browser-hold");
  await first.waitForSelector("#phases li.active:has-text('Verifying health')", { timeout: 30000 });
  await first.waitForSelector("#cancel", { state: "visible" });

  const second = await newPage();
  const queued = await deployFromPage(second, address, "browser-queued");
  await second.waitForSelector("#waiting:has-text('Queued: next in line')", { timeout: 30000 });
  assert.equal(await second.isVisible("#cancel"), true, "a queued deployment can be cancelled");
  await second.screenshot({ path: join(shots, "queued.png") });
  await pressCancel(second);
  await shows(second, "#result.cancelled");
  const result = await second.textContent("#result");
  assert.match(result, /Deployment cancelled — everything it created was removed\. Cancelled by the person who started it\./);
  assert.equal(await second.isHidden("#waiting"), true, "the place goes once the wait is over");
  assert.equal(await second.isHidden("#cancel-controls"), true);
  assert.equal(await second.locator("#result.failure").count(), 0, "a cancel is not shown as a failure");
  await second.screenshot({ path: join(shots, "cancelled-queued.png") });
  for (const place of Object.values(await kept(second))) assert.ok(!place.includes(queued.cancel.token), place);

  // The first tab's capability is in its sessionStorage only, so a reload can still cancel.
  let where = await kept(first);
  assert.ok(where.session.includes(held.cancel.token), "kept for a reload of this tab");
  for (const place of [where.url, where.cookie, where.local]) assert.ok(!place.includes(held.cancel.token), place);
  await first.reload();
  await first.waitForSelector("#cancel", { state: "visible", timeout: 30000 });
  await pressCancel(first);
  await shows(first, "#result.cancelled");
  assert.match(await first.textContent("#result"), /Deployment cancelled — everything it created was removed/);
  assert.equal(await first.locator("#phases li.cancelled").count(), 1);
  assert.equal(await first.isHidden("#cancel-controls"), true);
  where = await kept(first);
  for (const place of Object.values(where)) assert.ok(!place.includes(held.cancel.token), "dropped once used: " + place);
  await first.screenshot({ path: join(shots, "cancelled-running.png") });

  const state = await fetch(`${dokploy.url}/__sim/state`).then((r) => r.json());
  assert.deepEqual([state.projects, state.applications, state.domains], [[], [], []], JSON.stringify(state));
  assert.deepEqual([...first.offOrigin, ...second.offOrigin], []);
  await stop(child);
  await stop(dokploy.child);
  rmSync(dokploy.data, { recursive: true, force: true });
});

test("a refused cancel says why and takes the button away; an operator's cancel shows as cancelled", async () => {
  const dokploy = await ownDokploy();
  await fault({ unhealthy: "browser-refused", polls: "forever" }, dokploy.url);
  const { child, address } = await portal(await freePort(), [], { dokploy: dokploy.url, data: dokploy.data });
  const page = await newPage();
  const accepted = await deployFromPage(page, address, "browser-refused");
  const key = "stackledger.cancel." + accepted.deploymentId;
  await page.waitForSelector("#phases li.active:has-text('Verifying health')", { timeout: 30000 });

  // Another secret than this deployment's: 403, said plainly, and the button goes.
  await page.evaluate(([key, url]) => sessionStorage.setItem(key, JSON.stringify({ url, token: "f".repeat(64) })), [key, accepted.cancel.url]);
  await page.reload();
  await page.waitForSelector("#cancel", { state: "visible", timeout: 30000 });
  await pressCancel(page);
  await page.waitForSelector("#cancel-status.refused", { timeout: 30000 });
  assert.match(await page.textContent("#cancel-status"), /refused the cancel: this tab's cancel key is not this deployment's/);
  assert.equal(await page.isHidden("#cancel-controls"), true);
  assert.equal(await page.evaluate((key) => sessionStorage.getItem(key), key), null, "a refused key is dropped");
  await page.screenshot({ path: join(shots, "cancel-refused.png") });

  // An operator cancels first while this tab's stream is behind: the tab's cancel gets 409.
  await page.evaluate(([key, cancel]) => sessionStorage.setItem(key, JSON.stringify(cancel)), [key, accepted.cancel]);
  await page.reload();
  await page.waitForSelector("#cancel", { state: "visible", timeout: 30000 });
  await page.evaluate(() => source.close());
  const operator = await fetch(`http://${address}${accepted.cancel.url}`, {
    method: "POST", headers: { Authorization: `Bearer ${TOKEN}`, "Content-Type": "application/json" },
    body: JSON.stringify({ reason: "wrong stack" }),
  });
  assert.equal(operator.status, 202);
  await pressCancel(page);
  await page.waitForSelector("#cancel-status.refused", { timeout: 30000 });
  assert.equal(await page.textContent("#cancel-status"), "This deployment is already being cancelled.");
  assert.equal(await page.isHidden("#cancel-controls"), true);

  await page.reload();
  await shows(page, "#result.cancelled");
  assert.match(await page.textContent("#result"), /Deployment cancelled — everything it created was removed\. Cancelled by operator admin: wrong stack\./);
  assert.equal(await page.textContent("#stack-name"), "browser-refused", "a resumed page names its stack");
  assert.equal(await page.isHidden("#cancel-controls"), true);
  const state = await fetch(`${dokploy.url}/__sim/state`).then((r) => r.json());
  assert.deepEqual([state.projects, state.applications, state.domains], [[], [], []], JSON.stringify(state));
  assert.deepEqual(page.offOrigin, []);
  await stop(child);
  await stop(dokploy.child);
  rmSync(dokploy.data, { recursive: true, force: true });
});
