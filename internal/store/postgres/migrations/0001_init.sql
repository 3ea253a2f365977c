-- Sekisho schema, PostgreSQL. Times are TIMESTAMPTZ (microseconds, UTC); NULL is
-- the zero time. *_lower columns are lower-cased in Go and carry case-insensitive uniqueness.

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    upn           TEXT NOT NULL,
    upn_lower     TEXT COLLATE "C" NOT NULL UNIQUE,
    display_name  TEXT NOT NULL DEFAULT '',
    email         TEXT NOT NULL DEFAULT '',
    immutable_id  TEXT NOT NULL DEFAULT '',
    status        TEXT NOT NULL DEFAULT 'active',
    password_hash TEXT NOT NULL DEFAULT '',
    created_at    TIMESTAMPTZ,
    updated_at    TIMESTAMPTZ
);
CREATE UNIQUE INDEX users_immutable_id ON users (immutable_id) WHERE immutable_id <> '';

CREATE TABLE user_groups (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    name_lower  TEXT COLLATE "C" NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    created_at  TIMESTAMPTZ
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
    name_lower TEXT COLLATE "C" NOT NULL UNIQUE,
    protocol   TEXT NOT NULL DEFAULT '',
    entity_id  TEXT NOT NULL DEFAULT '',
    config     BYTEA,
    created_at TIMESTAMPTZ,
    updated_at TIMESTAMPTZ
);
CREATE UNIQUE INDEX applications_entity ON applications (protocol, entity_id) WHERE entity_id <> '';

CREATE TABLE networks (
    name_lower  TEXT COLLATE "C" PRIMARY KEY,
    name        TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    cidrs       TEXT NOT NULL DEFAULT '[]',
    updated_at  TIMESTAMPTZ
);

CREATE TABLE policy_versions (
    version    BIGINT PRIMARY KEY,
    document   BYTEA,
    author     TEXT NOT NULL DEFAULT '',
    comment    TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMPTZ
);

CREATE TABLE devices (
    id            TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name          TEXT NOT NULL DEFAULT '',
    platform      TEXT NOT NULL DEFAULT '',
    serial        TEXT NOT NULL DEFAULT '',
    status        TEXT NOT NULL DEFAULT '',
    cert_der      BYTEA,
    not_before    TIMESTAMPTZ,
    not_after     TIMESTAMPTZ,
    issued_at     TIMESTAMPTZ,
    first_seen_at TIMESTAMPTZ,
    revoked_at    TIMESTAMPTZ,
    replaced_by   TEXT NOT NULL DEFAULT '',
    data          BYTEA
);
CREATE UNIQUE INDEX devices_serial ON devices (serial) WHERE serial <> '';
CREATE INDEX devices_user ON devices (user_id, issued_at);

CREATE TABLE sessions (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at   TIMESTAMPTZ,
    last_seen_at TIMESTAMPTZ,
    expires_at   TIMESTAMPTZ,
    mfa          BOOLEAN NOT NULL DEFAULT FALSE,
    data         BYTEA
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expires ON sessions (expires_at);

CREATE TABLE signing_keys (
    id         TEXT PRIMARY KEY,
    purpose    TEXT NOT NULL DEFAULT '',
    state      TEXT NOT NULL DEFAULT '',
    sealed_key BYTEA,
    cert_der   BYTEA,
    created_at TIMESTAMPTZ,
    not_after  TIMESTAMPTZ,
    updated_at TIMESTAMPTZ
);
CREATE INDEX signing_keys_purpose ON signing_keys (purpose, created_at);

CREATE TABLE sign_ins (
    seq               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id                TEXT NOT NULL UNIQUE,
    occurred_at       TIMESTAMPTZ NOT NULL,
    user_id           TEXT NOT NULL DEFAULT '',
    username          TEXT NOT NULL DEFAULT '',
    username_lower    TEXT COLLATE "C" NOT NULL DEFAULT '',
    application       TEXT NOT NULL DEFAULT '',
    protocol          TEXT NOT NULL DEFAULT '',
    client_type       TEXT NOT NULL DEFAULT '',
    legacy_app        TEXT NOT NULL DEFAULT '',
    effective_ip      TEXT NOT NULL DEFAULT '',
    peer_ip           TEXT NOT NULL DEFAULT '',
    forwarded_ip      TEXT NOT NULL DEFAULT '',
    forwarded_trusted BOOLEAN NOT NULL DEFAULT FALSE,
    forged_headers    BOOLEAN NOT NULL DEFAULT FALSE,
    user_agent        TEXT NOT NULL DEFAULT '',
    device_serial     TEXT NOT NULL DEFAULT '',
    device_name       TEXT NOT NULL DEFAULT '',
    mfa               BOOLEAN NOT NULL DEFAULT FALSE,
    decision          TEXT NOT NULL DEFAULT '',
    rule              TEXT NOT NULL DEFAULT '',
    reason            TEXT NOT NULL DEFAULT '',
    trace             BYTEA,
    policy_version    BIGINT NOT NULL DEFAULT 0,
    latency_micros    BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX sign_ins_time ON sign_ins (occurred_at, seq);
CREATE INDEX sign_ins_user ON sign_ins (username_lower, occurred_at);
CREATE INDEX sign_ins_effective_ip ON sign_ins (effective_ip);
CREATE INDEX sign_ins_peer_ip ON sign_ins (peer_ip);
CREATE INDEX sign_ins_forwarded_ip ON sign_ins (forwarded_ip);

CREATE TABLE once_keys (
    k          TEXT PRIMARY KEY,
    expires_at TIMESTAMPTZ NOT NULL
);
