//! Runs the table against a simulator at an address, over plain HTTP: each check in order with
//! its own remembered values (`{CHECK}` is its number), each call sent and asserted; a check
//! stops at its first failing call. Every failure names its check's number.

use std::collections::HashMap;

use serde_json::Value;

use super::check::{Call, Check, Expect, Key};
use crate::support::SIM_KEY;

/// A check that failed: at which call, and why.
pub(crate) struct Failure {
    number: u8,
    call: usize,
    why: String,
}

/// Every failure, one line each, and the failing numbers.
pub(crate) fn report(failures: &[Failure]) -> String {
    let numbers: Vec<u8> = failures.iter().map(|failure| failure.number).collect();
    let lines: Vec<String> = failures
        .iter()
        .map(|failure| {
            let call = failure.call + 1;
            format!("check {} (call {call}): {}", failure.number, failure.why)
        })
        .collect();
    format!("failing checks {numbers:?}:\n{}", lines.join("\n"))
}

/// Runs `checks` against the simulator at `address` (`127.0.0.1:PORT`).
pub(crate) async fn run(address: &str, checks: &[Check]) -> Vec<Failure> {
    let http = crate::support::http();
    let mut failures = Vec::new();
    for check in checks {
        let mut saved = HashMap::from([("CHECK".to_owned(), check.number.to_string())]);
        for (index, call) in check.calls.iter().enumerate() {
            if let Err(why) = run_call(&http, address, call, &mut saved).await {
                failures.push(Failure {
                    number: check.number,
                    call: index,
                    why,
                });
                break;
            }
        }
    }
    failures
}

/// An answer as it came.
struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

async fn run_call(
    http: &reqwest::Client,
    address: &str,
    call: &Call,
    saved: &mut HashMap<String, String>,
) -> Result<(), String> {
    for _ in 0..call.times {
        let mut why = String::new();
        let mut passed = false;
        for _ in 0..call.until {
            let answer = send(http, address, call, saved).await?;
            match assert_all(call.expect, &answer, saved) {
                Ok(()) => {
                    remember(call, &answer, saved);
                    passed = true;
                    break;
                }
                Err(failed) => why = failed,
            }
        }
        if !passed {
            let path = fill(call.path, saved);
            return Err(format!("{} {path}: {why}", call.method));
        }
    }
    Ok(())
}

async fn send(
    http: &reqwest::Client,
    address: &str,
    call: &Call,
    saved: &HashMap<String, String>,
) -> Result<Answer, String> {
    let method = reqwest::Method::from_bytes(call.method.as_bytes()).map_err(|e| e.to_string())?;
    let url = format!("http://{address}{}", fill(call.path, saved));
    let mut request = http.request(method, url);
    match call.key {
        Key::Right => request = request.header("x-api-key", SIM_KEY),
        Key::Wrong => request = request.header("x-api-key", "wrong"),
        Key::Missing => {}
    }
    if let Some(content_type) = call.content_type {
        request = request.header("content-type", content_type);
    }
    if let Some(body) = call.body {
        request = request.body(fill(body, saved));
    }
    let response = request
        .send()
        .await
        .map_err(|e| format!("no answer: {e}"))?;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response
        .bytes()
        .await
        .map_err(|e| format!("no body: {e}"))?;
    Ok(Answer {
        status,
        headers,
        body: body.to_vec(),
    })
}

fn remember(call: &Call, answer: &Answer, saved: &mut HashMap<String, String>) {
    let body = answer.json();
    for (name, pointer) in call.save {
        let value = match body.pointer(pointer) {
            Some(Value::String(text)) => text.clone(),
            Some(other) => other.to_string(),
            None => String::new(),
        };
        saved.insert((*name).to_owned(), value);
    }
}

fn assert_all(
    expects: &[Expect],
    answer: &Answer,
    saved: &HashMap<String, String>,
) -> Result<(), String> {
    let body = answer.json();
    let shown = String::from_utf8_lossy(&answer.body);
    let shown: String = shown.chars().take(600).collect();
    for expect in expects {
        if let Err(why) = assert_one(*expect, answer, &body, saved) {
            return Err(format!("{why}; got {} {shown}", answer.status));
        }
    }
    Ok(())
}

fn assert_one(
    expect: Expect,
    answer: &Answer,
    body: &Value,
    saved: &HashMap<String, String>,
) -> Result<(), String> {
    let at = |pointer: &str| body.pointer(pointer).cloned();
    let json = |text: &str| -> Value {
        let text = fill(text, saved);
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("the table's JSON {text}: {e}"))
    };
    let holds = match expect {
        Expect::Status(status) => answer.status == status,
        Expect::Text(text) => answer.body == text.as_bytes(),
        Expect::Is(pointer, value) => at(pointer) == Some(json(value)),
        Expect::IsNot(pointer, value) => at(pointer) != Some(json(value)),
        Expect::Absent(pointer) => at(pointer).is_none(),
        Expect::Present(pointer) => at(pointer).is_some_and(|value| !value.is_null()),
        Expect::Header(name, value) => {
            answer.headers.get(name).and_then(|v| v.to_str().ok()) == Some(value)
        }
        Expect::Differ(first, second) => saved.get(first) != saved.get(second),
        Expect::Lists(pointer, item) => lists(at(pointer), &json(item)),
        Expect::Lacks(pointer, item) => {
            at(pointer).is_some_and(|list| list.is_array()) && !lists(at(pointer), &json(item))
        }
        Expect::Holds(_, property) => property(body),
    };
    if holds {
        return Ok(());
    }
    Err(match expect {
        Expect::Status(status) => format!("expected status {status}"),
        Expect::Text(text) => format!("expected the body {text:?}"),
        Expect::Is(pointer, value) => format!("expected {pointer} = {}", fill(value, saved)),
        Expect::IsNot(pointer, value) => format!("expected {pointer} != {}", fill(value, saved)),
        Expect::Absent(pointer) => format!("expected no {pointer}"),
        Expect::Present(pointer) => format!("expected a {pointer}"),
        Expect::Header(name, value) => format!("expected the header {name}: {value}"),
        Expect::Differ(first, second) => format!("expected {first} and {second} to differ"),
        Expect::Lists(pointer, item) => format!("expected {pointer} to list {}", fill(item, saved)),
        Expect::Lacks(pointer, item) => {
            format!("expected {pointer} not to list {}", fill(item, saved))
        }
        Expect::Holds(what, _) => format!("expected {what}"),
    })
}

/// Whether `list` is a list with an item that has every key and value of `item`.
fn lists(list: Option<Value>, item: &Value) -> bool {
    let Some(Value::Array(items)) = list else {
        return false;
    };
    let wanted = item.as_object().expect("the table lists objects");
    items.iter().any(|candidate| {
        wanted
            .iter()
            .all(|(key, value)| candidate.get(key) == Some(value))
    })
}

/// `text` with every `{NAME}` replaced by what was remembered as `NAME`.
fn fill(text: &str, saved: &HashMap<String, String>) -> String {
    let mut text = text.to_owned();
    for (name, value) in saved {
        text = text.replace(&format!("{{{name}}}"), value);
    }
    text
}
