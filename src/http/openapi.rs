//! The OpenAPI 3.1 document, generated from the route catalog: paths, parameters, request
//! bodies, and every status each route answers, including those the edges add to every route
//! (408 request timeout, 414, 431, 503 at the connection cap). Typed, so the document's shape
//! is checked by the compiler; its validity against the official schema is checked by a test.
//!
//! It never invents a route: every path, method, parameter and status comes from a catalog
//! entry or from the statuses the edges add to every route.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::http::route::{Param, ParamIn, RouteDoc, Schema};

/// Statuses every route can answer, whatever its handler does.
const EVERY_ROUTE: &[(u16, &str)] = &[
    (414, "the request target is too long"),
    (431, "the request headers are too many or too large"),
    (
        503,
        "the server holds its maximum of open connections (Retry-After)",
    ),
];

/// The status every route but a stream answers when it is not ready in time.
const NOT_IN_TIME: (u16, &str) = (408, "the answer was not ready within the request timeout");

/// The OpenAPI document.
#[derive(Debug, Serialize)]
pub struct Document {
    openapi: &'static str,
    info: Info,
    paths: BTreeMap<&'static str, BTreeMap<String, Operation>>,
    components: Components,
}

#[derive(Debug, Serialize)]
struct Info {
    title: &'static str,
    version: &'static str,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Operation {
    summary: &'static str,
    parameters: Vec<Parameter>,
    #[serde(skip_serializing_if = "Option::is_none")]
    request_body: Option<RequestBody>,
    responses: BTreeMap<String, Response>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    security: Vec<BTreeMap<&'static str, Vec<String>>>,
}

#[derive(Debug, Serialize)]
struct Parameter {
    name: &'static str,
    #[serde(rename = "in")]
    location: &'static str,
    required: bool,
    #[serde(skip_serializing_if = "str::is_empty")]
    description: &'static str,
    schema: SchemaObject,
}

#[derive(Debug, Serialize)]
struct RequestBody {
    required: bool,
    content: BTreeMap<&'static str, MediaType>,
}

#[derive(Debug, Default, Serialize)]
struct MediaType {
    #[serde(skip_serializing_if = "Option::is_none")]
    schema: Option<SchemaObject>,
}

#[derive(Debug, Serialize)]
struct Response {
    description: String,
    headers: BTreeMap<&'static str, Header>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    content: BTreeMap<&'static str, MediaType>,
}

#[derive(Debug, Serialize)]
struct Header {
    description: &'static str,
    schema: SchemaObject,
}

/// The subset of JSON Schema the document uses.
#[derive(Debug, Default, Serialize)]
struct SchemaObject {
    #[serde(rename = "$ref", skip_serializing_if = "Option::is_none")]
    reference: Option<&'static str>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    #[serde(rename = "enum", skip_serializing_if = "Option::is_none")]
    values: Option<&'static [&'static str]>,
    #[serde(rename = "const", skip_serializing_if = "Option::is_none")]
    constant: Option<bool>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    properties: BTreeMap<&'static str, SchemaObject>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    required: Vec<&'static str>,
    #[serde(
        rename = "additionalProperties",
        skip_serializing_if = "Option::is_none"
    )]
    additional_properties: Option<bool>,
}

impl SchemaObject {
    fn of(schema: Schema) -> Self {
        match schema {
            Schema::String => Self::kind("string"),
            Schema::Integer => Self::kind("integer"),
            Schema::Enum(values) => Self {
                values: Some(values),
                ..Self::kind("string")
            },
        }
    }

    fn kind(kind: &'static str) -> Self {
        Self {
            kind: Some(kind),
            ..Self::default()
        }
    }

