-- The event store of one service: its events table is also its outbox (DESIGN §5).
CREATE TABLE events (
    global_position bigserial PRIMARY KEY,
    stream_id       text        NOT NULL,
    stream_version  integer     NOT NULL CHECK (stream_version >= 1),
    event_id        uuid        NOT NULL UNIQUE,
    type            text        NOT NULL,
    schema_version  integer     NOT NULL,
    data            jsonb       NOT NULL,
    metadata        jsonb       NOT NULL,
    recorded_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    -- The writing transaction's id: the relay publishes in (tx_id, global_position) order and
    -- only below the oldest open transaction, so a late commit is never skipped.
    tx_id           xid8        NOT NULL DEFAULT pg_current_xact_id(),
    CONSTRAINT events_stream_version_unique UNIQUE (stream_id, stream_version)
);

CREATE INDEX events_commit_order ON events (tx_id, global_position);

-- Where each relay has got to, in commit order.
CREATE TABLE relay_cursor (
    relay           text PRIMARY KEY,
    tx_id           xid8        NOT NULL,
    global_position bigint      NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- Messages a consumer has already applied, written in the same transaction as the effect.
CREATE TABLE inbox (
    consumer     text        NOT NULL,
    message_id   text        NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, message_id)
);

-- Responses of command requests that carried an Idempotency-Key, replayed on retry.
CREATE TABLE idempotency_keys (
    idempotency_key     text        NOT NULL,
    scope               text        NOT NULL,
    request_fingerprint text        NOT NULL,
    status_code         integer     NOT NULL,
    response_body       jsonb       NOT NULL,
    response_headers    jsonb       NOT NULL DEFAULT '{}'::jsonb,
    created_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, idempotency_key)
);
