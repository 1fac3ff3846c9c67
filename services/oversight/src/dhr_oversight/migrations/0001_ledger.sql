-- The transparency log: every event of every service, once, totally ordered (ADR 0006).
CREATE TABLE ledger (
    index       bigint PRIMARY KEY CHECK (index >= 0),  -- 0-based, gap-free, order of append
    event_id    uuid NOT NULL UNIQUE,                   -- a redelivered event is not appended twice
    topic       text NOT NULL,
    partition   integer NOT NULL,
    "offset"    bigint NOT NULL,
    review_id   text NOT NULL,                          -- the CloudEvents subject
    type        text NOT NULL,
    leaf_data   bytea NOT NULL,                         -- RFC 8785 JSON of the CloudEvent, as hashed
    leaf_hash   bytea NOT NULL CHECK (length(leaf_hash) = 32),
    recorded_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (topic, partition, "offset")
);
CREATE INDEX ledger_review_id ON ledger (review_id, index);
CREATE INDEX ledger_type ON ledger (type);

-- Read model filled as the ledger appends: the CSP area of each review, for exports and statistics.
CREATE TABLE review_areas (
    review_id text PRIMARY KEY,
    csp_area  text NOT NULL
);
CREATE INDEX review_areas_area ON review_areas (csp_area);

-- Signed checkpoints (C2SP tlog-checkpoint notes), one per tree size.
CREATE TABLE checkpoints (
    size         bigint PRIMARY KEY CHECK (size >= 0),
    root         bytea NOT NULL CHECK (length(root) = 32),
    note         text NOT NULL,
    issued_at    timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz                               -- null until on the checkpoint topic
);
CREATE INDEX checkpoints_unpublished ON checkpoints (size) WHERE published_at IS NULL;
