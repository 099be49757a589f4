//! The JSON shapes the read side serves: a deployment (DESIGN §5, `GET /api/deployment/:id`),
//! built from a [`DeploymentState`], and a deployment's events with their sentences (the audit
//! page's data, `GET /api/deployments/:id/events`). Times are RFC 3339 in UTC with
//! milliseconds, computed from the envelope's unix milliseconds.
//!
//! It never reads a clock, and never words an event itself: every sentence is the renderer's.

use serde::Serialize;

use crate::clock::rfc3339;
use crate::deployment::{DeploymentStatus, Leftover, Phase, ResourceId, RollbackOutcome};
use crate::ledger::envelope::Envelope;
use crate::projection::deployment::{DeploymentState, Resources};
use crate::projection::logs::LogEntry;
use crate::projection::render::{LogLevel, Narrator};

/// `resources` of the view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourcesView {
    /// Dokploy `projectId`.
    pub project_id: Option<String>,
    /// Dokploy `environmentId`.
    pub environment_id: Option<String>,
    /// Dokploy `applicationId`.
    pub application_id: Option<String>,
    /// Dokploy `domainId`.
    pub domain_id: Option<String>,
}

/// `timestamps` of the view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TimestampsView {
    /// When it was requested.
    pub started: String,
    /// When it succeeded or finished rolling back.
    pub completed: Option<String>,
}

/// `error` of the view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErrorView {
    /// The phase that failed.
    pub phase: Phase,
    /// What a person reads.
    pub message: String,
    /// A stable snake_case code.
    pub code: String,
}

/// One entry of `logs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LogEntryView {
    /// When.
    pub timestamp: String,
    /// info, warn or error.
    pub level: LogLevel,
    /// The phase at the time.
    pub phase: Phase,
    /// The event kind, snake_case.
    pub action: &'static str,
    /// What a person reads.
    pub message: String,
    /// How long the step took, where known.
    pub duration_ms: Option<u64>,
}

/// A deployment as the HTTP API and the replay tool show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentView {
    /// `dep_<32 hex>`.
    pub id: String,
    /// The stack name.
    pub stack_name: String,
    /// The current phase.
    pub phase: Phase,
    /// in_progress, success or failure.
    pub status: DeploymentStatus,
    /// Percent done.
    pub progress: u8,
    /// The latest message.
    pub message: String,
    /// The current step's title.
    pub current_step: String,
    /// The stack's URL.
    pub url: String,
    /// Dokploy resources in use.
    pub resources: ResourcesView,
    /// Requested and finished times.
    pub timestamps: TimestampsView,
    /// Why it failed, if it did.
    pub error: Option<ErrorView>,
    /// `complete` or `partial` once a rollback finished.
    pub rollback: Option<RollbackOutcome>,
    /// What the rollback's verification found left on Dokploy: `[{kind, id, detail}]`; the
    /// field is absent when nothing is left (or there was no rollback).
    // Left out when empty, so that a deployment recorded before leftovers existed (every
    // released ledger) is served exactly as before.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub leftovers: Vec<Leftover>,
    /// The last 50 log lines, oldest first.
    pub logs: Vec<LogEntryView>,
    /// The seq of the deployment's last event.
    pub last_seq: u64,
    /// The hash of the deployment's last event (the receipt).
    pub head_hash: String,
}

impl DeploymentView {
    /// The view of `state`.
    pub fn of(state: &DeploymentState) -> Self {
        Self {
            id: state.id.to_string(),
            stack_name: state.name.clone(),
            phase: state.phase,
            status: state.status,
            progress: state.progress,
            message: state.message().to_owned(),
            current_step: state.current_step.clone(),
            url: state.url.clone(),
            resources: ResourcesView::of(&state.resources),
            timestamps: TimestampsView {
                started: rfc3339(state.started_at),
                completed: state.completed_at.map(rfc3339),
            },
            error: state.error.as_ref().map(|failure| ErrorView {
                phase: failure.phase,
                message: failure.message.clone(),
                code: failure.code.clone(),
            }),
            rollback: state.rollback_outcome(),
            leftovers: state.leftovers().to_vec(),
            logs: state.logs().iter().map(LogEntryView::of).collect(),
            last_seq: state.last_seq.0,
            head_hash: state.head_hash.to_string(),
        }
    }
}

impl ResourcesView {
    /// The view of `resources`.
    pub fn of(resources: &Resources) -> Self {
        let id = |value: &Option<ResourceId>| value.as_ref().map(|id| id.0.clone());
        Self {
            project_id: id(&resources.project_id),
            environment_id: id(&resources.environment_id),
            application_id: id(&resources.application_id),
            domain_id: id(&resources.domain_id),
        }
    }
}

impl LogEntryView {
    /// The view of one log line.
    pub fn of(entry: &LogEntry) -> Self {
        Self {
            timestamp: rfc3339(entry.at),
            level: entry.line.level,
            phase: entry.phase,
            action: entry.line.action,
            message: entry.line.text.clone(),
            duration_ms: entry.line.duration_ms,
        }
    }
}

/// One event of `GET /api/deployments/:id/events`: the envelope as stored, with the sentence
/// the deployment's log shows for it (`text`) and its `level`.
#[derive(Debug, Clone, Serialize)]
pub struct NarratedEvent<'a> {
    /// The envelope, its fields at the top level as before.
    #[serde(flatten)]
    pub envelope: &'a Envelope,
    /// What a person reads.
    pub text: String,
    /// info, warn or error.
    pub level: LogLevel,
}

/// Every event of one stream, oldest first, each with its sentence: the audit page's data.
pub fn narrate(events: &[Envelope]) -> Vec<NarratedEvent<'_>> {
    let mut narrator = Narrator::default();
    events
        .iter()
        .map(|envelope| {
            let line = narrator.line(envelope);
            NarratedEvent {
                envelope,
                text: line.text,
                level: line.level,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deployment::{Event, HttpMethod};
    use crate::projection::fixture::{envelope, requested, stream};

    #[test]
    fn narrate_adds_text_and_level_beside_the_envelope_fields() {
        let intent = Event::ApiCallStarted {
            call: 1,
            attempt: 1,
            method: HttpMethod::Post,
            endpoint: "application.create".into(),
        };
        let failed = Event::ApiCallFailed {
            call: 1,
            attempt: 1,
            status: Some(503),
            error: "Service Unavailable".into(),
            duration_ms: 31,
            retry_in_ms: Some(1_000),
        };
        let events = vec![
            envelope(stream(7), 1, 0, requested("shop")),
            envelope(stream(7), 2, 5, intent),
            envelope(stream(7), 3, 9, failed),
        ];
        let json = serde_json::to_value(narrate(&events)).expect("serializes");
        for (narrated, envelope) in json.as_array().expect("a list").iter().zip(&events) {
            let mut plain = serde_json::to_value(envelope).expect("serializes");
            let object = plain.as_object_mut().expect("an object");
            object.insert("text".into(), narrated["text"].clone());
            object.insert("level".into(), narrated["level"].clone());
            assert_eq!(
                narrated, &plain,
                "the envelope's own fields stay as they were"
            );
        }
        assert_eq!(json[0]["text"], "Deployment of shop requested");
        assert_eq!(
            json[2]["text"],
            "application.create failed with 503, retry 1 in 1 s"
        );
        assert_eq!(json[2]["level"], "warn");
    }
}
