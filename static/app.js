// The deploy page: check the name as it is typed, deploy, then follow the deployment over
// SSE. The deployment id goes into the URL, so a reload resumes the same deployment; the
// browser's EventSource resends Last-Event-ID when it reconnects, and lines are keyed by the
// ledger seq, so nothing shows twice.
"use strict";

const PHASES = [
  ["creating_project", "Creating project"],
  ["getting_environment", "Getting environment"],
  ["creating_application", "Creating application"],
  ["configuring_application", "Configuring application"],
  ["creating_domain", "Creating domain"],
  ["deploying", "Deploying"],
  ["verifying_health", "Verifying health"],
  ["completed", "Completed"],
];

const $ = (id) => document.getElementById(id);
const seen = new Set();
const phaseStart = new Map();
const phaseTook = new Map();
let lastPhase = null;
let checkTimer = null;
let source = null;

function setStatus(text, kind) {
  const status = $("name-status");
  status.textContent = text;
  status.className = "status " + (kind || "");
}

async function check(name) {
  const answer = await fetch("/api/check/" + encodeURIComponent(name)).then((r) => r.json());
  if ($("name").value.trim().toLowerCase() !== answer.name) return;
  $("deploy").disabled = !(answer.valid && answer.available);
  $("preview").textContent = answer.url ? "Your stack will answer at " + answer.url : "";
  if (answer.valid && answer.available) setStatus("Available", "valid");
  else setStatus(answer.message || "Not available", "invalid");
}

function onInput() {
  const name = $("name").value.trim().toLowerCase();
  $("deploy").disabled = true;
  clearTimeout(checkTimer);
  if (!name) { setStatus(""); return; }
  checkTimer = setTimeout(() => check(name).catch(() => setStatus("Cannot check the name right now", "invalid")), 250);
}

async function deploy(event) {
  event.preventDefault();
  $("deploy").disabled = true;
  const response = await fetch("/api/deploy", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ name: $("name").value }),
  });
  const answer = await response.json();
  if (!answer.success) {
    setStatus(answer.error.message, "invalid");
    return;
  }
  history.replaceState(null, "", "?d=" + answer.deploymentId);
  follow(answer.deploymentId, answer.name);
}

function notePhase(phase) {
  if (phase === lastPhase) return;
  const now = Date.now();
  if (lastPhase && phaseStart.has(lastPhase)) phaseTook.set(lastPhase, now - phaseStart.get(lastPhase));
  if (!phaseStart.has(phase)) phaseStart.set(phase, now);
  lastPhase = phase;
}

function renderPhases(current, failed) {
  notePhase(current);
  const index = PHASES.findIndex(([key]) => key === current);
  $("phases").replaceChildren(...PHASES.map(([key, title], i) => {
    const item = document.createElement("li");
    item.textContent = title;
    if (failed && i === index) item.className = "failed";
    else if (current === "completed" || i < index) item.className = "done";
    else if (i === index) item.className = "active";
    if (phaseTook.has(key)) {
      const took = document.createElement("span");
      took.className = "took";
      took.textContent = (phaseTook.get(key) / 1000).toFixed(1) + " s";
      item.append(took);
    }
    return item;
  }));
}

// While the deployment waits in line for one of Dokploy's build slots, the Deploying step
// shows its place ("Waiting for a build slot: 2 deployments ahead") until the slot is its own.
let place = "";
function showPlace(data) {
  if (data.action === "build_slot_waiting") place = data.message;
  else if (data.action === "build_slot_acquired" || data.phase !== "deploying") place = "";
  const deploying = $("phases").children[PHASES.findIndex(([key]) => key === "deploying")];
  if (!deploying || !place) return;
  const note = document.createElement("span");
  note.className = "place";
  note.textContent = place;
  deploying.append(note);
}

function addLine(id, text, level) {
  if (seen.has(id)) return;
  seen.add(id);
  const line = document.createElement("li");
  line.textContent = text;
  line.className = level || "";
  $("log").append(line);
}

function follow(id, name) {
  $("deploy-form").hidden = true;
  $("progress").hidden = false;
  $("stack-name").textContent = name || "";
  renderPhases("initializing", false);
  source = new EventSource("/api/status/" + encodeURIComponent(id));
  source.addEventListener("progress", (event) => {
    const data = JSON.parse(event.data);
    $("bar").value = data.progress;
    $("message").textContent = data.message;
    if (data.phase !== "rolling_back" && data.phase !== "failed") renderPhases(data.phase, false);
    showPlace(data);
    const warn = /failed|retry/.test(data.message) || data.action === "deploy_requeued";
    addLine(event.lastEventId, data.message, warn ? "warn" : "");
  });
  source.addEventListener("complete", (event) => {
    const data = JSON.parse(event.data);
    source.close();
    $("bar").value = 100;
    renderPhases("completed", false);
    const link = document.createElement("a");
    link.href = data.url;
    link.textContent = data.url;
    $("result").className = "success";
    $("result").replaceChildren("Your stack is live at ", link, ". Receipt: ", receipt(data.headHash));
    addLine(event.lastEventId, "Deployed at " + data.url, "");
  });
  source.addEventListener("error", (event) => {
    if (!event.data) return; // a dropped connection: EventSource reconnects by itself
    const data = JSON.parse(event.data);
    source.close();
    renderPhases(data.phase, true);
    $("result").className = "failure";
    const rolled = data.rollback === "complete"
      ? "Everything it created was removed."
      : "Rollback incomplete: " + leftOnDokploy(data.leftovers);
    $("result").replaceChildren("The deployment failed: " + data.message + ". " + rolled + " Receipt: ", receipt(data.headHash));
    addLine(event.lastEventId, data.message, "error");
  });
}

// What an incomplete rollback left, in the words the server recorded (DESIGN §6 `leftovers`).
function leftOnDokploy(leftovers) {
  if (!leftovers || leftovers.length === 0) return "some resources could not be removed; the operators have the details.";
  return "left on Dokploy: " + leftovers.map((left) => left.detail).join("; ") + ".";
}

function receipt(hash) {
  const code = document.createElement("code");
  code.textContent = hash;
  return code;
}

document.addEventListener("DOMContentLoaded", () => {
  $("name").addEventListener("input", onInput);
  $("deploy-form").addEventListener("submit", (event) => deploy(event).catch(() => setStatus("The portal could not be reached", "invalid")));
  const resume = new URLSearchParams(location.search).get("d");
  if (resume) follow(resume, "");
});
