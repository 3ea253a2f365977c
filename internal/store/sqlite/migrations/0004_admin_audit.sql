-- The admin audit log: every change made through the CLI, the console or the API. Like the
-- sign-in log it has no foreign keys: entries outlive the users and objects they name.
CREATE TABLE admin_audit (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    id          TEXT NOT NULL UNIQUE,
    occurred_at INTEGER NOT NULL,
    actor       TEXT NOT NULL DEFAULT '',
    via         TEXT NOT NULL DEFAULT '',
    action      TEXT NOT NULL DEFAULT '',
    target      TEXT NOT NULL DEFAULT '',
    before_doc  BLOB,
    after_doc   BLOB
);
CREATE INDEX admin_audit_time ON admin_audit (occurred_at, seq);
