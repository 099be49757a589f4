//! Shared helpers: opening ledgers in temp directories, sample events, the golden scenario.

pub(crate) mod fault;
pub(crate) mod portal;
pub(crate) mod raw_http;
pub(crate) mod rewrite;
pub(crate) mod scenario;
pub(crate) mod scenario_control;
pub(crate) mod scenario_queue;
pub(crate) mod test_app;

use std::path::Path;
use std::sync::Arc;

use stackledger::clock::ManualClock;
use stackledger::deployment::{Event, Phase};
use stackledger::ids::{DeploymentId, Seq};
use stackledger::ledger::envelope::Envelope;
use stackledger::ledger::error::LedgerError;
use stackledger::ledger::{
    DiskOptions, ExpectedVersion, Ledger, LedgerOptions, MemoryStore, NewEvent, Store,
    verify_envelopes,
};
use stackledger::projection::LiveReadModel;

/// The instant every test clock starts at (2026-11-27T13:09:20Z).
pub(crate) const T0: i64 = 1_795_784_960_000;

/// A ledger with its read model and its clock.
pub(crate) struct TestLedger {
    pub(crate) ledger: Ledger,
    pub(crate) read_model: LiveReadModel,
    pub(crate) clock: ManualClock,
}

/// A ledger on `dir` with a manual clock and a live read model.
pub(crate) fn open_ledger(dir: &Path) -> TestLedger {
    open_ledger_with(dir, LedgerOptions::default())
}

/// The same with explicit limits.
pub(crate) fn open_ledger_with(dir: &Path, options: LedgerOptions) -> TestLedger {
    try_open_ledger(dir, options).expect("the ledger opens")
}

/// Opens a ledger on `dir`, or says why it cannot.
pub(crate) fn try_open_ledger(
    dir: &Path,
    options: LedgerOptions,
) -> Result<TestLedger, LedgerError> {
    let read_model = LiveReadModel::new();
    let clock = ManualClock::new(T0);
    let disk = DiskOptions {
        dir: dir.to_path_buf(),
        limits: options,
        mirror: None,
    };
    let ledger =
        Ledger::open_on_disk(&disk, Arc::new(clock.clone()), Arc::new(read_model.clone()))?;
    Ok(TestLedger {
        ledger,
        read_model,
        clock,
    })
}

/// A ledger over `store` (open it again over the same store to reopen it).
pub(crate) fn open_ledger_in_memory(store: &Arc<MemoryStore>) -> TestLedger {
    try_open_ledger_on(store.clone(), LedgerOptions::default()).expect("the ledger opens")
}

/// A ledger in memory holding the golden scenario, with its store.
pub(crate) async fn scenario_in_memory() -> (Arc<MemoryStore>, TestLedger) {
    let store = Arc::new(MemoryStore::new());
    let test = open_ledger_in_memory(&store);
    scenario::write(&test).await;
    (store, test)
}

/// Opens a ledger over any store, or says why it cannot.
pub(crate) fn try_open_ledger_on(
    store: Arc<dyn Store>,
    options: LedgerOptions,
) -> Result<TestLedger, LedgerError> {
    let read_model = LiveReadModel::new();
    let clock = ManualClock::new(T0);
    let ledger = Ledger::open_with(
        store,
        Arc::new(clock.clone()),
        Arc::new(read_model.clone()),
        options,
    )?;
    Ok(TestLedger {
        ledger,
        read_model,
        clock,
    })
}

/// A `DeploymentRequested` for `name`.
pub(crate) fn requested(name: &str) -> Event {
    Event::DeploymentRequested {
        name: name.to_owned(),
        image: "ghcr.io/example/stack:1.0".to_owned(),
        domain: format!("{name}.ai.flexinit.nl"),
        port: 8080,
        client: "c1a2f3".to_owned(),
        server_version: "0.1.0".to_owned(),
    }
}

/// A `PhaseEntered`.
pub(crate) fn phase(phase: Phase) -> Event {
    Event::PhaseEntered { phase }
}

