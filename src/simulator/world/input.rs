//! The inputs most procedures take: ids and names that are `z.string().min(1)` in Dokploy's
//! schemas (`projectId`, `environmentId`, `applicationId`, `domainId`, a project's `name`),
//! refused with zod 4's issues (`zod.rs`), and the optional strings read without a check.
//!
//! Pure functions of the input: they never touch the world and never decide what a procedure
//! does with a valid input.

use serde_json::{Map, Value};

use super::zod::{self, Field, NON_EMPTY, Presence};
use crate::simulator::answer::Failure;

/// The values of `keys`, each a non-empty string, or 400 `Input validation failed` with an
/// issue for each that is not.
pub(super) fn required(
    input: &Map<String, Value>,
    keys: &[&'static str],
) -> Result<Vec<String>, Failure> {
    let schema: Vec<Field> = keys
        .iter()
        .map(|key| Field::new(key, NON_EMPTY, Presence::Required))
        .collect();
    let parsed = zod::parse(&schema, input)?;
    Ok(keys
        .iter()
        .map(|key| zod::text(&parsed, key).unwrap_or_default().to_owned())
        .collect())
}

/// The value of `key`, a non-empty string, or 400 `Input validation failed` naming it.
pub(super) fn required_one(
    input: &Map<String, Value>,
    key: &'static str,
) -> Result<String, Failure> {
    let mut values = required(input, &[key])?;
    Ok(values.remove(0))
}

/// The string value of `key`, if it has one.
pub(super) fn optional_string(input: &Map<String, Value>, key: &str) -> Option<String> {
    input.get(key).and_then(Value::as_str).map(str::to_owned)
}
