-- Issue 9, stream C: HubClientInfo on both sides, the hub's still-alive bookkeeping, service grants.

-- Party side: the ClientInfo objects a hub peer pushed us (§3.8): which parties are reachable through it.
-- A party code is looked up with its role; the hub's own pushes are the truth (never deleted: SUSPENDED).
CREATE TABLE hub_clients (
    peer_id      int  NOT NULL REFERENCES peers (id) ON DELETE CASCADE,
    country_code text NOT NULL CHECK (country_code ~ '^[A-Z]{2}$'),
    party_id     text NOT NULL CHECK (party_id ~ '^[A-Z0-9]{3}$'),
    role         text NOT NULL CHECK (role IN ('CPO', 'EMSP', 'HUB', 'NAP', 'NSP', 'OTHER', 'SCSP')),
    status       text NOT NULL CHECK (status IN ('CONNECTED', 'OFFLINE', 'PLANNED', 'SUSPENDED')),
    last_updated timestamptz NOT NULL,
    data         json NOT NULL,
    PRIMARY KEY (peer_id, country_code, party_id, role)
);
CREATE INDEX hub_clients_party ON hub_clients (country_code, party_id, role);

-- Hub side: the status last announced for each registry entry, with when it changed (the ClientInfo's
-- last_updated). The announcer compares the registry with this table and pushes what differs.
CREATE TABLE hub_client_status (
    country_code text NOT NULL,
    party_id     text NOT NULL,
    role         text NOT NULL,
    status       text NOT NULL,
    last_updated timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (country_code, party_id, role)
);

-- Hub side, per peer: when it last called us and when we last asked for its versions (still-alive check), and
-- when it was last sent the whole ClientInfo list (after each registration or credentials update).
CREATE TABLE hub_peer_activity (
    peer_id         int PRIMARY KEY REFERENCES peers (id) ON DELETE CASCADE,
    last_request_at timestamptz,
    checked_at      timestamptz,
    listed_at       timestamptz
);

-- Third-party services by permission: the owner party's messages of `module` (on `interface`) are copied to the
-- service party while the grant is live (revoked_at NULL).
CREATE TABLE service_grants (
    id                   serial PRIMARY KEY,
    owner_country_code   text NOT NULL CHECK (owner_country_code ~ '^[A-Z]{2}$'),
    owner_party_id       text NOT NULL CHECK (owner_party_id ~ '^[A-Z0-9]{3}$'),
    service_country_code text NOT NULL CHECK (service_country_code ~ '^[A-Z]{2}$'),
    service_party_id     text NOT NULL CHECK (service_party_id ~ '^[A-Z0-9]{3}$'),
    module               text NOT NULL,
    interface            text NOT NULL CHECK (interface IN ('SENDER', 'RECEIVER')),
    created_at           timestamptz NOT NULL DEFAULT now(),
    revoked_at           timestamptz
);
CREATE UNIQUE INDEX service_grants_live ON service_grants
    (owner_country_code, owner_party_id, service_country_code, service_party_id, module, interface) WHERE revoked_at IS NULL;
