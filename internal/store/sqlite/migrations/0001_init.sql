-- Sekisho schema, SQLite. Times are INTEGER microseconds since the Unix epoch (UTC); NULL is
-- the zero time. *_lower columns are lower-cased in Go and carry case-insensitive uniqueness.

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    upn           TEXT NOT NULL,
    upn_lower     TEXT NOT NULL UNIQUE,
    display_name  TEXT NOT NULL DEFAULT '',
    email         TEXT NOT NULL DEFAULT '',
    immutable_id  TEXT NOT NULL DEFAULT '',
    status        TEXT NOT NULL DEFAULT 'active',
    password_hash TEXT NOT NULL DEFAULT '',
    created_at    INTEGER,
    updated_at    INTEGER
);
CREATE UNIQUE INDEX users_immutable_id ON users (immutable_id) WHERE immutable_id <> '';

CREATE TABLE user_groups (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    name_lower  TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    created_at  INTEGER
);

CREATE TABLE group_members (
    group_id TEXT NOT NULL REFERENCES user_groups (id) ON DELETE CASCADE,
    user_id  TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX group_members_user ON group_members (user_id);

CREATE TABLE applications (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    name_lower TEXT NOT NULL UNIQUE,
    protocol   TEXT NOT NULL DEFAULT '',
    entity_id  TEXT NOT NULL DEFAULT '',
    config     BLOB,
    created_at INTEGER,
    updated_at INTEGER
);
CREATE UNIQUE INDEX applications_entity ON applications (protocol, entity_id) WHERE entity_id <> '';

CREATE TABLE networks (
    name_lower  TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    cidrs       TEXT NOT NULL DEFAULT '[]',
    updated_at  INTEGER
);

CREATE TABLE policy_versions (
    version    INTEGER PRIMARY KEY,
    document   BLOB,
    author     TEXT NOT NULL DEFAULT '',
    comment    TEXT NOT NULL DEFAULT '',
    created_at INTEGER
);

CREATE TABLE devices (
    id            TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name          TEXT NOT NULL DEFAULT '',
    platform      TEXT NOT NULL DEFAULT '',
    serial        TEXT NOT NULL DEFAULT '',
    status        TEXT NOT NULL DEFAULT '',
    cert_der      BLOB,
    not_before    INTEGER,
    not_after     INTEGER,
    issued_at     INTEGER,
    first_seen_at INTEGER,
    revoked_at    INTEGER,
    replaced_by   TEXT NOT NULL DEFAULT '',
    data          BLOB
);
CREATE UNIQUE INDEX devices_serial ON devices (serial) WHERE serial <> '';
CREATE INDEX devices_user ON devices (user_id, issued_at);

CREATE TABLE sessions (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at   INTEGER,
    last_seen_at INTEGER,
    expires_at   INTEGER,
    mfa          INTEGER NOT NULL DEFAULT 0,
    data         BLOB
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expires ON sessions (expires_at);

CREATE TABLE signing_keys (
    id         TEXT PRIMARY KEY,
    purpose    TEXT NOT NULL DEFAULT '',
    state      TEXT NOT NULL DEFAULT '',
    sealed_key BLOB,
    cert_der   BLOB,
    created_at INTEGER,
    not_after  INTEGER,
    updated_at INTEGER
);
CREATE INDEX signing_keys_purpose ON signing_keys (purpose, created_at);

CREATE TABLE sign_ins (
    seq               INTEGER PRIMARY KEY AUTOINCREMENT,
    id                TEXT NOT NULL UNIQUE,
    occurred_at       INTEGER NOT NULL,
    user_id           TEXT NOT NULL DEFAULT '',
    username          TEXT NOT NULL DEFAULT '',
    username_lower    TEXT NOT NULL DEFAULT '',
    application       TEXT NOT NULL DEFAULT '',
    protocol          TEXT NOT NULL DEFAULT '',
    client_type       TEXT NOT NULL DEFAULT '',
    legacy_app        TEXT NOT NULL DEFAULT '',
    effective_ip      TEXT NOT NULL DEFAULT '',
    peer_ip           TEXT NOT NULL DEFAULT '',
    forwarded_ip      TEXT NOT NULL DEFAULT '',
    forwarded_trusted INTEGER NOT NULL DEFAULT 0,
    forged_headers    INTEGER NOT NULL DEFAULT 0,
    user_agent        TEXT NOT NULL DEFAULT '',
    device_serial     TEXT NOT NULL DEFAULT '',
    device_name       TEXT NOT NULL DEFAULT '',
    mfa               INTEGER NOT NULL DEFAULT 0,
    decision          TEXT NOT NULL DEFAULT '',
    rule              TEXT NOT NULL DEFAULT '',
    reason            TEXT NOT NULL DEFAULT '',
    trace             BLOB,
    policy_version    INTEGER NOT NULL DEFAULT 0,
    latency_micros    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX sign_ins_time ON sign_ins (occurred_at, seq);
CREATE INDEX sign_ins_user ON sign_ins (username_lower, occurred_at);
CREATE INDEX sign_ins_effective_ip ON sign_ins (effective_ip);
CREATE INDEX sign_ins_peer_ip ON sign_ins (peer_ip);
CREATE INDEX sign_ins_forwarded_ip ON sign_ins (forwarded_ip);

CREATE TABLE once_keys (
    k          TEXT PRIMARY KEY,
    expires_at INTEGER NOT NULL
);
