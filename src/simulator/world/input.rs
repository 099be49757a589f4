//! Input validation as Dokploy's zod schemas answer it: required non-empty strings, optional
//! strings, and the zod-like issues of a 400 `Input validation failed`.
//!
//! Pure functions of the input: they never touch the world and never decide what a procedure
//! does with a valid input.

use serde_json::{Map, Value, json};

use crate::simulator::answer::Failure;

/// A zod-like issue.
pub(super) fn issue(key: &str, message: &str) -> Value {
    json!({"code": "invalid_type", "path": [key], "message": message})
}

/// The non-empty string values of `keys`, or 400 `Input validation failed` naming the others.
pub(super) fn required(input: &Map<String, Value>, keys: &[&str]) -> Result<Vec<String>, Failure> {
    let mut values = Vec::with_capacity(keys.len());
    let mut issues = Vec::new();
    for key in keys {
        match input.get(*key).and_then(Value::as_str) {
            Some(value) if !value.is_empty() => values.push(value.to_owned()),
            _ => issues.push(issue(key, "Required")),
        }
    }
    if issues.is_empty() {
        Ok(values)
    } else {
        Err(Failure::invalid(issues))
    }
}

/// The non-empty string value of `key`, or 400 `Input validation failed` naming it.
pub(super) fn required_one(input: &Map<String, Value>, key: &str) -> Result<String, Failure> {
    let mut values = required(input, &[key])?;
    Ok(values.remove(0))
}

/// The string value of `key`, if it has one.
pub(super) fn optional_string(input: &Map<String, Value>, key: &str) -> Option<String> {
    input.get(key).and_then(Value::as_str).map(str::to_owned)
}
