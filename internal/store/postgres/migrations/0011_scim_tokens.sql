-- SCIM 2.0 provisioning connectors' bearer tokens (docs/directory.md): one per connector,
-- a keyed hash of the secret, never the secret itself. Issuing a new token for a connector
-- replaces its row (the old token stops working); a revoked one is kept with its time.
CREATE TABLE scim_tokens (
    connector    TEXT PRIMARY KEY,
    id           TEXT NOT NULL UNIQUE,
    hash         BYTEA NOT NULL,
    created_by   TEXT NOT NULL DEFAULT '',
    created_at   TIMESTAMPTZ NOT NULL,
    last_used_at TIMESTAMPTZ,
    last_ip      TEXT NOT NULL DEFAULT '',
    revoked_at   TIMESTAMPTZ
);
