-- Messages to other services, written in the transaction of the change that
-- causes them and delivered afterwards. See oms_platform::outbox.
CREATE TABLE IF NOT EXISTS outbox_messages (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- The RPC that delivers it, e.g. 'oms.saga.v1.SagaService/StartOrderSaga'.
    topic             text        NOT NULL,
    -- The message's natural key within its topic: queued once, whatever happens.
    key               text        NOT NULL,
    -- The encoded request.
    payload           bytea       NOT NULL,
    -- The W3C trace context of the call that queued it.
    traceparent       text        NOT NULL DEFAULT '',
    attempts          integer     NOT NULL DEFAULT 0,
    next_attempt_time timestamptz NOT NULL DEFAULT now(),
    delivered_time    timestamptz,
    last_error        text        NOT NULL DEFAULT '',
    create_time       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (topic, key)
);

CREATE INDEX IF NOT EXISTS outbox_messages_due ON outbox_messages (next_attempt_time)
    WHERE delivered_time IS NULL;
