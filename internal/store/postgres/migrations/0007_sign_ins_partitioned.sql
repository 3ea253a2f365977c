-- The sign-in log, partitioned by month of occurred_at, so that a year at 100 sign-ins per
-- second (3 billion rows) stays queryable: a query for a time range reads only the months it
-- names, and pruning past the retention drops whole months instead of deleting rows one by
-- one. Nodes create the coming months ahead (postgres.Store.MaintainSignIns); the default
-- partition catches anything outside them, so a sign-in is never refused for want of one.
--
-- A partitioned table's unique keys must contain the partition key: uniqueness of a record's
-- ID is enforced together with its time (a record added twice is refused); IDs are UUIDv7
-- made by the node, unique by construction.
CREATE SEQUENCE sign_ins_part_seq;

CREATE TABLE sign_ins_part (
    seq               BIGINT NOT NULL DEFAULT nextval('sign_ins_part_seq'),
    id                TEXT NOT NULL,
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
) PARTITION BY RANGE (occurred_at);

CREATE TABLE sign_ins_default PARTITION OF sign_ins_part DEFAULT;

-- One partition per month from the oldest record to two months ahead, before the copy, so
-- existing records land in their months and not in the default partition.
DO $$
DECLARE
    -- Month arithmetic on UTC wall-clock times: the session's time zone (and its daylight
    -- saving changes) never shifts a boundary.
    m timestamp := date_trunc('month', LEAST(COALESCE((SELECT min(occurred_at) FROM sign_ins), now()), now()) AT TIME ZONE 'UTC');
    stop timestamp := date_trunc('month', now() AT TIME ZONE 'UTC') + interval '3 months';
BEGIN
    WHILE m < stop LOOP
        EXECUTE format('CREATE TABLE %I PARTITION OF sign_ins_part FOR VALUES FROM (%L) TO (%L)',
            'sign_ins_' || to_char(m, 'YYYY"m"MM'), m AT TIME ZONE 'UTC', (m + interval '1 month') AT TIME ZONE 'UTC');
        m := m + interval '1 month';
    END LOOP;
END
$$;

INSERT INTO sign_ins_part (seq, id, occurred_at, user_id, username, username_lower, application, protocol,
    client_type, legacy_app, effective_ip, peer_ip, forwarded_ip, forwarded_trusted, forged_headers, user_agent,
    device_serial, device_name, mfa, decision, rule, reason, trace, policy_version, latency_micros)
SELECT seq, id, occurred_at, user_id, username, username_lower, application, protocol,
    client_type, legacy_app, effective_ip, peer_ip, forwarded_ip, forwarded_trusted, forged_headers, user_agent,
    device_serial, device_name, mfa, decision, rule, reason, trace, policy_version, latency_micros
FROM sign_ins;
SELECT setval('sign_ins_part_seq', COALESCE((SELECT max(seq) FROM sign_ins), 0) + 1, false);

DROP TABLE sign_ins;
ALTER TABLE sign_ins_part RENAME TO sign_ins;
ALTER SEQUENCE sign_ins_part_seq RENAME TO sign_ins_seq;
ALTER SEQUENCE sign_ins_seq OWNED BY sign_ins.seq;

ALTER TABLE sign_ins ADD CONSTRAINT sign_ins_pkey PRIMARY KEY (occurred_at, seq);
ALTER TABLE sign_ins ADD CONSTRAINT sign_ins_id_key UNIQUE (id, occurred_at);
CREATE INDEX sign_ins_user ON sign_ins (username_lower, occurred_at);
CREATE INDEX sign_ins_effective_ip ON sign_ins (effective_ip);
CREATE INDEX sign_ins_peer_ip ON sign_ins (peer_ip);
CREATE INDEX sign_ins_forwarded_ip ON sign_ins (forwarded_ip);
