//! Checks 40-50: deploys, Dokploy's build queue and restart, deployment pruning, application
//! deletion, and the simulator facts StackLedger's rollback guards rest on.

use super::check::{Call, Check, Expect};
use super::table::{
    APP, DEPLOY, DOMAIN, POLL_FINAL, PROJECT, PROVIDER, newest_final, newest_first,
};

/// `deployment.all` of `{A}`, until its newest row has this title and is final.
macro_rules! final_titled {
    ($title:literal) => {
        Call::get("/api/deployment.all?applicationId={A}")
            .until(200)
            .expect(&[
                Expect::Status(200),
                Expect::Is("/0/title", $title),
                Expect::Holds("the newest row final", newest_final),
            ])
    };
}

const DELETE: Call = Call::post("/api/application.delete", r#"{"applicationId":"{A}"}"#);

pub(crate) const C40: Check = Check {
    number: 40,
    calls: &[
        PROJECT,
        APP,
        PROVIDER,
        DEPLOY.expect(&[
            Expect::Status(200),
            Expect::Header("content-type", "application/json"),
            Expect::Header("content-length", "0"),
            Expect::Text(""),
        ]),
        POLL_FINAL,
    ],
};
pub(crate) const C41: Check = Check {
    number: 41,
    calls: &[Call::post(
        "/api/application.deploy",
        r#"{"applicationId":"nope","title":"t"}"#,
    )
    .expect(&[
        Expect::Status(404),
        Expect::Is("/message", r#""Application not found""#),
    ])],
};
pub(crate) const C42: Check = Check {
    number: 42,
    calls: &[
        PROJECT,
        APP,
        PROVIDER,
        DEPLOY,
        Call::get("/api/deployment.all?applicationId={A}")
            .until(100)
            .expect(&[
                Expect::Status(200),
                Expect::Is("/0/title", r#""t-42""#),
                Expect::Is("/0/status", r#""running""#),
                Expect::Is("/0/finishedAt", "null"),
            ]),
        final_titled!(r#""t-42""#),
        Call::post(
            "/api/application.deploy",
            r#"{"applicationId":"{A}","title":"t-42b"}"#,
        ),
        final_titled!(r#""t-42b""#).expect(&[
            Expect::Status(200),
            Expect::Is("/0/title", r#""t-42b""#),
            Expect::Is("/1/title", r#""t-42""#),
            Expect::Holds("the newest row final", newest_final),
            Expect::Holds("newest first", newest_first),
        ]),
    ],
};
pub(crate) const C43: Check = Check {
    number: 43,
    calls: &[
        PROJECT,
        APP,
        PROVIDER,
        Call::post("/api/application.deploy", r#"{"applicationId":"{A}"}"#),
        final_titled!(r#""Manual deployment""#),
    ],
};
pub(crate) const C44: Check = Check {
    number: 44,
    calls: &[Call::get("/api/deployment.all?applicationId=nope")
        .expect(&[Expect::Status(200), Expect::Is("", "[]")])],
};
pub(crate) const C45: Check = Check {
    number: 45,
    calls: &[
        PROJECT,
        APP,
        PROVIDER,
        APP.save(&[("B", "/applicationId")]),
        Call::post(
            "/api/application.saveDockerProvider",
            r#"{"applicationId":"{B}","dockerImage":"nginx:1.27","username":null,"password":null,"registryUrl":null}"#,
        ),
        DEPLOY,
        Call::post(
            "/api/application.deploy",
            r#"{"applicationId":"{B}","title":"t-45b"}"#,
        ),
        // The first app's build is ahead in Dokploy's one queue: the second has no row yet.
        Call::get("/api/deployment.all?applicationId={B}")
            .expect(&[Expect::Status(200), Expect::Is("", "[]")]),
        POLL_FINAL,
        Call::get("/api/deployment.all?applicationId={B}")
            .until(200)
            .expect(&[
                Expect::Status(200),
                Expect::Is("/0/title", r#""t-45b""#),
                Expect::Holds("the newest row final", newest_final),
            ]),
    ],
};
pub(crate) const C46: Check = Check {
    number: 46,
    calls: &[
        PROJECT,
        APP,
        PROVIDER,
        DEPLOY,
        Call::get("/api/deployment.all?applicationId={A}")
            .until(100)
            .expect(&[Expect::Status(200), Expect::Is("/0/status", r#""running""#)]),
        Call::post(
            "/api/application.deploy",
            r#"{"applicationId":"{A}","title":"t-46b"}"#,
        ),
        Call::method("POST", "/__sim/restart")
            .expect(&[Expect::Status(200), Expect::Is("/ok", "true")]),
        Call::get("/api/deployment.all?applicationId={A}")
            .times(3)
            .expect(&[
                Expect::Status(200),
                Expect::Is("/0/title", r#""t-46""#),
                Expect::Is("/0/status", r#""cancelled""#),
                Expect::Is("/0/finishedAt", "null"),
                Expect::Absent("/1"),
            ]),
        Call::get("/api/application.one?applicationId={A}").expect(&[
            Expect::Status(200),
            Expect::Is("/applicationStatus", r#""idle""#),
        ]),
        Call::get("/__sim/state").expect(&[
            Expect::Status(200),
            Expect::Lacks("/queue", r#"{"applicationId":"{A}"}"#),
        ]),
    ],
};
pub(crate) const C47: Check = Check {
    number: 47,
    calls: &[
        PROJECT,
        APP,
        PROVIDER,
        DEPLOY.times(11),
        Call::post(
            "/api/application.deploy",
            r#"{"applicationId":"{A}","title":"last"}"#,
        ),
        final_titled!(r#""last""#),
        Call::get("/api/deployment.all?applicationId={A}").expect(&[
            Expect::Status(200),
            Expect::Holds("at most 11 rows", |v| {
                v.as_array().is_some_and(|rows| rows.len() <= 11)
            }),
        ]),
    ],
};
pub(crate) const C48: Check = Check {
    number: 48,
    calls: &[
        PROJECT,
        APP,
        PROVIDER,
        DOMAIN,
        DEPLOY,
        POLL_FINAL,
        DELETE.expect(&[
            Expect::Status(200),
            Expect::Is("/applicationId", r#""{A}""#),
            Expect::Is("/appName", r#""{APPNAME}""#),
            Expect::Is("/environment/project/projectId", r#""{P}""#),
            Expect::Holds("its domains and deployments", |v| {
                v["domains"].as_array().is_some_and(|d| !d.is_empty())
                    && v["deployments"].is_array()
            }),
        ]),
        Call::get("/api/domain.byApplicationId?applicationId={A}")
            .expect(&[Expect::Status(200), Expect::Is("", "[]")]),
        Call::get("/api/deployment.all?applicationId={A}")
            .expect(&[Expect::Status(200), Expect::Is("", "[]")]),
        DELETE.expect(&[
            Expect::Status(404),
            Expect::Is("/message", r#""Application not found""#),
        ]),
    ],
};
/// M4's guard rests on this: a route 404 has no `data.path`, a resource 404 names its procedure.
pub(crate) const C49: Check = Check {
    number: 49,
    calls: &[
        Call::get("/api/application.delete?applicationId=nope").expect(&[
            Expect::Status(404),
            Expect::Is("/message", r#""Not found""#),
            Expect::Absent("/data/path"),
        ]),
        Call::post("/api/application.delete", r#"{"applicationId":"nope"}"#).expect(&[
            Expect::Status(404),
            Expect::Is("/message", r#""Application not found""#),
            Expect::Is("/data/path", r#""application.delete""#),
        ]),
    ],
};
/// M1's guard rests on this: an `application.delete` that fails leaves the service running.
pub(crate) const C50: Check = Check {
    number: 50,
    calls: &[
        PROJECT,
        APP,
        PROVIDER,
        DOMAIN,
        DEPLOY,
        POLL_FINAL,
        Call::post(
            "/__sim/faults",
            r#"{"path":"application.delete","status":500,"times":10}"#,
        )
        .expect(&[Expect::Status(201)]),
        DELETE.expect(&[Expect::Status(500)]),
        Call::method("DELETE", "/__sim/faults"),
        Call::get("/__sim/state").expect(&[
            Expect::Status(200),
            Expect::Lists("/services", r#"{"appName":"{APPNAME}","running":true}"#),
        ]),
        Call::get("/__sim/apps/check50/health"),
    ],
};
