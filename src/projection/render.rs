//! The one event renderer: turns each event of a deployment's stream into the sentence a
//! person reads, with its level, its action (the event kind in snake_case) and, where the event
//! says, how long the step took.
//!
//! The deployment's 50-entry log, the replay tool's timeline and the audit page's events
//! ([`crate::projection::view::narrate`]) all read their sentences from here, so one event
//! reads the same everywhere. A [`Narrator`] remembers the little that later sentences need
//! from earlier events of the same stream (the procedure each call number named, how many
//! resources were created, when the deployment was requested), so a stream rendered live and
//! one rendered years later read alike.
//!
//! It never reads a clock or does I/O: every time comes from the envelope. The sentences are a
//! contract of the log view (pages and tests read them): change one only on purpose.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::deployment::{ApiAnswer, Event, EventKind, RollbackOutcome};
use crate::ledger::envelope::Envelope;

mod control;

/// How much a line matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LogLevel {
    /// Progress as planned.
    Info,
    /// Something went wrong and is being handled (a retry, a failed poll, a recovery).
    Warn,
    /// The deployment failed or a rollback step failed.
    Error,
}

/// One event, rendered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// Its level.
    pub level: LogLevel,
    /// The event kind in snake_case (`api_call_failed`).
    pub action: &'static str,
    /// What a person reads.
    pub text: String,
    /// How long the step took, where the event says.
    pub duration_ms: Option<u64>,
    /// What an engineer wants behind the sentence, where it leaves something out: the request
    /// line of a call's intent, the recorded error of a failed call, a failure's code. The log
    /// view shows only `text`; the replay timeline shows both.
    pub note: Option<String>,
}

/// Renders the events of one stream in order, remembering what later sentences refer to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Narrator {
    /// The procedure each call number named (outcomes name their call's procedure).
    endpoints: BTreeMap<u32, String>,
    /// Resources created so far (the rollback's first line counts them).
    created: usize,
    /// When the deployment was requested (unix ms), for the total time of its success.
    requested_at: Option<i64>,
}

/// A sentence with its level, the step's duration and a note, before the action is attached.
struct Said {
    level: LogLevel,
    text: String,
    duration_ms: Option<u64>,
    note: Option<String>,
}

impl Said {
    fn new(level: LogLevel, text: impl Into<String>) -> Self {
        Self {
            level,
            text: text.into(),
            duration_ms: None,
            note: None,
        }
    }

    fn info(text: impl Into<String>) -> Self {
        Self::new(LogLevel::Info, text)
    }

    fn lasting(self, duration_ms: u64) -> Self {
        Self {
            duration_ms: Some(duration_ms),
            ..self
        }
    }

    fn noting(self, note: impl Into<String>) -> Self {
        Self {
            note: Some(note.into()),
            ..self
        }
    }
}

impl Narrator {
    /// Renders the next event of the stream (events must come in stream order).
    pub fn line(&mut self, envelope: &Envelope) -> Line {
        self.remember(envelope);
        let said = self.say(envelope);
        Line {
            level: said.level,
            action: action(envelope.event.kind()),
            text: said.text,
            duration_ms: said.duration_ms,
            note: said.note,
        }
    }

    /// The procedure call number `call` named, if its intent was seen.
    pub fn endpoint(&self, call: u32) -> Option<&str> {
        self.endpoints.get(&call).map(String::as_str)
    }

    /// Every procedure named so far, by call number.
    pub fn endpoints(&self) -> impl Iterator<Item = (u32, &str)> {
        self.endpoints
            .iter()
            .map(|(call, endpoint)| (*call, endpoint.as_str()))
    }

    fn remember(&mut self, envelope: &Envelope) {
        match &envelope.event {
            Event::DeploymentRequested { .. } => self.requested_at = Some(envelope.at),
            Event::ApiCallStarted { call, endpoint, .. } => {
                self.endpoints.insert(*call, endpoint.clone());
            }
            Event::ResourceCreated { .. } => self.created += 1,
            _ => {}
        }
    }

