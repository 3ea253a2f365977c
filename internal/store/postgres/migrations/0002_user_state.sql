-- Per-user state documents: second factors (sealed) and smart-lockout counters.
CREATE TABLE user_factors (
    user_id    TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    data       BYTEA NOT NULL,
    updated_at TIMESTAMPTZ
);

CREATE TABLE lockout_state (
    user_id    TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    data       BYTEA NOT NULL,
    updated_at TIMESTAMPTZ
);
