//! The scripted scenario behind `events/golden/control.log` (issue 13): deadlines, cancels, the
//! admission queue, an outage wait and operator actions, appended exactly as the orchestrator
//! and the HTTP layer of this version write them, on a portal run with `--running-max=1`,
//! `--deployment-deadline=2m` and `--deploy-poll-interval=5s` (every other setting default).
//!
//! Four deployments, requested in this order: `quill` runs at once and is cancelled by the
//! operator `alice` while Dokploy builds it (the in-flight poll finishes first, the rollback waits
//! the build out); `moth` is cancelled by its requester while it waits in the queue, so it
//! ends at once; `wren` waits behind them (2 ahead, then 1, then none), meets an outage (the
//! breaker opens on its own failures), waits instead of failing, and succeeds; `lark` waits
//! longest, is admitted with its deadline near, and a hung `domain.create` outlasts it:
//! `deadline_exceeded`, rolled back. On the ops stream: two named tokens added, the cancel
//! asked (and asked again once it is over), a flood of wrong tokens counted per minute, an
//! export, a verification and a revocation. Together with `scenario.rs` and `scenario_queue.rs`
//! they use every event kind. Once blessed this script must never change: the log is history.

use stackledger::clock::{Clock, rfc3339};
use stackledger::deployment::HttpMethod::{Get, Post};
use stackledger::deployment::ResourceKind::{Application, Domain, Environment, Project};
use stackledger::deployment::{
    ApiAnswer, ApplicationAnswer, DeploymentRow, Event, Phase, ProjectAnswer, ResourceId,
    ResourceKind,
};
use stackledger::ids::{DeploymentId, Seq};
use stackledger::secret::token_hash;
use uuid::Uuid;

use super::scenario::{Script, rid, script};
use super::{T0, TestLedger, append, phase};

/// Cancelled by an operator during its build.
pub(crate) const QUILL: DeploymentId = id(0x0190_0000_0000_7000_8000_0000_0000_0021);
/// Cancelled by its requester while queued.
pub(crate) const MOTH: DeploymentId = id(0x0190_0000_0000_7000_8000_0000_0000_0022);
/// Queued, waits out an outage, succeeds.
pub(crate) const WREN: DeploymentId = id(0x0190_0000_0000_7000_8000_0000_0000_0023);
/// Passes its deadline and is rolled back.
pub(crate) const LARK: DeploymentId = id(0x0190_0000_0000_7000_8000_0000_0000_0024);

/// `--deployment-deadline=2m`.
const DEADLINE_MS: u64 = 120_000;
/// `--deploy-poll-interval=5s`.
const POLL_MS: i64 = 5_000;
/// The breaker's default open period (`--breaker-open-for=60s`).
const OPEN_MS: i64 = 60_000;

/// What a mutation without a result answers.
const EMPTY: ApiAnswer = ApiAnswer::Empty;

/// Keyed hashes of the clients (16 hex digits, as the portal writes them).
const ADMIN_CLIENT: &str = "3c9e1f0a7b2d4e68";
const ALICE_CLIENT: &str = "a1d4c3e2f5b60718";
const BOB_CLIENT: &str = "b0b5e7d1c2a39f84";
const FLOOD_CLIENT: &str = "f100d5e6a7b8c9d0";
const PUBLIC_CLIENT: &str = "5e1f0c2a9b7d3e48";

const fn id(n: u128) -> DeploymentId {
    DeploymentId::from_uuid(Uuid::from_u128(n))
}

/// The unix ms of 13:`min`:`sec`.`ms` on the scenario's day (the clock starts at 13:09:20).
const fn at(min: i64, sec: i64, ms: i64) -> i64 {
    T0 + ((min - 9) * 60 + (sec - 20)) * 1_000 + ms
}

/// Moves the clock on to `unix_ms`.
fn wait_until(test: &TestLedger, unix_ms: i64) {
    let now = test.clock.now_ms();
    assert!(unix_ms >= now, "the scenario's clock never goes back");
    let ahead = u64::try_from(unix_ms - now).expect("not negative");
    test.clock.advance(std::time::Duration::from_millis(ahead));
}

