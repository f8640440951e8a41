//! The capture writer: takes captured calls off the request path through a bounded queue and
//! inserts them in batches of up to `max_batch` rows (one COPY each on PostgreSQL, one
//! multi-row INSERT on SQLite). The request
//! path never waits: when the queue is full the call is dropped and counted.
//!
//! The writer does not wake for each call (a wake-up per request costs more than the rest of
//! capture together): it drains the queue every `flush_every`, and at once on
//! [`CaptureSink::flush`] and [`CaptureWriter::shutdown`], which come on a separate control
//! queue. A failed insert is retried with a growing pause (the queue fills meanwhile, and
//! overflow is counted as dropped); after `write_attempts` failures the batch is given up and
//! counted as dropped, so one poisoned batch cannot wedge capture for good.

use std::sync::Arc;
use std::time::Duration;

use aberta_store::KeyRing;
use sea_orm::{DatabaseBackend, DatabaseConnection, EntityTrait};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use crate::API_CALL_TABLE;
use crate::entity::api_call;
use crate::metrics::PcmMetrics;
use crate::record::{COPY_COLUMNS, CallRecord};

/// How the writer batches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriterConfig {
    /// Calls the queue holds before new ones are dropped.
    pub queue_capacity: usize,
    /// Rows per INSERT at most.
    pub max_batch: usize,
    /// How often the queue is drained: the longest a captured call waits for its INSERT.
    pub flush_every: Duration,
    /// Attempts at one batch before it is given up.
    pub write_attempts: u32,
}

impl Default for WriterConfig {
    fn default() -> Self {
        Self {
            queue_capacity: 50_000,
            max_batch: 500,
            flush_every: Duration::from_secs(1),
            write_attempts: 20,
        }
    }
}

enum Control {
    Flush(oneshot::Sender<()>),
    Stop(oneshot::Sender<()>),
}

/// Where the capture layer hands its calls. Cheap to clone.
#[derive(Clone)]
pub struct CaptureSink {
    calls: mpsc::Sender<CallRecord>,
    control: mpsc::Sender<Control>,
    metrics: Arc<PcmMetrics>,
}

impl std::fmt::Debug for CaptureSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaptureSink")
            .field(
                "queued",
                &(self.calls.max_capacity() - self.calls.capacity()),
            )
            .finish_non_exhaustive()
    }
}

impl CaptureSink {
    /// Queues a call; never waits. A full (or closed) queue drops it and counts the drop.
    pub(crate) fn offer(&self, record: CallRecord) {
        match self.calls.try_send(record) {
            Ok(()) => self.metrics.captured(),
            Err(_) => self.metrics.dropped(1),
        }
    }

    /// Returns once every call offered before it is in the database (or given up).
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.control.send(Control::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }

    pub fn metrics(&self) -> &Arc<PcmMetrics> {
        &self.metrics
    }

    /// A sink whose calls are drained and thrown away as the writer would drain them, with no
    /// database: for measuring the capture layer's own cost.
    #[doc(hidden)]
    pub fn discarding(metrics: Arc<PcmMetrics>) -> Self {
        let config = WriterConfig::default();
        let (sink, mut calls, mut control) = channels(&config, metrics);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(config.flush_every);
            loop {
                tokio::select! {
                    _ = tick.tick() => while calls.try_recv().is_ok() {},
                    message = control.recv() => {
                        while calls.try_recv().is_ok() {}
                        match message {
                            Some(Control::Flush(done)) => { let _ = done.send(()); }
                            Some(Control::Stop(done)) => { let _ = done.send(()); break; }
                            None => break,
                        }
                    }
                }
            }
        });
        sink
    }
}

fn channels(
    config: &WriterConfig,
    metrics: Arc<PcmMetrics>,
) -> (
    CaptureSink,
    mpsc::Receiver<CallRecord>,
    mpsc::Receiver<Control>,
) {
    let (calls, call_queue) = mpsc::channel(config.queue_capacity.max(1));
    let (control, control_queue) = mpsc::channel(16);
    (
        CaptureSink {
            calls,
            control,
            metrics,
        },
        call_queue,
        control_queue,
    )
}

/// The running writer: its sink, and the task to stop.
#[derive(Debug)]
pub struct CaptureWriter {
    sink: CaptureSink,
    task: JoinHandle<()>,
}

impl CaptureWriter {
    /// Starts the writer on `db` (with this crate migrated). Client addresses are sealed
    /// with `keyring`.
    pub fn spawn(
        db: DatabaseConnection,
        keyring: Arc<KeyRing>,
        metrics: Arc<PcmMetrics>,
        config: WriterConfig,
    ) -> Self {
        let (sink, calls, control) = channels(&config, metrics.clone());
        let writer = Writer {
            db,
            keyring,
            metrics,
            config,
        };
        let task = tokio::spawn(writer.run(calls, control));
        Self { sink, task }
    }

    /// The sink to give [`crate::Capture`].
    pub fn sink(&self) -> CaptureSink {
        self.sink.clone()
    }

    /// Writes what is queued, then stops the writer. Calls captured afterwards are dropped
    /// (and counted).
    pub async fn shutdown(self) {
        let (done, wait) = oneshot::channel();
        if self.sink.control.send(Control::Stop(done)).await.is_ok() {
            let _ = wait.await;
        }
        let _ = self.task.await;
    }
}

