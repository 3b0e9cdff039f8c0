//! Group commit, per collection. PostgreSQL takes writers in parallel, but
//! every commit into one collection is serialised by that collection's lock
//! (see `mod.rs`); so within a node, envelopes for the same collection that
//! queue up while a commit is in flight are folded into the next transaction
//! and share its lock wait and its fsync. Envelopes for other collections
//! commit in parallel on other connections.
//!
//! No thread of its own: the first caller to find a collection idle becomes
//! its leader, commits what is queued (its own envelope first), answers the
//! others, and goes on until the queue is empty.

use std::collections::HashMap;
use std::sync::{Mutex, mpsc};

use crate::model::CollectionId;
use crate::store::{IngestBatch, StatusRecord, StoreError, StoreResult};

/// Most envelopes folded into one transaction; bounds commit latency.
const MAX_GROUP: usize = 64;
/// Most objects in one transaction, unless one envelope alone has more.
const MAX_GROUP_OBJECTS: usize = 20_000;

type Reply = mpsc::SyncSender<StoreResult<StatusRecord>>;

struct Job {
    batch: IngestBatch,
    reply: Reply,
}

#[derive(Default)]
struct Queue {
    jobs: Vec<Job>,
    /// A caller is committing this collection's queue.
    leader: bool,
}

#[derive(Default)]
pub struct Committer {
    queues: Mutex<HashMap<CollectionId, Queue>>,
}

impl Committer {
    /// Queues `batch` and returns once it is committed (by this caller or
    /// by another that led the group it joined). `commit` stores a group in
    /// one transaction and returns one result per batch, in order.
    pub fn ingest(
        &self,
        batch: IngestBatch,
        commit: &dyn Fn(&[IngestBatch]) -> Vec<StoreResult<StatusRecord>>,
    ) -> StoreResult<StatusRecord> {
        let collection = batch.collection;
        let (reply, rx) = mpsc::sync_channel(1);
        let lead = {
            let mut queues = self.queues.lock().unwrap_or_else(|p| p.into_inner());
            let queue = queues.entry(collection).or_default();
            queue.jobs.push(Job { batch, reply });
            !std::mem::replace(&mut queue.leader, true)
        };
        if lead {
            self.lead(collection, commit);
        }
        rx.recv().map_err(|_| StoreError::WriterStopped)?
    }

    fn lead(
        &self,
        collection: CollectionId,
        commit: &dyn Fn(&[IngestBatch]) -> Vec<StoreResult<StatusRecord>>,
    ) {
        loop {
            let group = {
                let mut queues = self.queues.lock().unwrap_or_else(|p| p.into_inner());
                let Some(queue) = queues.get_mut(&collection) else {
                    return;
                };
                if queue.jobs.is_empty() {
                    queues.remove(&collection);
                    return;
                }
                let mut objects = 0;
                let mut take = 0;
                for job in &queue.jobs {
                    if take > 0
                        && (take == MAX_GROUP
                            || objects + job.batch.accepted.len() > MAX_GROUP_OBJECTS)
                    {
                        break;
                    }
                    objects += job.batch.accepted.len();
                    take += 1;
                }
                queue.jobs.drain(..take).collect::<Vec<_>>()
            };
            let (batches, replies): (Vec<IngestBatch>, Vec<Reply>) =
                group.into_iter().map(|j| (j.batch, j.reply)).unzip();
            // A panic must not leave the collection with a leader that is
            // gone: its envelopes fail, and the queue goes on.
            let results =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| commit(&batches)))
                    .unwrap_or_else(|_| {
                        batches
                            .iter()
                            .map(|_| Err(StoreError::Write("storing the envelope panicked".into())))
                            .collect()
                    });
            // Every envelope is freed before any caller hears back.
            drop(batches);
            for (reply, result) in replies.into_iter().zip(results) {
                let _ = reply.send(result);
            }
        }
    }
}
