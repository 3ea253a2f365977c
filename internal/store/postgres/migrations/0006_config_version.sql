-- One counter that every change to what nodes cache moves forward (applications and Microsoft
-- 365 domains, networks, policy versions, signing keys, devices), whoever made it: the CLI, the
-- console, the API or another node. Running servers poll it and drop their caches when it moves,
-- so a change is in force everywhere within the poll interval (docs/deployment.md).
CREATE TABLE config_version (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version BIGINT NOT NULL
);
INSERT INTO config_version (id, version) VALUES (1, 1);

CREATE FUNCTION sekisho_bump_config_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE config_version SET version = version + 1 WHERE id = 1;
    RETURN NULL;
END
$$;

CREATE TRIGGER applications_changed AFTER INSERT OR UPDATE OR DELETE ON applications
    FOR EACH STATEMENT EXECUTE FUNCTION sekisho_bump_config_version();
CREATE TRIGGER networks_changed AFTER INSERT OR UPDATE OR DELETE ON networks
    FOR EACH STATEMENT EXECUTE FUNCTION sekisho_bump_config_version();
CREATE TRIGGER policy_versions_changed AFTER INSERT OR UPDATE OR DELETE ON policy_versions
    FOR EACH STATEMENT EXECUTE FUNCTION sekisho_bump_config_version();
CREATE TRIGGER signing_keys_changed AFTER INSERT OR UPDATE OR DELETE ON signing_keys
    FOR EACH STATEMENT EXECUTE FUNCTION sekisho_bump_config_version();
CREATE TRIGGER devices_changed AFTER INSERT OR UPDATE OR DELETE ON devices
    FOR EACH STATEMENT EXECUTE FUNCTION sekisho_bump_config_version();
