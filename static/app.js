// The deploy page: check the name as it is typed, deploy, then follow the deployment over
// SSE. The deployment id goes into the URL, so a reload resumes the same deployment; the
// browser's EventSource resends Last-Event-ID when it reconnects, and lines are keyed by the
// ledger seq, so nothing shows twice. While the deployment waits (for a running slot, for a
// build slot, for Dokploy to answer again) its place shows in a line of its own; the tab that
// started it can cancel it (see "The cancel capability" below).
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
  keepCapability(answer.deploymentId, answer.cancel);
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

// `ended` is "" while it runs, else how the current phase ended: "failed" or "cancelled".
function renderPhases(current, ended) {
  notePhase(current);
  const index = PHASES.findIndex(([key]) => key === current);
  $("phases").replaceChildren(...PHASES.map(([key, title], i) => {
    const item = document.createElement("li");
    item.textContent = title;
    if (ended && i === index) item.className = ended;
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

// The line that says what the deployment waits for, prominently: its place in the admission
// queue ("Queued: 3 ahead of you") or in the line for a build slot, or Dokploy's outage. It
// updates with every such message and goes once the wait is over.
const WAITS = new Set(["admission_waiting", "build_slot_waiting", "outage_waiting"]);
let waitingFor = null;
function showWaiting(data) {
  if (WAITS.has(data.action)) waitingFor = data;
  else if (waitingFor && waitIsOver(waitingFor.action, data)) waitingFor = null;
  const line = $("waiting");
  // The same sentence stays in the live #message for screen readers, but shows only once.
  $("message").classList.toggle("visually-hidden", Boolean(waitingFor));
  line.hidden = !waitingFor;
  line.className = waitingFor ? waitingFor.action : "";
  line.textContent = waitingFor ? waitingFor.message : "";
}

// A build slot's wait ends when the slot is taken or the deployment leaves the Deploying
// phase; the other waits end with the next event of any other kind.
function waitIsOver(waited, data) {
  if (waited !== "build_slot_waiting") return true;
  return data.action === "build_slot_acquired" || data.action === "cancel_requested" || data.phase !== "deploying";
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
  if (!capability) restoreCapability(id);
  renderPhases("initializing", "");
  source = new EventSource("/api/status/" + encodeURIComponent(id));
  source.addEventListener("progress", (event) => {
    const data = JSON.parse(event.data);
    $("bar").value = data.progress;
    $("message").textContent = data.message;
    if (data.phase !== "rolling_back" && data.phase !== "failed") renderPhases(data.phase, "");
    showPlace(data);
    showWaiting(data);
    offerCancel(data);
    const warn = /failed|retry/.test(data.message) || data.action === "deploy_requeued";
    addLine(event.lastEventId, data.message, warn ? "warn" : "");
  });
  source.addEventListener("complete", (event) => {
    const data = JSON.parse(event.data);
    source.close();
    ended();
    $("bar").value = 100;
    renderPhases("completed", "");
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
    ended();
    const cancelled = data.code === "cancelled";
    renderPhases(data.phase, cancelled ? "cancelled" : "failed");
    $("result").className = cancelled ? "cancelled" : "failure";
    $("result").replaceChildren(cancelled ? cancelledText(data) : failedText(data), " Receipt: ", receipt(data.headHash));
    addLine(event.lastEventId, data.message, cancelled ? "warn" : "error");
  });
}

function failedText(data) {
  const rolled = data.rollback === "complete"
    ? "Everything it created was removed."
    : "Rollback incomplete: " + leftOnDokploy(data.leftovers);
  return "The deployment failed: " + data.message + ". " + rolled;
}

// A cancel is not a failure: it says so, and who asked ("cancelled by the person who started
// it", "cancelled by operator NAME: reason").
function cancelledText(data) {
  const rolled = data.rollback === "complete"
    ? "Deployment cancelled — everything it created was removed."
    : "Deployment cancelled, but the rollback is incomplete: " + leftOnDokploy(data.leftovers);
  const who = data.message ? " " + data.message.charAt(0).toUpperCase() + data.message.slice(1) + "." : "";
  return rolled + who;
}

// The deployment is over: nothing waits and nothing can be cancelled any more.
function ended() {
  waitingFor = null;
  $("waiting").hidden = true;
  $("message").classList.remove("visually-hidden");
  dropCapability();
  cancelStep = "over";
  $("cancel-status").textContent = "";
  renderCancel();
}

// The cancel capability: `POST /api/deploy` hands the tab that started a deployment a secret
// that cancels it. It is kept in memory and, so that a reload of this tab can still cancel, in
// sessionStorage under the deployment's id (this tab only); never in localStorage, a cookie or
// the URL. It is dropped once a cancel is recorded or the deployment ends.
const CANCEL_PREFIX = "stackledger.cancel.";
let capability = null;
// offer (the button) -> confirm (the question) -> sending -> over (nothing to offer).
let cancelStep = "offer";
let cancellable = false;

function keepCapability(id, cancel) {
  if (!cancel || typeof cancel.token !== "string" || !/^\/api\/deployments\/[^/]+\/cancel$/.test(cancel.url)) return;
  capability = { id, url: cancel.url, token: cancel.token };
  try {
    sessionStorage.setItem(CANCEL_PREFIX + id, JSON.stringify({ url: cancel.url, token: cancel.token }));
  } catch { /* storage refused: the capability lives in memory only */ }
}

function restoreCapability(id) {
  try {
    const kept = JSON.parse(sessionStorage.getItem(CANCEL_PREFIX + id) || "null");
    if (kept) keepCapability(id, kept);
  } catch { /* nothing usable kept */ }
}

function dropCapability() {
  if (!capability) return;
  try { sessionStorage.removeItem(CANCEL_PREFIX + capability.id); } catch { /* never stored */ }
  capability = null;
}

// The button shows while the deployment runs; not once it fails (its rollback has begun) and
// not once a cancel is recorded, by this tab or by an operator.
function offerCancel(data) {
  if (data.action === "cancel_requested") {
    dropCapability();
    if (cancelStep !== "over") cancelling();
  }
  cancellable = data.status === "in_progress" && data.phase !== "rolling_back" && data.phase !== "failed";
  renderCancel();
}

function renderCancel() {
  const shown = Boolean(capability) && cancellable && cancelStep !== "over";
  const controls = $("cancel-controls");
  // Focus on a button about to vanish moves to the sentence that says what happened.
  if (!shown && controls.contains(document.activeElement)) $("cancel-status").focus();
  controls.hidden = !shown;
  $("cancel").hidden = cancelStep !== "offer";
  $("cancel-confirm").hidden = cancelStep !== "confirm" && cancelStep !== "sending";
  $("cancel-yes").disabled = cancelStep === "sending";
  $("cancel-no").disabled = cancelStep === "sending";
}

function cancelNote(text, kind) {
  $("cancel-status").textContent = text;
  $("cancel-status").className = kind;
}

function cancelling() {
  cancelStep = "over";
  cancelNote("Cancelling… the deployment stops at its next step, then removes what it created.", "pending");
  renderCancel();
}

// A refusal: said plainly; the button comes back only when trying again can help.
function cancelRefused(text, again) {
  cancelNote(text, "refused");
  if (again) {
    cancelStep = "offer";
  } else {
    cancelStep = "over";
    dropCapability();
  }
  renderCancel();
}

async function sendCancel() {
  if (!capability) return;
  cancelStep = "sending";
  renderCancel();
  cancelNote("Sending the cancel…", "pending");
  const response = await fetch(capability.url, {
    method: "POST",
    headers: { "Authorization": "Bearer " + capability.token, "Content-Type": "application/json" },
    body: "{}",
  });
  const answer = await response.json().catch(() => null);
  if (response.status === 202) {
    dropCapability();
    cancelling();
    return;
  }
  const [text, again] = whyRefused(response.status, answer?.error);
  cancelRefused(text, again);
}

// What a cancel's refusal means for the person who pressed the button.
function whyRefused(status, error) {
  const state = error?.state;
  if (status === 409 && state?.cancelled) return ["This deployment is already being cancelled.", false];
  if (status === 409 && state?.status === "in_progress") return ["Too late to cancel: the deployment failed and is already removing what it created.", false];
  if (status === 409) return ["Too late to cancel: the deployment has already finished.", false];
  if (status === 403) return ["The portal refused the cancel: this tab's cancel key is not this deployment's.", false];
  if (status === 401) return ["The portal refused the cancel: it was sent without this deployment's cancel key.", false];
  if (status === 404) return ["The portal does not know this deployment.", false];
  const said = error?.message ? " (" + error.message + ")" : "";
  return ["The cancel did not go through: the portal answered " + status + said + ". Try again.", true];
}

// What an incomplete rollback left, in the words the server recorded (DESIGN §6 `leftovers`).
function leftOnDokploy(leftovers) {
  if (!leftovers || leftovers.length === 0) return "some resources could not be removed; the operators have the details.";
  return "left on Dokploy: " + leftovers.map((left) => left.detail).join("; ") + ".";
}

// A resumed page knows only the deployment's id; the name comes from its summary.
async function nameOf(id) {
  const answer = await fetch("/api/deployment/" + encodeURIComponent(id)).then((r) => r.json());
  if (answer.success && !$("stack-name").textContent) $("stack-name").textContent = answer.deployment.stackName;
}

function receipt(hash) {
  const code = document.createElement("code");
  code.textContent = hash;
  return code;
}

document.addEventListener("DOMContentLoaded", () => {
  $("name").addEventListener("input", onInput);
  $("cancel").addEventListener("click", () => { cancelStep = "confirm"; renderCancel(); $("cancel-yes").focus(); });
  $("cancel-no").addEventListener("click", () => { cancelStep = "offer"; renderCancel(); $("cancel").focus(); });
  $("cancel-yes").addEventListener("click", () => sendCancel().catch(() => cancelRefused("The cancel could not be sent: the portal could not be reached. Try again.", true)));
  $("deploy-form").addEventListener("submit", (event) => deploy(event).catch(() => setStatus("The portal could not be reached", "invalid")));
  const resume = new URLSearchParams(location.search).get("d");
  if (resume) {
    follow(resume, "");
    nameOf(resume).catch(() => { /* the heading stays without the name */ });
  }
});
