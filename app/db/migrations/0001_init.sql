-- The parties this deployment hosts, its peers, the OCPI objects of each module, and the outbox of pushes.
-- Identifiers (country_code, party_id, object ids) are CiStrings: key columns hold them upper-cased,
-- `data` holds the object exactly as it was received or created.

CREATE TABLE parties (
    id           serial PRIMARY KEY,
    country_code text NOT NULL CHECK (country_code ~ '^[A-Z]{2}$'),
    party_id     text NOT NULL CHECK (party_id ~ '^[A-Z0-9]{3}$'),
    role         text NOT NULL CHECK (role IN ('CPO', 'EMSP', 'HUB', 'NAP', 'NSP', 'OTHER', 'SCSP')),
    name         text NOT NULL,
    website      text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (country_code, party_id, role)
);

-- A platform we exchange OCPI with. Tokens are encrypted; token_in_hash is a keyed fingerprint
-- of the token the peer calls us with (its token A while INVITED), so lookups need no decryption.
CREATE TABLE peers (
    id              serial PRIMARY KEY,
    label           text,
    status          text NOT NULL CHECK (status IN ('INVITED', 'REGISTERED', 'UNREGISTERED')),
    token_in_hash   bytea UNIQUE,
    token_in        bytea,
    token_out       bytea,
    auth_base64     boolean NOT NULL DEFAULT true,
    versions_url    text,
    version         text,
    endpoints       jsonb NOT NULL DEFAULT '[]',
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- The roles a peer's credentials list (its CredentialsRoles).
CREATE TABLE peer_parties (
    peer_id          int  NOT NULL REFERENCES peers (id) ON DELETE CASCADE,
    country_code     text NOT NULL,
    party_id         text NOT NULL,
    role             text NOT NULL,
    business_details jsonb NOT NULL,
    PRIMARY KEY (peer_id, country_code, party_id, role)
);
CREATE INDEX peer_parties_party ON peer_parties (country_code, party_id);

-- Module objects. peer_id NULL: owned by one of our parties; else the peer that pushed it.
-- seq orders pages oldest-created first, so pages stay stable while objects are updated; the partial
-- indexes on seq serve pages of our own objects and of each peer's without a sort.
CREATE TABLE locations (
    seq          bigserial NOT NULL UNIQUE,
    country_code text NOT NULL,
    party_id     text NOT NULL,
    id           text NOT NULL,
    last_updated timestamptz NOT NULL,
    peer_id      int REFERENCES peers (id),
    data         json NOT NULL,
    PRIMARY KEY (country_code, party_id, id)
);
CREATE INDEX locations_last_updated ON locations (last_updated);
CREATE INDEX locations_own ON locations (seq) WHERE peer_id IS NULL;
CREATE INDEX locations_peer ON locations (peer_id, seq) WHERE peer_id IS NOT NULL;

CREATE TABLE tariffs (
    seq          bigserial NOT NULL UNIQUE,
    country_code text NOT NULL,
    party_id     text NOT NULL,
    id           text NOT NULL,
    last_updated timestamptz NOT NULL,
    peer_id      int REFERENCES peers (id),
    data         json NOT NULL,
    PRIMARY KEY (country_code, party_id, id)
);
CREATE INDEX tariffs_last_updated ON tariffs (last_updated);
CREATE INDEX tariffs_own ON tariffs (seq) WHERE peer_id IS NULL;
CREATE INDEX tariffs_peer ON tariffs (peer_id, seq) WHERE peer_id IS NOT NULL;

-- Sessions and CDRs are shown only to the eMSP of their token (emsp_*).
CREATE TABLE sessions (
    seq               bigserial NOT NULL UNIQUE,
    country_code      text NOT NULL,
    party_id          text NOT NULL,
    id                text NOT NULL,
    last_updated      timestamptz NOT NULL,
    peer_id           int REFERENCES peers (id),
    emsp_country_code text NOT NULL,
    emsp_party_id     text NOT NULL,
    data              json NOT NULL,
    PRIMARY KEY (country_code, party_id, id)
);
CREATE INDEX sessions_last_updated ON sessions (last_updated);
CREATE INDEX sessions_own ON sessions (seq) WHERE peer_id IS NULL;
CREATE INDEX sessions_peer ON sessions (peer_id, seq) WHERE peer_id IS NOT NULL;
CREATE INDEX sessions_emsp ON sessions (emsp_country_code, emsp_party_id, seq);

CREATE TABLE cdrs (
    seq               bigserial NOT NULL UNIQUE,
    country_code      text NOT NULL,
    party_id          text NOT NULL,
    id                text NOT NULL,
    last_updated      timestamptz NOT NULL,
    peer_id           int REFERENCES peers (id),
    emsp_country_code text NOT NULL,
    emsp_party_id     text NOT NULL,
    data              json NOT NULL,
    PRIMARY KEY (country_code, party_id, id)
);
CREATE INDEX cdrs_last_updated ON cdrs (last_updated);
CREATE INDEX cdrs_own ON cdrs (seq) WHERE peer_id IS NULL;
CREATE INDEX cdrs_peer ON cdrs (peer_id, seq) WHERE peer_id IS NOT NULL;
CREATE INDEX cdrs_emsp ON cdrs (emsp_country_code, emsp_party_id, seq);

-- Tokens are unique per (uid, type) within their eMSP; `id` holds the uid.
CREATE TABLE tokens (
    seq          bigserial NOT NULL UNIQUE,
    country_code text NOT NULL,
    party_id     text NOT NULL,
    id           text NOT NULL,
    type         text NOT NULL,
    last_updated timestamptz NOT NULL,
    peer_id      int REFERENCES peers (id),
    data         json NOT NULL,
    PRIMARY KEY (country_code, party_id, id, type)
);
CREATE INDEX tokens_last_updated ON tokens (last_updated);
CREATE INDEX tokens_own ON tokens (seq) WHERE peer_id IS NULL;
CREATE INDEX tokens_peer ON tokens (peer_id, seq) WHERE peer_id IS NOT NULL;

-- Every push to a peer goes through here (architecture: one outbox). Delivered in id order per peer.
CREATE TABLE outbox (
    id                bigserial PRIMARY KEY,
    peer_id           int  NOT NULL REFERENCES peers (id),
    module            text NOT NULL,
    method            text NOT NULL CHECK (method IN ('POST', 'PUT', 'PATCH', 'DELETE')),
    path              text NOT NULL,
    body              bytea,
    from_country_code text NOT NULL,
    from_party_id     text NOT NULL,
    to_country_code   text NOT NULL,
    to_party_id       text NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    state             text NOT NULL DEFAULT 'PENDING' CHECK (state IN ('PENDING', 'DELIVERED', 'DEAD')),
    attempts          int  NOT NULL DEFAULT 0,
    next_attempt_at   timestamptz NOT NULL DEFAULT now(),
    delivered_at      timestamptz,
    last_error        text,
    response_location text
);
CREATE INDEX outbox_pending ON outbox (peer_id, id) WHERE state = 'PENDING';
