//! `timeline`: every event of one deployment with its time offset, phase, call, attempt,
//! sentence and duration (DESIGN §7); retries, health polls, failures and rollback steps carry
//! a mark so they stand out.
//!
//! Sentences come from the server's one renderer (`projection::render`), so a row reads as the
//! deployment's log line for the same event; the timeline adds the call and attempt numbers
//! (what `redrive --override CALL=STATUS` takes) and the renderer's note. It never reads
//! anything but the events it is given, and never words an event itself.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use serde::Serialize;
use stackledger::deployment::Event;
use stackledger::ids::DeploymentId;
use stackledger::ledger::envelope::Envelope;
use stackledger::projection::render::human_ms;
use stackledger::projection::{DeploymentState, Line, LogLevel, Narrator};

/// One row of the timeline (the `--json` form, camelCase).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Row {
    seq: u64,
    offset_ms: i64,
    phase: &'static str,
    kind: &'static str,
    cause: Option<u64>,
    mark: &'static str,
    level: LogLevel,
    text: String,
    note: Option<String>,
    duration_ms: Option<u64>,
    call: Option<u32>,
    attempt: Option<u32>,
    /// The plain form's last column: `call N attempt M: ` before a call's sentence, the note
    /// after ` — `.
    detail: String,
}

/// `timeline`: the rows of deployment `id`, as text or JSON.
pub(crate) fn timeline(
    events: &[Envelope],
    id: DeploymentId,
    json: bool,
    out: &mut impl Write,
) -> anyhow::Result<ExitCode> {
    let own: Vec<&Envelope> = events.iter().filter(|e| e.stream == id).collect();
    let rows = rows(&own).with_context(|| format!("no deployment {id} in this log"))?;
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(&rows)?)?;
    } else {
        for row in &rows {
            writeln!(out, "{}", plain(row))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The rows of one stream's events, in order; None when the stream does not open with its
/// request.
fn rows(own: &[&Envelope]) -> Option<Vec<Row>> {
    let (first, rest) = own.split_first()?;
    let mut state = DeploymentState::start(first)?;
    let mut narrator = Narrator::default();
    let mut rows = vec![row(first, first.at, &state, narrator.line(first))];
    for envelope in rest {
        state.apply(envelope);
        rows.push(row(envelope, first.at, &state, narrator.line(envelope)));
    }
    Some(rows)
}

fn row(envelope: &Envelope, start: i64, state: &DeploymentState, line: Line) -> Row {
    let call = call_of(&envelope.event);
    Row {
        seq: envelope.seq.0,
        offset_ms: envelope.at - start,
        phase: state.phase.as_str(),
        kind: envelope.event.kind().name(),
        cause: envelope.cause.map(|cause| cause.0),
        mark: mark(&envelope.event),
        detail: detail(call, &line),
        level: line.level,
        text: line.text,
        note: line.note,
        duration_ms: line.duration_ms,
        call: call.map(|(call, _)| call),
        attempt: call.map(|(_, attempt)| attempt),
    }
}

/// The call and attempt numbers of an API call event.
fn call_of(event: &Event) -> Option<(u32, u32)> {
    match event {
        Event::ApiCallStarted { call, attempt, .. }
        | Event::ApiCallSucceeded { call, attempt, .. }
        | Event::ApiCallFailed { call, attempt, .. } => Some((*call, *attempt)),
        _ => None,
    }
}

/// Marks retries, give-ups, health polls, failures and rollback steps; a skipped rollback
/// step and a verification that found leftovers get a warning.
fn mark(event: &Event) -> &'static str {
    match event {
        Event::ApiCallFailed {
            retry_in_ms: Some(_),
            ..
        } => "↻",
        Event::ApiCallFailed { .. } | Event::DeploymentFailed { .. } => "✗",
        Event::HealthCheckAttempt { .. } => "♥",
        Event::RollbackStarted
        | Event::RollbackStepSucceeded { .. }
        | Event::RollbackStepFailed { .. }
        | Event::RollbackFinished { .. } => "⟲",
        Event::RollbackStepSkipped { .. } => "⚠",
        Event::RollbackVerified { leftovers } if !leftovers.is_empty() => "⚠",
        Event::RollbackVerified { .. } => "⟲",
        _ => "",
    }
}

fn detail(call: Option<(u32, u32)>, line: &Line) -> String {
    let prefix = call.map_or_else(String::new, |(call, attempt)| {
        format!("call {call} attempt {attempt}: ")
    });
    let note = line
        .note
        .as_ref()
        .map_or_else(String::new, |note| format!(" — {note}"));
    format!("{prefix}{}{note}", line.text)
}

fn plain(row: &Row) -> String {
    format!(
        "{:>8.3}s  #{:<6} {:<2} {:<24} {:<22} {:>7}  {}",
        row.offset_ms as f64 / 1000.0,
        row.seq,
        row.mark,
        row.phase,
        row.kind,
        row.duration_ms.map(human_ms).unwrap_or_default(),
        row.detail
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use stackledger::deployment::HttpMethod;
    use stackledger::ids::{Seq, StreamVersion};
    use stackledger::ledger::envelope::Hash;
    use stackledger::projection::DeploymentView;

    fn stream() -> DeploymentId {
        DeploymentId::from_uuid(uuid::Uuid::from_u128(5))
    }

    fn envelopes(events: Vec<Event>) -> Vec<Envelope> {
        (1..)
            .zip(events)
            .map(|(seq, event)| Envelope {
                seq: Seq(seq),
                stream: stream(),
                version: StreamVersion(u32::try_from(seq).expect("small")),
                at: 250 * i64::try_from(seq).expect("small"),
                cause: None,
                event,
                prev_hash: Hash::default(),
                hash: Hash::default(),
            })
            .collect()
    }

    fn a_retried_call() -> Vec<Envelope> {
        envelopes(vec![
            Event::DeploymentRequested {
                name: "shop".into(),
                image: "nginx".into(),
                domain: "shop.example".into(),
                port: 80,
                client: "c".into(),
                server_version: "v".into(),
            },
            Event::ApiCallStarted {
                call: 3,
                attempt: 1,
                method: HttpMethod::Post,
                endpoint: "application.create".into(),
            },
            Event::ApiCallFailed {
                call: 3,
                attempt: 1,
                status: Some(503),
                error: "Service Unavailable".into(),
                duration_ms: 12,
                retry_in_ms: Some(1_000),
            },
        ])
    }

    #[test]
    fn timeline_rows_carry_the_log_sentence_with_call_attempt_and_note() {
        let events = a_retried_call();
        let own: Vec<&Envelope> = events.iter().collect();
        let rows = rows(&own).expect("the stream opens with its request");
        let details: Vec<_> = rows.iter().map(|row| row.detail.as_str()).collect();
        assert_eq!(
            details,
            [
                "Deployment of shop requested",
                "call 3 attempt 1: Calling application.create — POST application.create",
                "call 3 attempt 1: application.create failed with 503, retry 1 in 1 s — Service Unavailable",
            ]
        );
        let marks: Vec<_> = rows.iter().map(|row| row.mark).collect();
        assert_eq!(marks, ["", "", "↻"]);
        assert_eq!((rows[2].call, rows[2].attempt), (Some(3), Some(1)));
        assert_eq!((rows[2].offset_ms, rows[2].duration_ms), (500, Some(12)));
        let model = stackledger::projection::ReadModel::fold(&events);
        let view = DeploymentView::of(
            &model
                .get(stream())
                .expect("an in-memory fold reads no index")
                .expect("folded"),
        );
        let logged: Vec<_> = view.logs.iter().map(|line| line.message.as_str()).collect();
        let texts: Vec<_> = rows.iter().map(|row| row.text.as_str()).collect();
        assert_eq!(texts, logged, "a row reads as the log line of its event");
    }

    #[test]
    fn timeline_refuses_a_deployment_the_log_does_not_hold() {
        let mut out = Vec::new();
        let other = DeploymentId::from_uuid(uuid::Uuid::from_u128(6));
        let error = timeline(&a_retried_call(), other, false, &mut out).expect_err("unknown");
        assert!(error.to_string().contains("no deployment"), "{error}");
        assert!(out.is_empty());
    }

    #[test]
    fn timeline_and_show_print_skipped_steps_and_leftovers_of_an_incomplete_rollback() {
        use stackledger::deployment::{Leftover, LeftoverKind, Phase, ResourceId, ResourceKind};
        let mut events: Vec<Event> = a_retried_call().into_iter().map(|e| e.event).collect();
        let project = ResourceId("prj1".into());
        events.extend([
            Event::DeploymentFailed {
                phase: Phase::Deploying,
                code: "deploy_timeout".into(),
                message: "m".into(),
            },
            Event::RollbackStarted,
            Event::RollbackStepSkipped {
                kind: ResourceKind::Project,
                id: project.clone(),
                reason: "the project still holds application blog (app7)".into(),
            },
            Event::RollbackVerified {
                leftovers: vec![Leftover {
                    kind: LeftoverKind::Route,
                    id: None,
                    detail: "https://shop.example still answers 200".into(),
                }],
            },
            Event::RollbackFinished { complete: false },
        ]);
        let events = envelopes(events);
        let own: Vec<&Envelope> = events.iter().collect();
        let rows = rows(&own).expect("the stream opens with its request");
        let marks: Vec<_> = rows.iter().rev().take(3).map(|row| row.mark).collect();
        assert_eq!(
            marks,
            ["⟲", "⚠", "⚠"],
            "finished, verified with leftovers, skipped"
        );
        let skipped = &rows[rows.len() - 3].text;
        assert!(skipped.starts_with("Did not delete project prj1: the project still holds"));
        let mut out = Vec::new();
        crate::show::show(&events, stream(), None, false, &mut out).expect("shows");
        let shown = String::from_utf8(out).expect("utf-8");
        assert!(
            shown
                .contains("skipped: project prj1: the project still holds application blog (app7)"),
            "{shown}"
        );
        assert!(
            shown.contains("left on Dokploy:\n  route: https://shop.example still answers 200"),
            "{shown}"
        );
    }
}
