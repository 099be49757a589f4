//! `list` and `show`: the deployments of a log, and one deployment's state as of any seq,
//! rebuilt with the fold the server runs (DESIGN §7). It never reads anything but the events
//! it is given (no store, no network).

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use stackledger::deployment::DeploymentStatus;
use stackledger::ids::{DeploymentId, Seq};
use stackledger::ledger::envelope::Envelope;
use stackledger::projection::{DeploymentState, DeploymentView, ListQuery, ReadModel};

use crate::ListArgs;

/// `list`: the deployments, newest first, filtered by status and name.
pub(crate) fn list(
    events: &[Envelope],
    args: &ListArgs,
    json: bool,
    out: &mut impl Write,
) -> anyhow::Result<ExitCode> {
    let query = ListQuery {
        status: status_filter(args.status.as_deref())?,
        name: args.name.clone(),
        limit: usize::MAX,
        before: None,
    };
    let model = ReadModel::fold(events);
    let found = model.list(&query)?;
    if json {
        let views: Vec<_> = found
            .iter()
            .map(|state| DeploymentView::of(state))
            .collect();
        writeln!(out, "{}", serde_json::to_string_pretty(&views)?)?;
    } else {
        for state in found {
            writeln!(out, "{}", list_row(&state))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn status_filter(status: Option<&str>) -> anyhow::Result<Option<DeploymentStatus>> {
    Ok(match status {
        None => None,
        Some("in_progress") => Some(DeploymentStatus::InProgress),
        Some("success") => Some(DeploymentStatus::Success),
        Some("failure") => Some(DeploymentStatus::Failure),
        Some(other) => anyhow::bail!("unknown status {other:?} (in_progress, success, failure)"),
    })
}

fn list_row(state: &DeploymentState) -> String {
    format!(
        "{}  {:<12} {:<24} {:>3}%  {}",
        state.id,
        state.status.as_str(),
        state.phase.as_str(),
        state.progress,
        state.name
    )
}

/// `show`: one deployment's view, folded from the events up to `at` (all of them without).
pub(crate) fn show(
    events: &[Envelope],
    id: DeploymentId,
    at: Option<u64>,
    json: bool,
    out: &mut impl Write,
) -> anyhow::Result<ExitCode> {
    let state = state_of(events, id, at)?;
    let view = DeploymentView::of(&state);
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(&view)?)?;
    } else {
        write_view(&view, out)?;
        write_left_behind(&state, out)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn state_of(
    events: &[Envelope],
    id: DeploymentId,
    at: Option<u64>,
) -> anyhow::Result<DeploymentState> {
    let model = ReadModel::fold_until(events, Seq(at.unwrap_or(u64::MAX)));
    let as_of = at
        .map(|seq| format!(" as of seq {seq}"))
        .unwrap_or_default();
    model
        .get(id)?
        .map(std::borrow::Cow::into_owned)
        .with_context(|| format!("no deployment {id} in this log{as_of}"))
}

/// The rollback steps not taken and what the verification found left, one line each, in words
/// an operator can act on.
fn write_left_behind(state: &DeploymentState, out: &mut impl Write) -> std::io::Result<()> {
    let Some(rollback) = &state.rollback else {
        return Ok(());
    };
    for step in &rollback.skipped {
        writeln!(out, "skipped: {} {}: {}", step.kind, step.id, step.reason)?;
    }
    if !rollback.leftovers.is_empty() {
        writeln!(out, "left on Dokploy:")?;
    }
    for leftover in &rollback.leftovers {
        let id = leftover
            .id
            .as_ref()
            .map_or_else(String::new, |id| format!(" {id}"));
        writeln!(out, "  {}{id}: {}", leftover.kind, leftover.detail)?;
    }
    Ok(())
}

fn write_view(view: &DeploymentView, out: &mut impl Write) -> std::io::Result<()> {
    writeln!(out, "{}  {}  ({})", view.id, view.stack_name, view.url)?;
    writeln!(
        out,
        "status {:?}, phase {}, {}%: {}",
        view.status, view.phase, view.progress, view.message
    )?;
    if let Some(error) = &view.error {
        let rollback = view
            .rollback
            .map_or("not finished", |outcome| outcome.as_str());
        writeln!(
            out,
            "failed in {} ({}): {}; rollback {rollback}",
            error.phase, error.code, error.message
        )?;
    }
    writeln!(
        out,
        "as of seq {}, receipt {}",
        view.last_seq, view.head_hash
    )
}
