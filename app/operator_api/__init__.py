"""The operator API (`/api/v1/...`): for the CPO's charging backend and the operators' tools, authenticated with
an operator API key, answering plain JSON (not the OCPI envelope: these callers are not OCPI peers)."""
