//! Dokploy's input schemas as zod 4 (with drizzle-zod 0.5.1 and `@dokploy/trpc-openapi`'s
//! coercion) answers them: a schema is a list of fields, each with a kind (string with checks,
//! enum, number, boolean, list of strings) and a presence (required, `.optional()`,
//! drizzle-zod's `.nullable().optional()` for a nullable column, or `.required()` over one).
//!
//! Numbers and booleans are coerced the way the REST layer makes zod do it (`Number(value)`,
//! `Boolean(value)`), for query strings and JSON bodies alike. Unknown keys are stripped. A
//! refusal carries zod 4's issues (`expected`, `code`, `path`, `message`, and `origin`,
//! `minimum`, `maximum`, `inclusive`, `values`, `format`, `pattern` where zod has them), in
//! the schema's key order. Pure: it never touches the world and never decides what a procedure
//! does with a valid input.

use serde_json::{Map, Number, Value, json};

use crate::simulator::answer::Failure;

/// How a key may be given.
#[derive(Debug, Clone, Copy)]
pub(super) enum Presence {
    /// `z.string()` as it is: absent is refused like any wrong type.
    Required,
    /// `.optional()`: absent is fine, `null` is not.
    Optional,
    /// drizzle-zod's `.nullable().optional()` for a nullable column.
    Nullish,
    /// `.required()` over an optional field: the key must be there (`null` only if nullable).
    Present {
        /// Whether `null` is accepted.
        nullable: bool,
    },
}

