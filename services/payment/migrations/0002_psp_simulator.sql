-- The PSP simulator's own tables (src/psp/simulator.rs), not the payment
-- service's: the service knows its PSP only through the Psp trait and reads
-- none of them. They live here so that what the simulated provider did
-- outlives a restart and is the same for every replica, as a real provider's
-- records are. Gift card codes are kept as SHA-256 hashes only.

-- The answer to each call, by (kind, idempotency key): a repeated call is
-- answered again without acting, and a lookup reports what happened.
CREATE TABLE psp_sim_answers (
    kind            smallint NOT NULL,
    idempotency_key text NOT NULL,
    approved        boolean NOT NULL,
    -- Approved: the simulator's reference of the call.
    reference       text NOT NULL DEFAULT '',
    -- Declined: why, and the provider's own code.
    decline_reason  smallint NOT NULL DEFAULT 0,
    detail          text NOT NULL DEFAULT '',
    create_time     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (kind, idempotency_key)
);

-- Authorizations made, by reference: what the card token scripted for a later
-- capture, void or refund, and the gift card charged.
CREATE TABLE psp_sim_authorizations (
    reference             text PRIMARY KEY,
    script_kind           smallint NOT NULL,
    script_behaviour      smallint NOT NULL,
    script_decline_reason smallint NOT NULL DEFAULT 0,
    gift_card_hash        bytea,
    currency_code         text NOT NULL,
    amount_minor          bigint NOT NULL,
    create_time           timestamptz NOT NULL DEFAULT now()
);

-- Gift cards seen, with their balance.
CREATE TABLE psp_sim_gift_cards (
    code_hash     bytea PRIMARY KEY,
    currency_code text NOT NULL,
    balance_minor bigint NOT NULL
);

-- Calls received per kind, answered or not, repeats included.
CREATE TABLE psp_sim_calls (
    kind  smallint PRIMARY KEY,
    calls bigint NOT NULL
);

-- Failure draws made per seed: the n-th draw of a seed is the same whichever
-- replica makes it, so a run on a fresh database repeats exactly.
CREATE TABLE psp_sim_fault_draws (
    seed  bigint PRIMARY KEY,
    draws bigint NOT NULL
);

-- The number in each reference the simulator hands out.
CREATE SEQUENCE psp_sim_references;
