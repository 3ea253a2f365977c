-- Admin API tokens: a keyed hash of the secret, never the secret itself. A token is deleted
-- with its owner; a revoked one is kept (with its revocation time) so the list shows it.
CREATE TABLE api_tokens (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL DEFAULT '',
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role         TEXT NOT NULL,
    hash         BLOB NOT NULL,
    created_by   TEXT NOT NULL DEFAULT '',
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    last_ip      TEXT NOT NULL DEFAULT '',
    revoked_at   INTEGER
);
CREATE INDEX api_tokens_user ON api_tokens (user_id);