/// A check on a string, in the order the schema applies them.
#[derive(Debug, Clone, Copy)]
pub(super) enum TextCheck {
    /// `.min(n)`, with the schema's own message if it has one.
    Min(usize, Option<&'static str>),
    /// `.max(n)`.
    Max(usize),
    /// `.regex(pattern, message)`: `test` is the pattern, `pattern` its source as zod shows it.
    Pattern {
        test: fn(&str) -> bool,
        pattern: &'static str,
        message: &'static str,
    },
    /// `.refine(test, message)`.
    Refine {
        test: fn(&str) -> bool,
        message: &'static str,
    },
    /// A refinement behind a `.transform()`: it only runs when every check before it passed.
    Piped {
        test: fn(&str) -> bool,
        message: &'static str,
    },
}

/// A check on a number: `.min(n, message)` or `.max(n, message)`.
#[derive(Debug, Clone, Copy)]
pub(super) enum NumberCheck {
    Min(i64, &'static str),
    Max(i64, &'static str),
}

/// What a key holds.
#[derive(Debug, Clone, Copy)]
pub(super) enum Kind {
    Text(&'static [TextCheck]),
    OneOf(&'static [&'static str]),
    Number(&'static [NumberCheck]),
    Flag,
    Texts,
}

/// One key of a schema.
#[derive(Debug, Clone, Copy)]
pub(super) struct Field {
    pub(super) key: &'static str,
    pub(super) kind: Kind,
    pub(super) presence: Presence,
}

impl Field {
    /// A key of this kind and presence.
    pub(super) const fn new(key: &'static str, kind: Kind, presence: Presence) -> Self {
        Self {
            key,
            kind,
            presence,
        }
    }
}

/// `z.string().min(1)`: what most of Dokploy's ids and names are.
pub(super) const NON_EMPTY: Kind = Kind::Text(&[TextCheck::Min(1, None)]);

/// The input as the procedure sees it (only the schema's keys, coerced), or 400 `Input
/// validation failed` with every issue.
pub(super) fn parse(
    schema: &[Field],
    input: &Map<String, Value>,
) -> Result<Map<String, Value>, Failure> {
    let mut output = Map::new();
    let mut issues = Vec::new();
    for field in schema {
        match field_value(field, input.get(field.key)) {
            Ok(Some(value)) => {
                output.insert(field.key.to_owned(), value);
            }
            Ok(None) => {}
            Err(found) => issues.extend(found),
        }
    }
    if issues.is_empty() {
        Ok(output)
    } else {
        Err(Failure::invalid(issues))
    }
}

/// One key's value after its presence and kind (`None`: absent, and allowed to be).
fn field_value(field: &Field, value: Option<&Value>) -> Result<Option<Value>, Vec<Value>> {
    let nullable = matches!(
        field.presence,
        Presence::Nullish | Presence::Present { nullable: true }
    );
    match (value, field.presence) {
        (None, Presence::Optional | Presence::Nullish) => Ok(None),
        (None, Presence::Present { .. }) => Err(vec![invalid_type(field.key, "nonoptional", None)]),
        (Some(Value::Null), _) if nullable => Ok(Some(Value::Null)),
        (value, _) => kind_value(field.key, field.kind, value).map(Some),
    }
}

/// A value checked (and coerced) against its kind; `None` is JavaScript's `undefined`.
fn kind_value(key: &str, kind: Kind, value: Option<&Value>) -> Result<Value, Vec<Value>> {
    match kind {
        Kind::Text(checks) => match value {
            Some(Value::String(text)) => text_checks(key, text, checks).map(|()| json!(text)),
            other => Err(vec![invalid_type(key, "string", other)]),
        },
        Kind::OneOf(values) => match value {
            Some(Value::String(text)) if values.contains(&text.as_str()) => Ok(json!(text)),
            _ => Err(vec![invalid_value(key, values)]),
        },
        Kind::Number(checks) => number_value(key, js_number(value), checks),
        Kind::Flag => Ok(Value::Bool(js_truthy(value))),
        Kind::Texts => match value {
            Some(Value::Array(items)) => texts_value(key, items),
            other => Err(vec![invalid_type(key, "array", other)]),
        },
    }
}

fn text_checks(key: &str, text: &str, checks: &[TextCheck]) -> Result<(), Vec<Value>> {
    // JavaScript counts a string's length in UTF-16 code units.
    let length = text.encode_utf16().count();
    let mut issues = Vec::new();
    for check in checks {
        match *check {
            TextCheck::Min(minimum, message) if length < minimum => issues.push(json!({
                "origin": "string", "code": "too_small", "minimum": minimum, "inclusive": true,
                "path": [key], "message": message.map_or_else(
                    || format!("Too small: expected string to have >={minimum} characters"),
                    str::to_owned),
            })),
            TextCheck::Max(maximum) if length > maximum => issues.push(json!({
                "origin": "string", "code": "too_big", "maximum": maximum, "inclusive": true,
                "path": [key],
                "message": format!("Too big: expected string to have <={maximum} characters"),
            })),
            TextCheck::Pattern {
                test,
                pattern,
                message,
            } if !test(text) => issues.push(json!({
                "origin": "string", "code": "invalid_format", "format": "regex",
                "pattern": pattern, "path": [key], "message": message,
            })),
            TextCheck::Refine { test, message } if !test(text) => issues.push(custom(key, message)),
            TextCheck::Piped { test, message } if issues.is_empty() && !test(text) => {
                issues.push(custom(key, message));
            }
            _ => {}
        }
    }
    if issues.is_empty() {
        Ok(())
    } else {
        Err(issues)
    }
}

fn number_value(key: &str, number: f64, checks: &[NumberCheck]) -> Result<Value, Vec<Value>> {
    if !number.is_finite() {
        let received = if number.is_nan() { "NaN" } else { "Infinity" };
        let shown = if number.is_nan() { "NaN" } else { "number" };
        return Err(vec![json!({
            "expected": "number", "code": "invalid_type", "received": received, "path": [key],
            "message": format!("Invalid input: expected number, received {shown}"),
        })]);
    }
    let mut issues = Vec::new();
    for check in checks {
        match *check {
            NumberCheck::Min(minimum, message) if number < minimum as f64 => issues.push(json!({
                "origin": "number", "code": "too_small", "minimum": minimum, "inclusive": true,
                "path": [key], "message": message,
            })),
            NumberCheck::Max(maximum, message) if number > maximum as f64 => issues.push(json!({
                "origin": "number", "code": "too_big", "maximum": maximum, "inclusive": true,
                "path": [key], "message": message,
            })),
            _ => {}
        }
    }
    if !issues.is_empty() {
        return Err(issues);
    }
    Ok(js_number_value(number))
}

fn texts_value(key: &str, items: &[Value]) -> Result<Value, Vec<Value>> {
    let issues: Vec<Value> = items
        .iter()
        .enumerate()
        .filter(|(_, item)| !item.is_string())
        .map(|(index, item)| {
            let mut issue = invalid_type(key, "string", Some(item));
            issue["path"] = json!([key, index]);
            issue
        })
        .collect();
    if issues.is_empty() {
        Ok(Value::Array(items.to_vec()))
    } else {
        Err(issues)
    }
}

/// zod 4's `invalid_type` issue.
fn invalid_type(key: &str, expected: &str, input: Option<&Value>) -> Value {
    json!({
        "expected": expected, "code": "invalid_type", "path": [key],
        "message": format!("Invalid input: expected {expected}, received {}", parsed_type(input)),
    })
}

/// zod 4's `invalid_value` issue of an enum.
fn invalid_value(key: &str, values: &[&str]) -> Value {
    let shown: Vec<String> = values.iter().map(|value| format!("\"{value}\"")).collect();
    json!({
        "code": "invalid_value", "values": values, "path": [key],
        "message": format!("Invalid option: expected one of {}", shown.join("|")),
    })
}

fn custom(key: &str, message: &str) -> Value {
    json!({"code": "custom", "path": [key], "message": message})
}

/// zod's name for the type of a value (`undefined` for a missing key).
fn parsed_type(value: Option<&Value>) -> &'static str {
    match value {
        None => "undefined",
        Some(Value::Null) => "null",
        Some(Value::Bool(_)) => "boolean",
        Some(Value::Number(_)) => "number",
        Some(Value::String(_)) => "string",
        Some(Value::Array(_)) => "array",
        Some(Value::Object(_)) => "object",
    }
}

/// JavaScript's `Number(value)`.
fn js_number(value: Option<&Value>) -> f64 {
    match value {
        None | Some(Value::Object(_)) => f64::NAN,
        Some(Value::Null) => 0.0,
        Some(Value::Bool(flag)) => f64::from(u8::from(*flag)),
        Some(Value::Number(number)) => number.as_f64().unwrap_or(f64::NAN),
        Some(Value::String(text)) => js_string_number(text),
        Some(Value::Array(items)) => match items.as_slice() {
            [] => 0.0,
            // `String([x])` is `String(x)`, with `null` as the empty string.
            [Value::Null] => 0.0,
            [Value::Bool(_)] => f64::NAN,
            [single] => js_number(Some(single)),
            _ => f64::NAN,
        },
    }
}

/// JavaScript's `Number(text)`: trimmed, empty is 0, `0x`/`0o`/`0b` prefixes, `Infinity`, and
/// decimal literals; anything else is `NaN`.
fn js_string_number(text: &str) -> f64 {
    let text = text.trim();
    if text.is_empty() {
        return 0.0;
    }
    let radix = [
        ("0x", 16),
        ("0X", 16),
        ("0o", 8),
        ("0O", 8),
        ("0b", 2),
        ("0B", 2),
    ];
    for (prefix, radix) in radix {
        if let Some(digits) = text.strip_prefix(prefix) {
            return u64::from_str_radix(digits, radix).map_or(f64::NAN, |n| n as f64);
        }
    }
    match text.trim_start_matches(['+', '-']) {
        "Infinity" if text.starts_with('-') => f64::NEG_INFINITY,
        "Infinity" => f64::INFINITY,
        _ if text
            .bytes()
            .all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b)) =>
        {
            text.parse().unwrap_or(f64::NAN)
        }
        _ => f64::NAN,
    }
}

/// JavaScript's `Boolean(value)`.
fn js_truthy(value: Option<&Value>) -> bool {
    match value {
        None | Some(Value::Null) => false,
        Some(Value::Bool(flag)) => *flag,
        Some(Value::Number(number)) => number.as_f64().is_some_and(|n| n != 0.0 && !n.is_nan()),
        Some(Value::String(text)) => !text.is_empty(),
        Some(Value::Array(_) | Value::Object(_)) => true,
    }
}

/// A finite number as JSON shows it: integers without a fraction.
fn js_number_value(number: f64) -> Value {
    if number.fract() == 0.0 && number.abs() < 9_007_199_254_740_992.0 {
        json!(number as i64)
    } else {
        Number::from_f64(number).map_or(Value::Null, Value::Number)
    }
}

/// The string value of `key` in a parsed input (`None` when absent or `null`).
pub(super) fn text<'a>(input: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    input.get(key).and_then(Value::as_str)
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    const SCHEMA: &[Field] = &[
        Field::new("name", NON_EMPTY, Presence::Required),
        Field::new("kind", Kind::OneOf(&["a", "b"]), Presence::Optional),
        Field::new(
            "port",
            Kind::Number(&[NumberCheck::Min(1, "low")]),
            Presence::Nullish,
        ),
        Field::new("on", Kind::Flag, Presence::Optional),
        Field::new(
            "image",
            Kind::Text(&[]),
            Presence::Present { nullable: true },
        ),
    ];

