//! Test fixtures of the saga core: histories of events (given), what the step just executed
//! did (when), and a small pure driver that runs the core against a scripted Dokploy to the
//! end (no runtime, no clock, no I/O).

use std::time::Duration;

use crate::deployment::plan::{
    CallFailure, Executed, FailureClass, Probe, RecoveryPolicy, Settings, Step, next,
};
use crate::deployment::saga::SagaState;
use crate::deployment::{
    ApiAnswer, ApplicationAnswer, DeploymentRow, Event, Phase, ProjectAnswer, Request, ResourceId,
    ResourceKind,
};
use crate::ids::{DeploymentId, Seq};

mod queue;
pub(super) use queue::*;

/// When the deployment was requested.
pub(super) const T0: i64 = 1_000_000;

pub(super) fn id() -> DeploymentId {
    DeploymentId::from_uuid(uuid::Uuid::from_u128(7))
}

pub(super) fn rid(text: &str) -> ResourceId {
    ResourceId(text.to_owned())
}

pub(super) fn settings() -> Settings {
    Settings {
        image: "nginx:1.27".to_owned(),
        health_url: "http://sim/{name}/health".to_owned(),
        ..Settings::default()
    }
}

pub(super) fn rolling_back_on_recovery() -> Settings {
    Settings {
        recovery: RecoveryPolicy::Rollback,
        ..settings()
    }
}

/// A history: events with their times, folded either by the run that wrote them (`live`) or
/// by a run that resumes after them (`resumed`).
#[derive(Clone)]
pub(super) struct History {
    events: Vec<(i64, Event)>,
    now: i64,
}

/// A history that begins with the request of `shop` at [`T0`].
pub(super) fn given(events: impl IntoIterator<Item = Event>) -> History {
    let mut history = History {
        events: vec![(T0, requested())],
        now: T0,
    };
    history.events.extend(events.into_iter().map(|e| (T0, e)));
    history
}

impl History {
    /// More events, `after_ms` later.
    pub(super) fn then(mut self, after_ms: i64, events: impl IntoIterator<Item = Event>) -> Self {
        self.now += after_ms;
        let now = self.now;
        self.events.extend(events.into_iter().map(|e| (now, e)));
        self
    }

    /// The state of the run that wrote these events (it began at [`T0`]).
    pub(super) fn live(&self) -> SagaState {
        let (first, rest) = self.events.split_first().expect("a request");
        let mut state = SagaState::start(id(), Seq(1), &first.1).expect("a request");
        state.begin_run(T0);
        // The run holds its running slot (the admission queue is tested on its own).
        state.run.admitted_ms = Some(T0);
        for (n, (at, event)) in rest.iter().enumerate() {
            state.apply(Seq(n as u64 + 2), *at, event);
        }
        state
    }

    /// The state of a run resuming after these events, begun at `now_ms`.
    pub(super) fn resumed(&self, now_ms: i64) -> SagaState {
        let events = self
            .events
            .iter()
            .enumerate()
            .map(|(n, (at, event))| (Seq(n as u64 + 1), *at, event));
        let mut state = SagaState::fold(id(), events).expect("a request");
        state.begin_run(now_ms);
        state.run.admitted_ms = Some(now_ms);
        state
    }

    /// The state of a run that has just begun at `now_ms` and holds no running slot yet.
    pub(super) fn unadmitted(&self, now_ms: i64) -> SagaState {
        let mut state = self.resumed(now_ms);
        state.run.admitted_ms = None;
        state
    }
}

pub(super) fn requested() -> Event {
    Event::DeploymentRequested {
        name: "shop".into(),
        image: "nginx:1.27".into(),
        domain: "shop.ai.flexinit.nl".into(),
        port: 8080,
        client: "c".into(),
        server_version: "0.1.0".into(),
    }
}

pub(super) fn phase(phase: Phase) -> Event {
    Event::PhaseEntered { phase }
}

/// A call's intent and its successful outcome.
pub(super) fn call(number: u32, request: &Request, answer: ApiAnswer) -> [Event; 2] {
    [
        started(number, request),
        Event::ApiCallSucceeded {
            call: number,
            attempt: 1,
            status: 200,
            duration_ms: 3,
            answer,
        },
    ]
}

/// A call's intent alone: its answer was lost.
pub(super) fn started(number: u32, request: &Request) -> Event {
    Event::ApiCallStarted {
        call: number,
        attempt: 1,
        method: request.method(),
        endpoint: request.procedure().name().to_owned(),
    }
}

pub(super) fn found(kind: ResourceKind, id: &str) -> Event {
    Event::ResourceFound { kind, id: rid(id) }
}

pub(super) fn created(kind: ResourceKind, id: &str) -> Event {
    Event::ResourceCreated { kind, id: rid(id) }
}

