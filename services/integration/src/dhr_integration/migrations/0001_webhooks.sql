-- Webhook subscriptions of agency case systems, the events that concern agencies, and every
-- delivery with its attempts. Operational state of this service, not part of any review's record:
-- nothing here is published (ADR 0011).

CREATE TABLE webhook_subscriptions (
    subscription_id  uuid        PRIMARY KEY,
    organisation     text        NOT NULL,  -- as the caller's organisation was given
    organisation_key text        NOT NULL,  -- domain.organisation_key: what events are matched on
    url              text        NOT NULL,
    kinds            text[]      NOT NULL,
    event_types      text[]      NOT NULL DEFAULT '{}',  -- empty: every type of the kinds
    description      text,
    secret           text,                  -- the HMAC key; erased when the subscription is deleted
    created_at       timestamptz NOT NULL DEFAULT now(),
    deleted_at       timestamptz
);

CREATE INDEX webhook_subscriptions_active ON webhook_subscriptions (organisation_key)
    WHERE deleted_at IS NULL;

-- Facts of earlier events that later events refer to by id (domain.facts_of), written by the
-- consumer; replaying the topics from the start (a new consumer group) rebuilds them.
CREATE TABLE known_request_agencies (
    request_id uuid PRIMARY KEY,
    review_id  uuid NOT NULL,
    agency     text NOT NULL
);

CREATE TABLE known_recommendation_addressees (
    recommendation_id uuid NOT NULL,
    addressee_id      text NOT NULL,
    name              text NOT NULL,
    PRIMARY KEY (recommendation_id, addressee_id)
);

CREATE TABLE known_notifying_agencies (
    review_id uuid PRIMARY KEY,
    agency    text NOT NULL
);

-- Every event that concerns at least one organisation, as the CloudEvent sent to webhooks, in the
-- order it was received (`sequence`): live deliveries and replays are made from here.
CREATE TABLE agency_events (
    sequence          bigserial   PRIMARY KEY,
    event_id          uuid        NOT NULL UNIQUE,
    review_id         text        NOT NULL,  -- the CloudEvents subject
    type              text        NOT NULL,
    kind              text        NOT NULL,
    organisation_keys text[]      NOT NULL,
    event_time        timestamptz NOT NULL,
    cloudevent        jsonb       NOT NULL,
    topic             text        NOT NULL,
    kafka_partition   integer     NOT NULL,
    kafka_offset      bigint      NOT NULL,
    received_at       timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX agency_events_organisations ON agency_events USING gin (organisation_keys);
CREATE INDEX agency_events_time ON agency_events (event_time);

CREATE TABLE webhook_replays (
    replay_id       uuid        PRIMARY KEY,
    subscription_id uuid        NOT NULL REFERENCES webhook_subscriptions,
    from_time       timestamptz,
    from_event_id   uuid,
    deliveries      integer     NOT NULL,
    requested_at    timestamptz NOT NULL DEFAULT now()
);

-- One row per event to send to one subscription: the first delivery (replay_id null, at most one
-- per event and subscription) or a replayed one. Per subscription and review, deliveries are sent
-- in `sequence` order: only the oldest pending one of each (subscription, review) is ever due.
CREATE TABLE webhook_deliveries (
    sequence         bigserial   PRIMARY KEY,
    delivery_id      uuid        NOT NULL UNIQUE,
    subscription_id  uuid        NOT NULL REFERENCES webhook_subscriptions,
    event_sequence   bigint      NOT NULL REFERENCES agency_events (sequence),
    event_id         uuid        NOT NULL,
    review_id        text        NOT NULL,
    replay_id        uuid        REFERENCES webhook_replays,
    status           text        NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'delivered', 'failed', 'cancelled')),
    attempts         integer     NOT NULL DEFAULT 0,
    created_at       timestamptz NOT NULL DEFAULT now(),
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    leased_until     timestamptz,  -- a worker is sending it; another may take it after this
    last_status_code integer,
    last_error       text,
    delivered_at     timestamptz,
    failed_at        timestamptz
);

CREATE UNIQUE INDEX webhook_deliveries_once ON webhook_deliveries (subscription_id, event_id)
    WHERE replay_id IS NULL;
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at)
    WHERE status = 'pending';
CREATE INDEX webhook_deliveries_queue ON webhook_deliveries (subscription_id, review_id, sequence)
    WHERE status = 'pending';
CREATE INDEX webhook_deliveries_log ON webhook_deliveries (subscription_id, sequence);

CREATE TABLE webhook_delivery_attempts (
    delivery_id uuid        NOT NULL REFERENCES webhook_deliveries (delivery_id),
    attempt     integer     NOT NULL CHECK (attempt >= 1),
    started_at  timestamptz NOT NULL,
    duration_ms integer     NOT NULL,
    status_code integer,  -- null when no response came (refused, timed out)
    error       text,
    PRIMARY KEY (delivery_id, attempt)
);
