//! Checks 11-39: projects, environments, applications, Docker providers and domains.

use serde_json::Value;

use super::check::{Call, Check, Expect};
use super::table::{
    APP, DEPLOY, DOMAIN, INVALID, POLL_FINAL, PROJECT, PROVIDER, is_iso, newest_first,
};

/// `application.create` in `{E}` with this body's extra fields, refused on `field`.
macro_rules! refused_app {
    ($body:literal, $path:literal) => {
        Call::post("/api/application.create", $body).expect(&[
            Expect::Status(400),
            INVALID,
            Expect::Is("/issues/0/path", $path),
        ])
    };
}

/// `domain.create` for `{A}` refused by zod.
macro_rules! refused_domain {
    ($body:literal) => {
        Call::post("/api/domain.create", $body).expect(&[Expect::Status(400), INVALID])
    };
}

pub(crate) const C11: Check = Check {
    number: 11,
    calls: &[
        Call::post("/api/project.create", r#"{"name":"shop"}"#).expect(&[
            Expect::Status(200),
            Expect::Holds("a 21-character projectId", |v| {
                v["project"]["projectId"].as_str().map(str::len) == Some(21)
            }),
            Expect::Is("/project/name", r#""shop""#),
            Expect::Is("/project/description", "null"),
            Expect::Holds("an ISO createdAt", |v| is_iso(&v["project"]["createdAt"])),
            Expect::Present("/project/organizationId"),
            Expect::Is("/project/env", r#""""#),
            Expect::Present("/environment/environmentId"),
            Expect::Is("/environment/name", r#""production""#),
            Expect::Is("/environment/description", r#""Production environment""#),
            Expect::Present("/environment/createdAt"),
            Expect::Is("/environment/env", r#""""#),
            Expect::Is("/environment/isDefault", "true"),
            Expect::Holds("the environment's projectId", |v| {
                v["environment"]["projectId"] == v["project"]["projectId"]
            }),
        ]),
    ],
};
pub(crate) const C12: Check = Check {
    number: 12,
    calls: &[
        Call::post("/api/project.create", r#"{"name":"shop"}"#)
            .save(&[("P1", "/project/projectId")]),
        Call::post("/api/project.create", r#"{"name":"shop"}"#)
            .save(&[("P2", "/project/projectId")]),
        Call::get("/api/project.all").expect(&[Expect::Status(200), Expect::Differ("P1", "P2")]),
    ],
};
pub(crate) const C13: Check = Check {
    number: 13,
    calls: &[
        PROJECT,
        APP,
        Call::get("/api/project.all").expect(&[
            Expect::Status(200),
            Expect::Holds("newest first", newest_first),
            Expect::Holds(
                "Dokploy's environment and application shapes",
                environments_shaped,
            ),
        ]),
    ],
};
pub(crate) const C14: Check = Check {
    number: 14,
    calls: &[
        PROJECT,
        Call::get("/api/environment.one?environmentId={E}").expect(&[
            Expect::Status(200),
            Expect::Is("/isDefault", "true"),
            Expect::Is("/applications", "[]"),
            Expect::Is("/project/projectId", r#""{P}""#),
            Expect::Absent("/createdAt"),
        ]),
    ],
};
pub(crate) const C15: Check = Check {
    number: 15,
    calls: &[
        Call::get("/api/environment.one?environmentId=nope").expect(&[
            Expect::Status(404),
            Expect::Is("/message", r#""Environment not found""#),
            Expect::Is("/data/path", r#""environment.one""#),
        ]),
    ],
};
pub(crate) const C16: Check = Check {
    number: 16,
    calls: &[
        Call::post("/api/project.remove", r#"{"projectId":"nope"}"#).expect(&[
            Expect::Status(404),
            Expect::Is("/message", r#""Project not found""#),
        ]),
    ],
};
pub(crate) const C17: Check = Check {
    number: 17,
    calls: &[
        PROJECT,
        APP,
        PROVIDER,
        DOMAIN,
        DEPLOY,
        POLL_FINAL,
        Call::get("/__sim/apps/check17/health"),
        Call::post("/api/project.remove", r#"{"projectId":"{P}"}"#)
            .expect(&[Expect::Status(200), Expect::Is("/projectId", r#""{P}""#)]),
        Call::post("/api/application.delete", r#"{"applicationId":"{A}"}"#).expect(&[
            Expect::Status(404),
            Expect::Is("/message", r#""Application not found""#),
        ]),
        Call::get("/__sim/apps/check17/health"),
        Call::get("/__sim/state").expect(&[
            Expect::Status(200),
            Expect::Lists("/services", r#"{"appName":"{APPNAME}","running":true}"#),
            Expect::Lists(
                "/routes",
                r#"{"host":"check17.example.com","appName":"{APPNAME}"}"#,
            ),
        ]),
    ],
};
pub(crate) const C18: Check = Check {
    number: 18,
    calls: &[
        PROJECT,
        Call::post(
            "/api/application.create",
            r#"{"name":"shop","appName":"shop","environmentId":"{E}","sourceType":"docker"}"#,
        )
        .expect(&[
            Expect::Status(200),
            Expect::Holds("appName ^shop-[a-z0-9]{6}$", |v| {
                is_suffixed(&v["appName"], "shop-")
            }),
            Expect::Is("/applicationStatus", r#""idle""#),
            Expect::Is("/sourceType", r#""docker""#),
            Expect::Is("/dockerImage", "null"),
            Expect::Is("/replicas", "1"),
            Expect::Is("/buildType", r#""nixpacks""#),
        ]),
    ],
};
pub(crate) const C19: Check = Check {
    number: 19,
    calls: &[
        PROJECT,
        APP.save(&[("A1", "/applicationId"), ("N1", "/appName")]),
        APP.save(&[("A2", "/applicationId"), ("N2", "/appName")]),
        Call::get("/api/environment.one?environmentId={E}").expect(&[
            Expect::Status(200),
            Expect::Differ("A1", "A2"),
            Expect::Differ("N1", "N2"),
            Expect::Is("/applications/0/name", r#""check19""#),
            Expect::Is("/applications/1/name", r#""check19""#),
        ]),
    ],
};
pub(crate) const C20: Check = Check {
    number: 20,
    calls: &[
        PROJECT,
        refused_app!(
            r#"{"name":"shop","appName":"my shop","environmentId":"{E}"}"#,
            r#"["appName"]"#
        ),
    ],
};
pub(crate) const C21: Check = Check {
    number: 21,
    calls: &[
        PROJECT,
        refused_app!(
            r#"{"name":"shop","appName":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","environmentId":"{E}"}"#,
            r#"["appName"]"#
        ),
    ],
};
pub(crate) const C22: Check = Check {
    number: 22,
    calls: &[
        PROJECT,
        refused_app!(
            r#"{"name":"shop","environmentId":"{E}","sourceType":"image"}"#,
            r#"["sourceType"]"#
        ),
    ],
};
pub(crate) const C23: Check = Check {
    number: 23,
    calls: &[Call::post(
        "/api/application.create",
        r#"{"name":"shop","environmentId":""}"#,
    )
    .expect(&[
        Expect::Status(404),
        Expect::Is("/message", r#""Environment not found""#),
    ])],
};
pub(crate) const C24: Check = Check {
    number: 24,
    calls: &[Call::post(
        "/api/application.create",
        r#"{"name":"shop","environmentId":"nope"}"#,
    )
    .expect(&[
        Expect::Status(404),
        Expect::Is("/message", r#""Environment not found""#),
    ])],
};
pub(crate) const C25: Check = Check {
    number: 25,
    calls: &[
        PROJECT,
        APP,
        PROVIDER.expect(&[Expect::Status(200), Expect::Text("true")]),
    ],
};
pub(crate) const C26: Check = Check {
    number: 26,
    calls: &[
        PROJECT,
        APP,
        Call::post(
            "/api/application.saveDockerProvider",
            r#"{"applicationId":"{A}","dockerImage":"nginx"}"#,
        )
        .expect(&[
            Expect::Status(400),
            INVALID,
            Expect::Is("/issues/0/path", r#"["username"]"#),
            Expect::Is("/issues/1/path", r#"["password"]"#),
            Expect::Is("/issues/2/path", r#"["registryUrl"]"#),
            Expect::Absent("/issues/3"),
        ]),
    ],
};
pub(crate) const C27: Check = Check {
    number: 27,
    calls: &[
        PROJECT,
        APP,
        Call::post(
            "/api/application.saveDockerProvider",
            r#"{"applicationId":"{A}","dockerImage":5,"username":null,"password":null,"registryUrl":null}"#,
        )
        .expect(&[Expect::Status(400), INVALID, Expect::Is("/issues/0/path", r#"["dockerImage"]"#)]),
    ],
};
pub(crate) const C28: Check = Check {
    number: 28,
    calls: &[Call::post(
        "/api/application.saveDockerProvider",
        r#"{"applicationId":"nope","dockerImage":"nginx","username":null,"password":null,"registryUrl":null}"#,
    )
    .expect(&[Expect::Status(404), Expect::Is("/message", r#""Application not found""#)])],
};
pub(crate) const C29: Check = Check {
    number: 29,
    calls: &[
        PROJECT,
        APP,
        DOMAIN.expect(&[
            Expect::Status(200),
            Expect::Is("/port", "8080"),
            Expect::Is("/https", "true"),
            Expect::Is("/certificateType", r#""letsencrypt""#),
            Expect::Is("/path", r#""/""#),
            Expect::Is("/internalPath", r#""/""#),
            Expect::Is("/stripPath", "false"),
            Expect::Is("/middlewares", "[]"),
            Expect::Is("/forwardAuthEnabled", "false"),
            Expect::Is("/enabled", "true"),
            Expect::Is("/domainType", r#""application""#),
            Expect::Holds("an integer uniqueConfigKey", |v| {
                v["uniqueConfigKey"].is_i64()
            }),
        ]),
    ],
};
pub(crate) const C30: Check = Check {
    number: 30,
    calls: &[
        PROJECT,
        APP,
        Call::post(
            "/api/domain.create",
            r#"{"host":"x.example.com","applicationId":"{A}","https":true}"#,
        )
        .expect(&[
            Expect::Status(200),
            Expect::Is("/certificateType", r#""none""#),
        ]),
    ],
};
pub(crate) const C31: Check = Check {
    number: 31,
    calls: &[
        PROJECT,
        APP,
        Call::post(
            "/api/domain.create",
            r#"{"host":" x.example.com ","applicationId":"{A}"}"#,
        )
        .expect(&[
            Expect::Status(400),
            INVALID,
            Expect::Is(
                "/issues/0/message",
                r#""Domain name cannot have leading or trailing spaces""#,
            ),
        ]),
    ],
};
pub(crate) const C32: Check = Check {
    number: 32,
    calls: &[
        PROJECT,
        APP,
        refused_domain!(r#"{"host":"a_b.example.com","applicationId":"{A}"}"#),
    ],
};
pub(crate) const C33: Check = Check {
    number: 33,
    calls: &[
        PROJECT,
        APP,
        Call::post(
            "/api/domain.create",
            r#"{"host":"x.example.com","applicationId":"{A}","port":"8080"}"#,
        )
        .expect(&[Expect::Status(200), Expect::Is("/port", "8080")]),
    ],
};
pub(crate) const C34: Check = Check {
    number: 34,
    calls: &[
        PROJECT,
        APP,
        refused_domain!(r#"{"host":"x.example.com","applicationId":"{A}","port":0}"#),
        refused_domain!(r#"{"host":"x.example.com","applicationId":"{A}","port":65536}"#),
        refused_domain!(r#"{"host":"x.example.com","applicationId":"{A}","port":"eighty"}"#),
    ],
};
pub(crate) const C35: Check = Check {
    number: 35,
    calls: &[
        Call::post("/api/domain.create", r#"{"host":"check35.example.com"}"#).expect(&[
            Expect::Status(200),
            Expect::Is("/applicationId", "null"),
            Expect::Is("/host", r#""check35.example.com""#),
        ]),
    ],
};
pub(crate) const C36: Check = Check {
    number: 36,
    calls: &[Call::post(
        "/api/domain.create",
        r#"{"host":"x.example.com","applicationId":"nope"}"#,
    )
    .expect(&[
        Expect::Status(400),
        Expect::IsNot("/message", r#""Application not found""#),
        Expect::Holds("drizzle's failed insert", |v| {
            v["message"]
                .as_str()
                .is_some_and(|m| m.starts_with(r#"Failed query: insert into "domain""#))
        }),
    ])],
};
pub(crate) const C37: Check = Check {
    number: 37,
    calls: &[
        PROJECT,
        APP,
        DOMAIN.save(&[("D1", "/domainId")]),
        DOMAIN.save(&[("D2", "/domainId")]),
        Call::get("/api/domain.byApplicationId?applicationId={A}").expect(&[
            Expect::Status(200),
            Expect::Differ("D1", "D2"),
            Expect::Holds("two rows", |v| v.as_array().map(Vec::len) == Some(2)),
        ]),
    ],
};
pub(crate) const C38: Check = Check {
    number: 38,
    calls: &[
        PROJECT,
        APP,
        DOMAIN,
        Call::get("/api/domain.byApplicationId?applicationId={A}").expect(&[
            Expect::Status(200),
            Expect::Is("/0/application/applicationId", r#""{A}""#),
            Expect::Is("/0/application/appName", r#""{APPNAME}""#),
            Expect::Is("/0/application/name", r#""check38""#),
        ]),
        Call::get("/api/domain.byApplicationId?applicationId=nope")
            .expect(&[Expect::Status(200), Expect::Is("", "[]")]),
    ],
};
pub(crate) const C39: Check = Check {
    number: 39,
    calls: &[
        PROJECT,
        APP,
        DOMAIN,
        Call::post("/api/domain.delete", r#"{"domainId":"{D}"}"#)
            .expect(&[Expect::Status(200), Expect::Is("/domainId", r#""{D}""#)]),
        Call::post("/api/domain.delete", r#"{"domainId":"{D}"}"#).expect(&[
            Expect::Status(404),
            Expect::Is("/message", r#""Domain not found""#),
        ]),
    ],
};

/// Whether `value` is `prefix` and six of `[a-z0-9]`.
fn is_suffixed(value: &Value, prefix: &str) -> bool {
    value
        .as_str()
        .and_then(|name| name.strip_prefix(prefix))
        .is_some_and(|suffix| {
            suffix.len() == 6
                && suffix
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
}

/// Whether every environment of `project.all` has Dokploy's keys and service lists, and every
/// application its three keys.
fn environments_shaped(body: &Value) -> bool {
    let lists = [
        "applications",
        "compose",
        "mariadb",
        "mongo",
        "mysql",
        "postgres",
        "redis",
        "libsql",
    ];
    let environments: Vec<&Value> = body
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|project| project["environments"].as_array().into_iter().flatten())
        .collect();
    !environments.is_empty()
        && environments.iter().all(|environment| {
            ["name", "environmentId", "isDefault"]
                .iter()
                .all(|key| !environment[key].is_null())
                && lists.iter().all(|list| environment[list].is_array())
                && environment["applications"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .all(|app| {
                        ["applicationId", "name", "applicationStatus"]
                            .iter()
                            .all(|key| app[key].is_string())
                    })
        })
}