    fn say(&self, envelope: &Envelope) -> Said {
        match &envelope.event {
            Event::DeploymentRequested { name, .. } => {
                Said::info(format!("Deployment of {name} requested"))
            }
            Event::PhaseEntered { phase } => Said::info(format!("{}…", phase.title())),
            Event::ResourceFound { kind, id } => Said::info(format!("Found existing {kind} {id}")),
            Event::ResourceCreated { kind, id } => Said::info(format!("Created {kind} {id}")),
            Event::DeployQueued { title } => Said::info(format!("Deploy queued as {title}")),
            Event::DeployFinished { dokploy_status } => deploy_finished(dokploy_status),
            Event::ApiCallStarted { .. }
            | Event::ApiCallSucceeded { .. }
            | Event::ApiCallFailed { .. } => self.call(&envelope.event),
            Event::HealthCheckAttempt { .. } | Event::HealthVerified { .. } => {
                health(&envelope.event)
            }
            Event::DeploymentSucceeded { .. }
            | Event::DeploymentFailed { .. }
            | Event::RecoveryStarted { .. } => self.outcome(envelope),
            Event::RollbackStarted
            | Event::RollbackStepSucceeded { .. }
            | Event::RollbackStepFailed { .. }
            | Event::RollbackFinished { .. } => self.rollback(&envelope.event),
            Event::CircuitOpened
            | Event::CircuitHalfOpened
            | Event::CircuitClosed
            | Event::ServerStarted { .. }
            | Event::CheckpointTaken { .. } => system(&envelope.event),
            Event::RollbackStepSkipped { kind, id, reason } => Said::new(
                LogLevel::Warn,
                format!("Did not delete {kind} {id}: {reason}"),
            ),
            Event::RollbackVerified { leftovers } => leftovers_said(leftovers),
            Event::DeployStarted { queued_ms, .. } => Said::info(format!(
                "Dokploy started the build after {} in its queue",
                human_ms(*queued_ms)
            )),
            Event::DeployRequeued { reason } => {
                Said::new(LogLevel::Warn, format!("Deploy queued again: {reason}"))
            }
            Event::BuildSlotWaiting { ahead } => Said::info(waiting_for_slot(*ahead)),
            Event::BuildSlotAcquired { .. } => Said::info("Build slot acquired"),
            Event::DeploymentAccepted { .. }
            | Event::AdmissionWaiting { .. }
            | Event::AdmissionGranted { .. }
            | Event::CancelRequested { .. }
            | Event::OutageWaiting { .. }
            | Event::AdminTokenAdded { .. }
            | Event::AdminTokenRevoked { .. }
            | Event::CancelAsked { .. }
            | Event::LedgerExported { .. }
            | Event::LedgerVerified { .. }
            | Event::AuthenticationRefused { .. } => control::said(&envelope.event),
        }
    }

    fn call(&self, event: &Event) -> Said {
        match event {
            Event::ApiCallStarted {
                attempt,
                method,
                endpoint,
                ..
            } => {
                let text = match attempt {
                    1 => format!("Calling {endpoint}"),
                    n => format!("Calling {endpoint} (attempt {n})"),
                };
                Said::info(text).noting(format!("{} {endpoint}", method.as_str()))
            }
            Event::ApiCallSucceeded {
                call,
                status,
                duration_ms,
                answer,
                ..
            } => {
                let endpoint = self.name_of(*call);
                Said::info(format!("{endpoint} answered {status}{}", answered(answer)))
                    .lasting(*duration_ms)
            }
            Event::ApiCallFailed { .. } => self.failed_call(event),
            _ => unreachable!("call renders only API call events"),
        }
    }