/// Appends `events` to `stream` at its current version and returns their seqs.
pub(crate) async fn append(ledger: &Ledger, stream: DeploymentId, events: Vec<Event>) -> Vec<u64> {
    let expected = ExpectedVersion::Exact(ledger.stream_version(stream));
    let written = ledger
        .append(
            stream,
            expected,
            events.into_iter().map(NewEvent::new).collect(),
        )
        .await
        .expect("the append is accepted");
    written.iter().map(|envelope| envelope.seq.0).collect()
}

/// The whole durable log, after checking that it verifies and ends at the head.
pub(crate) fn read_verified(ledger: &Ledger) -> Vec<Envelope> {
    let log = ledger.read_after(Seq::ZERO, usize::MAX).expect("reads");
    let verification = verify_envelopes(&log);
    assert_eq!(verification.damage, None, "the chain verifies");
    assert_eq!(verification.last, ledger.head(), "the log ends at the head");
    log
}

/// Closes a ledger and waits until its files are released.
pub(crate) async fn close(ledger: Ledger) {
    ledger.shutdown().await;
    drop(ledger);
}

/// Waits until no sled handle in this process holds the database in `dir` (sled closes its file,
/// releasing its lock, on its own threads a moment after its handles drop).
pub(crate) fn wait_released(dir: &Path) {
    let file = std::fs::File::open(dir.join("db")).expect("sled's data file exists");
    file.lock().expect("the lock is released once sled lets go");
    file.unlock().expect("unlocks");
}

/// An HTTP client for tests (rustls needs its crypto provider installed once per process).
pub(crate) fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

/// The API key the test simulators expect.
pub(crate) const SIM_KEY: &str = "sim-test-key-0001";

/// A simulator on a free loopback port.
pub(crate) async fn simulator() -> stackledger::simulator::Simulator {
    let key = stackledger::config::ApiKey::new(SIM_KEY).expect("a valid key");
    let options = stackledger::simulator::SimulatorOptions::new(key, 7);
    let any_port = "127.0.0.1:0".parse().expect("an address");
    stackledger::simulator::Simulator::start(any_port, options)
        .await
        .expect("the simulator starts")
}

/// A client of `simulator` with `key` (a timeout far above any loopback answer, so that only
/// a deliberate hang can reach it).
pub(crate) fn client_with(
    simulator: &stackledger::simulator::Simulator,
    key: &str,
    body_bytes_max: usize,
) -> stackledger::dokploy::client::DokployClient {
    client_with_timeout(
        simulator,
        key,
        body_bytes_max,
        std::time::Duration::from_secs(20),
    )
}

/// A client of `simulator` with explicit limits.
pub(crate) fn client_with_timeout(
    simulator: &stackledger::simulator::Simulator,
    key: &str,
    body_bytes_max: usize,
    timeout: std::time::Duration,
) -> stackledger::dokploy::client::DokployClient {
    let options = stackledger::dokploy::client::ClientOptions {
        timeout,
        body_bytes_max,
        ..stackledger::dokploy::client::ClientOptions::default()
    };
    let key = stackledger::config::ApiKey::new(key).expect("a valid key");
    stackledger::dokploy::client::DokployClient::new(&simulator.origin(), key, options)
        .expect("the client builds")
}

/// A client of `simulator` with the right key.
pub(crate) fn client(
    simulator: &stackledger::simulator::Simulator,
) -> stackledger::dokploy::client::DokployClient {
    client_with(simulator, SIM_KEY, 1 << 20)
}

