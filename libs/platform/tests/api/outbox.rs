//! The outbox under failure: a receiver that refuses for good, one that is
//! down, one that is slow, and two dispatchers at once. The receiver is the
//! probe over real gRPC; the operator's view is `oms.outbox.v1.OutboxService`.

use std::{collections::HashMap, sync::Arc, time::Duration};

use oms_platform::{
    client::{self, OmsChannel},
    db,
    outbox::{self, Courier, Dispatcher, Message, OutboxAdmin, Settings},
    server::GrpcServer,
};
use oms_proto::{
    common::v1::{Actor, ActorKind, PageRequest},
    outbox::v1::{
        ListOutboxMessagesRequest, OutboxMessage, OutboxMessageState, RedriveOutboxMessagesRequest,
        outbox_service_client::OutboxServiceClient,
    },
};
use oms_testkit::{
    ReservedPort, TestDatabase, TestServer, client_config, metrics::MetricsRecorder, poll_until,
    server_config,
};
use opentelemetry::KeyValue;
use prost::Message as _;
use sqlx::{PgPool, migrate::Migrator, postgres::PgPoolOptions};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::probe::{self, ProbeState, WaitRequest};

const TOPIC: &str = "oms.platform.test.Probe/Wait";

/// Delivers each message as a probe `Wait` whose label is the message's.
struct ProbeCourier {
    channel: OmsChannel,
}

impl Courier for ProbeCourier {
    type Receipt = ();

    async fn send(&self, message: &Message) -> Result<(), tonic::Status> {
        if message.topic != TOPIC {
            return Err(message.unknown_topic());
        }
        let request: WaitRequest = message.decode()?;
        probe::wait(self.channel.clone(), tonic::Request::new(request)).await?;
        Ok(())
    }
}

pub struct Outbox {
    _database: TestDatabase,
    pool: PgPool,
    wake: Arc<Notify>,
    admin: TestServer,
}

impl Outbox {
    /// A fresh database with the platform's tables, and its OutboxService.
    pub async fn new() -> Outbox {
        let database = TestDatabase::create().await;
        let pool = db::connect(&database.config(), &Migrator::with_migrations(Vec::new()))
            .await
            .unwrap();
        let wake = Arc::new(Notify::new());
        let admin_service = OutboxAdmin::new(pool.clone(), wake.clone());
        let admin = TestServer::start(|listener, shutdown| {
            GrpcServer::new(&server_config())
                .add_service(admin_service.into_server())
                .serve(listener, shutdown)
        })
        .await;
        Outbox {
            _database: database,
            pool,
            wake,
            admin,
        }
    }

    async fn enqueue(&self, labels: &[&str]) {
        let mut tx = self.pool.begin().await.unwrap();
        for label in labels {
            let payload = WaitRequest {
                label: (*label).to_owned(),
            }
            .encode_to_vec();
            assert!(
                outbox::enqueue(&mut tx, TOPIC, label, &payload, "")
                    .await
                    .unwrap()
            );
        }
        tx.commit().await.unwrap();
        self.wake.notify_one();
    }

    fn dispatcher(&self, receiver: &str, settings: Settings) -> Dispatcher<ProbeCourier> {
        let channel = client::channel(receiver, &client_config()).unwrap();
        Dispatcher::new(
            self.pool.clone(),
            ProbeCourier { channel },
            self.wake.clone(),
            settings,
        )
    }

    pub fn admin(&self) -> OutboxServiceClient<OmsChannel> {
        OutboxServiceClient::new(self.admin.channel())
    }

    async fn list(&self, state: OutboxMessageState) -> Vec<OutboxMessage> {
        self.admin()
            .list_outbox_messages(ListOutboxMessagesRequest {
                state: state as i32,
                topic: TOPIC.into(),
                page: Some(PageRequest {
                    page_size: 500,
                    page_token: String::new(),
                }),
            })
            .await
            .unwrap()
            .into_inner()
            .messages
    }