    fn failed_call(&self, event: &Event) -> Said {
        let Event::ApiCallFailed {
            call,
            attempt,
            status,
            error,
            duration_ms,
            retry_in_ms,
        } = event
        else {
            unreachable!("failed_call renders only ApiCallFailed");
        };
        let endpoint = self.name_of(*call);
        let what = match status {
            Some(status) => format!("{endpoint} failed with {status}"),
            None => format!("{endpoint} failed: {}", unanswered(error)),
        };
        let said = match retry_in_ms {
            Some(delay) => Said::new(
                LogLevel::Warn,
                format!("{what}, retry {attempt} in {}", human_ms(*delay)),
            ),
            None => Said::new(LogLevel::Error, format!("{what}, giving up")),
        };
        // The sentence never quotes what Dokploy said (the public log shows it); the note
        // keeps the recorded error for the ops timeline.
        let said = said.lasting(*duration_ms);
        if status.is_some() || unanswered(error) != error.as_str() {
            said.noting(error.as_str())
        } else {
            said
        }
    }

    fn outcome(&self, envelope: &Envelope) -> Said {
        match &envelope.event {
            Event::DeploymentSucceeded { url } => {
                let requested_at = self.requested_at.unwrap_or(envelope.at);
                let took = u64::try_from(envelope.at.saturating_sub(requested_at)).unwrap_or(0);
                Said::info(format!("Deployed at {url}")).lasting(took)
            }
            // A cancel is not a failure of the phase: it is said as what it is.
            Event::DeploymentFailed {
                phase,
                code,
                message,
            } if code == "cancelled" => {
                let message = message.strip_prefix("cancelled").unwrap_or(message);
                Said::new(
                    LogLevel::Warn,
                    format!("Cancelled{message} (in {})", phase.as_str()),
                )
                .noting(code.as_str())
            }
            Event::DeploymentFailed {
                phase,
                code,
                message,
            } => Said::new(
                LogLevel::Error,
                format!("{} failed: {message}", phase.title()),
            )
            .noting(code.as_str()),
            Event::RecoveryStarted { reason } => {
                Said::new(LogLevel::Warn, format!("Recovering: {reason}"))
            }
            _ => unreachable!("outcome renders only outcome events"),
        }
    }

    fn rollback(&self, event: &Event) -> Said {
        match event {
            Event::RollbackStarted => Said::new(
                LogLevel::Warn,
                format!("Rolling back {} created resource(s)", self.created),
            ),
            Event::RollbackStepSucceeded { kind, id } => Said::info(format!("Deleted {kind} {id}")),
            Event::RollbackStepFailed { kind, id, error } => Said::new(
                LogLevel::Error,
                format!("Could not delete {kind} {id}: {error}"),
            ),
            Event::RollbackFinished { complete } => Said::new(
                LogLevel::Error,
                match RollbackOutcome::of(*complete) {
                    RollbackOutcome::Complete => "Rollback complete: nothing left behind",
                    RollbackOutcome::Partial => {
                        "Rollback partial: some resources could not be deleted"
                    }
                },
            ),
            _ => unreachable!("rollback renders only rollback events"),
        }
    }

    /// The procedure of `call`, or `call N` when its intent was never seen.
    fn name_of(&self, call: u32) -> String {
        self.endpoint(call)
            .map_or_else(|| format!("call {call}"), str::to_owned)
    }
}

/// A failure without a status, in words that never quote Dokploy: a transport error's cause
/// chain and a bad answer's body preview are left to the note. Our own sentences (a timeout,
/// an answer over the cap, the open breaker) are kept as recorded.
fn unanswered(error: &str) -> &str {
    if error.starts_with("cannot reach Dokploy") {
        "cannot reach Dokploy"
    } else if error.starts_with("unexpected Dokploy response") {
        "Dokploy's answer was not what the procedure returns"
    } else {
        error
    }
}

fn deploy_finished(dokploy_status: &str) -> Said {
    let level = if dokploy_status == "done" {
        LogLevel::Info
    } else {
        LogLevel::Error
    };
    Said::new(level, format!("Dokploy deploy ended: {dokploy_status}"))
}

