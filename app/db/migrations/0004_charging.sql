-- The charging flow (issue 8): charging events in, sessions priced live, CDRs out.

-- The event log: every accepted charging event in arrival order. A session's state is the fold of its events
-- in this order, so the engine's memory can always be rebuilt from here.
CREATE TABLE charging_events (
    seq         bigserial PRIMARY KEY,
    event_id    text NOT NULL UNIQUE,
    session_id  text NOT NULL,
    type        text NOT NULL CHECK (type IN ('session_started', 'meter', 'session_stopped')),
    time        timestamptz NOT NULL,
    body        bytea NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX charging_events_session ON charging_events (session_id, seq);

-- Bumped on every change of a charging session; workers and monitors catch up on what changed since.
CREATE SEQUENCE charging_change_seq;

-- One row per session the engine prices: what it needs to rebuild the session (its header: token, location,
-- tariffs in force at start, time zone), the live figures the monitor reads, and the eMSP push bookkeeping.
-- The OCPI Session object itself is in `sessions` (served and pushed like every module object).
CREATE TABLE charging_sessions (
    session_id        text PRIMARY KEY,
    country_code      text NOT NULL,
    party_id          text NOT NULL,
    emsp_country_code text NOT NULL,
    emsp_party_id     text NOT NULL,
    status            text NOT NULL CHECK (status IN ('ACTIVE', 'COMPLETED')),
    header            bytea NOT NULL,
    location_id       text NOT NULL,
    evse_uid          text NOT NULL,
    connector_id      text NOT NULL,
    kwh               numeric NOT NULL DEFAULT 0,
    cost_excl         numeric,
    cost_incl         numeric,
    currency          text NOT NULL,
    started_at        timestamptz NOT NULL,
    last_event_at     timestamptz NOT NULL,
    change_seq        bigint NOT NULL DEFAULT nextval('charging_change_seq'),
    closed_periods    int NOT NULL DEFAULT 0,
    periods_pushed    int NOT NULL DEFAULT 0,
    push_due          boolean NOT NULL DEFAULT false,
    last_push_at      timestamptz
);
CREATE INDEX charging_sessions_change ON charging_sessions (change_seq);
CREATE INDEX charging_sessions_active ON charging_sessions (session_id) WHERE status = 'ACTIVE';
CREATE INDEX charging_sessions_push_due ON charging_sessions (last_push_at) WHERE push_due;

-- The per-period breakdown of each CDR we issued, for support questions (`ocpi-engine cdrs explain`).
CREATE TABLE cdr_breakdowns (
    country_code text NOT NULL,
    party_id     text NOT NULL,
    id           text NOT NULL,
    breakdown    json NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (country_code, party_id, id)
);

-- A tariff of one of our CPO parties that applies to the tokens of one eMSP (instead of the connector's
-- tariff_ids), set by `ocpi-engine tariffs assign`.
CREATE TABLE tariff_assignments (
    country_code      text NOT NULL,
    party_id          text NOT NULL,
    emsp_country_code text NOT NULL,
    emsp_party_id     text NOT NULL,
    tariff_id         text NOT NULL,
    PRIMARY KEY (country_code, party_id, emsp_country_code, emsp_party_id)
);
