-- OpenID Connect device authorization grant (RFC 8628). A device asks for a pair of codes: the
-- device code, which it polls the token endpoint with (stored only as its SHA-256: 256 random
-- bits), and the short user code the user types in a browser (unique while the pair lives).
-- The user's decision fills the columns after state; a pair is redeemed once, then kept until
-- it expires so that a second redemption is told from an unknown code, and pruned a day later.
CREATE TABLE oidc_device_codes (
    device_hash BLOB PRIMARY KEY,
    user_code   TEXT NOT NULL UNIQUE,
    client_id   TEXT NOT NULL,
    scopes      TEXT NOT NULL DEFAULT '',
    state       TEXT NOT NULL CHECK (state IN ('pending', 'approved', 'denied', 'redeemed')),
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    polled_at   INTEGER,
    interval_s  INTEGER NOT NULL,
    user_id     TEXT NOT NULL DEFAULT '',
    auth_time   INTEGER,
    amr         TEXT NOT NULL DEFAULT '',
    mfa         INTEGER NOT NULL DEFAULT 0,
    event_id    TEXT NOT NULL DEFAULT '',
    session_id  TEXT NOT NULL DEFAULT ''
);
CREATE INDEX oidc_device_codes_client ON oidc_device_codes (client_id);
CREATE INDEX oidc_device_codes_expiry ON oidc_device_codes (expires_at);