/// Moves the clock on by `ms`.
fn pause(test: &TestLedger, ms: i64) {
    wait_until(test, test.clock.now_ms() + ms);
}

fn since(test: &TestLedger, from_ms: i64) -> u64 {
    u64::try_from(test.clock.now_ms() - from_ms).expect("the clock never goes back")
}

/// Writes the scenario into an empty ledger.
pub(crate) async fn write(test: &TestLedger) {
    let version = env!("CARGO_PKG_VERSION").to_owned();
    let system = script(test, DeploymentId::SYSTEM);
    system.say(Event::ServerStarted { version }, None, 0).await;
    let ops = script(test, DeploymentId::OPS);
    let hash = token_hash("golden-alice-token-5be1a0c47d2e93f6");
    let alice = token_added("alice", hash, "admin", ADMIN_CLIENT);
    ops.say(alice, None, 11_000).await;
    let hash = token_hash("golden-bob-token-e7d04c19a6b5f382");
    let bob = token_added("bob", hash, "alice", ALICE_CLIENT);
    ops.say(bob, None, 1_500).await;
    quill_builds(test).await;
    let failure = queue_and_cancels(test).await;
    rollback(test, QUILL, "quill", failure, 14, true).await;
    wren(test).await;
    lark_and_operators(test).await;
}

fn token_added(name: &str, hash: String, by: &str, client: &str) -> Event {
    Event::AdminTokenAdded {
        name: name.to_owned(),
        hash,
        by: by.to_owned(),
        client: client.to_owned(),
    }
}

/// A Dokploy id this scenario's `name` owns (`prj`, `env`, `app`, `dom`, `dpl`).
fn own(kind: &str, name: &str) -> ResourceId {
    rid(&format!("{kind}_{name}_00000000001"))
}

fn created(kind: ResourceKind, id: ResourceId) -> Event {
    Event::ResourceCreated { kind, id }
}

fn undone(kind: ResourceKind, id: ResourceId) -> Event {
    Event::RollbackStepSucceeded { kind, id }
}

fn answered(call: u32, attempt: u32, duration_ms: u64, answer: ApiAnswer) -> Event {
    Event::ApiCallSucceeded {
        call,
        attempt,
        status: 200,
        duration_ms,
        answer,
    }
}

/// An attempt failed after `ms`: `call` is (call, attempt), `status` None when no answer
/// came, `next` the wait before the next attempt (None: given up).
fn refused(
    call: (u32, u32),
    status: Option<u16>,
    error: &str,
    ms: u64,
    next: Option<u64>,
) -> Event {
    Event::ApiCallFailed {
        call: call.0,
        attempt: call.1,
        status,
        error: error.to_owned(),
        duration_ms: ms,
        retry_in_ms: next,
    }
}

fn failed(phase: Phase, code: &str, message: String) -> Event {
    Event::DeploymentFailed {
        phase,
        code: code.to_owned(),
        message,
    }
}

fn cancel(by: &str, client: &str, reason: &str) -> Event {
    let (by, client, reason) = (by.to_owned(), client.to_owned(), reason.to_owned());
    Event::CancelRequested { by, client, reason }
}

fn cancel_asked(deployment: DeploymentId, outcome: &str) -> Event {
    Event::CancelAsked {
        deployment,
        by: "operator:alice".to_owned(),
        client: ALICE_CLIENT.to_owned(),
        outcome: outcome.to_owned(),
    }
}

/// When the deadline of a deployment requested at `requested_ms` passes.
fn deadline_of(requested_ms: i64) -> i64 {
    requested_ms + i64::try_from(DEADLINE_MS).expect("small")
}

/// `DeploymentRequested` and `DeploymentAccepted` in one append, at `unix_ms`.
async fn accept(test: &TestLedger, id: DeploymentId, name: &str, unix_ms: i64) {
    wait_until(test, unix_ms);
    let requested = Event::DeploymentRequested {
        name: name.to_owned(),
        image: "ghcr.io/flexinit/agent-stack:latest".to_owned(),
        domain: format!("{name}.ai.flexinit.nl"),
        port: 8080,
        client: PUBLIC_CLIENT.to_owned(),
        server_version: env!("CARGO_PKG_VERSION").to_owned(),
    };
    let accepted = Event::DeploymentAccepted {
        deadline_ms: DEADLINE_MS,
        deadline_at_ms: deadline_of(unix_ms),
        cancel_hash: token_hash(&format!("golden-capability-of-{name}")),
    };
    append(&test.ledger, id, vec![requested, accepted]).await;
}