fn health(event: &Event) -> Said {
    match event {
        Event::HealthCheckAttempt {
            n,
            status,
            error,
            duration_ms,
        } => {
            let said = match (status, error) {
                (Some(200), _) => Said::info(format!("Health check {n}: 200")),
                (Some(status), _) => {
                    Said::new(LogLevel::Warn, format!("Health check {n}: {status}"))
                }
                (None, Some(error)) => {
                    Said::new(LogLevel::Warn, format!("Health check {n} failed: {error}"))
                }
                (None, None) => Said::new(LogLevel::Warn, format!("Health check {n} failed")),
            };
            said.lasting(*duration_ms)
        }
        Event::HealthVerified { after_ms } => {
            Said::info(format!("Healthy after {}", human_ms(*after_ms))).lasting(*after_ms)
        }
        _ => unreachable!("health renders only health events"),
    }
}

/// The system stream's events (they never enter a deployment's log, but read the same).
fn system(event: &Event) -> Said {
    match event {
        Event::CircuitOpened => Said::new(
            LogLevel::Warn,
            "Circuit breaker opened: Dokploy calls fail fast",
        ),
        Event::CircuitHalfOpened => Said::info("Circuit breaker half-open: one probe may pass"),
        Event::CircuitClosed => Said::info("Circuit breaker closed"),
        Event::ServerStarted { version } => Said::info(format!("Server {version} started")),
        Event::CheckpointTaken { through_seq, .. } => {
            Said::info(format!("Checkpoint taken through seq {through_seq}"))
        }
        _ => unreachable!("system renders only system events"),
    }
}

/// What a rollback's verification found, in one line.
fn leftovers_said(leftovers: &[crate::deployment::Leftover]) -> Said {
    if leftovers.is_empty() {
        return Said::info("Rollback verified: nothing is left on Dokploy");
    }
    let items: Vec<String> = leftovers.iter().map(|left| left.detail.clone()).collect();
    Said::new(
        LogLevel::Warn,
        format!("Rollback verified: left on Dokploy: {}", items.join("; ")),
    )
}

/// The place in the portal's build line, in words.
fn waiting_for_slot(ahead: u32) -> String {
    match ahead {
        0 => "Waiting for a build slot: next in line".to_owned(),
        1 => "Waiting for a build slot: 1 deployment ahead".to_owned(),
        n => format!("Waiting for a build slot: {n} deployments ahead"),
    }
}

/// A short account of what a call answered.
fn answered(answer: &ApiAnswer) -> String {
    match answer {
        ApiAnswer::Empty => String::new(),
        ApiAnswer::Project(None) | ApiAnswer::Application(None) | ApiAnswer::Domain(None) => {
            ": not found".to_owned()
        }
        ApiAnswer::Project(Some(project)) => format!(": project {}", project.project_id),
        ApiAnswer::Application(Some(app)) => format!(": application {}", app.application_id),
        ApiAnswer::Domain(Some(id)) => format!(": domain {id}"),
        ApiAnswer::Deployments(rows) => match rows.first() {
            Some(row) => format!(": {} deployment(s), newest {}", rows.len(), row.status),
            None => ": no deployments".to_owned(),
        },
        ApiAnswer::ProjectServices(services) => format!(": {} service(s)", services.len()),
    }
}