struct Writer {
    db: DatabaseConnection,
    keyring: Arc<KeyRing>,
    metrics: Arc<PcmMetrics>,
    config: WriterConfig,
}

impl Writer {
    async fn run(
        self,
        mut calls: mpsc::Receiver<CallRecord>,
        mut control: mpsc::Receiver<Control>,
    ) {
        let mut tick = tokio::time::interval(self.config.flush_every.max(Duration::from_millis(1)));
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => self.drain(&mut calls).await,
                message = control.recv() => {
                    self.drain(&mut calls).await;
                    match message {
                        Some(Control::Flush(done)) => {
                            let _ = done.send(());
                        }
                        Some(Control::Stop(done)) => {
                            calls.close();
                            self.drain(&mut calls).await;
                            let _ = done.send(());
                            break;
                        }
                        None => break,
                    }
                }
            }
        }
        tracing::info!("capture writer stopped");
    }

    /// Writes everything queued now, `max_batch` rows per INSERT.
    async fn drain(&self, calls: &mut mpsc::Receiver<CallRecord>) {
        let max_batch = self.config.max_batch.max(1);
        loop {
            let mut batch = Vec::new();
            while batch.len() < max_batch {
                match calls.try_recv() {
                    Ok(record) => batch.push(record),
                    Err(_) => break,
                }
            }
            let full = batch.len() == max_batch;
            self.write(batch).await;
            if !full {
                return;
            }
        }
    }

    /// Inserts `batch`, retrying a failed insert.
    async fn write(&self, batch: Vec<CallRecord>) {
        if batch.is_empty() {
            return;
        }
        let count = batch.len() as u64;
        let rows = Rows::prepare(&self.db, batch, &self.keyring);
        let mut pause = Duration::from_millis(100);
        for attempt in 1..=self.config.write_attempts.max(1) {
            match rows.insert(&self.db).await {
                Ok(()) => {
                    self.metrics.written(count);
                    return;
                }
                Err(err) => {
                    self.metrics.write_failed();
                    tracing::warn!(%err, rows = count, attempt, "writing captured calls failed");
                    if attempt < self.config.write_attempts {
                        tokio::time::sleep(pause).await;
                        pause = (pause * 2).min(Duration::from_secs(5));
                    }
                }
            }
        }
        self.metrics.dropped(count);
        tracing::error!(
            rows = count,
            "captured calls given up after repeated write failures"
        );
    }
}

/// A batch ready to insert, kept as it is for the retries.
enum Rows {
    /// PostgreSQL: the COPY text of the rows, one statement whatever their number, and none
    /// of a multi-row INSERT's parameters to bind.
    Copy(String),
    /// SQLite: one multi-row INSERT.
    Insert(Vec<api_call::ActiveModel>),
}

impl Rows {
    fn prepare(db: &DatabaseConnection, batch: Vec<CallRecord>, keyring: &KeyRing) -> Self {
        if db.get_database_backend() == DatabaseBackend::Postgres {
            let mut text = String::with_capacity(batch.len() * 320);
            for record in batch {
                record.copy_line(keyring, &mut text);
            }
            Self::Copy(text)
        } else {
            Self::Insert(
                batch
                    .into_iter()
                    .map(|record| record.into_row(keyring))
                    .collect(),
            )
        }
    }

    async fn insert(&self, db: &DatabaseConnection) -> Result<(), String> {
        match self {
            Self::Copy(text) => {
                use sea_orm::sqlx::postgres::PgPoolCopyExt;
                let statement = format!("COPY {API_CALL_TABLE} ({COPY_COLUMNS}) FROM STDIN");
                let pool = db.get_postgres_connection_pool();
                let mut copy = pool
                    .copy_in_raw(&statement)
                    .await
                    .map_err(|e| e.to_string())?;
                if let Err(err) = copy.send(text.as_bytes()).await {
                    let _ = copy.abort(err.to_string()).await;
                    return Err(err.to_string());
                }
                copy.finish().await.map(drop).map_err(|e| e.to_string())
            }
            Self::Insert(rows) => api_call::Entity::insert_many(rows.clone())
                .exec_without_returning(db)
                .await
                .map(drop)
                .map_err(|e| e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> CallRecord {
        CallRecord {
            brand: "demo".into(),
            interaction_id: "d78fc4e5-37ca-4da3-adf2-9bd4c1a6c2d9".into(),
            endpoint: "/token".into(),
            family: "auth".into(),
            method: "POST",
            status: 200,
            received_at: 0,
            processing_ms: 0,
            client_org_id: None,
            client_ssid: None,
            server_org_id: "org".into(),
            facts: Default::default(),
            client_ip: None,
        }
    }

    #[test]
    fn a_full_queue_drops_and_counts_without_waiting() {
        let metrics = Arc::new(PcmMetrics::default());
        // Nobody reads this queue: it fills after two calls.
        let config = WriterConfig {
            queue_capacity: 2,
            ..WriterConfig::default()
        };
        let (sink, _calls, _control) = channels(&config, metrics.clone());
        for _ in 0..5 {
            sink.offer(record());
        }
        let s = metrics.snapshot();
        assert_eq!((s.captured, s.dropped), (2, 3));
    }
}
