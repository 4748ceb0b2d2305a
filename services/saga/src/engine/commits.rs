//! Group commit of the step log: the runners of one replica hand their step
//! commits to one writer task, which writes every commit waiting at that
//! moment in one statement ([`Store::commit_many`]) and answers each runner.
//!
//! A runner still waits for its own commit before it starts the next step,
//! so the promise is unchanged (a step's outcome is durable before the next
//! step acts); what changes is that sagas running at once share a commit and
//! a round trip. While one batch is written the next one gathers, so under
//! load batches grow by themselves and with one saga running nothing waits.

use std::{collections::HashMap, sync::Arc};

use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use crate::{
    error::SagaError,
    store::{StepWrite, Store},
};

/// Most step commits written in one statement.
const MAX_BATCH: usize = 256;

/// What a runner gets back: whether a cancel asked its saga to stop, `None`
/// when the saga was taken over (nothing written); the error of the batch's
/// statement when it failed (nothing of the batch was written).
type Answer = Result<Option<bool>, Arc<SagaError>>;

struct Pending {
    write: StepWrite,
    answer: oneshot::Sender<Answer>,
}

/// The handle runners commit through; clones share the writer. The writer
/// ends when the last handle is dropped.
#[derive(Clone)]
pub struct Committer {
    queue: mpsc::UnboundedSender<Pending>,
}

impl Committer {
    /// Starts the writer of `store`'s step commits (on the current runtime).
    pub fn start(store: Store) -> Committer {
        let (queue, waiting) = mpsc::unbounded_channel();
        tokio::spawn(write(store, waiting));
        Committer { queue }
    }

    /// Commits `write` with whatever other commits wait; see [`Answer`].
    pub async fn commit(&self, write: StepWrite) -> Answer {
        let (answer, answered) = oneshot::channel();
        let gone = || Arc::new(SagaError::Corrupt("the step writer stopped".into()));
        self.queue
            .send(Pending { write, answer })
            .map_err(|_| gone())?;
        answered.await.map_err(|_| gone())?
    }
}

/// Writes the waiting commits a batch at a time until every handle is gone.
async fn write(store: Store, mut waiting: mpsc::UnboundedReceiver<Pending>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while waiting.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let (writes, answers): (Vec<StepWrite>, Vec<oneshot::Sender<Answer>>) = batch
            .drain(..)
            .map(|pending| (pending.write, pending.answer))
            .unzip();
        let written: Result<HashMap<Uuid, bool>, Arc<SagaError>> =
            store.commit_many(&writes).await.map_err(Arc::new);
        for (write, answer) in writes.iter().zip(answers) {
            let answered = match &written {
                Ok(written) => Ok(written.get(&write.saga_id).copied()),
                Err(err) => Err(err.clone()),
            };
            // A runner that stopped waiting has nothing to be told.
            let _ = answer.send(answered);
        }
    }
}