    /// Waits until `count` messages are in `state`.
    async fn wait_for(&self, state: OutboxMessageState, count: usize, timeout: Duration) {
        poll_until(&format!("{count} messages {state:?}"), timeout, || async {
            (self.list(state).await.len() == count).then_some(())
        })
        .await;
    }
}

fn fast(poll: Duration) -> Settings {
    Settings {
        poll,
        ..Settings::new(poll)
    }
}

/// How many times the probe saw each label.
fn calls(probe: &ProbeState) -> HashMap<String, usize> {
    let mut calls = HashMap::new();
    for seen in probe.seen.lock().unwrap().iter() {
        *calls.entry(seen.label.clone()).or_insert(0) += 1;
    }
    calls
}

fn keyed<T>(message: T, key: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert("idempotency-key", key.parse().unwrap());
    request
}

fn operator() -> Option<Actor> {
    Some(Actor {
        kind: ActorKind::Operator as i32,
        id: "op-1".into(),
    })
}

#[tokio::test]
async fn a_message_refused_for_good_is_parked_counted_and_redriven_while_the_rest_flow() {
    let outbox = Outbox::new().await;
    let state = ProbeState::open();
    state.refused.lock().unwrap().insert("poison".into());
    let receiver = TestServer::start(probe::serve(state.clone(), server_config())).await;
    let metrics = MetricsRecorder::new();
    let settings = Settings {
        meter: metrics.meter(),
        ..fast(Duration::from_millis(50))
    };
    let dispatcher = outbox.dispatcher(&receiver.address().to_string(), settings);
    let stop = CancellationToken::new();
    tokio::spawn(dispatcher.run(stop.clone()));

    outbox.enqueue(&["a", "b", "poison", "c", "d"]).await;
    outbox
        .wait_for(OutboxMessageState::Delivered, 4, Duration::from_secs(10))
        .await;
    outbox
        .wait_for(OutboxMessageState::Dead, 1, Duration::from_secs(10))
        .await;
    let dead = outbox.list(OutboxMessageState::Dead).await.remove(0);
    assert_eq!(dead.key, "poison");
    assert_eq!(dead.attempts, 1, "a refusal for good is not retried");
    assert!(
        dead.last_error.starts_with("FAILED_PRECONDITION: "),
        "{}",
        dead.last_error
    );
    assert!(dead.dead_time.is_some());
    let topic = KeyValue::new("topic", TOPIC);
    assert_eq!(
        metrics.value("oms.outbox.parked", std::slice::from_ref(&topic)),
        Some(1.0)
    );
    assert_eq!(metrics.value("oms.outbox.delivered", &[topic]), Some(4.0));
    // The gauges follow within a poll.
    poll_until("the dead gauge", Duration::from_secs(10), || async {
        (metrics.value("oms.outbox.dead", &[]) == Some(1.0)).then_some(())
    })
    .await;

    // The operator fixes the receiver and re-drives the message: it is
    // delivered once; a retry of the call answers as the first time, and
    // another re-drive of a delivered message changes nothing.
    state.refused.lock().unwrap().clear();
    let redrive = RedriveOutboxMessagesRequest {
        message_ids: vec![dead.message_id],
        topic: String::new(),
        actor: operator(),
        reason: "receiver fixed".into(),
    };
    let redriven = outbox
        .admin()
        .redrive_outbox_messages(keyed(redrive.clone(), "redrive-1"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(redriven.redriven_count, 1);
    outbox
        .wait_for(OutboxMessageState::Delivered, 5, Duration::from_secs(10))
        .await;
    let retried = outbox
        .admin()
        .redrive_outbox_messages(keyed(redrive.clone(), "redrive-1"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(retried, redriven);
    let again = outbox
        .admin()
        .redrive_outbox_messages(keyed(redrive, "redrive-2"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.redriven_count, 0);
    assert_eq!(
        again.messages[0].state,
        OutboxMessageState::Delivered as i32
    );
    assert_eq!(again.messages[0].redrive_count, 1);

    let calls = calls(&state);
    for label in ["a", "b", "c", "d"] {
        assert_eq!(calls[label], 1, "{label}");
    }
    assert_eq!(calls["poison"], 2, "refused once, then delivered once");
    stop.cancel();
}

#[tokio::test]
async fn a_receiver_down_for_ten_seconds_gets_every_message_once_when_it_is_back() {
    let outbox = Outbox::new().await;
    let port = ReservedPort::new();
    let dispatcher = outbox.dispatcher(
        &port.address().to_string(),
        fast(Duration::from_millis(100)),
    );
    let stop = CancellationToken::new();
    tokio::spawn(dispatcher.run(stop.clone()));

    let labels: Vec<String> = (0..20).map(|n| format!("m{n}")).collect();
    let labels: Vec<&str> = labels.iter().map(String::as_str).collect();
    outbox.enqueue(&labels).await;
    // The outage itself: nothing listens on the receiver's port for 10 s.
    tokio::time::sleep(Duration::from_secs(10)).await;
    let pending = outbox.list(OutboxMessageState::Pending).await;
    assert_eq!(pending.len(), 20);
    assert!(pending.iter().all(|message| message.attempts >= 3));
    assert!(
        pending
            .iter()
            .all(|message| message.last_error.starts_with("UNAVAILABLE")),
        "{:?}",
        pending[0].last_error
    );

    let state = ProbeState::open();
    let _receiver = TestServer::start_on(port, probe::serve(state.clone(), server_config())).await;
    // The backoff is capped well under this.
    outbox
        .wait_for(OutboxMessageState::Delivered, 20, Duration::from_secs(60))
        .await;
    let calls = calls(&state);
    assert_eq!(calls.len(), 20);
    assert!(calls.values().all(|count| *count == 1), "{calls:?}");
    assert!(outbox.list(OutboxMessageState::Dead).await.is_empty());
    stop.cancel();
}

#[tokio::test]
async fn no_dispatcher_holds_a_connection_or_a_lock_across_a_delivery_call() {
    let outbox = Outbox::new().await;
    // One connection in all: if the dispatcher kept it across the call, every
    // query below would wait for the receiver.
    let single = PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(2))
        .connect_with(outbox._database.config().options)
        .await
        .unwrap();
    let state = ProbeState::closed();
    let receiver = TestServer::start(probe::serve(state.clone(), server_config())).await;
    let channel = client::channel(&receiver.address().to_string(), &client_config()).unwrap();
    let dispatcher = Dispatcher::new(
        single.clone(),
        ProbeCourier { channel },
        outbox.wake.clone(),
        fast(Duration::from_millis(50)),
    );
    let stop = CancellationToken::new();
    tokio::spawn(dispatcher.run(stop.clone()));

    outbox.enqueue(&["slow"]).await;
    state.wait_until_entered(1).await;
    // The receiver is answering the call; the only connection is free, and the
    // message's row is not locked.
    let locked: Option<i64> =
        sqlx::query_scalar("SELECT id FROM outbox_messages WHERE key = 'slow' FOR UPDATE NOWAIT")
            .fetch_optional(&single)
            .await
            .expect("the connection is free and the row unlocked");
    assert!(locked.is_some());

    state.gate.add_permits(1);
    outbox
        .wait_for(OutboxMessageState::Delivered, 1, Duration::from_secs(10))
        .await;
    stop.cancel();
}

#[tokio::test]
async fn two_dispatchers_deliver_each_message_once() {
    let outbox = Outbox::new().await;
    let state = ProbeState::open();
    let receiver = TestServer::start(probe::serve(state.clone(), server_config())).await;
    let address = receiver.address().to_string();
    let stop = CancellationToken::new();
    for _ in 0..2 {
        let dispatcher = outbox.dispatcher(&address, fast(Duration::from_millis(20)));
        tokio::spawn(dispatcher.run(stop.clone()));
    }
    let labels: Vec<String> = (0..200).map(|n| format!("m{n}")).collect();
    for chunk in labels.chunks(20) {
        let chunk: Vec<&str> = chunk.iter().map(String::as_str).collect();
        outbox.enqueue(&chunk).await;
    }
    outbox
        .wait_for(OutboxMessageState::Delivered, 200, Duration::from_secs(30))
        .await;
    let calls = calls(&state);
    assert_eq!(calls.len(), 200);
    assert!(calls.values().all(|count| *count == 1));
    stop.cancel();
}

#[tokio::test]
async fn a_dispatcher_whose_lease_lapsed_records_nothing() {
    let outbox = Outbox::new().await;
    let state = ProbeState::closed();
    let receiver = TestServer::start(probe::serve(state.clone(), server_config())).await;
    let address = receiver.address().to_string();
    let short_lease = Settings {
        lease: Duration::from_millis(200),
        ..fast(Duration::from_secs(3600))
    };
    let first = outbox.dispatcher(&address, short_lease.clone());
    let second = outbox.dispatcher(&address, short_lease);
    outbox.enqueue(&["leased"]).await;

    // The first dispatcher's call hangs past its lease; the second takes the
    // message over and its call hangs too.
    let first_round = tokio::spawn(async move { first.deliver_due().await.unwrap() });
    state.wait_until_entered(1).await;
    let taken_over = poll_until("the lease to lapse", Duration::from_secs(10), || async {
        // Only due again once the lease lapsed.
        let claimed: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM outbox_messages WHERE next_attempt_time <= now()",
        )
        .fetch_one(&outbox.pool)
        .await
        .unwrap();
        (claimed == 1).then_some(())
    });
    taken_over.await;
    let second_round = tokio::spawn(async move { second.deliver_due().await.unwrap() });
    state.wait_until_entered(2).await;

    // Both calls are answered: only the latest claim's outcome counts.
    state.gate.add_permits(2);
    let first_round = first_round.await.unwrap();
    let second_round = second_round.await.unwrap();
    assert_eq!((first_round.delivered, first_round.unrecorded), (0, 1));
    assert_eq!((second_round.delivered, second_round.unrecorded), (1, 0));
    let delivered = outbox.list(OutboxMessageState::Delivered).await;
    assert_eq!(delivered.len(), 1);
    assert_eq!(delivered[0].attempts, 1);
}

#[tokio::test]
async fn operators_page_through_messages_and_bad_requests_name_their_field() {
    let outbox = Outbox::new().await;
    let labels: Vec<String> = (0..7).map(|n| format!("p{n}")).collect();
    let labels: Vec<&str> = labels.iter().map(String::as_str).collect();
    outbox.enqueue(&labels).await;

    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = outbox
            .admin()
            .list_outbox_messages(ListOutboxMessagesRequest {
                state: OutboxMessageState::Pending as i32,
                topic: String::new(),
                page: Some(PageRequest {
                    page_size: 3,
                    page_token: token.clone(),
                }),
            })
            .await
            .unwrap()
            .into_inner();
        seen.extend(page.messages.iter().map(|message| message.message_id));
        token = page.page.unwrap().next_page_token;
        if token.is_empty() {
            break;
        }
    }
    assert_eq!(seen.len(), 7);
    assert!(
        seen.windows(2).all(|pair| pair[0] > pair[1]),
        "newest first"
    );

    let status = outbox
        .admin()
        .redrive_outbox_messages(RedriveOutboxMessagesRequest {
            message_ids: vec![],
            topic: String::new(),
            actor: Some(Actor {
                kind: ActorKind::Customer as i32,
                id: "c-1".into(),
            }),
            reason: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    let fields = oms_testkit::status::bad_fields(&status);
    for field in ["idempotency-key", "message_ids", "actor.kind", "reason"] {
        assert!(fields.iter().any(|f| f == field), "{field} in {fields:?}");
    }
    let status = outbox
        .admin()
        .redrive_outbox_messages(keyed(
            RedriveOutboxMessagesRequest {
                message_ids: vec![seen[0], 999_999],
                topic: String::new(),
                actor: operator(),
                reason: "retry".into(),
            },
            "redrive-missing",
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::NotFound);
}
