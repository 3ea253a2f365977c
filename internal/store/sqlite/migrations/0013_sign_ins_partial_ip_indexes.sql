-- Every sign-in record updates each index of sign_ins, and on SQLite each updated index is
-- one more page in the commit. peer_ip equals effective_ip unless a trusted proxy forwarded the
-- client's address, and forwarded_ip is usually empty: their indexes now hold only the rows
-- where they say something effective_ip does not. An address search (sqlstore's signInQuery)
-- finds the rest through sign_ins_effective_ip, and names these indexes' conditions so that
-- the planner uses them.
DROP INDEX sign_ins_peer_ip;
CREATE INDEX sign_ins_peer_ip ON sign_ins (peer_ip) WHERE peer_ip <> effective_ip;
DROP INDEX sign_ins_forwarded_ip;
CREATE INDEX sign_ins_forwarded_ip ON sign_ins (forwarded_ip) WHERE forwarded_ip <> '' AND forwarded_ip <> effective_ip;