pub(super) fn project(id: &str, environment: Option<&str>) -> ApiAnswer {
    ApiAnswer::Project(Some(ProjectAnswer {
        project_id: rid(id),
        environment_id: environment.map(rid),
    }))
}

pub(super) fn application(id: &str) -> ApiAnswer {
    ApiAnswer::Application(Some(ApplicationAnswer {
        application_id: rid(id),
        app_name: None,
    }))
}

pub(super) fn domain(id: &str) -> ApiAnswer {
    ApiAnswer::Domain(Some(rid(id)))
}

pub(super) fn rows(title: &str, status: &str) -> ApiAnswer {
    ApiAnswer::Deployments(vec![DeploymentRow {
        deployment_id: rid("row1"),
        title: title.to_owned(),
        status: status.to_owned(),
    }])
}

pub(super) fn title() -> String {
    format!("stackledger {}", id())
}

pub(super) fn find_project() -> Request {
    Request::FindProject {
        name: "shop".into(),
    }
}

pub(super) fn create_project() -> Request {
    Request::CreateProject {
        name: "shop".into(),
    }
}

pub(super) fn find_application() -> Request {
    Request::FindApplication {
        environment_id: rid("env1"),
        name: "shop".into(),
    }
}

pub(super) fn create_application() -> Request {
    Request::CreateApplication {
        environment_id: rid("env1"),
        name: "shop".into(),
    }
}

pub(super) fn save() -> Request {
    Request::SaveDockerProvider {
        application_id: rid("app1"),
        image: "nginx:1.27".into(),
    }
}

pub(super) fn find_domain() -> Request {
    Request::FindDomain {
        application_id: rid("app1"),
        host: "shop.ai.flexinit.nl".into(),
    }
}

pub(super) fn create_domain() -> Request {
    Request::CreateDomain {
        application_id: rid("app1"),
        host: "shop.ai.flexinit.nl".into(),
        port: 8080,
    }
}

pub(super) fn deploy() -> Request {
    Request::Deploy {
        application_id: rid("app1"),
        title: title(),
    }
}

pub(super) fn list() -> Request {
    Request::ListDeployments {
        application_id: rid("app1"),
    }
}

/// Everything up to a configured application (project, environment and application created).
pub(super) fn configured() -> Vec<Event> {
    let mut events = vec![phase(Phase::CreatingProject)];
    events.extend(call(1, &find_project(), ApiAnswer::Project(None)));
    events.extend(call(2, &create_project(), project("prj1", Some("env1"))));
    events.push(created(ResourceKind::Project, "prj1"));
    events.push(phase(Phase::GettingEnvironment));
    events.push(found(ResourceKind::Environment, "env1"));
    events.push(phase(Phase::CreatingApplication));
    events.extend(call(3, &find_application(), ApiAnswer::Application(None)));
    events.extend(call(4, &create_application(), application("app1")));
    events.push(created(ResourceKind::Application, "app1"));
    events.push(phase(Phase::ConfiguringApplication));
    events.extend(call(5, &save(), ApiAnswer::Empty));
    events
}

/// Everything up to a queued deploy (the domain created too).
pub(super) fn queued() -> Vec<Event> {
    let mut events = configured();
    events.push(phase(Phase::CreatingDomain));
    events.extend(call(6, &find_domain(), ApiAnswer::Domain(None)));
    events.extend(call(7, &create_domain(), domain("dom1")));
    events.push(created(ResourceKind::Domain, "dom1"));
    events.push(phase(Phase::Deploying));
    events.extend(call(8, &deploy(), ApiAnswer::Empty));
    events.push(Event::DeployQueued { title: title() });
    events
}

/// The call answered `answer`.
pub(super) fn answered(request: Request, answer: ApiAnswer) -> Executed {
    Executed::Called {
        request,
        result: Ok(answer),
    }
}

/// The call failed for good with `class`.
pub(super) fn refused(request: Request, class: FailureClass) -> Executed {
    Executed::Called {
        request,
        result: Err(CallFailure {
            class,
            message: format!("failure {class:?}"),
        }),
    }
}

pub(super) fn probed(status: Option<u16>) -> Executed {
    Executed::Probed(Probe {
        status,
        error: status.is_none().then(|| "connection refused".to_owned()),
        duration_ms: 4,
    })
}

/// A `Record` step without a cause.
pub(super) fn record(event: Event) -> Step {
    Step::Record { event, cause: None }
}

/// A `Record` step caused by the event at `seq`.
pub(super) fn record_caused(event: Event, seq: u64) -> Step {
    Step::Record {
        event,
        cause: Some(Seq(seq)),
    }
}

pub(super) fn call_step(request: Request) -> Step {
    Step::Call {
        request,
        rollback_step: false,
    }
}

pub(super) fn failure(phase: Phase, code: &str, message: &str) -> Step {
    record(Event::DeploymentFailed {
        phase,
        code: code.to_owned(),
        message: message.to_owned(),
    })
}