    /// An object of the given fields, `required` of them required, no others.
    fn object(
        properties: impl IntoIterator<Item = (&'static str, SchemaObject)>,
        required: Vec<&'static str>,
    ) -> Self {
        Self {
            properties: properties.into_iter().collect(),
            required,
            additional_properties: Some(false),
            ..Self::kind("object")
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Components {
    security_schemes: BTreeMap<&'static str, SecurityScheme>,
    schemas: BTreeMap<&'static str, SchemaObject>,
}

#[derive(Debug, Serialize)]
struct SecurityScheme {
    #[serde(rename = "type")]
    kind: &'static str,
    scheme: &'static str,
}

/// The OpenAPI 3.1 document of `docs`.
pub fn document(docs: &[RouteDoc]) -> Document {
    let mut paths: BTreeMap<&'static str, BTreeMap<String, Operation>> = BTreeMap::new();
    for doc in docs {
        paths
            .entry(doc.path)
            .or_default()
            .insert(doc.method.to_ascii_lowercase(), operation(doc));
    }
    Document {
        openapi: "3.1.0",
        info: Info {
            title: "StackLedger",
            version: env!("CARGO_PKG_VERSION"),
        },
        paths,
        components: Components {
            security_schemes: BTreeMap::from([(
                "adminToken",
                SecurityScheme {
                    kind: "http",
                    scheme: "bearer",
                },
            )]),
            schemas: BTreeMap::from([("Error", error_schema())]),
        },
    }
}

fn operation(doc: &RouteDoc) -> Operation {
    let path_params = doc
        .path
        .split('/')
        .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
        .map(|name| Parameter {
            name: name.trim_start_matches('*'),
            location: "path",
            required: true,
            description: "",
            schema: SchemaObject::kind("string"),
        });
    let parameters = path_params
        .chain(doc.params.iter().map(parameter))
        .collect();
    let request_body = doc.body.map(|fields| RequestBody {
        required: true,
        content: BTreeMap::from([("application/json", body_media(fields))]),
    });
    let security = if doc.admin {
        vec![BTreeMap::from([("adminToken", Vec::new())])]
    } else {
        Vec::new()
    };
    Operation {
        summary: doc.summary,
        parameters,
        request_body,
        responses: responses(doc),
        security,
    }
}

fn parameter(param: &Param) -> Parameter {
    Parameter {
        name: param.name,
        location: match param.location {
            ParamIn::Query => "query",
            ParamIn::Header => "header",
        },
        required: false,
        description: param.description,
        schema: SchemaObject::of(param.schema),
    }
}

fn body_media(fields: &[(&'static str, Schema)]) -> MediaType {
    let properties = fields
        .iter()
        .map(|(name, field)| (*name, SchemaObject::of(*field)));
    let required = fields.iter().map(|(name, _)| *name).collect();
    MediaType {
        schema: Some(SchemaObject::object(properties, required)),
    }
}

/// The route's own statuses, then those every route answers; meanings of one status are
/// joined.
fn responses(doc: &RouteDoc) -> BTreeMap<String, Response> {
    let timeout = (!doc.streams()).then_some(NOT_IN_TIME);
    let every = EVERY_ROUTE.iter().copied().chain(timeout);
    let mut meanings: BTreeMap<u16, Vec<&str>> = BTreeMap::new();
    for (status, meaning) in doc.responses.iter().copied().chain(every) {
        meanings.entry(status).or_default().push(meaning);
    }
    meanings
        .into_iter()
        .map(|(status, meaning)| {
            (
                status.to_string(),
                response(doc, status, &meaning.join("; ")),
            )
        })
        .collect()
}

fn response(doc: &RouteDoc, status: u16, description: &str) -> Response {
    let mut headers = BTreeMap::from([(
        "x-request-id",
        Header {
            description: "the request's id (the one sent, or a new one); logs carry it",
            schema: SchemaObject::kind("string"),
        },
    )]);
    if status == 429 || status == 503 {
        let wait = Header {
            description: "seconds to wait before trying again",
            schema: SchemaObject::kind("integer"),
        };
        headers.insert("Retry-After", wait);
    }
    let content = match status {
        204 => BTreeMap::new(),
        200..=299 => BTreeMap::from([(doc.content, MediaType::default())]),
        _ => BTreeMap::from([(
            "application/json",
            MediaType {
                schema: Some(SchemaObject {
                    reference: Some("#/components/schemas/Error"),
                    ..SchemaObject::default()
                }),
            },
        )]),
    };
    Response {
        description: description.to_owned(),
        headers,
        content,
    }
}

/// `{"success": false, "error": {"code", "message", "deploymentId"?}}` (a 409 names the
/// holder; an error may carry more fields later, so they are not closed).
fn error_schema() -> SchemaObject {
    let error = SchemaObject {
        additional_properties: None,
        ..SchemaObject::object(
            [
                ("code", SchemaObject::kind("string")),
                ("message", SchemaObject::kind("string")),
                ("deploymentId", SchemaObject::kind("string")),
            ],
            vec!["code", "message"],
        )
    };
    let success = SchemaObject {
        constant: Some(false),
        ..SchemaObject::default()
    };
    SchemaObject::object(
        [("success", success), ("error", error)],
        vec!["success", "error"],
    )
}
