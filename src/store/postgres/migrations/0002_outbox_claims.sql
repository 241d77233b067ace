-- Which replica carries out a grant's outbox, and until when its claim stands: replicas must not
-- carry out the same effect at once (a chat post made twice). A claim is given up when its run
-- ends; one left by a replica that died stands until `until` and is then taken over.
CREATE TABLE outbox_claims (
    grant_id TEXT COLLATE "C" PRIMARY KEY,
    holder   TEXT NOT NULL,
    until    TIMESTAMPTZ NOT NULL
);
