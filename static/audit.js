// The audit page: the admin token is kept for this tab only (sessionStorage); deployments are
// listed newest first with filters and paging; one deployment's timeline groups the attempts of
// each call (a badge counts the retries), shows health polls, and links each rollback step to
// the failure it undoes (the event's cause). Each event's sentence is the server's own (the
// `text` the events endpoint gives, the same as the deployment's log); the page words an event
// itself only when a server does not send it. A portal started read-only (--read-only) gets a
// banner with the damage its /health names; server text is only ever set as textContent.
// The "Operator actions" view lists the ops stream newest first (who exported, verified,
// added or revoked a token, asked a cancel, and the counted refused logins), in the server's
// words.
"use strict";

const $ = (id) => document.getElementById(id);
let next = null;
let nextAction = null;

function token() {
  return sessionStorage.getItem("stackledger-admin-token") || "";
}

async function api(path) {
  const response = await fetch(path, { headers: { Authorization: "Bearer " + token() } });
  if (response.status === 401) throw new Error("unauthorized");
  if (!response.ok) throw new Error("the portal answered " + response.status);
  return response;
}

function cell(text) {
  const td = document.createElement("td");
  td.textContent = text;
  return td;
}

async function load(reset) {
  const query = new URLSearchParams({ limit: "20" });
  if ($("status-filter").value) query.set("status", $("status-filter").value);
  if ($("name-filter").value.trim()) query.set("name", $("name-filter").value.trim());
  if (!reset && next) query.set("before", next);
  const page = await (await api("/api/deployments?" + query)).json();
  if (reset) $("rows").replaceChildren();
  for (const deployment of page.deployments) {
    const row = document.createElement("tr");
    const name = document.createElement("td");
    const link = document.createElement("a");
    link.href = "#" + deployment.id;
    link.textContent = deployment.stackName;
    link.addEventListener("click", (event) => { event.preventDefault(); show(deployment).catch(report); });
    name.append(link);
    const status = deployment.status + (deployment.rollback === "partial" ? " (rollback incomplete)" : "");
    row.append(name, cell(status), cell(deployment.phase), cell(deployment.started), cell(String(deployment.retries)));
    $("rows").append(row);
  }
  next = page.next;
  $("more").hidden = !next;
}

// The operator actions, newest first; `reset` starts again from the newest.
async function loadActions(reset) {
  const query = new URLSearchParams({ limit: "20" });
  if (!reset && nextAction) query.set("before", nextAction);
  const page = await (await api("/api/operator-actions?" + query)).json();
  if (reset) $("action-rows").replaceChildren();
  for (const action of page.actions) {
    const row = document.createElement("tr");
    row.className = "action " + action.kind;
    row.append(cell(String(action.seq)), cell(action.at), cell(action.kind.replaceAll("_", " ")),
      cell(action.by ?? "—"), cell(action.client ?? "—"), cell(action.text));
    $("action-rows").append(row);
  }
  nextAction = page.next ?? null;
  $("more-actions").hidden = !nextAction;
  $("operator-actions").hidden = false;
}

function eventName(envelope) {
  return typeof envelope.event === "string" ? envelope.event : Object.keys(envelope.event)[0];
}

// Only for a server that sends no `text`: a short wording of the event's own fields.
function composed(kind, data) {
  if (kind === "PhaseEntered") return "Phase: " + data.phase;
  if (kind === "HealthCheckAttempt") return "Health poll " + data.n + ": " + (data.status ?? data.error);
  if (kind === "DeploymentFailed") return "Failed in " + data.phase + " (" + data.code + "): " + data.message;
  if (kind.startsWith("Rollback") && data.kind) return kind.replace("Rollback", "Rollback ") + ": " + data.kind + " " + data.id;
  return kind;
}

// One list item per call number: its latest sentence (or endpoint and outcome), and a badge
// counting the retries.
function callItem(call) {
  call.item.textContent = call.text ?? call.endpoint + " → " + call.outcome;
  if (call.attempts > 1) {
    const badge = document.createElement("span");
    badge.className = "badge retry";
    badge.textContent = (call.attempts - 1) + " retr" + (call.attempts === 2 ? "y" : "ies");
    call.item.append(" ", badge);
  }
}

function eventItem(envelope, kind, data, bySeq) {
  const item = document.createElement("li");
  item.id = "seq-" + envelope.seq;
  item.className = kind.startsWith("Rollback") ? "rollback" : kind === "HealthCheckAttempt" ? "health" : "";
  item.textContent = "#" + envelope.seq + " " + (envelope.text ?? composed(kind, data));
  if (envelope.cause && bySeq.has(envelope.cause) && kind.startsWith("Rollback")) {
    const link = document.createElement("a");
    link.href = "#seq-" + envelope.cause;
    link.textContent = " (undoes #" + envelope.cause + ")";
    item.append(link);
  }
  return item;
}

