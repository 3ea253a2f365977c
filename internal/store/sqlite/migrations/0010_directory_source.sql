-- Users and groups taken from a directory connector (LDAP / Active Directory, docs/directory.md).
-- source names the connector ('' = made in Sekisho: a sync never touches it); source_dn is the
-- entry's DN in the directory (the user's bind DN); source_missing_since is when a sync first
-- stopped finding the user (NULL while it is found), the start of the grace period before the
-- user is disabled; source_disabled says the sync disabled the user (so only the sync enables
-- it again: a user an administrator disabled stays disabled).
ALTER TABLE users ADD COLUMN source TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN source_dn TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN source_missing_since INTEGER;
ALTER TABLE users ADD COLUMN source_disabled INTEGER NOT NULL DEFAULT 0;
ALTER TABLE user_groups ADD COLUMN source TEXT NOT NULL DEFAULT '';
ALTER TABLE user_groups ADD COLUMN source_dn TEXT NOT NULL DEFAULT '';
CREATE INDEX users_source ON users (source) WHERE source <> '';
