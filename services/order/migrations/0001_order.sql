-- The order service's database: orders with their customers (PII), lines, notes,
-- shipments, the timeline and MarkStatus facts applied. Saga starts wait in the
-- platform's outbox_messages.

CREATE SEQUENCE order_number_sequence AS bigint;

CREATE TABLE orders (
    order_id                   uuid PRIMARY KEY,
    order_number               text NOT NULL UNIQUE,
    channel_kind               smallint NOT NULL,
    channel_name               text NOT NULL,
    external_reference         text NOT NULL,
    -- SHA-256 of the PlaceOrder content: a retry with other content is refused.
    fingerprint                bytea NOT NULL,
    status                     smallint NOT NULL,
    status_reason              text NOT NULL DEFAULT '',
    confirmed                  boolean NOT NULL DEFAULT false,
    customer_name              text NOT NULL,
    customer_email             text NOT NULL,
    customer_phone             text NOT NULL,
    shipping_address           jsonb,
    destination_country        text NOT NULL DEFAULT '',
    destination_region         text NOT NULL DEFAULT '',
    currency_code              text NOT NULL,
    lines_total                bigint NOT NULL,
    shipping_total             bigint NOT NULL,
    credit_total               bigint NOT NULL,
    grand_total                bigint NOT NULL,
    line_count                 integer NOT NULL,
    item_count                 integer NOT NULL,
    delivery_method            smallint NOT NULL,
    service_level              smallint NOT NULL,
    pickup_location_id         text NOT NULL DEFAULT '',
    payment_method             jsonb,
    tags                       text[] NOT NULL DEFAULT '{}',
    payment_id                 text NOT NULL DEFAULT '',
    saga_id                    text NOT NULL DEFAULT '',
    return_ids                 text[] NOT NULL DEFAULT '{}',
    exchange                   jsonb,
    shipping_address_lock_time timestamptz,
    place_time                 timestamptz NOT NULL,
    create_time                timestamptz NOT NULL DEFAULT now(),
    update_time                timestamptz NOT NULL DEFAULT now(),
    UNIQUE (channel_kind, channel_name, external_reference)
);

CREATE TABLE order_lines (
    order_id           uuid NOT NULL REFERENCES orders ON DELETE CASCADE,
    line_number        integer NOT NULL,
    line_id            uuid NOT NULL UNIQUE,
    sku                text NOT NULL,
    quantity           integer NOT NULL CHECK (quantity > 0),
    unit_price         bigint NOT NULL CHECK (unit_price >= 0),
    status             smallint NOT NULL,
    shipped_quantity   integer NOT NULL DEFAULT 0,
    delivered_quantity integer NOT NULL DEFAULT 0,
    returned_quantity  integer NOT NULL DEFAULT 0,
    cancelled_quantity integer NOT NULL DEFAULT 0,
    delivery_time      timestamptz,
    PRIMARY KEY (order_id, line_number)
);

CREATE TABLE order_notes (
    note_id     uuid PRIMARY KEY,
    order_id    uuid NOT NULL REFERENCES orders ON DELETE CASCADE,
    text        text NOT NULL,
    actor_kind  smallint NOT NULL,
    actor_id    text NOT NULL,
    create_time timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX order_notes_by_order ON order_notes (order_id, create_time);

-- The timeline. seq orders events recorded in the same instant.
CREATE TABLE timeline_events (
    seq           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id      uuid NOT NULL UNIQUE,
    order_id      uuid NOT NULL REFERENCES orders ON DELETE CASCADE,
    kind          smallint NOT NULL,
    event_time    timestamptz NOT NULL,
    record_time   timestamptz NOT NULL DEFAULT now(),
    actor_kind    smallint NOT NULL,
    actor_id      text NOT NULL,
    reason        text NOT NULL DEFAULT '',
    from_status   smallint NOT NULL DEFAULT 0,
    to_status     smallint NOT NULL DEFAULT 0,
    lines         jsonb NOT NULL DEFAULT '[]',
    refs          jsonb NOT NULL DEFAULT '[]'
);
CREATE INDEX timeline_events_by_order ON timeline_events (order_id, seq);

-- The shipments of an order as MarkStatus reported them; lines is a list of
-- {line_id, quantity}.
CREATE TABLE order_shipments (
    order_id        uuid NOT NULL REFERENCES orders ON DELETE CASCADE,
    shipment_id     text NOT NULL,
    location_id     text NOT NULL DEFAULT '',
    carrier         text NOT NULL DEFAULT '',
    tracking_number text NOT NULL DEFAULT '',
    lines           jsonb NOT NULL DEFAULT '[]',
    ship_time       timestamptz,
    delivery_time   timestamptz,
    cancel_time     timestamptz,
    create_time     timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (order_id, shipment_id)
);

-- MarkStatus facts applied, by their natural key, so a repeated fact applies once.
CREATE TABLE status_facts (
    order_id    uuid NOT NULL REFERENCES orders ON DELETE CASCADE,
    event_id    text NOT NULL,
    fingerprint bytea NOT NULL,
    create_time timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (order_id, event_id)
);

-- Units returned per (return, line), so a return's units are counted once.
CREATE TABLE returned_units (
    order_id  uuid NOT NULL REFERENCES orders ON DELETE CASCADE,
    return_id text NOT NULL,
    line_id   uuid NOT NULL,
    quantity  integer NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (order_id, return_id, line_id)
);


-- SearchOrders: one index per filter and sort, so that each stays fast at any size.
CREATE INDEX orders_by_create_time ON orders (create_time DESC, order_id DESC);
CREATE INDEX orders_by_status ON orders (status, create_time DESC, order_id DESC);
CREATE INDEX orders_by_channel ON orders (channel_kind, channel_name, create_time DESC, order_id DESC);
CREATE INDEX orders_by_grand_total ON orders (grand_total, order_id);
CREATE INDEX orders_by_destination ON orders (destination_country, destination_region, create_time DESC);
CREATE INDEX orders_by_region ON orders (destination_region, create_time DESC);
CREATE INDEX orders_by_tags ON orders USING gin (tags);
CREATE INDEX orders_by_email ON orders (customer_email) WHERE customer_email <> '';
CREATE INDEX orders_by_phone ON orders (customer_phone) WHERE customer_phone <> '';
CREATE INDEX orders_by_number ON orders (upper(order_number));
CREATE INDEX orders_by_reference ON orders (lower(external_reference));
CREATE INDEX order_lines_by_sku ON order_lines (sku, order_id);
