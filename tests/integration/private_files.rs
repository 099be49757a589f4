//! The data directory is private: a fresh start creates its directories 0700 and its files
//! 0600 (and keeps them so across restarts); a directory found open is warned about, left as
//! it is, and still served; a data directory whose ledger is gone but whose admin token
//! remains is refused before anything is created, and a start that cannot open its ledger
//! never leaves a lone admin token. No test here may loosen a mode to make a start pass.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};

use serde_json::Value;
use stackledger::app::AppError;
use stackledger::ledger::SledStore;

use crate::support::portal::{command, follow};
use crate::support::simulator;
use crate::support::test_app::{build_app, spawn_app};

fn mode_of(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .expect("metadata")
        .permissions()
        .mode()
        & 0o777
}

fn set_mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// Every path at or below `root` with its mode, root first.
fn modes_below(root: &Path) -> Vec<(PathBuf, u32, bool)> {
    let mut found = vec![(root.to_path_buf(), mode_of(root), root.is_dir())];
    if root.is_dir() {
        let mut children: Vec<PathBuf> = std::fs::read_dir(root)
            .expect("lists")
            .map(|entry| entry.expect("an entry").path())
            .collect();
        children.sort();
        for child in children {
            found.extend(modes_below(&child));
        }
    }
    found
}

