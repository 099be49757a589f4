//! The ledger benchmark's peer engines: fjall and redb under the ledger's 64-appender workload
//! (records of the ledger's encoded event size, key = seq big-endian, one durable commit per
//! group), printed beside the ledger, raw disk and sled figures as ratios.
//!
//! The engines are compiled only with the cargo feature `peers` (without it, one line says so).
//! It measures only in fresh directories under the bench's work dir and never opens a ledger or
//! anything outside that directory.

#[cfg(feature = "peers")]
pub(crate) use engines::measure;

/// Without the feature `peers` the engines are not compiled: one line says so.
#[cfg(not(feature = "peers"))]
pub(crate) fn measure(
    _: &std::path::Path,
    _: usize,
    _: std::time::Duration,
    _: &Beside,
) -> anyhow::Result<()> {
    println!("peer engines (fjall, redb): not built; build with --features peers to measure them");
    Ok(())
}

/// The figures the peers are set beside, all measured earlier in the same run.
// Without the engines nothing reads them; the ledger bench builds them either way.
#[cfg_attr(not(feature = "peers"), allow(dead_code))]
pub(crate) struct Beside {
    /// The ledger's 64-appender durable events per second (as shipped, with the witness).
    pub(crate) ledger_rate: f64,
    /// The ledger's 1-appender median latency in microseconds.
    pub(crate) ledger_single_us: f64,
    /// Raw records per second at 64 records per fdatasync.
    pub(crate) raw_by64: f64,
    /// Median microseconds of one raw write + fdatasync.
    pub(crate) raw_single_us: f64,
    /// sled inserts per second with no flush.
    pub(crate) sled_rate: f64,
}

/// fjall and redb themselves (feature `peers`).
#[cfg(feature = "peers")]
mod engines {
    use std::path::Path;
    use std::time::Duration;

    use stackledger::clock::Stopwatch;

    use super::Beside;
    use crate::ledger_bench::{dir_bytes, percentile_us};

    /// Bytes of one peer record: about the ledger's encoded event size.
    const RECORD_BYTES: usize = 124;

    /// Commits of one record each timed for the latency median.
    const SINGLE_COMMITS: usize = 300;

    /// One engine's figures.
    struct PeerFigures {
        rate: f64,
        disk_per_record: f64,
        single_us: f64,
    }

    /// A store that commits a group of records durably.
    trait Peer {
        fn commit(&mut self, first: u64, count: usize, record: &[u8]) -> anyhow::Result<()>;
    }

    struct Fjall {
        keyspace: fjall::Keyspace,
        partition: fjall::PartitionHandle,
    }

    impl Fjall {
        fn open(dir: &Path) -> anyhow::Result<Self> {
            let keyspace = fjall::Config::new(dir).open()?;
            let partition = keyspace.open_partition("events", Default::default())?;
            Ok(Self {
                keyspace,
                partition,
            })
        }
    }

    impl Peer for Fjall {
        fn commit(&mut self, first: u64, count: usize, record: &[u8]) -> anyhow::Result<()> {
            let mut batch = self
                .keyspace
                .batch()
                .durability(Some(fjall::PersistMode::SyncData));
            for seq in first..first + count as u64 {
                batch.insert(&self.partition, seq.to_be_bytes(), record);
            }
            batch.commit()?;
            Ok(())
        }
    }

    const REDB_EVENTS: redb::TableDefinition<'static, u64, &[u8]> =
        redb::TableDefinition::new("events");

    struct Redb {
        db: redb::Database,
    }

    impl Peer for Redb {
        fn commit(&mut self, first: u64, count: usize, record: &[u8]) -> anyhow::Result<()> {
            let mut txn = self.db.begin_write()?;
            txn.set_durability(redb::Durability::Immediate)?;
            {
                let mut table = txn.open_table(REDB_EVENTS)?;
                for seq in first..first + count as u64 {
                    // redb's u64 keys are stored little-endian; the order is the seq order as with
                    // big-endian bytes, and the value is the same record.
                    table.insert(seq, record)?;
                }
            }
            txn.commit()?;
            Ok(())
        }
    }

    /// Measures both engines in `work` and prints them beside `beside`.
    pub(crate) fn measure(
        work: &Path,
        group: usize,
        window: Duration,
        beside: &Beside,
    ) -> anyhow::Result<()> {
        println!(
            "peer engines: {RECORD_BYTES} B records, key = seq, groups of {group} (the ledger's \
         64-appender group), each committed durably, for {window:?}; then {SINGLE_COMMITS} \
         commits of 1 record"
        );
        let fjall_dir = work.join("peer-fjall");
        let fjall = run_engine(&fjall_dir, group, window, || Fjall::open(&fjall_dir))?;
        print_engine("fjall (batch, PersistMode::SyncData)", &fjall, beside);
        let redb_dir = work.join("peer-redb");
        let redb = run_engine(&redb_dir, group, window, || {
            std::fs::create_dir_all(&redb_dir)?;
            Ok(Redb {
                db: redb::Database::create(redb_dir.join("events.redb"))?,
            })
        })?;
        print_engine("redb (write txn, Durability::Immediate)", &redb, beside);
        let fastest = fjall.rate.max(redb.rate);
        println!(
            "  ledger 64 appenders / fastest peer: {:.2}x",
            beside.ledger_rate / fastest
        );
        Ok(())
    }

    fn run_engine<P: Peer>(
        dir: &Path,
        group: usize,
        window: Duration,
        open: impl Fn() -> anyhow::Result<P>,
    ) -> anyhow::Result<PeerFigures> {
        let record = [0x5a_u8; RECORD_BYTES];
        let mut peer = open()?;
        let started = Stopwatch::start();
        let mut written = 0u64;
        while started.elapsed() < window {
            peer.commit(written, group, &record)?;
            written += group as u64;
        }
        let rate = written as f64 / started.elapsed().as_secs_f64();
        let mut latencies = Vec::with_capacity(SINGLE_COMMITS);
        for n in 0..SINGLE_COMMITS as u64 {
            let one = Stopwatch::start();
            peer.commit(written + n, 1, &record)?;
            latencies.push(one.elapsed());
        }
        written += SINGLE_COMMITS as u64;
        drop(peer);
        let disk_per_record = dir_bytes(dir)? as f64 / written as f64;
        std::fs::remove_dir_all(dir)?;
        Ok(PeerFigures {
            rate,
            disk_per_record,
            single_us: percentile_us(&mut latencies, 0.5),
        })
    }

    fn print_engine(label: &str, figures: &PeerFigures, beside: &Beside) {
        println!(
            "  {label}: {:>9.0} events/s = {:.1}% of raw at 64/sync, {:.1}% of sled no-flush; \
         ledger = {:.2}x it",
            figures.rate,
            100.0 * figures.rate / beside.raw_by64,
            100.0 * figures.rate / beside.sled_rate,
            beside.ledger_rate / figures.rate,
        );
        println!(
            "      disk {:.0} bytes/record ({:.2}x {RECORD_BYTES} B); 1 record per commit: median \
         {:.0} us = {:.2}x one raw fdatasync (ledger 1 appender: {:.2}x)",
            figures.disk_per_record,
            figures.disk_per_record / RECORD_BYTES as f64,
            figures.single_us,
            figures.single_us / beside.raw_single_us,
            beside.ledger_single_us / beside.raw_single_us,
        );
    }
}