/// The `action` of a line: the event kind in snake_case.
pub fn action(kind: EventKind) -> &'static str {
    match kind {
        EventKind::DeploymentRequested => "deployment_requested",
        EventKind::PhaseEntered => "phase_entered",
        EventKind::ApiCallStarted => "api_call_started",
        EventKind::ApiCallSucceeded => "api_call_succeeded",
        EventKind::ApiCallFailed => "api_call_failed",
        EventKind::ResourceFound => "resource_found",
        EventKind::ResourceCreated => "resource_created",
        EventKind::DeployQueued => "deploy_queued",
        EventKind::DeployFinished => "deploy_finished",
        EventKind::HealthCheckAttempt => "health_check_attempt",
        EventKind::HealthVerified => "health_verified",
        EventKind::DeploymentSucceeded => "deployment_succeeded",
        EventKind::DeploymentFailed => "deployment_failed",
        EventKind::RollbackStarted => "rollback_started",
        EventKind::RollbackStepSucceeded => "rollback_step_succeeded",
        EventKind::RollbackStepFailed => "rollback_step_failed",
        EventKind::RollbackFinished => "rollback_finished",
        EventKind::RecoveryStarted => "recovery_started",
        EventKind::CircuitOpened => "circuit_opened",
        EventKind::CircuitHalfOpened => "circuit_half_opened",
        EventKind::CircuitClosed => "circuit_closed",
        EventKind::ServerStarted => "server_started",
        EventKind::RollbackStepSkipped => "rollback_step_skipped",
        EventKind::RollbackVerified => "rollback_verified",
        EventKind::DeployStarted => "deploy_started",
        EventKind::DeployRequeued => "deploy_requeued",
        EventKind::BuildSlotWaiting => "build_slot_waiting",
        EventKind::BuildSlotAcquired => "build_slot_acquired",
        EventKind::DeploymentAccepted => "deployment_accepted",
        EventKind::AdmissionWaiting => "admission_waiting",
        EventKind::AdmissionGranted => "admission_granted",
        EventKind::CancelRequested => "cancel_requested",
        EventKind::OutageWaiting => "outage_waiting",
        EventKind::AdminTokenAdded => "admin_token_added",
        EventKind::AdminTokenRevoked => "admin_token_revoked",
        EventKind::CancelAsked => "cancel_asked",
        EventKind::LedgerExported => "ledger_exported",
        EventKind::LedgerVerified => "ledger_verified",
        EventKind::AuthenticationRefused => "authentication_refused",
        EventKind::CheckpointTaken => "checkpoint_taken",
    }
}

