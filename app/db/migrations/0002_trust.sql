-- Party identity is the operator's decision (issue 7 §1): the parties a peer's credentials may list, set by
-- `peer invite --party` / `peer register --party` / `peer parties`, and a loud opt-out for closed test setups.
CREATE TABLE peer_admitted_parties (
    peer_id      int  NOT NULL REFERENCES peers (id) ON DELETE CASCADE,
    country_code text NOT NULL CHECK (country_code ~ '^[A-Z]{2}$'),
    party_id     text NOT NULL CHECK (party_id ~ '^[A-Z0-9]{3}$'),
    role         text NOT NULL CHECK (role IN ('CPO', 'EMSP', 'HUB', 'NAP', 'NSP', 'OTHER', 'SCSP')),
    PRIMARY KEY (peer_id, country_code, party_id, role)
);

-- true: the peer's credentials may list any party not hosted here nor held by another registered peer.
ALTER TABLE peers ADD COLUMN any_party boolean NOT NULL DEFAULT false;
