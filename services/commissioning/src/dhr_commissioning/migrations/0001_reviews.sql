-- Read model of review cases: one row per review, rebuilt from the event store on demand.
CREATE TABLE reviews (
    review_id         uuid PRIMARY KEY,
    version           integer NOT NULL,
    status            text    NOT NULL,
    csp_area          text    NOT NULL,
    decision_due_on   date,
    completion_due_on date,
    received_at       timestamptz NOT NULL,
    state             jsonb   NOT NULL
);

CREATE INDEX reviews_status_area ON reviews (status, csp_area);
CREATE INDEX reviews_received ON reviews (received_at, review_id);
