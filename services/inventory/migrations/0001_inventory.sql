-- The inventory service's database: locations, stock per (SKU, location), the
-- ledger of every movement, reservations and their lines, restock keys and
-- channel availability policies.
--
-- SKUs and location ids sort byte-wise (COLLATE "C") whatever the database's
-- locale: writers lock stock rows in (sku, location_id) order, in SQL and in
-- Rust, and both must agree on that order or they could deadlock.

CREATE TABLE locations (
    location_id        text COLLATE "C" PRIMARY KEY,
    name               text NOT NULL,
    kind               smallint NOT NULL,
    company            text NOT NULL,
    address_lines      text[] NOT NULL,
    city               text NOT NULL,
    region             text NOT NULL,
    postal_code        text NOT NULL,
    country_code       text NOT NULL,
    phone              text NOT NULL,
    latitude           double precision NOT NULL,
    longitude          double precision NOT NULL,
    ships_to_customers boolean NOT NULL,
    store_pickup       boolean NOT NULL,
    active             boolean NOT NULL,
    create_time        timestamptz NOT NULL DEFAULT now(),
    update_time        timestamptz NOT NULL DEFAULT now()
);

-- One row per (SKU, location) that ever had stock. on_hand can never go below
-- zero; reserved may exceed on_hand only after a count (the shortfall).
CREATE TABLE stock (
    sku                 text COLLATE "C" NOT NULL,
    location_id         text COLLATE "C" NOT NULL REFERENCES locations,
    on_hand             integer NOT NULL CHECK (on_hand >= 0),
    reserved            integer NOT NULL DEFAULT 0 CHECK (reserved >= 0),
    safety_stock        integer NOT NULL DEFAULT 0 CHECK (safety_stock >= 0),
    low_stock_threshold integer NOT NULL DEFAULT 0 CHECK (low_stock_threshold >= 0),
    sequence            bigint NOT NULL DEFAULT 0,
    update_time         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (sku, location_id)
) WITH (fillfactor = 70); -- room for HOT updates: reservations rewrite no indexed column
CREATE INDEX stock_by_location ON stock (location_id, sku);
CREATE INDEX stock_low ON stock (location_id) WHERE low_stock_threshold > 0;

-- The ledger. sequence is the global position, taken from stock_ledger_sequence
-- by the statement that changes the stock row, so the row can name its last
-- movement. Positions are taken in allocation order, not commit order: readers
-- of the tail wait for a gap's writers to finish (see src/store/ledger.rs).
CREATE SEQUENCE stock_ledger_sequence AS bigint;
CREATE TABLE stock_movements (
    sequence            bigint PRIMARY KEY,
    movement_id         uuid NOT NULL DEFAULT gen_random_uuid(),
    sku                 text COLLATE "C" NOT NULL,
    location_id         text COLLATE "C" NOT NULL,
    kind                smallint NOT NULL,
    adjustment_reason   smallint NOT NULL DEFAULT 0,
    on_hand_before      integer NOT NULL,
    on_hand_after       integer NOT NULL,
    reserved_before     integer NOT NULL,
    reserved_after      integer NOT NULL,
    safety_stock_before integer NOT NULL,
    safety_stock_after  integer NOT NULL,
    actor_kind          smallint NOT NULL,
    actor_id            text NOT NULL,
    reference_id        text NOT NULL DEFAULT '',
    note                text NOT NULL DEFAULT '',
    create_time         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX stock_movements_by_stock ON stock_movements (sku, location_id, sequence);
CREATE INDEX stock_movements_by_reference ON stock_movements (reference_id) WHERE reference_id <> '';

-- One reservation per order. A tombstone (Release before Reserve) has no lines.
CREATE TABLE reservations (
    reservation_id uuid PRIMARY KEY,
    order_id       text NOT NULL UNIQUE,
    channel_kind   smallint NOT NULL DEFAULT 0,
    channel_name   text NOT NULL DEFAULT '',
    state          text NOT NULL CHECK (state IN ('held', 'committed', 'released', 'expired')),
    create_time    timestamptz NOT NULL DEFAULT now(),
    expire_time    timestamptz,
    update_time    timestamptz NOT NULL DEFAULT now(),
    release_reason text NOT NULL DEFAULT ''
);
CREATE INDEX reservations_held_by_expiry ON reservations (expire_time) WHERE state = 'held';
CREATE INDEX reservations_by_create_time ON reservations (create_time DESC, reservation_id DESC);

CREATE TABLE reservation_lines (
    reservation_id uuid NOT NULL REFERENCES reservations ON DELETE CASCADE,
    position       integer NOT NULL,
    sku            text COLLATE "C" NOT NULL,
    location_id    text COLLATE "C" NOT NULL,
    quantity       integer NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (reservation_id, position)
);
CREATE INDEX reservation_lines_by_stock ON reservation_lines (sku, location_id);
CREATE INDEX reservation_lines_by_location ON reservation_lines (location_id);

-- Restock lines applied, by their natural key, so a repeated Restock applies once.
CREATE TABLE restock_lines (
    source      smallint NOT NULL,
    source_id   text NOT NULL,
    line_id     text NOT NULL,
    sku         text NOT NULL,
    location_id text NOT NULL,
    quantity    integer NOT NULL,
    sequence    bigint NOT NULL REFERENCES stock_movements,
    PRIMARY KEY (source, source_id, line_id)
);

CREATE TABLE channel_policies (
    channel_kind    smallint NOT NULL,
    channel_name    text NOT NULL,
    safety_buffer   integer NOT NULL CHECK (safety_buffer >= 0),
    location_ids    text[] NOT NULL,
    update_time     timestamptz NOT NULL DEFAULT now(),
    updated_by_kind smallint NOT NULL,
    updated_by_id   text NOT NULL,
    PRIMARY KEY (channel_kind, channel_name)
);