// An incomplete rollback, as the ops list carries it: the steps not taken and what is left.
function showLeftBehind(deployment) {
  const skipped = deployment.skippedSteps || [];
  const leftovers = deployment.leftovers || [];
  const box = $("left-behind");
  box.hidden = deployment.rollback !== "partial" && skipped.length === 0 && leftovers.length === 0;
  if (box.hidden) return;
  const heading = document.createElement("p");
  heading.textContent = leftovers.length ? "Rollback incomplete: left on Dokploy:" : "Rollback incomplete.";
  const list = document.createElement("ul");
  for (const left of leftovers) {
    const item = document.createElement("li");
    item.textContent = left.kind + (left.id ? " " + left.id : "") + ": " + left.detail;
    list.append(item);
  }
  for (const step of skipped) {
    const item = document.createElement("li");
    item.textContent = "Not deleted: " + step.kind + " " + step.id + ": " + step.reason;
    list.append(item);
  }
  box.replaceChildren(heading, list);
}

async function show(deployment) {
  const { events } = await (await api("/api/deployments/" + deployment.id + "/events")).json();
  $("detail").hidden = false;
  $("detail-title").textContent = deployment.stackName + " (" + deployment.status + ")";
  $("receipt").textContent = deployment.headHash;
  showLeftBehind(deployment);
  const items = [];
  const calls = new Map();
  const bySeq = new Map();
  for (const envelope of events) {
    const kind = eventName(envelope);
    const data = envelope.event[kind] || {};
    if (kind === "ApiCallStarted") {
      let call = calls.get(data.call);
      if (!call) {
        call = { item: document.createElement("li"), attempts: 0, endpoint: data.endpoint, outcome: "" };
        call.item.className = "call";
        calls.set(data.call, call);
        items.push(call.item);
      }
      call.attempts = data.attempt;
      call.text = envelope.text;
    } else if (kind === "ApiCallSucceeded" || kind === "ApiCallFailed") {
      const call = calls.get(data.call);
      if (call) {
        call.outcome = kind === "ApiCallSucceeded" ? String(data.status) : "failed " + (data.status ?? data.error);
        call.text = envelope.text;
      }
    } else {
      items.push(eventItem(envelope, kind, data, bySeq));
    }
    bySeq.set(envelope.seq, kind);
  }
  for (const call of calls.values()) callItem(call);
  $("timeline").replaceChildren(...items);
}

function report(error) {
  if (error.message === "unauthorized") {
    sessionStorage.removeItem("stackledger-admin-token");
    $("deployments").hidden = true;
    $("operator-actions").hidden = true;
    $("detail").hidden = true;
    $("token-status").textContent = "That token was refused.";
    $("token-status").className = "status invalid";
  } else {
    $("token-status").textContent = error.message;
  }
}

async function open(event) {
  if (event) event.preventDefault();
  sessionStorage.setItem("stackledger-admin-token", $("token").value.trim());
  await load(true);
  $("token-status").textContent = "";
  $("deployments").hidden = false;
  await loadActions(true);
}

async function verify() {
  const answer = await (await api("/api/ledger/verify")).json();
  $("verify-result").textContent = answer.ok
    ? "The ledger verifies: " + answer.events + " events, head " + answer.headHash
    : answer.damage ?? "The ledger is damaged at event " + answer.firstBadSeq;
  await loadActions(true);
}

// /health is public: the banner shows before any token is given.
async function readOnlyBanner() {
  const response = await fetch("/health");
  if (!response.ok) return;
  const { ledger } = await response.json();
  if (!ledger?.readOnly) return;
  const served = ledger.intactTo > 0 ? "events 1–" + ledger.intactTo + " are served" : "no event is served";
  const found = ledger.damage ? "Damage found: " + ledger.damage : "The ledger verified whole.";
  $("read-only").textContent = "This portal is read-only (--read-only), for an audit: it refuses deploys and "
    + served + ". " + found;
  $("read-only").hidden = false;
}

async function exportLedger(event) {
  event.preventDefault();
  const blob = await (await api("/api/ledger/events?limit=10000")).blob();
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = "stackledger-ledger.ndjson";
  link.click();
  await loadActions(true);
}

document.addEventListener("DOMContentLoaded", () => {
  readOnlyBanner().catch(() => {});
  $("token-form").addEventListener("submit", (event) => open(event).catch(report));
  $("filters").addEventListener("submit", (event) => { event.preventDefault(); load(true).catch(report); });
  $("more").addEventListener("click", () => load(false).catch(report));
  $("more-actions").addEventListener("click", () => loadActions(false).catch(report));
  $("verify").addEventListener("click", () => verify().catch(report));
  $("export").addEventListener("click", (event) => exportLedger(event).catch(report));
  if (token()) open(null).catch(report);
});
