-- The carrier simulator's own state: what a real carrier keeps on its side of
-- the wire. Only the simulator (src/carrier/simulator.rs) reads or writes these
-- tables, and nothing of the service refers to them. Kept here, not in process
-- memory, so a restart or another replica of the service changes nothing: a
-- label bought through one replica is found, voided or retried through another.

-- The labels bought, one per carrier key (the carrier's own idempotency): a
-- retried purchase returns this very label, rate and promised date included.
CREATE TABLE carrier_sim_labels (
    carrier_key            text PRIMARY KEY,
    tracking_number        text NOT NULL UNIQUE,
    tracking_url           text NOT NULL,
    service_level          smallint NOT NULL,
    carrier_service        text NOT NULL,
    price_minor            bigint NOT NULL,
    currency_code          text NOT NULL,
    promised_delivery_time timestamptz NOT NULL,
    buy_time               timestamptz NOT NULL DEFAULT now(),
    -- Set once by a void; a voided label stays, as a carrier keeps it.
    void_time              timestamptz
);

-- Purchase attempts per carrier key: each attempt draws its fault afresh, and
-- every replica draws from the same count, so faults stay deterministic.
CREATE TABLE carrier_sim_attempts (
    carrier_key text PRIMARY KEY,
    attempts    integer NOT NULL
);
