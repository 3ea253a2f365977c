-- The admin audit log: every change made through the CLI, the console or the API. Like the
-- sign-in log it has no foreign keys: entries outlive the users and objects they name.
CREATE TABLE admin_audit (
    seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    occurred_at TIMESTAMPTZ NOT NULL,
    actor       TEXT NOT NULL DEFAULT '',
    via         TEXT NOT NULL DEFAULT '',
    action      TEXT NOT NULL DEFAULT '',
    target      TEXT NOT NULL DEFAULT '',
    before_doc  BYTEA,
    after_doc   BYTEA
);
CREATE INDEX admin_audit_time ON admin_audit (occurred_at, seq);
