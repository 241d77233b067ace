-- The grant store, the audit log, session activity and signed requests already taken, shared by
-- every replica. Grant changes and their audit entries are one transaction; appends to the audit
-- log are serialised on the one row of audit_head, so the chain has one order and cannot fork.

CREATE TABLE grants (
    id            TEXT COLLATE "C" PRIMARY KEY,
    version       BIGINT NOT NULL,
    -- The grant as JSON, without its journal (which is in audit_entries).
    body          TEXT NOT NULL,
    -- The next deadline, rounded up to the millisecond; NULL when none.
    next_deadline TIMESTAMPTZ,
    is_open       BOOLEAN NOT NULL,
    has_pending   BOOLEAN NOT NULL,
    needs_review  BOOLEAN NOT NULL
);
CREATE INDEX grants_by_deadline ON grants (next_deadline, id) WHERE next_deadline IS NOT NULL;
CREATE INDEX grants_open ON grants (id) WHERE is_open;
CREATE INDEX grants_pending ON grants (id) WHERE has_pending;
CREATE INDEX grants_unreviewed ON grants (id) WHERE needs_review;

-- The chain's last entry; seq 0 while the log is empty.
CREATE TABLE audit_head (
    only_row BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (only_row),
    seq      BIGINT NOT NULL,
    hash     TEXT NOT NULL
);
INSERT INTO audit_head (seq, hash)
    VALUES (0, '0000000000000000000000000000000000000000000000000000000000000000');

-- Each entry as the JSON text that was hashed, by its sequence number.
CREATE TABLE audit_entries (
    seq   BIGINT PRIMARY KEY,
    at    TIMESTAMPTZ NOT NULL,
    entry TEXT NOT NULL
);
CREATE INDEX audit_entries_at ON audit_entries (at);

-- How far each sink (the SIEM webhook) has delivered.
CREATE TABLE audit_cursors (
    name TEXT PRIMARY KEY,
    seq  BIGINT NOT NULL
);

CREATE TABLE activity (
    grant_id      TEXT COLLATE "C" PRIMARY KEY,
    body          TEXT NOT NULL,
    -- Its final summary is still to come.
    unsummarised  BOOLEAN NOT NULL
);
CREATE INDEX activity_unsummarised ON activity (grant_id) WHERE unsummarised;

CREATE TABLE seen_requests (
    signature  BYTEA PRIMARY KEY,
    first_seen TIMESTAMPTZ NOT NULL,
    keep_until TIMESTAMPTZ NOT NULL
);
CREATE INDEX seen_requests_keep_until ON seen_requests (keep_until);
