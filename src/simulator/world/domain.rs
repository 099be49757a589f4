//! Dokploy's `domain` router: the domain rows, their JSON shape, and `domain.create`
//! (`apiCreateDomain`: only `host` is required; it must have no leading or trailing spaces
//! and be an RFC 1123 name; `port` is 1 to 65535 and coerced from a string; every handler
//! error is a 400 with its message, so an unknown application is the database's foreign-key
//! failure, `Failed query: insert into "domain" …`), `domain.byApplicationId` (each row with
//! its application), `domain.one` and `domain.delete`.
//!
//! A domain created without an application is a row whose `application_id` is empty (shown
//! as `applicationId: null`): it routes nothing. Validation comes before any row is written:
//! input zod refuses never draws an id or moves the world's time (an insert the database
//! refuses does, as the id is drawn before the insert).

use serde_json::{Map, Value, json};

use super::World;
use super::input::required_one;
use super::zod::{self, Field, Kind, NumberCheck, Presence, TextCheck};
use crate::simulator::answer::{Answer, Failure};

/// One domain row: the keys other code reads, and every other column as Dokploy stores it.
#[derive(Debug, Clone)]
pub(super) struct DomainRecord {
    pub(super) id: String,
    pub(super) host: String,
    /// The application it routes to; empty for a domain created without one.
    pub(super) application_id: String,
    pub(super) created_at: String,
    /// `https`, `port`, `path`, `certificateType`, … (`schema/domain.ts`).
    columns: Map<String, Value>,
}

/// `apiCreateDomain` (`schema/domain.ts`, `db/validations/domain.ts`), in its key order.
const CREATE: &[Field] = &[
    Field::new("host", Kind::Text(HOST), Presence::Required),
    Field::new(
        "path",
        Kind::Text(&[TextCheck::Min(1, None)]),
        Presence::Nullish,
    ),
    Field::new("port", Kind::Number(PORT), Presence::Nullish),
    Field::new("customEntrypoint", Kind::Text(&[]), Presence::Nullish),
    Field::new("https", Kind::Flag, Presence::Optional),
    Field::new("applicationId", Kind::Text(&[]), Presence::Nullish),
    Field::new(
        "certificateType",
        Kind::OneOf(CERTIFICATES),
        Presence::Optional,
    ),
    Field::new("customCertResolver", Kind::Text(&[]), Presence::Nullish),
    Field::new("composeId", Kind::Text(&[]), Presence::Nullish),
    Field::new("serviceName", Kind::Text(&[]), Presence::Nullish),
    Field::new("domainType", Kind::OneOf(DOMAIN_TYPES), Presence::Nullish),
    Field::new("previewDeploymentId", Kind::Text(&[]), Presence::Nullish),
    Field::new("internalPath", Kind::Text(&[]), Presence::Nullish),
    Field::new("stripPath", Kind::Flag, Presence::Optional),
    Field::new("middlewares", Kind::Texts, Presence::Nullish),
    Field::new("forwardAuthEnabled", Kind::Flag, Presence::Optional),
];

const HOST: &[TextCheck] = &[
    TextCheck::Min(1, Some("Add a hostname")),
    TextCheck::Refine {
        test: is_trimmed,
        message: "Domain name cannot have leading or trailing spaces",
    },
    TextCheck::Piped {
        test: is_hostname,
        message: "Invalid domain name. Use only letters, numbers, hyphens and dots (e.g. \
                  example.com). Underscores are not allowed.",
    },
];

const PORT: &[NumberCheck] = &[
    NumberCheck::Min(1, "Port must be at least 1"),
    NumberCheck::Max(65535, "Port must be 65535 or below"),
];

const CERTIFICATES: &[&str] = &["letsencrypt", "none", "custom"];
const DOMAIN_TYPES: &[&str] = &["compose", "application", "preview"];

/// A column's value when the insert leaves it out.
type ColumnDefault = fn() -> Value;

/// The `domain` table's columns in order, each with its default when the insert leaves it
/// out (`None`: the column is set by the simulator itself).
const COLUMNS: &[(&str, Option<ColumnDefault>)] = &[
    ("domainId", None),
    ("host", None),
    ("https", Some(|| json!(false))),
    ("port", Some(|| json!(3000))),
    ("customEntrypoint", Some(|| Value::Null)),
    ("path", Some(|| json!("/"))),
    ("serviceName", Some(|| Value::Null)),
    ("domainType", Some(|| json!("application"))),
    ("uniqueConfigKey", None),
    ("createdAt", None),
    ("composeId", Some(|| Value::Null)),
    ("customCertResolver", Some(|| Value::Null)),
    ("applicationId", Some(|| Value::Null)),
    ("previewDeploymentId", Some(|| Value::Null)),
    ("certificateType", Some(|| json!("none"))),
    ("internalPath", Some(|| json!("/"))),
    ("stripPath", Some(|| json!(false))),
    ("middlewares", Some(|| json!([]))),
    ("forwardAuthEnabled", Some(|| json!(false))),
    ("enabled", Some(|| json!(true))),
];

