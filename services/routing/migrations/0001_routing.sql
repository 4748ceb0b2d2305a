-- The routing service's database: routing policies with every version kept, and
-- the routing attributes of locations (what only routing uses of a location).
--
-- Ids and channel names sort byte-wise (COLLATE "C") whatever the database's
-- locale, so list pages and page tokens agree with the order Rust sees.

-- One row per policy: the default one (channel_kind 0, channel_name '') and one
-- per channel that has its own. current_version names the version in force; 0
-- only inside the transaction that writes a new policy's first version. Writers
-- lock this row, so versions of one policy are written one at a time.
CREATE TABLE routing_policies (
    policy_id       text COLLATE "C" PRIMARY KEY,
    channel_kind    smallint NOT NULL CHECK (channel_kind BETWEEN 0 AND 5),
    channel_name    text COLLATE "C" NOT NULL,
    current_version integer NOT NULL CHECK (current_version >= 0),
    UNIQUE (channel_kind, channel_name)
);

-- Every version ever written; never updated. spec is the policy's content as
-- JSON (see src/domain/policy.rs), readable by operators with psql.
CREATE TABLE routing_policy_versions (
    policy_id       text COLLATE "C" NOT NULL REFERENCES routing_policies,
    version         integer NOT NULL CHECK (version >= 1),
    spec            jsonb NOT NULL,
    create_time     timestamptz NOT NULL DEFAULT now(),
    created_by_kind smallint NOT NULL,
    created_by_id   text NOT NULL,
    PRIMARY KEY (policy_id, version)
);

-- Routing attributes of a location, by inventory's location id. A location
-- without a row has the defaults: unlimited capacity, priority 100, its own
-- country only, UTC.
CREATE TABLE location_attributes (
    location_id      text COLLATE "C" PRIMARY KEY,
    daily_capacity   integer CHECK (daily_capacity >= 0),
    priority         integer NOT NULL CHECK (priority BETWEEN 1 AND 1000),
    countries_served text[] NOT NULL,
    time_zone        text NOT NULL,
    update_time      timestamptz NOT NULL DEFAULT now(),
    updated_by_kind  smallint NOT NULL,
    updated_by_id    text NOT NULL
);
