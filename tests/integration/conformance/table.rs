//! The table: checks 1-50 of §7 of `../shared/dokploy-behaviour.md`, in order, and the calls
//! their setups share (a project, an application named `check<N>` with its Docker image, its
//! domain `check<N>.example.com`, a deploy and the polls until it is final).

use serde_json::Value;

use super::check::{Call, Check, Expect};
use super::{deploys, resources, transport};

/// Every check, by number.
pub(crate) const CHECKS: &[Check] = &[
    transport::C1,
    transport::C2,
    transport::C3,
    transport::C4,
    transport::C5,
    transport::C6,
    transport::C7,
    transport::C8,
    transport::C9,
    transport::C10,
    resources::C11,
    resources::C12,
    resources::C13,
    resources::C14,
    resources::C15,
    resources::C16,
    resources::C17,
    resources::C18,
    resources::C19,
    resources::C20,
    resources::C21,
    resources::C22,
    resources::C23,
    resources::C24,
    resources::C25,
    resources::C26,
    resources::C27,
    resources::C28,
    resources::C29,
    resources::C30,
    resources::C31,
    resources::C32,
    resources::C33,
    resources::C34,
    resources::C35,
    resources::C36,
    resources::C37,
    resources::C38,
    resources::C39,
    deploys::C40,
    deploys::C41,
    deploys::C42,
    deploys::C43,
    deploys::C44,
    deploys::C45,
    deploys::C46,
    deploys::C47,
    deploys::C48,
    deploys::C49,
    deploys::C50,
];

/// A project exists: `{P}`, its environment `{E}`.
pub(crate) const PROJECT: Call = Call::post("/api/project.create", r#"{"name":"check{CHECK}"}"#)
    .save(&[
        ("P", "/project/projectId"),
        ("E", "/environment/environmentId"),
    ]);

/// An application `check<N>` exists in `{E}`: `{A}`, its appName `{APPNAME}`.
pub(crate) const APP: Call = Call::post(
    "/api/application.create",
    r#"{"name":"check{CHECK}","appName":"check{CHECK}","environmentId":"{E}","sourceType":"docker"}"#,
)
.save(&[("A", "/applicationId"), ("APPNAME", "/appName")]);

/// `{A}` has its Docker image, as the client sets it.
pub(crate) const PROVIDER: Call = Call::post(
    "/api/application.saveDockerProvider",
    r#"{"applicationId":"{A}","dockerImage":"nginx:1.27","username":null,"password":null,"registryUrl":null}"#,
);

/// `{A}` has the domain `check<N>.example.com` (`{D}`), with the client's body.
pub(crate) const DOMAIN: Call = Call::post(
    "/api/domain.create",
    r#"{"host":"check{CHECK}.example.com","applicationId":"{A}","domainType":"application","port":8080,"https":true,"certificateType":"letsencrypt","path":"/"}"#,
)
.save(&[("D", "/domainId")]);

/// `{A}` is deployed with the title `t-<N>`.
pub(crate) const DEPLOY: Call = Call::post(
    "/api/application.deploy",
    r#"{"applicationId":"{A}","title":"t-{CHECK}"}"#,
);

/// `{A}`'s newest deployment row is final (polled until it is).
pub(crate) const POLL_FINAL: Call = Call::get("/api/deployment.all?applicationId={A}")
    .until(100)
    .expect(&[
        Expect::Status(200),
        Expect::Holds("the newest row final", newest_final),
    ]);

/// The 400 of a zod refusal.
pub(crate) const INVALID: Expect = Expect::Is("/message", r#""Input validation failed""#);

/// Whether the newest row is `done` or `error` with a `finishedAt`.
pub(crate) fn newest_final(body: &Value) -> bool {
    let row = &body[0];
    matches!(row["status"].as_str(), Some("done" | "error")) && row["finishedAt"].is_string()
}

/// Whether every row's `createdAt` is at most the one before it.
pub(crate) fn newest_first(body: &Value) -> bool {
    let times: Vec<&str> = body
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|row| row["createdAt"].as_str())
        .collect();
    times.windows(2).all(|pair| pair[0] >= pair[1])
}

/// Whether a `createdAt` is an ISO 8601 instant (`2026-01-01T00:00:01.000Z`).
pub(crate) fn is_iso(value: &Value) -> bool {
    value
        .as_str()
        .is_some_and(|text| text.len() >= 20 && text.as_bytes()[10] == b'T' && text.ends_with('Z'))
}
