//! The read side with finished deployments on disk (issue 14): a deployment the read model has
//! checkpointed to the index space and dropped from memory is served byte for byte as before; a
//! stored record that does not decode answers 500 `read_model_corrupt`, an index that cannot be
//! read 503 `read_model_unavailable`.

use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use stackledger::ids::Seq;
use stackledger::ledger::error::StoreError;
use stackledger::ledger::{
    Head, IndexReader, IndexSpace, IndexVisitor, IndexWrite, MemoryStore, Projector, ScanOrder,
    Store, StoredRecord,
};

use crate::support::test_app::spawn_app;
use crate::support::{http, simulator};

/// A memory index space whose reads fail on demand.
#[derive(Default)]
struct Index {
    inner: MemoryStore,
    broken: AtomicBool,
}

fn injected() -> StoreError {
    StoreError::Io {
        operation: "read index",
        source: Arc::new(std::io::Error::other("injected failure")),
    }
}

impl Store for Index {
    fn write(&self, records: &[StoredRecord], head: &Head) -> Result<(), StoreError> {
        self.inner.write(records, head)
    }
    fn sync(&self) -> Result<(), StoreError> {
        self.inner.sync()
    }
    fn scan(
        &self,
        after: Seq,
        visit: &mut dyn FnMut(Seq, &[u8]) -> ControlFlow<()>,
    ) -> Result<(), StoreError> {
        self.inner.scan(after, visit)
    }
    fn get(&self, seq: Seq) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.get(seq)
    }
    fn head(&self) -> Result<Option<Head>, StoreError> {
        self.inner.head()
    }
    fn format_version(&self) -> Result<Option<u32>, StoreError> {
        self.inner.format_version()
    }
    fn set_format_version(&self, version: u32) -> Result<(), StoreError> {
        self.inner.set_format_version(version)
    }
    fn write_index(&self, writes: &[IndexWrite]) -> Result<(), StoreError> {
        self.inner.write_index(writes)
    }
    fn get_index(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        if self.broken.load(Ordering::SeqCst) {
            return Err(injected());
        }
        self.inner.get_index(key)
    }
    fn scan_index(
        &self,
        from: &[u8],
        to: &[u8],
        order: ScanOrder,
        visit: &mut IndexVisitor<'_>,
    ) -> Result<(), StoreError> {
        if self.broken.load(Ordering::SeqCst) {
            return Err(injected());
        }
        self.inner.scan_index(from, to, order, visit)
    }
}

async fn get(app: &crate::support::test_app::TestApp, path: &str) -> (u16, String) {
    let response = http().get(app.url(path)).send().await.expect("answers");
    let status = response.status().as_u16();
    (status, response.text().await.expect("a body"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_deployment_answers_as_before_and_damage_is_500_and_an_unreadable_index_503() {
    let dir = tempfile::tempdir().expect("temp dir");
    let simulator = simulator().await;
    let app = spawn_app(dir.path(), &simulator, &[]).await;
    let id = app.deploy_and_wait("shop").await;
    let path = format!("/api/deployment/{id}");
    let (status, before) = get(&app, &path).await;
    assert_eq!(status, 200, "{before}");

    // The model re-derived with an index space, checkpointed, and its memory emptied.
    let index = Arc::new(Index::default());
    let model = app.app.read_model.clone();
    let reader: std::sync::Arc<dyn stackledger::ledger::Store> = index.clone();
    model.attach(IndexReader::new(&reader));
    model.set_cache_limit(0);
    let log: Vec<Arc<_>> = app
        .app
        .ledger
        .read_after(Seq::ZERO, usize::MAX)
        .expect("reads")
        .into_iter()
        .map(Arc::new)
        .collect();
    model.apply(&log);
    let taken = model.checkpoint();
    assert!(
        taken
            .writes
            .iter()
            .all(|write| IndexSpace::Projection.owns(&write.key))
    );
    index.write_index(&taken.writes).expect("memory writes");
    let through = model.read().summary().last_seq;
    model.checkpointed(through);
    assert_eq!(model.read().resident_deployments(), 0);

    let (status, after) = get(&app, &path).await;
    assert_eq!((status, after), (200, before.clone()));
    let (status, check) = get(&app, "/api/check/shop").await;
    assert_eq!(status, 200);
    assert!(check.contains("\"available\":false"), "{check}");

    index.broken.store(true, Ordering::SeqCst);
    let (status, body) = get(&app, &path).await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("read_model_unavailable"), "{body}");
    index.broken.store(false, Ordering::SeqCst);

    let record: Vec<u8> = taken
        .writes
        .iter()
        .find(|write| write.key.get(1) == Some(&b'd'))
        .map(|write| write.key.clone())
        .expect("a record is written");
    index
        .write_index(&[IndexWrite::put(record, vec![0, 0, 0])])
        .expect("memory writes");
    let (status, body) = get(&app, &path).await;
    assert_eq!(status, 500, "{body}");
    assert!(body.contains("read_model_corrupt"), "{body}");
    app.shutdown().await;
}
