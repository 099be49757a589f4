//! `verify [ID] [--head HASH]`: the ledger's own verification of the log (hash chain, seq and
//! version continuity, the recorded head), then the receipt, then (from a running server) a
//! full re-fold compared with what the server serves. Reports the first bad seq and why; it
//! never changes the log.

use std::io::Write;
use std::process::ExitCode;

use serde_json::json;
use stackledger::ids::{DeploymentId, Seq};
use stackledger::ledger::envelope::{Envelope, Hash};
use stackledger::ledger::error::Damage;
use stackledger::ledger::verify_envelopes;
use stackledger::projection::{DeploymentView, ListQuery, ReadModel};

use crate::server::Server;
use crate::source::Loaded;

/// The first bad seq and why it is bad.
type Finding = (Seq, String);

pub(crate) fn run(
    loaded: &Loaded,
    id: Option<DeploymentId>,
    head: Option<Hash>,
    json: bool,
    out: &mut impl Write,
) -> anyhow::Result<ExitCode> {
    let mut finding = chain_finding(loaded);
    if finding.is_none()
        && let Some(head) = head
    {
        finding = receipt_finding(&loaded.events, id, head);
    }
    if finding.is_none()
        && let Some(server) = &loaded.server
    {
        finding = server_finding(&loaded.events, server)?;
    }
    report(&loaded.events, finding.as_ref(), json, out)?;
    Ok(match finding {
        None => ExitCode::SUCCESS,
        Some(_) => ExitCode::from(1),
    })
}

/// Damage in the chain: found while reading a data directory, or now for an export.
fn chain_finding(loaded: &Loaded) -> Option<Finding> {
    let verification = match &loaded.verification {
        Some(verification) => verification.clone(),
        None => verify_envelopes(&loaded.events),
    };
    let lost = match verification.acknowledged {
        Some(acknowledged) if acknowledged > verification.last.seq => format!(
            "; events {}-{acknowledged} were acknowledged and are lost or damaged",
            verification.last.seq.0 + 1
        ),
        _ => String::new(),
    };
    verification.damage.map(|damage| {
        let lost = if matches!(damage, Damage::Lost { .. }) {
            String::new()
        } else {
            lost
        };
        (damage.first_bad_seq(), format!("{damage}{lost}"))
    })
}

/// Whether the log (or deployment `id`'s part of it) still ends at the receipt `head`.
fn receipt_finding(events: &[Envelope], id: Option<DeploymentId>, head: Hash) -> Option<Finding> {
    let last = match id {
        Some(id) => events.iter().rev().find(|e| e.stream == id),
        None => events.last(),
    };
    match (events.iter().find(|e| e.hash == head), last) {
        (Some(found), Some(last)) if found.seq == last.seq => None,
        (Some(found), _) => Some((
            found.seq.next(),
            format!("the log goes on past the receipt at seq {}", found.seq),
        )),
        (None, _) => Some((
            events.last().map_or(Seq(1), |e| e.seq.next()),
            "the receipt is not in the log: the tail was cut or altered".to_owned(),
        )),
    }
}

/// The first deployment the server serves differently from this log's fold (only those the
/// server has no newer events for are compared).
fn server_finding(events: &[Envelope], server: &Server) -> anyhow::Result<Option<Finding>> {
    let model = ReadModel::fold(events);
    let all = ListQuery {
        limit: usize::MAX,
        ..ListQuery::default()
    };
    for state in model.list(&all)? {
        let folded = serde_json::to_value(DeploymentView::of(&state))?;
        let served = server.view(&state.id.to_string())?;
        if served["lastSeq"] == folded["lastSeq"] && served != folded {
            return Ok(Some((
                state.first_seq,
                format!(
                    "the server serves {} differently from the log's fold",
                    state.id
                ),
            )));
        }
    }
    Ok(None)
}

fn report(
    events: &[Envelope],
    finding: Option<&Finding>,
    json: bool,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    if json {
        return report_json(events, finding, out);
    }
    match finding {
        Some((seq, reason)) => writeln!(out, "FAILED at seq {seq}: {reason}")?,
        None => writeln!(
            out,
            "ok: {} events, chain intact, head {}",
            events.len(),
            events
                .last()
                .map_or("(empty)".to_owned(), |e| e.hash.to_string())
        )?,
    }
    Ok(())
}

fn report_json(
    events: &[Envelope],
    finding: Option<&Finding>,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let last = events.last();
    let answer = json!({
        "ok": finding.is_none(),
        "events": events.len(),
        "lastSeq": last.map(|e| e.seq.0),
        "headHash": last.map(|e| e.hash.to_string()),
        "firstBadSeq": finding.map(|(seq, _)| seq.0),
        "reason": finding.map(|(_, reason)| reason),
    });
    writeln!(out, "{}", serde_json::to_string_pretty(&answer)?)?;
    Ok(())
}