    fn parsed(input: Value) -> Result<Map<String, Value>, Value> {
        let input = input.as_object().expect("an object").clone();
        parse(SCHEMA, &input).map_err(|failure| {
            let body = failure.response_body(Some("x.y"));
            body["issues"].clone()
        })
    }

    #[test]
    fn a_valid_input_is_coerced_and_stripped_of_unknown_keys() {
        let output = parsed(json!({
            "name": "shop", "port": " 8080 ", "on": "false", "image": null, "extra": 1,
        }))
        .expect("valid");
        assert_eq!(
            Value::Object(output),
            json!({"name": "shop", "port": 8080, "on": true, "image": null})
        );
    }

    #[test]
    fn refusals_carry_zod_4_issues_in_schema_order() {
        let issues =
            parsed(json!({"name": "", "kind": "c", "port": "x", "on": 0})).expect_err("invalid");
        assert_eq!(
            issues,
            json!([
                {"origin": "string", "code": "too_small", "minimum": 1, "inclusive": true,
                 "path": ["name"], "message": "Too small: expected string to have >=1 characters"},
                {"code": "invalid_value", "values": ["a", "b"], "path": ["kind"],
                 "message": "Invalid option: expected one of \"a\"|\"b\""},
                {"expected": "number", "code": "invalid_type", "received": "NaN", "path": ["port"],
                 "message": "Invalid input: expected number, received NaN"},
                {"expected": "nonoptional", "code": "invalid_type", "path": ["image"],
                 "message": "Invalid input: expected nonoptional, received undefined"},
            ])
        );
    }

    #[test]
    fn a_missing_required_string_and_a_low_number_are_refused_as_zod_says() {
        let issues = parsed(json!({"port": 0, "image": 5})).expect_err("invalid");
        assert_eq!(
            issues[0]["message"],
            "Invalid input: expected string, received undefined"
        );
        assert_eq!(
            (issues[1]["code"].as_str(), issues[1]["message"].as_str()),
            (Some("too_small"), Some("low"))
        );
        assert_eq!(
            issues[2]["message"],
            "Invalid input: expected string, received number"
        );
    }

    #[test]
    fn javascript_number_coercion_is_followed() {
        let cases = [
            (json!(""), 0.0),
            (json!("0x10"), 16.0),
            (json!("1e3"), 1000.0),
            (json!(true), 1.0),
            (json!(null), 0.0),
            (json!([]), 0.0),
            (json!(["7"]), 7.0),
        ];
        for (value, expected) in cases {
            assert_eq!(js_number(Some(&value)), expected, "{value}");
        }
        for value in [
            json!("inf"),
            json!("nan"),
            json!("12px"),
            json!({}),
            json!([1, 2]),
        ] {
            assert!(js_number(Some(&value)).is_nan(), "{value}");
        }
    }
}
