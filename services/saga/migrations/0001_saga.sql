-- Sagas: one row per saga, written once per step (the step's outcome and the
-- next step's intent together), so a crash at any point resumes from the row.
-- See oms_saga::engine for how rows are claimed, leased and fenced.
CREATE TABLE sagas (
    saga_id           uuid        PRIMARY KEY,
    -- oms.saga.v1.SagaKind: 1 order, 2 cancel, 3 return.
    kind              smallint    NOT NULL CHECK (kind BETWEEN 1 AND 3),
    -- The version of the flow the saga started on; it finishes on it.
    flow_version      integer     NOT NULL,
    -- oms.saga.v1.SagaState: 1 running, 2 compensating, 3 completed,
    -- 4 compensated, 5 stuck.
    state             smallint    NOT NULL CHECK (state BETWEEN 1 AND 5),
    order_id          text        NOT NULL DEFAULT '',
    return_id         text        NOT NULL DEFAULT '',
    -- Steps, attempts, working data (ids, plan, amounts; never personal data),
    -- failure, operator actions: see oms_saga::domain::saga::Body.
    body              jsonb       NOT NULL,
    -- When the engine must act next; NULL once finished or stuck.
    due_time          timestamptz,
    -- The replica holding the saga, until lease_expire_time; fence counts
    -- claims, and a write must carry the latest one.
    owner_id          text,
    lease_expire_time timestamptz,
    fence             bigint      NOT NULL DEFAULT 0,
    -- Set by a cancel saga: stop at the next step boundary and compensate.
    abort_requested   boolean     NOT NULL DEFAULT false,
    create_time       timestamptz NOT NULL DEFAULT now(),
    update_time       timestamptz NOT NULL DEFAULT now(),
    finish_time       timestamptz
);

-- One order saga and one cancel saga per order, one saga per return.
CREATE UNIQUE INDEX sagas_order_kind ON sagas (order_id, kind) WHERE kind IN (1, 2);
CREATE UNIQUE INDEX sagas_return ON sagas (return_id) WHERE kind = 3;
-- What the engine claims: due work whose lease is free.
CREATE INDEX sagas_due ON sagas (due_time) WHERE state IN (1, 2);
-- Operators' listings, newest first.
CREATE INDEX sagas_created ON sagas (create_time DESC, saga_id DESC);
CREATE INDEX sagas_stuck ON sagas (create_time DESC, saga_id DESC) WHERE state = 5;
