//! The portal's line for Dokploy's build slots, through the real HTTP surface: deployments
//! started together wait in line for the one build slot, each status stream shows its place
//! ("Waiting for a build slot: 2 deployments ahead"), `/metrics` counts the line, and the
//! builds are handed to Dokploy one at a time, first come first served.
//!
//! The test holds the slot itself until all four deployments stand in line, so the places do
//! not depend on how fast the simulator builds: it asserts the portal's events (by their seqs,
//! the SSE ids), never the simulator's timing.

use std::time::Duration;

use crate::support::test_app::{Message, TestApp, parse_sse, spawn_app};
use crate::support::{http, simulator};
use stackledger::orchestrator::gate::Turn;

/// A status stream read as it goes.
pub(crate) struct Live {
    response: reqwest::Response,
    buffer: String,
    messages: Vec<Message>,
}

impl Live {
    pub(crate) async fn open(app: &TestApp, id: &str) -> Live {
        let response = http()
            .get(app.url(&format!("/api/status/{id}")))
            .send()
            .await
            .expect("the stream opens");
        assert_eq!(response.status().as_u16(), 200);
        Live {
            response,
            buffer: String::new(),
            messages: Vec::new(),
        }
    }

    /// Reads until a message satisfies `wanted` (true) or the stream ends (false).
    pub(crate) async fn until(&mut self, wanted: impl Fn(&Message) -> bool) -> bool {
        let mut checked = 0;
        loop {
            if self.messages[checked..].iter().any(&wanted) {
                return true;
            }
            checked = self.messages.len();
            let Some(chunk) = self.response.chunk().await.expect("the stream reads") else {
                return false;
            };
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
            if let Some(end) = self.buffer.rfind("\n\n") {
                let complete: String = self.buffer.drain(..end + 2).collect();
                self.messages.extend(parse_sse(&complete));
            }
        }
    }

    /// The last message read.
    pub(crate) fn with_last(&self) -> &Message {
        self.messages.last().expect("a message was read")
    }

