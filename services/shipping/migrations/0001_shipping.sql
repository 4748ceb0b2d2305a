-- The shipping service's database: shipments with their labels, the keys
-- cancelled before any shipment existed, carrier tracking events, and the
-- status changes for the order service wait in the platform's outbox_messages.

CREATE TABLE shipments (
    shipment_id            uuid PRIMARY KEY,
    direction              smallint NOT NULL,
    order_id               text NOT NULL,
    location_id            text NOT NULL,
    return_id              text,
    -- "outbound:<order_id>:<location_id>" or "return:<return_id>"; also the
    -- carrier key of the label purchase, so a retry never buys a second label.
    natural_key            text NOT NULL UNIQUE,
    -- SHA-256 of the creating request without its actor: a retry with other
    -- content is refused.
    fingerprint            bytea NOT NULL,
    -- The creating request (lines, parcels, addresses) as the contract encodes
    -- it. PII.
    details                bytea NOT NULL,
    status                 smallint NOT NULL,
    -- The event time of the tracking event that set the status; NULL while
    -- LABEL_CREATED or CANCELLED.
    status_time            timestamptz,
    carrier                text NOT NULL,
    service_level          smallint NOT NULL,
    carrier_service        text NOT NULL,
    tracking_number        text NOT NULL,
    tracking_url           text NOT NULL,
    price_minor            bigint NOT NULL,
    currency_code          text NOT NULL,
    promised_delivery_time timestamptz NOT NULL,
    label_format           smallint NOT NULL,
    label                  bytea NOT NULL,
    packing_slip           bytea,
    create_time            timestamptz NOT NULL DEFAULT now(),
    pickup_time            timestamptz,
    delivery_time          timestamptz,
    cancel_time            timestamptz,
    cancel_reason          text NOT NULL DEFAULT '',
    update_time            timestamptz NOT NULL DEFAULT now(),
    UNIQUE (carrier, tracking_number)
);
CREATE INDEX shipments_by_order ON shipments (order_id, create_time DESC);

-- CancelShipment of a key with no shipment: a late create for it buys nothing.
CREATE TABLE cancelled_keys (
    natural_key text PRIMARY KEY,
    reason      text NOT NULL DEFAULT '',
    cancel_time timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE tracking_events (
    seq              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    shipment_id      uuid NOT NULL REFERENCES shipments ON DELETE CASCADE,
    carrier          text NOT NULL,
    carrier_event_id text NOT NULL,
    event_type       smallint NOT NULL,
    event_time       timestamptz NOT NULL,
    receive_time     timestamptz NOT NULL DEFAULT now(),
    location         text NOT NULL DEFAULT '',
    description      text NOT NULL DEFAULT '',
    applied          boolean NOT NULL,
    UNIQUE (carrier, carrier_event_id)
);
CREATE INDEX tracking_events_by_shipment ON tracking_events (shipment_id, event_time, seq);