/// Formats a duration in milliseconds the way the pages show it ("4 s", "1.5 s", "250 ms").
pub fn human_ms(ms: u64) -> String {
    if ms < 1_000 {
        format!("{ms} ms")
    } else if ms.is_multiple_of(1_000) {
        format!("{} s", ms / 1_000)
    } else {
        format!("{:.1} s", ms as f64 / 1_000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_failure_without_status_never_quotes_what_dokploy_sent() {
        let mut narrator = Narrator::default();
        let stream = crate::ids::DeploymentId::from_uuid(uuid::Uuid::from_u128(1));
        let started = Event::ApiCallStarted {
            call: 1,
            attempt: 1,
            method: crate::deployment::HttpMethod::Get,
            endpoint: "project.search".into(),
        };
        narrator.line(&crate::projection::fixture::envelope(stream, 1, 1, started));
        let failed = |error: &str| Event::ApiCallFailed {
            call: 1,
            attempt: 1,
            status: None,
            error: error.into(),
            duration_ms: 3,
            retry_in_ms: None,
        };
        let bad = "unexpected Dokploy response to project.search: expected value (body starts \"<html>oops\")";
        let line = narrator.line(&crate::projection::fixture::envelope(
            stream,
            2,
            2,
            failed(bad),
        ));
        assert_eq!(
            line.text,
            "project.search failed: Dokploy's answer was not what the procedure returns, giving up"
        );
        assert_eq!(
            line.note.as_deref(),
            Some(bad),
            "the timeline keeps the detail"
        );
        let timeout = "Dokploy did not answer within 30000 ms";
        let line = narrator.line(&crate::projection::fixture::envelope(
            stream,
            3,
            3,
            failed(timeout),
        ));
        assert_eq!(
            line.text,
            format!("project.search failed: {timeout}, giving up")
        );
    }
    use crate::deployment::{
        ApplicationAnswer, DeploymentRow, HttpMethod, Phase, ProjectAnswer, ResourceId,
        ResourceKind,
    };
    use crate::projection::fixture::{requested, stream};

    fn envelope(seq: u64, at: i64, event: Event) -> Envelope {
        crate::projection::fixture::envelope(stream(7), seq, at, event)
    }

    fn id(text: &str) -> ResourceId {
        ResourceId(text.to_owned())
    }

    /// Renders `events` in order through one narrator.
    fn lines(events: Vec<Event>) -> Vec<Line> {
        let mut narrator = Narrator::default();
        (1..)
            .zip(events)
            .map(|(seq, event)| narrator.line(&envelope(seq, 1_000 * seq as i64, event)))
            .collect()
    }

    fn said(line: &Line) -> (LogLevel, &str, Option<u64>, Option<&str>) {
        (
            line.level,
            line.text.as_str(),
            line.duration_ms,
            line.note.as_deref(),
        )
    }

    fn started(call: u32, attempt: u32) -> Event {
        Event::ApiCallStarted {
            call,
            attempt,
            method: HttpMethod::Post,
            endpoint: "application.create".into(),
        }
    }

    fn failed(call: u32, status: Option<u16>, retry_in_ms: Option<u64>) -> Event {
        Event::ApiCallFailed {
            call,
            attempt: 1,
            status,
            error: "Service Unavailable".into(),
            duration_ms: 31,
            retry_in_ms,
        }
    }

    #[test]
    fn narrator_words_a_call_with_the_procedure_its_intent_named() {
        let answer = ApiAnswer::Application(Some(ApplicationAnswer {
            application_id: id("app1"),
            app_name: None,
        }));
        let rendered = lines(vec![
            started(4, 1),
            failed(4, Some(503), Some(1_500)),
            started(4, 2),
            Event::ApiCallSucceeded {
                call: 4,
                attempt: 2,
                status: 200,
                duration_ms: 12,
                answer,
            },
            failed(9, None, None),
        ]);
        let expected = [
            (
                LogLevel::Info,
                "Calling application.create",
                None,
                Some("POST application.create"),
            ),
            (
                LogLevel::Warn,
                "application.create failed with 503, retry 1 in 1.5 s",
                Some(31),
                Some("Service Unavailable"),
            ),
            (
                LogLevel::Info,
                "Calling application.create (attempt 2)",
                None,
                Some("POST application.create"),
            ),
            (
                LogLevel::Info,
                "application.create answered 200: application app1",
                Some(12),
                None,
            ),
            (
                LogLevel::Error,
                "call 9 failed: Service Unavailable, giving up",
                Some(31),
                None,
            ),
        ];
        assert_eq!(rendered.iter().map(said).collect::<Vec<_>>(), expected);
        assert_eq!(rendered[1].action, "api_call_failed");
    }

    #[test]
    fn narrator_words_each_answer_of_a_successful_call() {
        let project = ProjectAnswer {
            project_id: id("prj1"),
            environment_id: None,
        };
        let row = DeploymentRow {
            deployment_id: id("d1"),
            title: "t".into(),
            status: "done".into(),
        };
        let cases = [
            (ApiAnswer::Empty, "x answered 200"),
            (ApiAnswer::Project(None), "x answered 200: not found"),
            (
                ApiAnswer::Project(Some(project)),
                "x answered 200: project prj1",
            ),
            (
                ApiAnswer::Domain(Some(id("dom1"))),
                "x answered 200: domain dom1",
            ),
            (
                ApiAnswer::Deployments(vec![]),
                "x answered 200: no deployments",
            ),
            (
                ApiAnswer::Deployments(vec![row]),
                "x answered 200: 1 deployment(s), newest done",
            ),
        ];
        for (answer, text) in cases {
            let intent = Event::ApiCallStarted {
                call: 1,
                attempt: 1,
                method: HttpMethod::Get,
                endpoint: "x".into(),
            };
            let outcome = Event::ApiCallSucceeded {
                call: 1,
                attempt: 1,
                status: 200,
                duration_ms: 1,
                answer,
            };
            assert_eq!(lines(vec![intent, outcome])[1].text, text);
        }
    }

    #[test]
    fn narrator_words_the_forward_steps_of_a_deployment() {
        let rendered = lines(vec![
            requested("shop"),
            Event::PhaseEntered {
                phase: Phase::CreatingProject,
            },
            Event::ResourceFound {
                kind: ResourceKind::Environment,
                id: id("env1"),
            },
            Event::DeployQueued { title: "t1".into() },
            Event::DeployFinished {
                dokploy_status: "error".into(),
            },
            Event::HealthCheckAttempt {
                n: 3,
                status: None,
                error: Some("refused".into()),
                duration_ms: 4,
            },
            Event::HealthCheckAttempt {
                n: 4,
                status: Some(502),
                error: None,
                duration_ms: 5,
            },
            Event::HealthVerified { after_ms: 4_000 },
            Event::DeploymentSucceeded {
                url: "https://shop.example".into(),
            },
        ]);
        let expected = [
            (LogLevel::Info, "Deployment of shop requested", None, None),
            (LogLevel::Info, "Creating project…", None, None),
            (
                LogLevel::Info,
                "Found existing environment env1",
                None,
                None,
            ),
            (LogLevel::Info, "Deploy queued as t1", None, None),
            (LogLevel::Error, "Dokploy deploy ended: error", None, None),
            (
                LogLevel::Warn,
                "Health check 3 failed: refused",
                Some(4),
                None,
            ),
            (LogLevel::Warn, "Health check 4: 502", Some(5), None),
            (LogLevel::Info, "Healthy after 4 s", Some(4_000), None),
            // Requested at 1 s, succeeded at 9 s: the whole deployment took 8 s.
            (
                LogLevel::Info,
                "Deployed at https://shop.example",
                Some(8_000),
                None,
            ),
        ];
        assert_eq!(rendered.iter().map(said).collect::<Vec<_>>(), expected);
    }

    #[test]
    fn narrator_counts_what_a_rollback_undoes_and_words_its_outcome() {
        let created = |name: &str| Event::ResourceCreated {
            kind: ResourceKind::Project,
            id: id(name),
        };
        let rendered = lines(vec![
            created("p1"),
            created("p2"),
            Event::DeploymentFailed {
                phase: Phase::Deploying,
                code: "deploy_failed".into(),
                message: "the build failed".into(),
            },
            Event::RollbackStarted,
            Event::RollbackStepFailed {
                kind: ResourceKind::Project,
                id: id("p2"),
                error: "busy".into(),
            },
            Event::RollbackStepSucceeded {
                kind: ResourceKind::Project,
                id: id("p1"),
            },
            Event::RollbackFinished { complete: false },
            Event::RecoveryStarted {
                reason: "restart".into(),
            },
        ]);
        let expected = [
            (LogLevel::Info, "Created project p1", None, None),
            (LogLevel::Info, "Created project p2", None, None),
            (
                LogLevel::Error,
                "Deploying failed: the build failed",
                None,
                Some("deploy_failed"),
            ),
            (
                LogLevel::Warn,
                "Rolling back 2 created resource(s)",
                None,
                None,
            ),
            (
                LogLevel::Error,
                "Could not delete project p2: busy",
                None,
                None,
            ),
            (LogLevel::Info, "Deleted project p1", None, None),
            (
                LogLevel::Error,
                "Rollback partial: some resources could not be deleted",
                None,
                None,
            ),
            (LogLevel::Warn, "Recovering: restart", None, None),
        ];
        assert_eq!(rendered.iter().map(said).collect::<Vec<_>>(), expected);
        let complete = lines(vec![Event::RollbackFinished { complete: true }]);
        assert_eq!(complete[0].text, "Rollback complete: nothing left behind");
    }

    #[test]
    fn human_ms_reads_naturally() {
        assert_eq!(human_ms(250), "250 ms");
        assert_eq!(human_ms(4_000), "4 s");
        assert_eq!(human_ms(1_500), "1.5 s");
    }
}