/// The code of the `DeploymentFailed` a step records, if it records one.
pub(super) fn failure_code(step: &Step) -> Option<(Phase, &str)> {
    match step {
        Step::Record {
            event: Event::DeploymentFailed { phase, code, .. },
            ..
        } => Some((*phase, code.as_str())),
        _ => None,
    }
}

/// Runs the core from `state` to its end against `dokploy` (which answers each request, and
/// each health probe when given `None`: any answer is a 200, a failure a 503), the way the
/// orchestrator does: every call is one attempt, recorded as intent and outcome. Returns the
/// events appended, in order, and the final step.
pub(super) fn run_to_end(
    state: SagaState,
    settings: &Settings,
    mut dokploy: impl FnMut(Option<&Request>) -> Result<ApiAnswer, CallFailure>,
) -> (Vec<Event>, Step) {
    let mut driver = Driver {
        seq: state.last_seq.0,
        now: state.run.started_ms,
        call: state.last_call,
        state,
        appended: Vec::new(),
    };
    let mut executed = Executed::Nothing;
    for _ in 0..1_000 {
        executed = match next(&driver.state, settings, driver.now, &executed) {
            Step::Record { event, .. } => {
                driver.fold(event);
                Executed::Recorded
            }
            Step::Call { request, .. } => {
                driver.call += 1;
                let result = dokploy(Some(&request));
                driver.called(&request, &result);
                Executed::Called { request, result }
            }
            Step::Probe { .. } => probed(Some(if dokploy(None).is_ok() { 200 } else { 503 })),
            Step::Wait(duration) => {
                driver.now += i64::try_from(duration.as_millis()).expect("a short wait");
                Executed::Waited
            }
            Step::AcquireBuildSlot => Executed::SlotAcquired { waited_ms: 0 },
            Step::Admit => Executed::Admitted { waited_ms: 0 },
            finish @ Step::Finish(_) => return (driver.appended, finish),
        };
    }
    panic!(
        "the saga did not finish within 1000 steps: {:#?}",
        driver.appended
    );
}

struct Driver {
    state: SagaState,
    seq: u64,
    now: i64,
    call: u32,
    appended: Vec<Event>,
}

impl Driver {
    /// Records one attempt as the caller does: the intent, then its outcome; a call the
    /// breaker refused records nothing (it was never sent).
    fn called(&mut self, request: &Request, result: &Result<ApiAnswer, CallFailure>) {
        let outcome = match result {
            Ok(answer) => call(self.call, request, answer.clone())[1].clone(),
            Err(CallFailure {
                class: FailureClass::Unavailable { .. },
                ..
            }) => return,
            Err(failure) => Event::ApiCallFailed {
                call: self.call,
                attempt: 1,
                status: match failure.class {
                    FailureClass::Status { status } => Some(status),
                    FailureClass::NoRoute => Some(404),
                    _ => None,
                },
                error: failure.message.clone(),
                duration_ms: 3,
                retry_in_ms: None,
            },
        };
        self.fold(started(self.call, request));
        self.fold(outcome);
    }

    fn fold(&mut self, event: Event) {
        self.seq += 1;
        self.state.apply(Seq(self.seq), self.now, &event);
        self.appended.push(event);
    }
}

/// The kind of each event, for comparing sequences.
pub(super) fn kinds(events: &[Event]) -> Vec<crate::deployment::EventKind> {
    events.iter().map(Event::kind).collect()
}

/// A Dokploy where nothing exists yet and everything works: lookups find nothing, creates
/// answer new ids, the deploy is done on the first poll, and health answers 200.
pub(super) fn empty_dokploy(request: Option<&Request>) -> Result<ApiAnswer, CallFailure> {
    Ok(match request {
        None => ApiAnswer::Empty,
        Some(Request::FindProject { .. }) => ApiAnswer::Project(None),
        Some(Request::CreateProject { .. }) => project("prj1", Some("env1")),
        Some(Request::FindApplication { .. }) => ApiAnswer::Application(None),
        Some(Request::CreateApplication { .. }) => application("app1"),
        Some(Request::FindDomain { .. }) => ApiAnswer::Domain(None),
        Some(Request::CreateDomain { .. }) => domain("dom1"),
        Some(Request::ListDeployments { .. }) => rows(&title(), "done"),
        Some(_) => ApiAnswer::Empty,
    })
}

/// Seconds as a wait.
pub(super) fn secs(secs: u64) -> Duration {
    Duration::from_secs(secs)
}

/// One row: a name, the state, the time, what was just executed, the step expected.
/// Asserts the step after each row's execution, for one state at one time: rows are
/// (when: what was just executed, then: the step expected, why).
pub(super) fn after(state: &SagaState, now_ms: i64, rows: Vec<(Executed, Step, &str)>) {
    let settings = settings();
    for (executed, expected, why) in rows {
        assert_eq!(next(state, &settings, now_ms, &executed), expected, "{why}");
    }
}
