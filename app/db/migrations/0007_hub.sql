-- The hub role (issue 9 §2): per-party allow/deny lists, and the response_urls the hub rewrote so that
-- asynchronous results come back through it.

-- A party's list entry: DENY blocks messages between it and `other`; once a party has any ALLOW entry, only
-- parties on its allow list may send to it. Parties are identified by country code and party id (any role).
CREATE TABLE hub_rules (
    id                 serial PRIMARY KEY,
    country_code       text NOT NULL CHECK (country_code ~ '^[A-Z]{2}$'),
    party_id           text NOT NULL CHECK (party_id ~ '^[A-Z0-9]{3}$'),
    kind               text NOT NULL CHECK (kind IN ('ALLOW', 'DENY')),
    other_country_code text NOT NULL CHECK (other_country_code ~ '^[A-Z]{2}$'),
    other_party_id     text NOT NULL CHECK (other_party_id ~ '^[A-Z0-9]{3}$'),
    created_at         timestamptz NOT NULL DEFAULT now(),
    UNIQUE (country_code, party_id, kind, other_country_code, other_party_id)
);
CREATE INDEX hub_rules_other ON hub_rules (other_country_code, other_party_id);

-- A response_url in a forwarded request (commands, charging profiles) replaced by
-- /ocpi/2.2.1/hub/responses/{token}: the original URL, who asked (its result goes there with its token) and who
-- may post the result (the receiver's peer).
CREATE TABLE hub_responses (
    token                   text PRIMARY KEY,
    url                     text NOT NULL,
    module                  text NOT NULL,
    requester_peer_id       int  NOT NULL REFERENCES peers (id) ON DELETE CASCADE,
    requester_country_code  text NOT NULL,
    requester_party_id      text NOT NULL,
    receiver_peer_id        int  NOT NULL REFERENCES peers (id) ON DELETE CASCADE,
    receiver_country_code   text NOT NULL,
    receiver_party_id       text NOT NULL,
    created_at              timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX hub_responses_created ON hub_responses (created_at);