    /// The places in line this stream showed, in order.
    fn places(&self) -> Vec<String> {
        self.with_action("build_slot_waiting")
            .map(|m| m.data["message"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    pub(crate) fn with_action(&self, action: &'static str) -> impl Iterator<Item = &Message> {
        self.messages
            .iter()
            .filter(move |m| m.event == "progress" && m.data["action"] == action)
    }

    /// The seq (SSE id) of the first message of `action`.
    fn seq_of(&self, action: &'static str) -> u64 {
        let message = self.with_action(action).next();
        let message = message.unwrap_or_else(|| panic!("no {action} in {:#?}", self.messages));
        message.id.expect("durable messages carry their seq")
    }
}

/// The value of a one-sample family in `/metrics`.
async fn gauge(app: &TestApp, name: &str) -> u64 {
    let text = http()
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("answers")
        .text()
        .await
        .expect("text");
    text.lines()
        .find_map(|line| line.strip_prefix(&format!("{name} ")))
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| panic!("{name} in {text}"))
}

fn place_words(ahead: usize) -> String {
    match ahead {
        0 => "Waiting for a build slot: next in line".to_owned(),
        1 => "Waiting for a build slot: 1 deployment ahead".to_owned(),
        n => format!("Waiting for a build slot: {n} deployments ahead"),
    }
}

#[tokio::test]
async fn four_deployments_with_one_build_slot_all_succeed_in_line_each_stream_showing_its_place() {
    let simulator = simulator().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let app = spawn_app(dir.path(), &simulator, &["--dokploy-builds=1"]).await;
    let gate = std::sync::Arc::clone(app.app.orchestrator.build_gate());
    let mut holder = gate.join();
    let Turn::Granted(held) = holder.turn().await else {
        panic!("the slot of an empty line is free");
    };
    let run = async {
        let mut streams = Vec::new();
        for name in ["alpha", "bravo", "charlie", "delta"] {
            let id = app.deploy(name).await;
            streams.push(Live::open(&app, &id).await);
        }
        for stream in &mut streams {
            let waiting = stream
                .until(|m| m.data["action"] == "build_slot_waiting")
                .await;
            assert!(
                waiting,
                "every deployment waits in line: {:#?}",
                stream.messages
            );
        }
        assert_eq!(gauge(&app, "stackledger_build_slots_waiting").await, 4);
        assert_eq!(gauge(&app, "stackledger_builds_running").await, 1);
        drop(held);
        for stream in &mut streams {
            stream.until(|m| m.event != "progress").await;
        }
        streams
    };
    let mut streams = tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .expect("the deployments ended in time");
    for stream in &streams {
        let last = stream.messages.last().expect("messages");
        assert_eq!(last.event, "complete", "{:#?}", stream.messages);
    }
    // In line first come first served: the first place each stream showed orders them.
    streams.sort_by_key(|stream| {
        let first = stream.places().first().cloned().unwrap_or_default();
        (0..4).position(|ahead| place_words(ahead) == first)
    });
    for (ahead, stream) in streams.iter().enumerate() {
        let places = stream.places();
        let numbers: Vec<usize> = places
            .iter()
            .map(|words| {
                (0..4)
                    .position(|n| place_words(n) == *words)
                    .expect("a place")
            })
            .collect();
        assert_eq!(numbers.first(), Some(&ahead), "{places:?}");
        assert_eq!(
            numbers.last(),
            Some(&0),
            "the last place is next in line: {places:?}"
        );
        assert!(
            numbers.windows(2).all(|pair| pair[0] > pair[1]),
            "each place at most once, moving up: {places:?}"
        );
    }
    for pair in streams.windows(2) {
        let (before, after) = (&pair[0], &pair[1]);
        let finished = before.seq_of("deploy_finished");
        let acquired = after.seq_of("build_slot_acquired");
        assert!(
            before.seq_of("build_slot_acquired") < acquired && finished < acquired,
            "one build at a time, in the order of the line"
        );
        assert!(after.seq_of("deploy_started") > finished);
    }
    assert_eq!(gauge(&app, "stackledger_build_slots_waiting").await, 0);
    assert_eq!(gauge(&app, "stackledger_builds_running").await, 0);
    app.shutdown().await;
}

/// Deploys `name` to its end: its id and its events.
async fn deployed(
    app: &TestApp,
    name: &str,
) -> (
    stackledger::ids::DeploymentId,
    Vec<stackledger::ledger::envelope::Envelope>,
) {
    let id = app.deploy_and_wait(name).await;
    let id: stackledger::ids::DeploymentId = id.parse().expect("an id");
    let events = app
        .app
        .ledger
        .read_stream(id, stackledger::ids::Seq::ZERO, usize::MAX)
        .expect("reads");
    (id, events)
}

/// The titles a deployment queued its deploy under, and the reasons of its re-queues.
fn titles_and_requeues(
    events: &[stackledger::ledger::envelope::Envelope],
) -> (Vec<String>, Vec<String>) {
    use stackledger::deployment::Event;
    let titles = events
        .iter()
        .filter_map(|e| match &e.event {
            Event::DeployQueued { title } => Some(title.clone()),
            _ => None,
        })
        .collect();
    let reasons = events
        .iter()
        .filter_map(|e| match &e.event {
            Event::DeployRequeued { reason } => Some(reason.clone()),
            _ => None,
        })
        .collect();
    (titles, reasons)
}

#[tokio::test]
async fn a_build_dokploy_cancels_is_queued_again_once_under_a_new_title_and_a_second_loss_fails() {
    let simulator = simulator().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let app = spawn_app(dir.path(), &simulator, &[]).await;
    let cancelled = r#"{"deployOutcome": "cancelled", "times": 1}"#;
    simulator.add_fault(serde_json::from_str(cancelled).expect("fault"));
    let (id, events) = deployed(&app, "shop").await;
    let (titles, reasons) = titles_and_requeues(&events);
    assert_eq!(
        titles,
        vec![format!("stackledger {id}"), format!("stackledger {id} (2)")]
    );
    assert_eq!(
        reasons,
        vec!["Dokploy restarted and cancelled the build".to_owned()]
    );
    assert!(matches!(
        events.last().map(|e| &e.event),
        Some(stackledger::deployment::Event::DeploymentSucceeded { .. })
    ));
    let twice = r#"{"deployOutcome": "cancelled", "times": 2}"#;
    simulator.add_fault(serde_json::from_str(twice).expect("fault"));
    let (_, events) = deployed(&app, "blog").await;
    let (titles, reasons) = titles_and_requeues(&events);
    assert_eq!((titles.len(), reasons.len()), (2, 1), "re-queued once only");
    let failed = events.iter().find_map(|e| match &e.event {
        stackledger::deployment::Event::DeploymentFailed { code, message, .. } => {
            Some((code.clone(), message.clone()))
        }
        _ => None,
    });
    let expected = ("deploy_failed", "Dokploy reported the deploy as cancelled");
    assert_eq!(
        failed.as_ref().map(|(c, m)| (c.as_str(), m.as_str())),
        Some(expected)
    );
    assert_eq!(
        app.app.orchestrator.build_slots().building,
        0,
        "the slot is back"
    );
    app.shutdown().await;
}
