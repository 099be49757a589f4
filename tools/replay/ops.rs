//! `ops`: the operator actions of a log (the ops stream: tokens added and revoked, cancels
//! asked, exports, verifications, refused authentication), oldest first, each worded by the
//! one renderer and with the fields the ops API shows. It reads only the events it is given,
//! and never shows a token or a token's hash (events hold no token; the hash is left out).

use std::io::Write;
use std::process::ExitCode;

use serde_json::Value;
use stackledger::ledger::envelope::Envelope;
use stackledger::projection::operator::described;

/// `ops [--json]`.
pub(crate) fn ops(
    events: &[Envelope],
    json: bool,
    out: &mut impl Write,
) -> anyhow::Result<ExitCode> {
    let actions: Vec<Value> = events
        .iter()
        .filter(|envelope| envelope.stream.is_ops())
        .map(described)
        .collect();
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(&actions)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    if actions.is_empty() {
        writeln!(out, "no operator actions recorded")?;
    }
    for action in &actions {
        writeln!(out, "{}", row(action))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `seq  time  kind  by  client  sentence`.
fn row(action: &Value) -> String {
    let text = |name: &str| action[name].as_str().unwrap_or("-").to_owned();
    format!(
        "{:>6}  {}  {:<22} {:<12} {:<16} {}",
        action["seq"],
        text("at"),
        text("kind"),
        text("by"),
        text("client"),
        text("text")
    )
}
