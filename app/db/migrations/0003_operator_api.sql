-- Operator API keys: the charging backend and the operators' tools call /api/v1/... with one of these
-- (`Authorization: Bearer <key>`), never with an OCPI credentials token. Only a keyed fingerprint is stored;
-- the key is shown once, at creation.
CREATE TABLE api_keys (
    id          serial PRIMARY KEY,
    label       text NOT NULL,
    key_hash    bytea NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    last_used   timestamptz,
    revoked_at  timestamptz
);