/// After the project search: the project created, its environment found, the application
/// created and configured, the domain looked up (calls from `call`).
async fn to_domain_lookup(s: &Script<'_>, name: &str, call: u32) {
    let project = ProjectAnswer {
        project_id: own("prj", name),
        environment_id: Some(own("env", name)),
    };
    let answer = ApiAnswer::Project(Some(project));
    s.call(call, Post, "project.create", answer).await;
    s.say(created(Project, own("prj", name)), None, 1).await;
    s.say(phase(Phase::GettingEnvironment), None, 1).await;
    let found = Event::ResourceFound {
        kind: Environment,
        id: own("env", name),
    };
    s.say(found, None, 1).await;
    s.say(phase(Phase::CreatingApplication), None, 1).await;
    let none = ApiAnswer::Application(None);
    let call = call + 1;
    s.call(call, Get, "environment.one", none).await;
    let app = ApplicationAnswer {
        application_id: own("app", name),
        app_name: Some(format!("{name}-k3v9qd")),
    };
    let answer = ApiAnswer::Application(Some(app));
    s.call(call + 1, Post, "application.create", answer).await;
    let app = created(Application, own("app", name));
    s.say(app, None, 1).await;
    s.say(phase(Phase::ConfiguringApplication), None, 1).await;
    let provider = "application.saveDockerProvider";
    s.call(call + 2, Post, provider, EMPTY).await;
    s.say(phase(Phase::CreatingDomain), None, 1).await;
    let lookup = ApiAnswer::Domain(None);
    s.call(call + 3, Get, "domain.byApplicationId", lookup)
        .await;
}

fn row(id: DeploymentId, name: &str, status: &str) -> ApiAnswer {
    ApiAnswer::Deployments(vec![DeploymentRow {
        deployment_id: own("dpl", name),
        title: format!("stackledger {id}"),
        status: status.to_owned(),
    }])
}

/// From the project to the domain, then the build starts (the first poll finds its row).
async fn forward_to_build(test: &TestLedger, id: DeploymentId, name: &str, after_search: u32) {
    let s = script(test, id);
    to_domain_lookup(&s, name, after_search + 1).await;
    let answer = ApiAnswer::Domain(Some(own("dom", name)));
    s.call(after_search + 6, Post, "domain.create", answer)
        .await;
    s.say(created(Domain, own("dom", name)), None, 1).await;
    s.say(phase(Phase::Deploying), None, 1).await;
    let slot = Event::BuildSlotAcquired { waited_ms: 0 };
    s.say(slot, None, 1).await;
    let deploy = after_search + 7;
    s.call(deploy, Post, "application.deploy", EMPTY).await;
    let title = format!("stackledger {id}");
    s.say(Event::DeployQueued { title }, None, 1).await;
    let queued_at = test.clock.now_ms();
    let poll = row(id, name, "running");
    s.call(deploy + 1, Get, "deployment.all", poll).await;
    let started = Event::DeployStarted {
        deployment_id: own("dpl", name),
        queued_ms: since(test, queued_at) + 1,
    };
    s.say(started, None, 1).await;
}

/// `quill`: admitted at once, through its phases; Dokploy builds it, polled every 5 s.
async fn quill_builds(test: &TestLedger) {
    accept(test, QUILL, "quill", at(10, 0, 0)).await;
    let s = script(test, QUILL);
    s.say(Event::AdmissionGranted { waited_ms: 0 }, None, 2)
        .await;
    s.say(phase(Phase::CreatingProject), None, 15).await;
    let search = ApiAnswer::Project(None);
    s.call(1, Get, "project.search", search).await;
    forward_to_build(test, QUILL, "quill", 1).await;
    poll_running(test, 10).await;
}

