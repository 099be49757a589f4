//! Every Dokploy call in the ledger, attempt by attempt: retries only where safe, with backoff
//! in virtual time; a lost create found rather than repeated; the shared breaker; no secret
//! anywhere.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use stackledger::deployment::{ApiAnswer, Event, EventKind, Procedure};
use stackledger::dokploy::api::{AnswerExt, Request};
use stackledger::dokploy::breaker::{BreakerOptions, BreakerState, CircuitBreaker};
use stackledger::dokploy::caller::{CallCounter, CallError, Caller};
use stackledger::dokploy::client::DokployClient;
use stackledger::dokploy::error::DokployError;
use stackledger::dokploy::retry::{Jitter, RetryPolicy};
use stackledger::ids::{DeploymentId, IdGen, Seq, SequentialIds, StreamVersion};
use stackledger::ledger::StreamWriter;
use stackledger::ledger::envelope::Envelope;
use stackledger::simulator::{Fault, Simulator};

use crate::support::{
    SIM_KEY, TestLedger, append, client_with, contains, dir_contains, open_ledger, requested,
    simulator,
};

struct Rig {
    simulator: Simulator,
    test: TestLedger,
    caller: Caller<DokployClient>,
    log: StreamWriter,
    calls: CallCounter,
    stream: DeploymentId,
    _dir: tempfile::TempDir,
}

async fn rig_with(policy: RetryPolicy, key: &str) -> Rig {
    rig_with_breaker(policy, key, BreakerOptions::default()).await
}

async fn rig_with_breaker(policy: RetryPolicy, key: &str, breaker: BreakerOptions) -> Rig {
    let dir = tempfile::tempdir().expect("temp dir");
    let test = open_ledger(dir.path());
    let simulator = simulator().await;
    let client = client_with(&simulator, key, 1 << 20);
    let clock: Arc<dyn stackledger::clock::Clock> = Arc::new(test.clock.clone());
    let breaker = CircuitBreaker::new(breaker, Arc::clone(&clock));
    let caller = Caller::new(
        Arc::new(client),
        breaker,
        policy,
        Arc::new(Jitter::seeded(42)),
        clock,
        test.ledger.clone(),
    );
    let stream = SequentialIds::default().deployment_id();
    append(&test.ledger, stream, vec![requested("shop")]).await;
    let log = StreamWriter::new(test.ledger.clone(), stream, StreamVersion(1));
    Rig {
        simulator,
        test,
        caller,
        log,
        calls: CallCounter::default(),
        stream,
        _dir: dir,
    }
}

async fn rig() -> Rig {
    rig_with(RetryPolicy::default(), SIM_KEY).await
}

impl Rig {
    async fn call(&mut self, request: Request) -> Result<ApiAnswer, CallError> {
        self.caller
            .call(&mut self.log, &mut self.calls, &request)
            .await
    }

    fn stream_events(&self) -> Vec<Envelope> {
        self.test
            .ledger
            .read_stream(self.stream, Seq(1), usize::MAX)
            .expect("reads")
    }

    fn system_events(&self) -> Vec<Envelope> {
        self.test
            .ledger
            .read_stream(DeploymentId::SYSTEM, Seq::ZERO, usize::MAX)
            .expect("reads")
    }

    fn sent(&self, procedure: &str) -> usize {
        let requests = self.simulator.requests();
        requests.iter().filter(|r| r.procedure == procedure).count()
    }
}

fn kinds(events: &[Envelope]) -> Vec<EventKind> {
    events.iter().map(|e| e.event.kind()).collect()
}

