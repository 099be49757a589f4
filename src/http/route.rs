//! The route catalog: every route is declared once, with what it does, who may call it, what
//! it takes and what it answers. The router is built from the catalog and
//! `GET /api/openapi.json` is generated from the same entries (see `openapi.rs`), so the
//! document cannot miss or invent a route.
//!
//! A route the router serves must never be declared anywhere but here. The catalog only
//! describes: it never checks a request itself (`admin` documents the token check that the ops
//! handlers' `Admin` extractor makes).

use axum::routing::MethodRouter;

use crate::http::AppState;

/// The type of a parameter or body field, as the document states it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schema {
    /// Any text.
    String,
    /// A non-negative integer.
    Integer,
    /// One of these texts.
    Enum(&'static [&'static str]),
}

/// Where a parameter goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamIn {
    /// The query string.
    Query,
    /// A request header.
    Header,
}

/// An optional query or header parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Param {
    /// Its name.
    pub name: &'static str,
    /// Where it goes.
    pub location: ParamIn,
    /// What it does.
    pub description: &'static str,
    /// Its type.
    pub schema: Schema,
}

impl Param {
    /// A query parameter.
    pub const fn query(name: &'static str, description: &'static str, schema: Schema) -> Self {
        Self {
            name,
            location: ParamIn::Query,
            description,
            schema,
        }
    }

    /// A header parameter.
    pub const fn header(name: &'static str, description: &'static str, schema: Schema) -> Self {
        Self {
            name,
            location: ParamIn::Header,
            description,
            schema,
        }
    }
}

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
    /// The statuses its handler answers, with what each means (the statuses every route can
    /// answer are added by `openapi.rs`).
    pub responses: &'static [(u16, &'static str)],
    /// The media type of its success answer.
    pub content: &'static str,
    /// Its optional query and header parameters.
    pub params: &'static [Param],
    /// Its JSON request body: an object of exactly these fields, all required.
    pub body: Option<&'static [(&'static str, Schema)]>,
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
                params: &[],
                body: None,
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

    /// The route takes these optional parameters.
    pub(crate) fn params(mut self, params: &'static [Param]) -> Self {
        self.doc.params = params;
        self
    }

    /// The route takes a JSON object of exactly these (required) fields.
    pub(crate) fn body(mut self, fields: &'static [(&'static str, Schema)]) -> Self {
        self.doc.body = Some(fields);
        self
    }
}