/// Asserts that every directory at or below `data` is 0700 and every file 0600, and that the
/// admin token and sled's files are among them.
fn assert_all_private(data: &Path) {
    let found = modes_below(data);
    for (path, mode, is_dir) in &found {
        let expected = if *is_dir { 0o700 } else { 0o600 };
        assert_eq!(*mode, expected, "{} has mode {mode:o}", path.display());
    }
    let paths: Vec<&PathBuf> = found.iter().map(|(path, _, _)| path).collect();
    for expected in ["admin-token", "ledger", "ledger/db", "ledger/conf"] {
        assert!(
            paths.contains(&&data.join(expected)),
            "{expected} is in {paths:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_start_creates_the_data_directory_0700_and_every_file_0600_and_a_restart_keeps_them()
 {
    let dir = tempfile::tempdir().expect("temp dir");
    set_mode(dir.path(), 0o755);
    let data = dir.path().join("data");
    let simulator = simulator().await;
    let app = spawn_app(&data, &simulator, &[]).await;
    app.deploy_and_wait("alpha").await;
    app.shutdown().await;
    assert_all_private(&data);
    assert_eq!(
        mode_of(dir.path()),
        0o755,
        "the parent it found keeps its mode"
    );

    // sled writes a new snapshot file when it reopens a store with new entries in its log.
    let snapshots = |data: &Path| -> Vec<PathBuf> {
        modes_below(&data.join("ledger"))
            .into_iter()
            .map(|(path, _, _)| path)
            .filter(|path| path.to_string_lossy().contains("snap."))
            .collect()
    };
    let before = snapshots(&data);
    let app = spawn_app(&data, &simulator, &[]).await;
    app.deploy_and_wait("beta").await;
    app.shutdown().await;
    assert_ne!(snapshots(&data), before, "the restart wrote a new snapshot");
    assert_all_private(&data);
}

#[test]
fn a_ledger_opened_on_a_missing_directory_creates_it_and_its_parent_0700_with_files_0600() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let ledger = data.join("ledger");
    let opened = crate::support::open_ledger(&ledger);
    drop(opened);
    assert_eq!(mode_of(&data), 0o700);
    let found = modes_below(&ledger);
    assert!(found.len() >= 3, "sled's directory, conf and db: {found:?}");
    for (path, mode, is_dir) in found {
        let expected = if is_dir { 0o700 } else { 0o600 };
        assert_eq!(mode, expected, "{} has mode {mode:o}", path.display());
    }
}

/// The binary on `data_dir` with its log lines (kept flowing: a closed stderr would fail it).
struct Logged {
    child: Child,
    address: String,
    logs: std::sync::mpsc::Receiver<String>,
}

/// Starts the binary on `data_dir`; returns it and the log lines it wrote until it listened.
fn start_logged(data_dir: &Path) -> (Logged, Vec<Value>) {
    let mut child = command(data_dir, &[]).spawn().expect("the portal starts");
    let logs = follow(&mut child);
    let mut lines = Vec::new();
    loop {
        let line = logs
            .recv()
            .expect("the portal logs its address before anything fails");
        let entry: Value = serde_json::from_str(&line).expect("json log lines");
        if let Some(address) = entry["fields"]["address"].as_str() {
            let address = address.to_owned();
            return (
                Logged {
                    child,
                    address,
                    logs,
                },
                lines,
            );
        }
        lines.push(entry);
    }
}

/// SIGTERM; asserts a clean exit.
fn terminate(mut portal: Logged) {
    let sent = Command::new("kill")
        .args(["-TERM", &portal.child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(sent.success());
    let status = portal.child.wait().expect("exits");
    let rest: Vec<String> = portal.logs.iter().collect();
    assert!(status.success(), "a clean exit: {status:?} {rest:?}");
}

/// The paths the portal warned were too open, from its log lines.
fn warned_paths(lines: &[Value]) -> Vec<String> {
    lines
        .iter()
        .filter(|entry| entry["level"] == "WARN")
        .filter_map(|entry| entry["fields"]["path"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn an_open_data_directory_starts_with_a_warning_naming_the_chmod_and_keeps_its_mode() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().to_path_buf();
    set_mode(&data, 0o755);
    for start in ["first", "second"] {
        let (portal, lines) = start_logged(&data);
        let health: Value = crate::support::http()
            .get(format!("http://{}/health", portal.address))
            .send()
            .await
            .expect("the portal answers")
            .json()
            .await
            .expect("json");
        assert_eq!(health["status"], "healthy", "{start} start");
        terminate(portal);
        assert_eq!(
            warned_paths(&lines),
            vec![data.display().to_string()],
            "{start} start: only the directory found open is warned about: {lines:?}"
        );
        let message = lines
            .iter()
            .filter_map(|entry| entry["fields"]["message"].as_str())
            .find(|message| message.contains("0755"))
            .unwrap_or_else(|| panic!("a warning naming the mode: {lines:?}"));
        let fix = format!("chmod 700 {}", data.display());
        assert!(message.contains(&fix), "{message}");
        assert_eq!(mode_of(&data), 0o755, "a found mode is only reported");
    }
}

/// Removes sled's data file and snapshots from `ledger`, keeping the directory and `conf`.
fn remove_store_files(ledger: &Path) {
    for (path, _, is_dir) in modes_below(ledger).into_iter().skip(1) {
        let name = path
            .file_name()
            .expect("a name")
            .to_string_lossy()
            .into_owned();
        if !is_dir && (name == "db" || name.starts_with("snap.")) {
            std::fs::remove_file(&path).expect("removes");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_data_directory_whose_ledger_is_gone_but_whose_admin_token_remains_is_refused_creating_nothing()
 {
    type Damage = fn(&Path);
    let cases: [(&str, Damage, &[&str]); 3] = [
        (
            "ledger directory deleted",
            |ledger| std::fs::remove_dir_all(ledger).expect("removes"),
            &[],
        ),
        ("db and snapshots deleted", remove_store_files, &[]),
        (
            "ledger directory deleted, token configured",
            |ledger| std::fs::remove_dir_all(ledger).expect("removes"),
            &["--admin-token=configured-token-for-tests"],
        ),
    ];
    let simulator = simulator().await;
    for (case, damage, flags) in cases {
        let dir = tempfile::tempdir().expect("temp dir");
        let data = dir.path().join("data");
        let ledger = data.join("ledger");
        spawn_app(&data, &simulator, &[]).await.shutdown().await;
        damage(&ledger);
        let left = modes_below(&data);
        let refused = build_app(&data, &simulator, flags).await;
        let Err(error @ AppError::LedgerGone { .. }) = refused else {
            panic!("{case}: refused as a lost ledger, not {refused:?}");
        };
        let message = error.to_string();
        let db = SledStore::data_file(&ledger);
        for named in [
            db.display().to_string(),
            data.join("admin-token").display().to_string(),
        ] {
            assert!(message.contains(&named), "{case}: {named} in {message}");
        }
        assert!(message.contains("stackledger restore"), "{case}: {message}");
        assert!(message.contains("delete"), "{case}: {message}");
        assert_eq!(
            modes_below(&data),
            left,
            "{case}: the refusal created nothing"
        );
        assert!(!db.exists(), "{case}: no empty ledger");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_the_lone_admin_token_as_the_refusal_says_starts_a_new_empty_portal() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let simulator = simulator().await;
    spawn_app(&data, &simulator, &[]).await.shutdown().await;
    std::fs::remove_dir_all(data.join("ledger")).expect("removes");
    std::fs::remove_file(data.join("admin-token")).expect("removes");
    let app = build_app(&data, &simulator, &[])
        .await
        .expect("a new portal builds");
    assert_eq!(app.ledger.head().seq.0, 0, "an empty ledger");
    assert!(data.join("admin-token").exists(), "a new token is written");
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_start_that_cannot_open_its_ledger_leaves_no_admin_token() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let holder = SledStore::open(&data.join("ledger")).expect("another process holds it");
    let simulator = simulator().await;
    let refused = build_app(&data, &simulator, &[]).await;
    assert!(
        matches!(refused, Err(AppError::Ledger(_))),
        "the locked ledger is refused: {refused:?}"
    );
    assert!(
        !data.join("admin-token").exists(),
        "no token is written before the ledger opened"
    );
    drop(holder);
}