/// One poll of quill's build, `POLL_MS` after the last answer.
async fn poll_running(test: &TestLedger, call: u32) {
    wait_until(test, last_at(test, QUILL) + POLL_MS + 1);
    let poll = row(QUILL, "quill", "running");
    let s = script(test, QUILL);
    s.call(call, Get, "deployment.all", poll).await;
}

/// When the last event of `stream` was appended.
fn last_at(test: &TestLedger, stream: DeploymentId) -> i64 {
    let events = test.ledger.read_stream(stream, Seq::ZERO, usize::MAX);
    let events = events.expect("reads");
    events.last().expect("the stream has events").at
}

/// `moth`, `wren` and `lark` join the queue; moth's requester cancels it; quill's build is
/// polled until the operator cancels it during a poll. Returns quill's failure seq.
async fn queue_and_cancels(test: &TestLedger) -> u64 {
    let quill = script(test, QUILL);
    let waiting = |ahead| Event::AdmissionWaiting { ahead };
    accept(test, MOTH, "moth", at(10, 8, 0)).await;
    script(test, MOTH).say(waiting(0), None, 2).await;
    accept(test, WREN, "wren", at(10, 9, 500)).await;
    script(test, WREN).say(waiting(1), None, 2).await;
    poll_running(test, 11).await;
    accept(test, LARK, "lark", at(10, 11, 0)).await;
    script(test, LARK).say(waiting(2), None, 2).await;
    moth_cancelled(test).await;
    script(test, WREN).say(waiting(0), None, 1).await;
    script(test, LARK).say(waiting(1), None, 0).await;
    poll_running(test, 12).await;
    wait_until(test, last_at(test, QUILL) + POLL_MS);
    let in_flight = quill.started(13, 1, Get, "deployment.all").await;
    let asked = cancel("operator:alice", ALICE_CLIENT, "wrong image tag");
    let asked = quill.say(asked, None, 31).await;
    let ops = script(test, DeploymentId::OPS);
    ops.say(cancel_asked(QUILL, "accepted"), None, 3).await;
    let poll = answered(13, 1, 38, row(QUILL, "quill", "running"));
    quill.say(poll, Some(in_flight), 4).await;
    let message = "cancelled by operator alice: wrong image tag".to_owned();
    let stopped = failed(Phase::Deploying, "cancelled", message);
    quill.say(stopped, Some(asked), 2).await
}

/// The requester presses Cancel while moth waits: it called nothing, so it ends at once.
async fn moth_cancelled(test: &TestLedger) {
    wait_until(test, at(10, 14, 0));
    let s = script(test, MOTH);
    let asked = s.say(cancel("requester", PUBLIC_CLIENT, ""), None, 0).await;
    let message = "cancelled by the person who started it".to_owned();
    let stopped = failed(Phase::Initializing, "cancelled", message);
    let failure = s.say(stopped, Some(asked), 2).await;
    s.say(Event::RollbackStarted, Some(failure), 1).await;
    nothing_left(&s, failure, 1).await;
}

/// The end of a rollback that leaves nothing (verified `after_ms` after the last step).
async fn nothing_left(s: &Script<'_>, failure: u64, after_ms: u64) {
    let verified = Event::RollbackVerified { leftovers: vec![] };
    s.say(verified, Some(failure), after_ms).await;
    let finished = Event::RollbackFinished { complete: true };
    s.say(finished, Some(failure), 1).await;
}

