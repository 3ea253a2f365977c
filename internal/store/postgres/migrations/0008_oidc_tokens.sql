-- OpenID Connect refresh tokens: the SHA-256 of each token, never the token itself (a token is
-- 256 random bits, so the plain hash cannot be reversed or guessed; docs/oidc.md). A family is
-- every token of one grant: the first one and each rotation. A token is active until it is
-- used once (rotated: the next one of its family replaces it) or its family is revoked (a
-- rotated token presented again, a revocation request). Tokens are deleted with their user; a
-- client's removal deletes its tokens in the same transaction. The columns after state are the
-- grant's context, which every refresh carries on: when and how the user signed in.
CREATE TABLE oidc_refresh_tokens (
    token_hash BYTEA PRIMARY KEY,
    family_id  TEXT NOT NULL,
    client_id  TEXT NOT NULL,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    scopes     TEXT NOT NULL DEFAULT '',
    state      TEXT NOT NULL CHECK (state IN ('active', 'rotated', 'revoked')),
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    used_at    TIMESTAMPTZ,
    auth_time  TIMESTAMPTZ,
    amr        TEXT NOT NULL DEFAULT '',
    mfa        BOOLEAN NOT NULL DEFAULT FALSE,
    session_id TEXT NOT NULL DEFAULT ''
);
CREATE INDEX oidc_refresh_tokens_family ON oidc_refresh_tokens (family_id, state);
CREATE INDEX oidc_refresh_tokens_client ON oidc_refresh_tokens (client_id);
CREATE INDEX oidc_refresh_tokens_user ON oidc_refresh_tokens (user_id);
CREATE INDEX oidc_refresh_tokens_expiry ON oidc_refresh_tokens (expires_at);

-- Access tokens revoked before their expiry (RFC 7009), by token ID (jti), kept until they
-- expire: introspection and userinfo refuse them.
CREATE TABLE oidc_revoked_tokens (
    token_id   TEXT PRIMARY KEY,
    client_id  TEXT NOT NULL DEFAULT '',
    revoked_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX oidc_revoked_tokens_expiry ON oidc_revoked_tokens (expires_at);
