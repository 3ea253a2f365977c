-- Mail bridge (docs/mail-bridge.md). App passwords: a keyed hash of the secret, never the
-- secret; deleted with their owner, kept when revoked (with the time) so the list shows them.
CREATE TABLE bridge_credentials (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    scopes       TEXT NOT NULL,
    from_addrs   TEXT NOT NULL DEFAULT '',
    hash         BYTEA NOT NULL UNIQUE,
    created_by   TEXT NOT NULL DEFAULT '',
    created_at   TIMESTAMPTZ NOT NULL,
    expires_at   TIMESTAMPTZ NOT NULL,
    last_used_at TIMESTAMPTZ,
    last_ip      TEXT NOT NULL DEFAULT '',
    revoked_at   TIMESTAMPTZ
);
-- A name is taken by the user's credential in force (or expired); a revoked one frees it.
CREATE UNIQUE INDEX bridge_credentials_name ON bridge_credentials (user_id, name) WHERE revoked_at IS NULL;
-- Upstream OAuth grants per profile and user: a sealed document (refresh and access token).
CREATE TABLE bridge_upstream_grants (
    profile    TEXT NOT NULL,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    sealed     BYTEA NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (profile, user_id)
);
