//! The web pages and their assets, compiled into the binary. It never reads the filesystem at
//! run time and never derives a path from a request, so no path can escape `static/`, and the
//! binary runs from any directory. Pages are sent with `Content-Security-Policy: default-src
//! 'self'`, so a stray link to a CDN fails loudly in the browser.

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::http::error::ApiError;
use crate::http::extract::Path;
use crate::http::route::Route;

/// Every asset: path under `/static/`, content type, bytes.
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "index.html",
        "text/html; charset=utf-8",
        include_str!("../../static/index.html"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/app.js"),
    ),
    (
        "style.css",
        "text/css; charset=utf-8",
        include_str!("../../static/style.css"),
    ),
    (
        "audit.html",
        "text/html; charset=utf-8",
        include_str!("../../static/audit.html"),
    ),
    (
        "audit.js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/audit.js"),
    ),
];

pub(super) fn routes() -> Vec<Route> {
    vec![
        Route::new(
            "GET",
            "/",
            "The deploy page",
            &[(200, "the page")],
            get(|| async { asset("index.html") }),
        )
        .content("text/html"),
        Route::new(
            "GET",
            "/audit",
            "The ops audit page (its data calls need the admin token)",
            &[(200, "the page")],
            get(|| async { asset("audit.html") }),
        )
        .content("text/html"),
        Route::new(
            "GET",
            "/static/{*path}",
            "The pages' scripts and styles",
            &[
                (200, "the asset"),
                (400, "the path does not decode"),
                (404, "no such asset"),
            ],
            get(static_asset),
        )
        .content("text/plain"),
    ]
}

async fn static_asset(Path(path): Path<String>) -> Response {
    asset(&path)
}

fn asset(path: &str) -> Response {
    let Some((_, content_type, body)) = ASSETS.iter().find(|(name, _, _)| *name == path) else {
        return ApiError::NotFound { what: "asset" }.into_response();
    };
    let mut response = (*body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'self'"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}
