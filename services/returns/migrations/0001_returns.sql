-- The returns service's database: return policies (one immutable version per
-- change), returns with their lines, replacement lines and timeline. The refund
-- breakdown, the restock list and an exchange's price difference are computed
-- from these rows and the policy version the return keeps, never stored twice.

CREATE TABLE return_policies (
    policy_id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    channel_kind          smallint NOT NULL,
    channel_name          text NOT NULL,
    return_window_days    integer NOT NULL CHECK (return_window_days BETWEEN 1 AND 365),
    restocking_fee_bps    integer NOT NULL CHECK (restocking_fee_bps BETWEEN 0 AND 10000),
    return_shipping_payer smallint NOT NULL,
    final_sale_skus       text[] NOT NULL,
    auto_approve          boolean NOT NULL,
    -- '' when labels go back where the lines shipped from.
    return_location_id    text NOT NULL,
    updated_by_kind       smallint NOT NULL,
    updated_by_id         text NOT NULL,
    update_time           timestamptz NOT NULL DEFAULT now()
);

-- The channel's policy in force is its newest version.
CREATE INDEX return_policies_current
    ON return_policies (channel_kind, channel_name, policy_id DESC);

CREATE TABLE returns (
    return_id                uuid PRIMARY KEY,
    order_id                 text NOT NULL,
    channel_kind             smallint NOT NULL,
    channel_name             text NOT NULL,
    currency_code            text NOT NULL,
    status                   smallint NOT NULL,
    resolution               smallint NOT NULL,
    -- Free text from the customer: may hold personal data, never logged.
    comment                  text NOT NULL,
    -- The policy version in force at the request; NULL for the default policy.
    policy_id                bigint REFERENCES return_policies (policy_id),
    -- Where the returned lines shipped from (or the pickup store): where the
    -- goods go when neither the approval nor the policy says otherwise.
    shipped_from_location_id text NOT NULL,
    expected_location_id     text NOT NULL DEFAULT '',
    receiving_location_id    text NOT NULL DEFAULT '',
    label_shipment_id        text NOT NULL DEFAULT '',
    label_carrier            text NOT NULL DEFAULT '',
    label_tracking_number    text NOT NULL DEFAULT '',
    label_price_minor        bigint,
    refund_payment_id        text NOT NULL DEFAULT '',
    refund_transaction_id    text NOT NULL DEFAULT '',
    replacement_order_id     text NOT NULL DEFAULT '',
    exchange_payment_id      text NOT NULL DEFAULT '',
    exchange_transaction_id  text NOT NULL DEFAULT '',
    rejection_reason         text NOT NULL DEFAULT '',
    close_reason             smallint NOT NULL DEFAULT 0,
    requested_by_kind        smallint NOT NULL,
    requested_by_id          text NOT NULL,
    inspect_time             timestamptz,
    create_time              timestamptz NOT NULL DEFAULT now(),
    update_time              timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX returns_by_order ON returns (order_id, create_time DESC, return_id DESC);
CREATE INDEX returns_newest_first ON returns (create_time DESC, return_id DESC);
CREATE INDEX returns_by_status ON returns (status, create_time DESC, return_id DESC);

CREATE TABLE return_lines (
    return_id         uuid NOT NULL REFERENCES returns (return_id),
    line_number       integer NOT NULL,
    sku               text NOT NULL,
    quantity          integer NOT NULL CHECK (quantity > 0),
    reason            smallint NOT NULL,
    unit_price_minor  bigint NOT NULL CHECK (unit_price_minor >= 0),
    restock_quantity  integer NOT NULL DEFAULT 0 CHECK (restock_quantity >= 0),
    damaged_quantity  integer NOT NULL DEFAULT 0 CHECK (damaged_quantity >= 0),
    missing_quantity  integer NOT NULL DEFAULT 0 CHECK (missing_quantity >= 0),
    inspection_note   text NOT NULL DEFAULT '',
    PRIMARY KEY (return_id, line_number),
    UNIQUE (return_id, sku)
);

CREATE TABLE replacement_lines (
    return_id        uuid NOT NULL REFERENCES returns (return_id),
    line_number      integer NOT NULL,
    sku              text NOT NULL,
    quantity         integer NOT NULL CHECK (quantity > 0),
    unit_price_minor bigint NOT NULL CHECK (unit_price_minor >= 0),
    PRIMARY KEY (return_id, line_number)
);

CREATE TABLE return_events (
    return_id  uuid NOT NULL REFERENCES returns (return_id),
    seq        integer NOT NULL,
    event_time timestamptz NOT NULL DEFAULT now(),
    status     smallint NOT NULL,
    actor_kind smallint NOT NULL,
    actor_id   text NOT NULL,
    -- Never personal data: a reason, a tracking number, an inspector's note.
    note       text NOT NULL DEFAULT '',
    PRIMARY KEY (return_id, seq)
);
