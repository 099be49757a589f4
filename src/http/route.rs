//! The route catalog: every route is declared once, with what it does, who may call it and
//! what it answers. The router is built from the catalog and `GET /api/openapi.json` is
//! generated from the same entries, so the document cannot miss or invent a route.

use axum::routing::MethodRouter;
use serde_json::{Map, Value, json};

use crate::http::AppState;

/// What the OpenAPI document says of a route.
#[derive(Debug, Clone, Copy)]
pub struct RouteDoc {
    /// `GET` or `POST`.
    pub method: &'static str,
    /// The path, with `{param}` placeholders.
    pub path: &'static str,
    /// One line on what it does.
    pub summary: &'static str,
    /// Whether it needs the admin token.
    pub admin: bool,
    /// The statuses it answers, with what each means.
    pub responses: &'static [(u16, &'static str)],
    /// The media type of its success answer.
    pub content: &'static str,
}

impl RouteDoc {
    /// Whether the answer is a stream that stays open (no request timeout applies).
    pub fn streams(&self) -> bool {
        self.content == "text/event-stream"
    }
}

/// A route: its documentation and its handler.
pub(crate) struct Route {
    pub(crate) doc: RouteDoc,
    pub(crate) handler: MethodRouter<AppState>,
}

impl Route {
    /// A route answering JSON.
    pub(crate) fn new(
        method: &'static str,
        path: &'static str,
        summary: &'static str,
        responses: &'static [(u16, &'static str)],
        handler: MethodRouter<AppState>,
    ) -> Self {
        Self {
            doc: RouteDoc {
                method,
                path,
                summary,
                admin: false,
                responses,
                content: "application/json",
            },
            handler,
        }
    }

    /// The route needs the admin token.
    pub(crate) fn admin(mut self) -> Self {
        self.doc.admin = true;
        self
    }

    /// The route's success answer is of this media type.
    pub(crate) fn content(mut self, content: &'static str) -> Self {
        self.doc.content = content;
        self
    }
}

/// The OpenAPI 3.1 document of `docs`.
pub fn openapi(docs: &[RouteDoc]) -> Value {
    let mut paths = Map::new();
    for doc in docs {
        let parameters: Vec<Value> = doc
            .path
            .split('/')
            .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
            .map(|name| {
                let name = name.trim_start_matches('*');
                json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}})
            })
            .collect();
        let responses: Map<String, Value> = doc
            .responses
            .iter()
            .map(|(status, meaning)| {
                let media = if *status < 300 {
                    doc.content
                } else {
                    "application/json"
                };
                let mut response = json!({"description": meaning});
                if *status != 204 {
                    response["content"] = json!({ media: {} });
                }
                (status.to_string(), response)
            })
            .collect();
        let mut operation = json!({
            "summary": doc.summary,
            "parameters": parameters,
            "responses": responses,
        });
        if doc.admin {
            operation["security"] = json!([{"adminToken": []}]);
        }
        let entry = paths
            .entry(doc.path.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        entry[doc.method.to_ascii_lowercase()] = operation;
    }
    json!({
        "openapi": "3.1.0",
        "info": {"title": "StackLedger", "version": env!("CARGO_PKG_VERSION")},
        "paths": paths,
        "components": {"securitySchemes": {"adminToken": {"type": "http", "scheme": "bearer"}}},
    })
}