/// Asserts that the simulator holds exactly one project, application and domain per name in
/// `succeeded`, and one running service and one route each, and nothing else: no duplicate, no
/// orphan row, no service or route that outlived a rollback.
pub(crate) fn assert_simulator_holds(
    simulator: &stackledger::simulator::Simulator,
    succeeded: &std::collections::BTreeSet<String>,
    context: &str,
) {
    let state = simulator.state();
    let names = |list: &str, field: &str| -> Vec<String> {
        let mut names: Vec<String> = state[list]
            .as_array()
            .expect("a list")
            .iter()
            .filter_map(|item| item[field].as_str().map(str::to_owned))
            .collect();
        names.sort();
        names
    };
    let expected: Vec<String> = succeeded.iter().cloned().collect();
    assert_eq!(names("projects", "name"), expected, "{context}: projects");
    assert_eq!(
        names("applications", "name"),
        expected,
        "{context}: applications"
    );
    let mut hosts: Vec<String> = expected
        .iter()
        .map(|n| format!("{n}.ai.flexinit.nl"))
        .collect();
    hosts.sort();
    assert_eq!(names("domains", "host"), hosts, "{context}: domains");
    // What runs, not only the rows: every service and every route belongs to a successful
    // deployment (a rollback that removed rows but left a service up would show here).
    let mut routes = names("routes", "host");
    routes.dedup();
    assert_eq!(routes, hosts, "{context}: routes");
    let services: Vec<String> = state["services"]
        .as_array()
        .expect("a list")
        .iter()
        .filter(|service| service["running"] == true)
        .filter_map(|service| service["appName"].as_str())
        // Dokploy's appName is the stack name and a 7-character `-xxxxxx` suffix.
        .map(|app_name| app_name[..app_name.len().saturating_sub(7)].to_owned())
        .collect::<std::collections::BTreeSet<String>>()
        .into_iter()
        .collect();
    assert_eq!(services, expected, "{context}: running services");
    let orphans = state["services"]
        .as_array()
        .expect("a list")
        .iter()
        .filter(|service| {
            let id = &service["applicationId"];
            !state["applications"]
                .as_array()
                .expect("a list")
                .iter()
                .any(|app| &app["applicationId"] == id)
        })
        .count();
    assert_eq!(orphans, 0, "{context}: services without their application");
}

/// Whether `needle` occurs in `haystack`.
pub(crate) fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

/// Whether `needle` occurs in any file below `dir` (secrets must not).
pub(crate) fn dir_contains(dir: &Path, needle: &[u8]) -> bool {
    std::fs::read_dir(dir).expect("reads").any(|entry| {
        let path = entry.expect("an entry").path();
        if path.is_dir() {
            dir_contains(&path, needle)
        } else {
            contains(&std::fs::read(&path).expect("reads"), needle)
        }
    })
}

/// What [`fingerprint`] gives: path inside the directory -> (mode, SHA-256 or "directory").
pub(crate) type Fingerprint = std::collections::BTreeMap<std::path::PathBuf, (u32, String)>;

/// Every file below `dir` (its path inside `dir`) with its mode and the SHA-256 of its bytes;
/// directories with their mode.
pub(crate) fn fingerprint(dir: &Path) -> Fingerprint {
    use sha2::Digest;
    use std::os::unix::fs::PermissionsExt;
    fn walk(root: &Path, dir: &Path, out: &mut Fingerprint) {
        for entry in std::fs::read_dir(dir).expect("reads the directory") {
            let path = entry.expect("an entry").path();
            let meta = std::fs::symlink_metadata(&path).expect("metadata");
            let name = path.strip_prefix(root).expect("below root").to_path_buf();
            let mode = meta.permissions().mode();
            if meta.is_dir() {
                out.insert(name, (mode, "directory".to_owned()));
                walk(root, &path, out);
            } else {
                let bytes = std::fs::read(&path).expect("reads the file");
                out.insert(name, (mode, format!("{:x}", sha2::Sha256::digest(&bytes))));
            }
        }
    }
    let mut out = Fingerprint::new();
    walk(dir, dir, &mut out);
    out
}

/// Changes the stored sled trees (events, meta) directly, as a disk fault or a tamperer would.
pub(crate) fn tamper(ledger_dir: &Path, change: impl FnOnce(&sled::Tree, &sled::Tree)) {
    // Format 2 keeps records grouped; the damage is made in the format-1 layout.
    stackledger::ledger::SledStore::rewrite_as_format_1(ledger_dir).expect("rewrites");
    let db = sled::open(ledger_dir).expect("sled opens");
    let events = db.open_tree("events").expect("the events tree");
    let meta = db.open_tree("meta").expect("the meta tree");
    change(&events, &meta);
    db.flush().expect("flushes");
    drop((events, meta, db));
    wait_released(ledger_dir);
}
