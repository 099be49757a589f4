//! The project lookup (issue 12, "Lookups that scale"): `project.search` finds the oldest
//! exact match without listing every project, a Dokploy without it is listed (streamed) from
//! then on, and a log recorded when the lookup was `project.all` still redrives.

use stackledger::deployment::Procedure;
use stackledger::dokploy::api::{AnswerExt, Request};
use stackledger::simulator::Fault;

use crate::dokploy_client::{answer, provision};
use crate::support::{client, simulator};

#[tokio::test]
async fn the_project_lookup_searches_and_keeps_the_oldest_exact_match() {
    let simulator = simulator().await;
    let client = client(&simulator);
    let (oldest, environment, _, _) = provision(&client, "shop").await;
    for name in ["shop", "shopping", "workshop"] {
        answer(&client, Request::CreateProject { name: name.into() }).await;
    }
    let find = Request::FindProject {
        name: "shop".into(),
    };
    let found = answer(&client, find.clone())
        .await
        .project(Procedure::ProjectSearch)
        .expect("a project answer")
        .expect("found");
    assert_eq!(found.project_id, oldest);
    assert_eq!(found.environment_id, Some(environment));
    let sent: Vec<String> = simulator
        .requests()
        .into_iter()
        .map(|request| request.procedure)
        .collect();
    assert!(sent.contains(&"project.search".to_owned()), "{sent:?}");
    assert!(!sent.contains(&"project.all".to_owned()), "{sent:?}");
    let missing = Request::FindProject {
        name: "shops".into(),
    };
    let none = answer(&client, missing)
        .await
        .project(Procedure::ProjectSearch);
    assert_eq!(none.expect("a project answer"), None);
}

#[tokio::test]
async fn a_dokploy_without_search_is_asked_for_its_list_from_then_on() {
    let simulator = simulator().await;
    let client = client(&simulator);
    let (oldest, environment, _, _) = provision(&client, "shop").await;
    answer(
        &client,
        Request::CreateProject {
            name: "shop".into(),
        },
    )
    .await;
    // An older Dokploy: project.search is a route 404 (no NOT_FOUND naming it).
    simulator.add_fault(Fault::on("project.search").status(404).times(100));
    let find = Request::FindProject {
        name: "shop".into(),
    };
    for _ in 0..2 {
        let found = answer(&client, find.clone())
            .await
            .project(Procedure::ProjectSearch)
            .expect("a project answer")
            .expect("found");
        assert_eq!(found.project_id, oldest);
        assert_eq!(found.environment_id, Some(environment.clone()));
    }
    let searches = simulator
        .requests()
        .iter()
        .filter(|request| request.procedure == "project.search")
        .count();
    assert_eq!(searches, 1, "search is not asked again once it is missing");
}

/// The golden log's envelopes, verified as read (`<seq> <hex>` per line).
fn golden_envelopes() -> Vec<stackledger::ledger::envelope::Envelope> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("events/golden/scenario.log");
    let text = std::fs::read_to_string(path).expect("the golden log reads");
    let mut verifier = stackledger::ledger::Verifier::new();
    text.lines()
        .filter(|line| !line.is_empty())
        .map(|line| {
            let (seq, hex) = line.split_once(' ').expect("`<seq> <hex>`");
            let bytes: Vec<u8> = (0..hex.len())
                .step_by(2)
                .map(|at| u8::from_str_radix(&hex[at..at + 2], 16).expect("hex"))
                .collect();
            let seq = stackledger::ids::Seq(seq.parse().expect("a seq"));
            verifier
                .record(seq, &bytes)
                .expect("the golden log verifies")
        })
        .collect()
}

#[test]
fn regression_12_the_golden_log_redrives_past_its_project_lookup_as_before() {
    // Recorded by 0.1.0: the project lookup under `project.all`, 404s as
    // `Dokploy answered 404: …`. The recorded stand-in must still answer every call.
    let envelopes = golden_envelopes();
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("golden.ndjson");
    let lines: Vec<String> = envelopes
        .iter()
        .map(|envelope| serde_json::to_string(envelope).expect("serializes"))
        .collect();
    std::fs::write(&file, lines.join("\n") + "\n").expect("written");
    let file = file.to_str().expect("utf-8");
    // The finished deployments (one still in progress has nothing to redrive to).
    let mut streams: Vec<String> = Vec::new();
    for envelope in &envelopes {
        let id = envelope.stream.to_string();
        let finished = matches!(
            envelope.event,
            stackledger::deployment::Event::DeploymentSucceeded { .. }
                | stackledger::deployment::Event::RollbackFinished { .. }
        );
        if finished && !streams.contains(&id) {
            streams.push(id);
        }
    }
    assert!(!streams.is_empty(), "the golden log holds deployments");
    for id in &streams {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_stackledger-replay"))
            .args(["--file", file, "--json", "redrive", id.as_str()])
            .args(["--health-interval", "1ms"])
            .env_remove("ADMIN_TOKEN")
            .output()
            .expect("the replay tool runs");
        let answer: serde_json::Value = serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|_| panic!("{id}: {}", String::from_utf8_lossy(&output.stderr)));
        // The same divergences as 0.1.0's own redrive of this log (phases added since, the
        // rollback's inspections): never at the project lookup, which is replayed as recorded.
        let divergence = &answer["divergence"];
        if !divergence.is_null() {
            assert!(divergence["index"].as_u64() > Some(1), "{id}: {answer}");
            let text = divergence.to_string();
            assert!(!text.contains("project.all"), "{id}: {answer}");
            assert!(!text.contains("project.search"), "{id}: {answer}");
        }
    }
}
