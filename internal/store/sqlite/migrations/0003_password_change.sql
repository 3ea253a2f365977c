-- A password set by an administrator (or printed at init) must be changed at the next sign-in.
ALTER TABLE users ADD COLUMN password_change_required INTEGER NOT NULL DEFAULT 0;
