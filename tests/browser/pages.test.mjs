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

async function portal(port, extra = []) {
  return startLogged([
    "--listen", `127.0.0.1:${port}`, "--log-format", "json", "--data-dir", dataDir,
    "--dokploy-url", simulatorUrl, "--dokploy-api-key", KEY,
    "--health-url", `${simulatorUrl}/__sim/apps/{name}/health`,
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

async function fault(body) {
  const response = await fetch(`${simulatorUrl}/__sim/faults`, {
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