fn retry_delays(events: &[Envelope]) -> Vec<Option<u64>> {
    events
        .iter()
        .filter_map(|envelope| match &envelope.event {
            Event::ApiCallFailed { retry_in_ms, .. } => Some(*retry_in_ms),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn a_retried_call_records_every_attempt_in_order_and_backs_off_within_bounds() {
    let mut rig = rig().await;
    rig.simulator
        .add_fault(Fault::on("project.search").status(503).times(3));
    let answer = rig
        .call(Request::FindProject {
            name: "shop".into(),
        })
        .await;
    assert_eq!(
        answer.expect("the fourth attempt succeeds"),
        ApiAnswer::Project(None)
    );
    let events = rig.stream_events();
    use EventKind::{ApiCallFailed as F, ApiCallStarted as S, ApiCallSucceeded as D};
    assert_eq!(kinds(&events), vec![S, F, S, F, S, F, S, D]);
    for pair in events.chunks(2) {
        assert_eq!(
            pair[1].cause,
            Some(pair[0].seq),
            "an outcome points to its intent"
        );
        let Event::ApiCallStarted {
            call,
            attempt,
            endpoint,
            ..
        } = &pair[0].event
        else {
            panic!("an intent first: {:?}", pair[0].event);
        };
        assert_eq!(
            (*call, endpoint.as_str()),
            (1, "project.search"),
            "attempts keep the call"
        );
        match &pair[1].event {
            Event::ApiCallFailed {
                attempt: a, status, ..
            } => assert_eq!((a, *status), (attempt, Some(503))),
            Event::ApiCallSucceeded { attempt: a, .. } => assert_eq!((a, *attempt), (&4, 4)),
            other => panic!("an outcome second: {other:?}"),
        }
    }
    let delays: Vec<u64> = retry_delays(&events).into_iter().flatten().collect();
    let slept: Vec<u64> = rig
        .test
        .clock
        .sleeps()
        .iter()
        .map(|d| d.as_millis() as u64)
        .collect();
    assert_eq!(delays, slept, "the recorded delays are the ones waited");
    for (retry, delay) in delays.iter().enumerate() {
        let ceiling = RetryPolicy::default().ceiling(retry as u32 + 1);
        assert!(
            Duration::from_millis(*delay) <= ceiling,
            "retry {retry}: {delay} ms"
        );
    }
}

#[tokio::test]
async fn retry_after_is_obeyed_and_clamped() {
    let mut rig = rig().await;
    for (asked, expected) in [(7, 7), (3600, 60)] {
        rig.simulator.add_fault(Fault {
            retry_after: Some(asked),
            ..Fault::on("project.search").status(429)
        });
        rig.call(Request::FindProject {
            name: "shop".into(),
        })
        .await
        .expect("the retry succeeds");
        let waited = rig.test.clock.sleeps().last().copied();
        assert_eq!(
            waited,
            Some(Duration::from_secs(expected)),
            "Retry-After: {asked}"
        );
    }
}

#[tokio::test]
async fn retry_after_as_an_http_date_is_obeyed_and_garbage_falls_back_to_backoff() {
    let mut rig = rig().await;
    // The rig's clock stands at 2026-11-27T13:09:20Z.
    rig.simulator.add_fault(Fault {
        retry_after_raw: Some("Fri, 27 Nov 2026 13:09:25 GMT".into()),
        ..Fault::on("project.search").status(503)
    });
    rig.call(Request::FindProject {
        name: "shop".into(),
    })
    .await
    .expect("the retry succeeds");
    assert_eq!(rig.test.clock.sleeps(), vec![Duration::from_secs(5)]);
    rig.simulator.add_fault(Fault {
        retry_after_raw: Some("in a little while".into()),
        ..Fault::on("project.search").status(503)
    });
    rig.call(Request::FindProject {
        name: "shop".into(),
    })
    .await
    .expect("the retry succeeds");
    let waited = rig.test.clock.sleeps()[1];
    assert!(
        waited <= Duration::from_secs(1),
        "jittered first backoff, got {waited:?}"
    );
}

#[tokio::test]
async fn client_errors_are_never_retried() {
    let mut rig = rig().await;
    for status in [400, 404, 409] {
        rig.simulator
            .add_fault(Fault::on("project.create").status(status));
        let before = rig.sent("project.create");
        let error = rig
            .call(Request::CreateProject {
                name: "shop".into(),
            })
            .await;
        match error {
            Err(CallError::Dokploy(error)) => assert_eq!(error.status(), Some(status)),
            other => panic!("{status}: expected the error, got {other:?}"),
        }
        assert_eq!(
            rig.sent("project.create"),
            before + 1,
            "{status} was sent once"
        );
    }
    assert_eq!(retry_delays(&rig.stream_events()), vec![None, None, None]);
    assert!(rig.test.clock.sleeps().is_empty());

    let mut refused = rig_with(RetryPolicy::default(), "not-the-key").await;
    let error = refused
        .call(Request::FindProject {
            name: "shop".into(),
        })
        .await;
    assert!(
        matches!(error, Err(CallError::Dokploy(DokployError::Unauthorized))),
        "{error:?}"
    );
    assert_eq!(refused.sent("project.search"), 1);
}

#[tokio::test]
async fn retries_stop_after_five_and_the_last_failure_says_so() {
    // A breaker that trips later than the retries give up (with the defaults the breaker's
    // fifth consecutive failure stops the call first).
    let breaker = BreakerOptions {
        failures_max: 10,
        ..BreakerOptions::default()
    };
    let mut rig = rig_with_breaker(RetryPolicy::default(), SIM_KEY, breaker).await;
    rig.simulator
        .add_fault(Fault::on("project.search").status(502).times(10));
    let error = rig
        .call(Request::FindProject {
            name: "shop".into(),
        })
        .await;
    assert!(matches!(
        error,
        Err(CallError::Dokploy(DokployError::Status { status: 502, .. }))
    ));
    assert_eq!(
        rig.sent("project.search"),
        6,
        "one attempt and five retries"
    );
    let delays = retry_delays(&rig.stream_events());
    assert_eq!(delays.len(), 6);
    assert!(delays[..5].iter().all(Option::is_some));
    assert_eq!(delays[5], None, "the last failure gives up");
}

#[tokio::test]
async fn a_create_whose_answer_was_lost_is_found_and_never_made_twice() {
    let mut rig = rig().await;
    let project = rig
        .call(Request::CreateProject {
            name: "shop".into(),
        })
        .await
        .expect("created")
        .project(Procedure::ProjectCreate)
        .expect("kind")
        .expect("some");
    let environment_id = project.environment_id.expect("an environment");
    rig.simulator.add_fault(Fault {
        drop: true,
        after_effect: true,
        ..Fault::on("application.create")
    });
    let create = Request::CreateApplication {
        environment_id,
        name: "shop".into(),
    };
    let created = rig
        .call(create)
        .await
        .expect("found after the lost answer")
        .application(Procedure::ApplicationCreate)
        .expect("kind")
        .expect("some");
    let state = rig.simulator.state();
    let applications = state["applications"].as_array().expect("a list");
    assert_eq!(applications.len(), 1, "exactly one application");
    assert_eq!(
        applications[0]["applicationId"],
        created.application_id.0.as_str()
    );
    assert_eq!(rig.sent("application.create"), 1, "never resent");
    let endpoints: Vec<(EventKind, String)> = rig
        .stream_events()
        .iter()
        .filter_map(|e| match &e.event {
            Event::ApiCallStarted { endpoint, .. } => Some((e.event.kind(), endpoint.clone())),
            _ => None,
        })
        .collect();
    let endpoints: Vec<&str> = endpoints.iter().map(|(_, e)| e.as_str()).collect();
    assert_eq!(
        endpoints,
        vec!["project.create", "application.create", "environment.one"]
    );
}

#[tokio::test]
async fn the_breaker_opens_after_five_failures_fails_fast_and_closes_through_one_probe() {
    let policy = RetryPolicy {
        retries_max: 10,
        ..RetryPolicy::default()
    };
    let mut rig = rig_with(policy, SIM_KEY).await;
    rig.simulator
        .add_fault(Fault::on("project.search").status(503).times(100));
    let find = Request::FindProject {
        name: "shop".into(),
    };
    let error = rig.call(find.clone()).await;
    assert!(
        matches!(
            error,
            Err(CallError::Dokploy(DokployError::CircuitOpen { .. }))
        ),
        "{error:?}"
    );
    assert_eq!(rig.sent("project.search"), 5);
    let system = rig.system_events();
    assert_eq!(kinds(&system), vec![EventKind::CircuitOpened]);
    let fifth_failure = rig
        .stream_events()
        .iter()
        .filter(|e| e.event.kind() == EventKind::ApiCallFailed)
        .nth(4)
        .map(|e| e.seq);
    assert_eq!(
        system[0].cause, fifth_failure,
        "the trip points at the failure that caused it"
    );
    let (state, failures) = rig.caller.breaker().snapshot();
    assert!(matches!(state, BreakerState::Open { .. }) && failures == 5);

    let recorded = rig.stream_events().len();
    let fast = rig.call(find.clone()).await;
    assert!(matches!(
        fast,
        Err(CallError::Dokploy(DokployError::CircuitOpen { .. }))
    ));
    assert_eq!(rig.sent("project.search"), 5, "nothing is sent while open");
    assert_eq!(rig.stream_events().len(), recorded, "nothing was attempted");

    rig.simulator.clear_faults();
    rig.test.clock.advance(Duration::from_secs(60));
    rig.call(find).await.expect("the probe succeeds");
    let system = kinds(&rig.system_events());
    use EventKind::{CircuitClosed, CircuitHalfOpened, CircuitOpened};
    assert_eq!(
        system,
        vec![CircuitOpened, CircuitHalfOpened, CircuitClosed]
    );
    assert_eq!(rig.caller.breaker().snapshot(), (BreakerState::Closed, 0));
}

#[tokio::test]
async fn a_failed_probe_opens_the_breaker_again() {
    let policy = RetryPolicy {
        retries_max: 10,
        ..RetryPolicy::default()
    };
    let mut rig = rig_with(policy, SIM_KEY).await;
    rig.simulator
        .add_fault(Fault::on("project.search").status(503).times(100));
    let find = Request::FindProject {
        name: "shop".into(),
    };
    let _ = rig.call(find.clone()).await;
    rig.test.clock.advance(Duration::from_secs(60));
    let error = rig.call(find).await;
    assert!(matches!(
        error,
        Err(CallError::Dokploy(DokployError::CircuitOpen { .. }))
    ));
    assert_eq!(
        rig.sent("project.search"),
        6,
        "exactly one probe went through"
    );
    use EventKind::{CircuitHalfOpened, CircuitOpened};
    assert_eq!(
        kinds(&rig.system_events()),
        vec![CircuitOpened, CircuitHalfOpened, CircuitOpened]
    );
}

#[tokio::test]
async fn client_errors_never_move_the_breaker() {
    let mut rig = rig().await;
    rig.simulator
        .add_fault(Fault::on("project.create").status(404).times(20));
    for _ in 0..20 {
        let _ = rig
            .call(Request::CreateProject {
                name: "shop".into(),
            })
            .await;
    }
    assert_eq!(rig.caller.breaker().snapshot(), (BreakerState::Closed, 0));
    assert!(rig.system_events().is_empty());
}

/// A writer for tracing output that tests can read back.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .expect("not poisoned")
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn the_api_key_never_reaches_the_ledger_the_logs_or_an_error() {
    const CANARY: &str = "canary-5e1f9b3a-never-log-me";
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let dir = tempfile::tempdir().expect("temp dir");
    let test = open_ledger(dir.path());
    let key = stackledger::config::ApiKey::new(CANARY).expect("valid");
    let options = stackledger::simulator::SimulatorOptions::new(key, 1);
    let simulator = Simulator::start("127.0.0.1:0".parse().expect("addr"), options)
        .await
        .expect("starts");
    let clock: Arc<dyn stackledger::clock::Clock> = Arc::new(test.clock.clone());
    let mut errors = Vec::new();
    let ids = SequentialIds::default();
    for key in [CANARY, "wrong-key"] {
        let client = client_with(&simulator, key, 1 << 20);
        let breaker = CircuitBreaker::new(BreakerOptions::default(), Arc::clone(&clock));
        let caller = Caller::new(
            Arc::new(client),
            breaker,
            RetryPolicy::default(),
            Arc::new(Jitter::seeded(1)),
            Arc::clone(&clock),
            test.ledger.clone(),
        );
        let stream = ids.deployment_id();
        append(
            &test.ledger,
            stream,
            vec![requested(&format!("shop{}", key.len()))],
        )
        .await;
        let mut log = StreamWriter::new(test.ledger.clone(), stream, StreamVersion(1));
        let mut calls = CallCounter::default();
        simulator.add_fault(Fault::on("project.search").status(503).times(2));
        simulator.add_fault(Fault {
            drop: true,
            ..Fault::on("project.create")
        });
        for request in [
            Request::FindProject {
                name: "shop".into(),
            },
            Request::CreateProject {
                name: "shop".into(),
            },
        ] {
            if let Err(error) = caller.call(&mut log, &mut calls, &request).await {
                errors.push(format!("{error} {error:?}"));
            }
        }
    }
    assert!(!errors.is_empty(), "the wrong key produced errors to check");
    for error in &errors {
        assert!(!error.contains(CANARY), "an error shows the key: {error}");
    }
    test.ledger.shutdown().await;
    drop(test);
    assert!(
        !dir_contains(dir.path(), CANARY.as_bytes()),
        "the key is in the ledger's files"
    );
    let logs = captured.0.lock().expect("not poisoned").clone();
    assert!(!logs.is_empty(), "logging was captured");
    assert!(
        !contains(&logs, CANARY.as_bytes()),
        "the key is in the logs"
    );
}