impl World {
    /// `domain.create` (`routers/domain.ts:35-66`, `services/domain.ts:17-44`).
    pub(super) fn domain_create(&mut self, input: &Map<String, Value>) -> Result<Answer, Failure> {
        let input = zod::parse(CREATE, input)?;
        let id = self.id();
        let created_at = self.now();
        if self.insert_refused(&input) {
            // Dokploy answers every error of domain.create as a 400 with its message.
            return Err(Failure::bad_request(insert_failure(
                &id,
                &created_at,
                &input,
            )));
        }
        self.config_key += 1;
        let unique_config_key = self.config_key;
        let mut columns: Map<String, Value> = COLUMNS
            .iter()
            .filter(|(column, _)| *column != "applicationId")
            .filter_map(|(column, default)| {
                let value = input
                    .get(*column)
                    .cloned()
                    .or_else(|| default.map(|d| d()))?;
                Some(((*column).to_owned(), value))
            })
            .collect();
        columns.insert("uniqueConfigKey".to_owned(), json!(unique_config_key));
        let domain = DomainRecord {
            id,
            host: zod::text(&input, "host").unwrap_or_default().to_owned(),
            application_id: zod::text(&input, "applicationId")
                .unwrap_or_default()
                .to_owned(),
            created_at,
            columns,
        };
        let answer = domain_json(&domain);
        self.domains.push(domain);
        Ok(Answer::Json(answer))
    }

    /// Whether PostgreSQL refuses the insert: a foreign key to a row that does not exist (an
    /// application, and any compose or preview deployment, which the simulator never has), or
    /// a port that is not an integer.
    fn insert_refused(&self, input: &Map<String, Value>) -> bool {
        let unknown_application =
            zod::text(input, "applicationId").is_some_and(|id| !self.applications.contains(id));
        let other_parent = ["composeId", "previewDeploymentId"]
            .iter()
            .any(|key| zod::text(input, key).is_some());
        let fractional_port = input.get("port").is_some_and(|port| port.is_f64());
        unknown_application || other_parent || fractional_port
    }

    /// `domain.byApplicationId`: the application's domains, each with its application.
    pub(super) fn domain_by_application_id(
        &self,
        input: &Map<String, Value>,
    ) -> Result<Answer, Failure> {
        let application_id = required_one(input, "applicationId")?;
        let rows = self
            .domains
            .children(&application_id)
            .map(|domain| {
                let mut row = domain_json(domain);
                if let (Some(row), Ok(app)) =
                    (row.as_object_mut(), self.application(&application_id))
                {
                    row.insert(
                        "application".to_owned(),
                        json!({"applicationId": app.id, "appName": app.app_name, "name": app.name}),
                    );
                }
                row
            })
            .collect();
        Ok(Answer::Json(Value::Array(rows)))
    }

    /// `domain.one`: the domain, or Dokploy's 404.
    pub(super) fn domain_one(&self, input: &Map<String, Value>) -> Result<Answer, Failure> {
        let id = required_one(input, "domainId")?;
        let domain = self.domains.get(&id);
        let domain = domain.ok_or_else(|| Failure::not_found("Domain"))?;
        Ok(Answer::Json(domain_json(domain)))
    }

    /// `domain.delete`: answers the domain as it was.
    pub(super) fn domain_delete(&mut self, input: &Map<String, Value>) -> Result<Answer, Failure> {
        let id = required_one(input, "domainId")?;
        let domain = self.domains.remove(&id);
        let domain = domain.ok_or_else(|| Failure::not_found("Domain"))?;
        Ok(Answer::Json(domain_json(&domain)))
    }
}

/// A domain as Dokploy shows it: every column, in the table's order.
pub(super) fn domain_json(domain: &DomainRecord) -> Value {
    let row: Map<String, Value> = COLUMNS
        .iter()
        .map(|(column, _)| {
            let value = match *column {
                "domainId" => json!(domain.id),
                "host" => json!(domain.host),
                "createdAt" => json!(domain.created_at),
                "applicationId" if domain.application_id.is_empty() => Value::Null,
                "applicationId" => json!(domain.application_id),
                other => domain.columns.get(other).cloned().unwrap_or(Value::Null),
            };
            ((*column).to_owned(), value)
        })
        .collect();
    Value::Object(row)
}

/// drizzle's error for an insert PostgreSQL refused: `Failed query: <sql>` and its params.
/// Columns the input gives (and the ids drizzle generates) are parameters, the rest `default`.
fn insert_failure(id: &str, created_at: &str, input: &Map<String, Value>) -> String {
    let mut names = Vec::new();
    let mut values = Vec::new();
    let mut params = Vec::new();
    for (column, _) in COLUMNS {
        names.push(format!("\"{column}\""));
        let param = match *column {
            "domainId" => Some(json!(id)),
            "createdAt" => Some(json!(created_at)),
            other => input.get(other).cloned(),
        };
        match param {
            Some(param) => {
                params.push(js_string(&param));
                values.push(format!("${}", params.len()));
            }
            None => values.push("default".to_owned()),
        }
    }
    let names = names.join(", ");
    format!(
        "Failed query: insert into \"domain\" ({names}) values ({}) returning {names}\nparams: {}",
        values.join(", "),
        params.join(","),
    )
}

/// JavaScript's `String(value)` of a parameter (a list joins its items with commas).
fn js_string(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(text) => text.clone(),
        Value::Array(items) => items.iter().map(js_string).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}

/// Whether the host equals its trim (JavaScript's `trim` removes Unicode white space).
fn is_trimmed(host: &str) -> bool {
    host.trim() == host
}

/// `VALID_HOSTNAME_REGEX` (`utils/hostname-validation.ts`): dot-separated labels of 1 to 63
/// letters, digits and `-`, none starting or ending with `-`.
fn is_hostname(host: &str) -> bool {
    host.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    })
}