/// The rollback of `id` after `failure`, calls from `call`: the domain, the build waited out
/// (when it was sent), the application, the project once verified empty, then each looked up
/// again (the probe of the public URL is not an event).
async fn rollback(
    test: &TestLedger,
    id: DeploymentId,
    name: &str,
    failure: u64,
    call: u32,
    build: bool,
) {
    let s = script(test, id);
    let f = Some(failure);
    s.say(Event::RollbackStarted, f, 8).await;
    s.call(call, Post, "domain.delete", EMPTY).await;
    s.say(undone(Domain, own("dom", name)), f, 3).await;
    let mut call = call + 1;
    if build {
        s.call(call, Get, "deployment.all", row(id, name, "running"))
            .await;
        pause(test, POLL_MS);
        s.call(call + 1, Get, "deployment.all", row(id, name, "done"))
            .await;
        let dokploy_status = "done".to_owned();
        s.say(Event::DeployFinished { dokploy_status }, f, 1).await;
        call += 2;
    }
    s.call(call, Post, "application.delete", EMPTY).await;
    s.say(undone(Application, own("app", name)), f, 2).await;
    let empty = ApiAnswer::ProjectServices(vec![]);
    s.call(call + 1, Get, "project.one", empty).await;
    s.call(call + 2, Post, "project.remove", EMPTY).await;
    s.say(undone(Project, own("prj", name)), f, 1).await;
    for (n, kind) in (call + 3..).zip([Domain, Application, Project]) {
        let started = s.started(n, 1, Get, &format!("{kind}.one")).await;
        let what = match kind {
            Domain => "Domain",
            Application => "Application",
            _ => "Project",
        };
        let error = format!("Dokploy answered 404: {what} not found");
        s.say(
            refused((n, 1), Some(404), &error, 2, None),
            Some(started),
            2,
        )
        .await;
    }
    nothing_left(&s, failure, 2).await;
}

/// `wren`: admitted once quill is over, its project search meets an outage (five 503s open
/// the breaker), it waits for the breaker instead of failing, then goes on and succeeds.
async fn wren(test: &TestLedger) {
    let (s, system) = (script(test, WREN), script(test, DeploymentId::SYSTEM));
    let waited_ms = since(test, at(10, 9, 502)) + 2;
    s.say(Event::AdmissionGranted { waited_ms }, None, 2).await;
    let waiting = Event::AdmissionWaiting { ahead: 0 };
    script(test, LARK).say(waiting, None, 1).await;
    s.say(phase(Phase::CreatingProject), None, 2).await;
    let mut opened_at = 0;
    for (attempt, delay) in (1..).zip([412, 1_377, 2_954, 6_021, 9_730]) {
        let started = s.started(1, attempt, Get, "project.search").await;
        let error = "Dokploy answered 503: Service Unavailable";
        let failed = refused((1, attempt), Some(503), error, 9, Some(delay));
        let failure = s.say(failed, Some(started), 9).await;
        if attempt == 5 {
            system.say(Event::CircuitOpened, Some(failure), 0).await;
            opened_at = test.clock.now_ms();
        }
        pause(test, i64::try_from(delay).expect("small"));
    }
    // Attempt 6 is refused by the open breaker: the first refusal of the outage is recorded.
    let left = opened_at + OPEN_MS - test.clock.now_ms();
    let waiting = Event::OutageWaiting {
        retry_in_ms: u64::try_from(left).expect("still open"),
        gives_up_at_ms: deadline_of(at(10, 9, 500)),
    };
    s.say(waiting, None, 2).await;
    during_the_outage(test).await;
    // Call 2 is refused too (not an event); the run waits until the breaker lets a probe by.
    wait_until(test, opened_at + OPEN_MS + 1);
    system.say(Event::CircuitHalfOpened, None, 0).await;
    let started = s.started(3, 1, Get, "project.search").await;
    let probe = answered(3, 1, 14, ApiAnswer::Project(None));
    let probe = s.say(probe, Some(started), 14).await;
    system.say(Event::CircuitClosed, Some(probe), 1).await;
    forward_to_build(test, WREN, "wren", 3).await;
    wren_succeeds(test).await;
}

/// wren's build is done at the next poll, and its app answers its first health poll.
async fn wren_succeeds(test: &TestLedger) {
    let s = script(test, WREN);
    pause(test, POLL_MS);
    s.call(12, Get, "deployment.all", row(WREN, "wren", "done"))
        .await;
    let dokploy_status = "done".to_owned();
    s.say(Event::DeployFinished { dokploy_status }, None, 1)
        .await;
    s.say(phase(Phase::VerifyingHealth), None, 1).await;
    let poll = Event::HealthCheckAttempt {
        n: 1,
        status: Some(200),
        error: None,
        duration_ms: 21,
    };
    s.say(poll, None, 21).await;
    s.say(Event::HealthVerified { after_ms: 22 }, None, 1).await;
    let url = "https://wren.ai.flexinit.nl".to_owned();
    s.say(Event::DeploymentSucceeded { url }, None, 1).await;
}

