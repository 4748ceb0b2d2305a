//! The step log's group commit against a real database: every write of a
//! batch lands under its own fence, a stale one writes nothing, and runners
//! committing at once are each answered.

use std::time::Duration;

use chrono::Utc;
use oms_saga::{
    domain::{
        SagaKind, SagaState,
        saga::{ActorRecord, NewSaga, Saga},
    },
    engine::commits::Committer,
    flows,
    store::{StepWrite, Store},
};
use oms_testkit::TestDatabase;

const LEASE: Duration = Duration::from_secs(60);

async fn store(database: &TestDatabase) -> Store {
    let pool = oms_platform::db::connect(&database.config(), &oms_saga::MIGRATOR)
        .await
        .unwrap();
    Store::new(pool)
}

/// A new order saga, inserted as held by `owner` (fence 1).
async fn started(store: &Store, order: &str) -> Saga {
    let version = flows::current_version(SagaKind::Order).unwrap();
    let flow = flows::definition(SagaKind::Order, version).unwrap();
    let new = NewSaga {
        kind: SagaKind::Order,
        flow_version: version,
        order_id: order.into(),
        return_id: String::new(),
        cancellation: 0,
        cancel_reason: String::new(),
        started_by: ActorRecord {
            kind: 3,
            id: "test".into(),
        },
        traceparent: String::new(),
        data: serde_json::Value::Null,
    };
    let saga = Saga::start(new, flow, Utc::now());
    let (claimed, created) = store.insert(&saga, "owner-1", LEASE).await.unwrap();
    assert!(created);
    assert_eq!(claimed.fence, 1);
    claimed.saga
}

/// The saga as ended COMPLETED would be written: no lease kept.
fn ended(mut saga: Saga) -> Saga {
    saga.state = SagaState::Completed;
    saga.finish_time = Some(Utc::now());
    saga
}

#[tokio::test]
async fn a_batch_writes_each_saga_under_its_own_fence_and_a_stale_one_not_at_all() {
    let database = TestDatabase::create().await;
    let store = store(&database).await;
    let held = started(&store, "order-held").await;
    let taken = started(&store, "order-taken").await;

    let written = store
        .commit_many(&[
            StepWrite::new(&ended(held.clone()), 1, None).unwrap(),
            // Fence 2 was never claimed: a replica whose claim moved on.
            StepWrite::new(&ended(taken.clone()), 2, None).unwrap(),
        ])
        .await
        .unwrap();

    assert_eq!(written.len(), 1, "{written:?}");
    assert_eq!(written.get(&held.saga_id), Some(&false));
    let held_now = store.get(held.saga_id).await.unwrap().unwrap();
    assert_eq!(held_now.saga.state, SagaState::Completed);
    assert_eq!(
        held_now.saga.owner_id, None,
        "an ended saga lets its lease go"
    );
    let taken_now = store.get(taken.saga_id).await.unwrap().unwrap();
    assert_eq!(taken_now.saga.state, SagaState::Running, "nothing written");
    assert_eq!(taken_now.saga.owner_id.as_deref(), Some("owner-1"));
}

#[tokio::test]
async fn runners_committing_at_once_are_each_answered_and_each_written() {
    let database = TestDatabase::create().await;
    let store = store(&database).await;
    let committer = Committer::start(store.clone());
    let mut sagas = Vec::new();
    for n in 0..20 {
        sagas.push(started(&store, &format!("order-{n}")).await);
    }

    let mut runners = tokio::task::JoinSet::new();
    for (n, saga) in sagas.iter().enumerate() {
        let committer = committer.clone();
        // Every third one under a stale fence.
        let fence = if n % 3 == 0 { 7 } else { 1 };
        let write = StepWrite::new(&ended(saga.clone()), fence, Some(LEASE)).unwrap();
        runners.spawn(async move { (write.saga_id, fence, committer.commit(write).await) });
    }
    while let Some(done) = runners.join_next().await {
        let (saga_id, fence, answer) = done.unwrap();
        let answer = answer.unwrap();
        let now = store.get(saga_id).await.unwrap().unwrap();
        if fence == 1 {
            assert_eq!(answer, Some(false));
            assert_eq!(now.saga.state, SagaState::Completed);
            assert_eq!(now.saga.owner_id.as_deref(), Some("owner-1"), "lease kept");
        } else {
            assert_eq!(answer, None, "a stale fence is told it was taken over");
            assert_eq!(now.saga.state, SagaState::Running);
        }
    }
}
