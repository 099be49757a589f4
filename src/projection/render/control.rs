//! How the events of deadlines, cancels, the admission queue, outages and operator actions read
//! in a log (since 0.2.0). Part of the one renderer: it must never quote a secret (events never
//! hold one: tokens appear by name, capabilities and tokens only as hashes, which are not
//! shown either).

use crate::clock::rfc3339;
use crate::deployment::Event;
use crate::projection::render::{LogLevel, Said, human_ms};

/// The sentence of a control or operator event.
pub(super) fn said(event: &Event) -> Said {
    match event {
        Event::DeploymentAccepted { deadline_at_ms, .. } => Said::info(format!(
            "Accepted; deadline {}",
            clock_time(*deadline_at_ms)
        )),
        Event::AdmissionWaiting { ahead } => Said::info(queued(*ahead)),
        Event::AdmissionGranted { waited_ms } => match waited_ms {
            0 => Said::info("Started"),
            waited => Said::info(format!("Started after {} in the queue", human_ms(*waited))),
        },
        Event::CancelRequested { by, reason, .. } => Said::new(
            LogLevel::Warn,
            match reason.is_empty() {
                true => format!("Cancel requested by {}", canceller(by)),
                false => format!("Cancel requested by {}: {reason}", canceller(by)),
            },
        ),
        Event::OutageWaiting { gives_up_at_ms, .. } => Said::new(
            LogLevel::Warn,
            format!(
                "Dokploy is not answering; waiting, will give up at {}",
                clock_time(*gives_up_at_ms)
            ),
        ),
        other => operator(other),
    }
}

/// The ops stream's events.
fn operator(event: &Event) -> Said {
    match event {
        Event::AdminTokenAdded { name, by, .. } => {
            Said::info(format!("Admin token {name:?} added by {by}"))
        }
        Event::AdminTokenRevoked { name, by, .. } => Said::new(
            LogLevel::Warn,
            format!("Admin token {name:?} revoked by {by}"),
        ),
        Event::CancelAsked {
            deployment,
            by,
            outcome,
            ..
        } => Said::info(format!("{by} asked to cancel {deployment}: {outcome}")),
        Event::LedgerExported {
            by, after, through, ..
        } => Said::info(match through > after {
            true => format!("{by} exported events {}-{through}", after + 1),
            false => format!("{by} exported no events (after {after})"),
        }),
        Event::LedgerVerified {
            by, ok, last_seq, ..
        } => Said::info(format!(
            "{by} verified the log through {last_seq}: {}",
            if *ok { "intact" } else { "DAMAGED" }
        )),
        Event::AuthenticationRefused { refused, .. } => Said::new(
            LogLevel::Warn,
            format!("{refused} request(s) refused: no or wrong admin token"),
        ),
        _ => unreachable!("control renders only control and operator events"),
    }
}

/// Who asked to cancel, in words (`operator:alice` is operator alice).
pub(super) fn canceller(by: &str) -> String {
    match by.strip_prefix("operator:") {
        Some(name) => format!("operator {name}"),
        None if by == "requester" => "the person who started it".to_owned(),
        None => by.to_owned(),
    }
}

/// The place in the admission queue, in words.
fn queued(ahead: u32) -> String {
    match ahead {
        0 => "Queued: next in line".to_owned(),
        1 => "Queued: 1 ahead of you".to_owned(),
        n => format!("Queued: {n} ahead of you"),
    }
}

/// A time of day, UTC (`12:30:05 UTC`), from unix ms.
fn clock_time(unix_ms: i64) -> String {
    let stamp = rfc3339(unix_ms);
    let time = stamp.get(11..19).unwrap_or(&stamp);
    format!("{time} UTC")
}
