-- One counter that every change to what nodes cache moves forward (applications and Microsoft
-- 365 domains, networks, policy versions, signing keys, devices), whoever made it: the CLI, the
-- console, the API or another node. Running servers poll it and drop their caches when it moves,
-- so a change is in force everywhere within the poll interval (docs/deployment.md).
CREATE TABLE config_version (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
);
INSERT INTO config_version (id, version) VALUES (1, 1);

CREATE TRIGGER applications_ins AFTER INSERT ON applications BEGIN UPDATE config_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER applications_upd AFTER UPDATE ON applications BEGIN UPDATE config_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER applications_del AFTER DELETE ON applications BEGIN UPDATE config_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER networks_ins AFTER INSERT ON networks BEGIN UPDATE config_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER networks_upd AFTER UPDATE ON networks BEGIN UPDATE config_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER networks_del AFTER DELETE ON networks BEGIN UPDATE config_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER policy_versions_ins AFTER INSERT ON policy_versions BEGIN UPDATE config_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER policy_versions_upd AFTER UPDATE ON policy_versions BEGIN UPDATE config_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER policy_versions_del AFTER DELETE ON policy_versions BEGIN UPDATE config_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER signing_keys_ins AFTER INSERT ON signing_keys BEGIN UPDATE config_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER signing_keys_upd AFTER UPDATE ON signing_keys BEGIN UPDATE config_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER signing_keys_del AFTER DELETE ON signing_keys BEGIN UPDATE config_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER devices_ins AFTER INSERT ON devices BEGIN UPDATE config_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER devices_upd AFTER UPDATE ON devices BEGIN UPDATE config_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER devices_del AFTER DELETE ON devices BEGIN UPDATE config_version SET version = version + 1 WHERE id = 1; END;