/// While wren waits out the outage: alice presses Cancel on quill again (it is over: nothing
/// changes), then a flood of wrong tokens begins; its first refusal is recorded at once, the
/// rest of the minute only counted.
async fn during_the_outage(test: &TestLedger) {
    let ops = script(test, DeploymentId::OPS);
    wait_until(test, at(11, 0, 500));
    ops.say(cancel_asked(QUILL, "not_cancellable"), None, 0)
        .await;
    wait_until(test, at(11, 5, 300));
    ops.say(refusals(1), None, 0).await;
}

/// The flood client's refusals in the minute from 13:11.
fn refusals(refused: u32) -> Event {
    Event::AuthenticationRefused {
        client: FLOOD_CLIENT.to_owned(),
        refused,
        window_start_ms: at(11, 0, 0),
    }
}

/// `lark` is admitted with its deadline near; its `domain.create` hangs past it (the call
/// runs to its own timeout, is reconciled and retried), and at the next step boundary it
/// fails `deadline_exceeded` and is rolled back. Meanwhile the operators act (see
/// [`operators`]); once lark is over, alice revokes bob's token.
async fn lark_and_operators(test: &TestLedger) {
    let s = script(test, LARK);
    let waited_ms = since(test, at(10, 11, 2)) + 1;
    s.say(Event::AdmissionGranted { waited_ms }, None, 1).await;
    s.say(phase(Phase::CreatingProject), None, 2).await;
    s.call(1, Get, "project.search", ApiAnswer::Project(None))
        .await;
    to_domain_lookup(&s, "lark", 2).await;
    let hung = s.started(7, 1, Post, "domain.create").await;
    let sent_at = test.clock.now_ms();
    operators(test).await;
    wait_until(test, sent_at + 30_001);
    let error = "Dokploy did not answer within 30000 ms";
    let timed_out = refused((7, 1), None, error, 30_001, Some(641));
    s.say(timed_out, Some(hung), 0).await;
    pause(test, 641);
    let lookup = ApiAnswer::Domain(None);
    s.call(8, Get, "domain.byApplicationId", lookup).await;
    let retried = s.started(7, 2, Post, "domain.create").await;
    let domain = answered(7, 2, 16, ApiAnswer::Domain(Some(own("dom", "lark"))));
    s.say(domain, Some(retried), 16).await;
    s.say(created(Domain, own("dom", "lark")), None, 1).await;
    let at_ = rfc3339(deadline_of(at(10, 11, 0)));
    let message = format!("the deployment passed its deadline, at {at_}; it is rolled back");
    let stopped = failed(Phase::CreatingDomain, "deadline_exceeded", message);
    let failure = s.say(stopped, None, 2).await;
    rollback(test, LARK, "lark", failure, 9, false).await;
    let (name, by, client) = ("bob".into(), "alice".into(), ALICE_CLIENT.into());
    let revoked = Event::AdminTokenRevoked { name, by, client };
    wait_until(test, at(12, 40, 0));
    script(test, DeploymentId::OPS).say(revoked, None, 0).await;
}

/// During lark's hung call: alice's export first records the flood's minute, which is over
/// (the admin check closes it), then what it read; then bob verifies the log.
async fn operators(test: &TestLedger) {
    let ops = script(test, DeploymentId::OPS);
    wait_until(test, at(12, 5, 0));
    let through = ops.say(refusals(249), None, 0).await;
    let exported = Event::LedgerExported {
        by: "alice".to_owned(),
        client: ALICE_CLIENT.to_owned(),
        after: 0,
        through,
    };
    let last_seq = ops.say(exported, None, 37).await;
    let verified = Event::LedgerVerified {
        by: "bob".to_owned(),
        client: BOB_CLIENT.to_owned(),
        ok: true,
        last_seq,
    };
    ops.say(verified, None, 1_200).await;
}
