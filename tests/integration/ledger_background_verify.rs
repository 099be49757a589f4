//! The background verification of the whole chain: an intact ledger reaches `verified` up to
//! its head at open; damage found after the open (a byte flipped in the store while the ledger
//! serves) is named with its seq in `/health`, makes `/ready` answer 503 and every append
//! (a deploy) answer 503 `ledger_damaged` naming the seq.

use std::sync::Arc;

use stackledger::ids::Seq;
use stackledger::ledger::error::{Damage, LedgerError};
use stackledger::ledger::{
    ExpectedVersion, Ledger, LedgerOptions, MemoryStore, NewEvent, StoredRecord, VerificationState,
    VerificationStatus,
};

use crate::support::test_app::spawn_app;
use crate::support::{
    close, http, open_ledger, open_ledger_in_memory, phase, scenario, simulator, try_open_ledger_on,
};
use stackledger::deployment::Phase;
use stackledger::ids::DeploymentId;

/// Flips the lowest bit of the byte at `offset` of event `seq`'s stored record, through the
/// live ledger's store, as a disk fault after the open would.
fn flip_live(ledger: &Ledger, seq: u64, offset: usize) {
    let store = ledger.store_for_tests();
    let mut bytes = store.get(Seq(seq)).expect("reads").expect("stored");
    bytes[offset] ^= 0x01;
    let head = store.head().expect("reads").expect("a head");
    let record = StoredRecord {
        seq: Seq(seq),
        bytes,
    };
    store.write(&[record], &head).expect("writes");
}

async fn ended(ledger: &Ledger) -> VerificationStatus {
    tokio::time::timeout(
        std::time::Duration::from_secs(60),
        ledger.verification_ended(),
    )
    .await
    .expect("the background verification ends");
    ledger.verification()
}

#[tokio::test]
async fn an_intact_ledger_is_verified_in_the_background_up_to_its_head_at_open() {
    let dir = tempfile::tempdir().expect("temp dir");
    let test = open_ledger(dir.path());
    scenario::write(&test).await;
    let head = test.ledger.head().seq;
    close(test.ledger).await;
    let test = open_ledger(dir.path());
    assert_eq!(
        ended(&test.ledger).await,
        VerificationStatus {
            state: VerificationState::Verified,
            verified_seq: head,
            target_seq: head,
            first_bad_seq: None,
            message: None,
        }
    );
    assert!(test.ledger.is_writable());
    close(test.ledger).await;
    // Closed at once after an open, while its verification may still run: it lets go of the
    // directory, and the next open takes it.
    let again = open_ledger(dir.path());
    assert_eq!(again.ledger.head().seq, head);
    close(again.ledger).await;
}

#[tokio::test]
async fn a_ledger_opened_without_the_audit_says_it_is_unavailable() {
    let store = Arc::new(MemoryStore::new());
    let options = LedgerOptions {
        audit: false,
        ..LedgerOptions::default()
    };
    let test = try_open_ledger_on(store, options).expect("opens");
    let status = ended(&test.ledger).await;
    assert_eq!(status.state, VerificationState::Unavailable);
    assert!(status.message.is_some(), "{status:?}");
}

#[tokio::test]
async fn damage_found_in_the_background_stops_every_append_with_the_bad_seq() {
    let store = Arc::new(MemoryStore::new());
    let test = open_ledger_in_memory(&store);
    scenario::write(&test).await;
    let head = test.ledger.head().seq;
    flip_live(&test.ledger, 4, 9);
    assert!(test.ledger.start_verification(), "a new pass starts");
    let status = ended(&test.ledger).await;
    assert_eq!(status.state, VerificationState::Damaged);
    assert_eq!(status.first_bad_seq, Some(Seq(4)));
    assert_eq!(status.verified_seq, Seq(3));
    assert_eq!(status.target_seq, head);
    let message = status.message.expect("says what it found");
    assert!(message.contains("damaged at event 4"), "{message}");
    assert!(!test.ledger.is_writable());
    let refused = test
        .ledger
        .append_one(
            DeploymentId::SYSTEM,
            ExpectedVersion::Any,
            NewEvent::new(phase(Phase::Deploying)),
        )
        .await;
    match refused {
        Err(LedgerError::ChainDamaged {
            seq,
            damage,
            intact,
        }) => {
            assert_eq!((seq, intact), (Seq(4), Seq(3)));
            assert_eq!(damage, Damage::HashMismatch { seq: Seq(4) });
        }
        other => panic!("expected ChainDamaged, got {other:?}"),
    }
    assert_eq!(test.ledger.head().seq, head, "nothing was appended");
    assert!(!test.ledger.start_verification(), "the damage stands");
    // The next open refuses the same damage.
    test.ledger.shutdown().await;
    match try_open_ledger_on(store, LedgerOptions::default()) {
        Err(LedgerError::Refused(refusal)) => {
            assert_eq!(refusal.damage, Damage::HashMismatch { seq: Seq(4) });
        }
        Err(other) => panic!("expected a refusal, got {other}"),
        Ok(_) => panic!("a damaged ledger opened"),
    }
}

#[tokio::test]
async fn the_portal_names_background_damage_in_health_and_refuses_deploys_with_503() {
    let dir = tempfile::tempdir().expect("temp dir");
    let simulator = simulator().await;
    let app = spawn_app(dir.path(), &simulator, &[]).await;
    let ledger = app.app.ledger.clone();
    let status = ended(&ledger).await;
    assert_eq!(status.state, VerificationState::Verified, "{status:?}");
    let health: serde_json::Value = http()
        .get(app.url("/health"))
        .send()
        .await
        .expect("answers")
        .json()
        .await
        .expect("json");
    let verification = &health["ledger"]["verification"];
    assert_eq!(verification["state"], "verified", "{health}");
    assert_eq!(verification["verifiedSeq"], verification["targetSeq"]);
    assert!(verification.get("firstBadSeq").is_none(), "{health}");
    let head = ledger.head().seq.0;
    assert!(head >= 1, "the start is recorded");

    flip_live(&ledger, head, 9);
    assert!(ledger.start_verification());
    assert_eq!(ended(&ledger).await.state, VerificationState::Damaged);

    let health: serde_json::Value = http()
        .get(app.url("/health"))
        .send()
        .await
        .expect("answers")
        .json()
        .await
        .expect("json");
    let verification = &health["ledger"]["verification"];
    assert_eq!(verification["state"], "damaged", "{health}");
    assert_eq!(verification["firstBadSeq"], head, "{health}");
    assert_eq!(verification["targetSeq"], head, "{health}");
    assert_eq!(health["status"], "degraded");
    assert_eq!(health["ledger"]["writable"], false);
    let ready = http().get(app.url("/ready")).send().await.expect("answers");
    assert_eq!(ready.status(), 503);
    let deploy = http()
        .post(app.url("/api/deploy"))
        .json(&serde_json::json!({ "name": "shop" }))
        .send()
        .await
        .expect("answers");
    assert_eq!(deploy.status(), 503);
    let body: serde_json::Value = deploy.json().await.expect("json");
    assert_eq!(body["error"]["code"], "ledger_damaged", "{body}");
    let message = body["error"]["message"].as_str().expect("a message");
    assert!(
        message.contains(&format!("damaged at event {head}")),
        "{message}"
    );
    app.shutdown().await;
}
