//! Checks 1-10: the transport rules (key, route, content type, JSON, zod).

use super::check::{Call, Check, Expect, Key};
use super::table::INVALID;

const UNAUTHORIZED: &[Expect] = &[
    Expect::Status(401),
    Expect::Text(r#"{"message":"Unauthorized"}"#),
];
const ROUTE_404: &[Expect] = &[
    Expect::Status(404),
    Expect::Is("/message", r#""Not found""#),
    Expect::Is("/code", r#""NOT_FOUND""#),
    Expect::Is("/data/httpStatus", "404"),
    Expect::Absent("/data/path"),
];

pub(crate) const C1: Check = Check {
    number: 1,
    calls: &[Call::get("/api/project.all")
        .key(Key::Missing)
        .expect(UNAUTHORIZED)],
};
pub(crate) const C2: Check = Check {
    number: 2,
    calls: &[Call::get("/api/project.all")
        .key(Key::Wrong)
        .expect(UNAUTHORIZED)],
};
pub(crate) const C3: Check = Check {
    number: 3,
    calls: &[Call::method("POST", "/api/project.create")
        .key(Key::Missing)
        .body(r#"{"name":"x"}"#)
        .expect(UNAUTHORIZED)],
};
pub(crate) const C4: Check = Check {
    number: 4,
    calls: &[Call::post("/api/project.all", "{}").expect(ROUTE_404)],
};
pub(crate) const C5: Check = Check {
    number: 5,
    calls: &[Call::method("POST", "/api/project.nope")
        .body("{}")
        .expect(ROUTE_404)],
};
pub(crate) const C6: Check = Check {
    number: 6,
    calls: &[Call::get("/api/PROJECT.ALL").expect(&[
        Expect::Status(200),
        Expect::Holds("a list", serde_json::Value::is_array),
    ])],
};
pub(crate) const C7: Check = Check {
    number: 7,
    calls: &[Call::post("/api/project.create", r#"{"name":"x"}"#)
        .content_type(Some("text/plain"))
        .expect(&[
            Expect::Status(415),
            Expect::Is("/code", r#""UNSUPPORTED_MEDIA_TYPE""#),
            Expect::Is("/message", r#""Unsupported content-type \"text/plain""#),
            Expect::Is("/data/path", r#""project.create""#),
        ])],
};
pub(crate) const C8: Check = Check {
    number: 8,
    calls: &[Call::post("/api/project.create", r#"{"name":"#)
        .expect(&[Expect::Status(400), Expect::Text("Invalid JSON")])],
};
pub(crate) const C9: Check = Check {
    number: 9,
    calls: &[
        Call::post("/api/project.create", r#"{"name":""}"#).expect(&[
            Expect::Status(400),
            INVALID,
            Expect::Is("/code", r#""BAD_REQUEST""#),
            Expect::Is("/issues/0/path", r#"["name"]"#),
            Expect::Is("/issues/0/code", r#""too_small""#),
            Expect::Is("/issues/0/origin", r#""string""#),
            Expect::Is("/issues/0/minimum", "1"),
            Expect::Present("/data/zodError/fieldErrors/name/0"),
            Expect::Is("/data/zodError/formErrors", "[]"),
            Expect::Is("/data/path", r#""project.create""#),
        ]),
    ],
};
pub(crate) const C10: Check = Check {
    number: 10,
    calls: &[Call::get("/api/environment.one").expect(&[
        Expect::Status(400),
        INVALID,
        Expect::Is("/issues/0/path", r#"["environmentId"]"#),
        Expect::Is("/issues/0/code", r#""invalid_type""#),
        Expect::Is(
            "/issues/0/message",
            r#""Invalid input: expected string, received undefined""#,
        ),
        Expect::Present("/data/zodError/fieldErrors/environmentId/0"),
    ])],
};
