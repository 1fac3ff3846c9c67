-- Read models of the recommendations service, rebuilt from the event store on demand.
-- One row per recommendation; `state` is the decider's own state, so reads and rules agree.
CREATE TABLE recommendations (
    recommendation_id uuid PRIMARY KEY,
    review_id         uuid    NOT NULL,
    number            integer,
    csp_area          text,
    level             text    NOT NULL,
    themes            text[]  NOT NULL,
    tags              text[]  NOT NULL,
    text              text    NOT NULL,
    issued_on         date    NOT NULL,
    smart_score       integer NOT NULL,
    smart_flags       text[]  NOT NULL,
    open              boolean NOT NULL,  -- NTSB-style: open until every addressee is closed
    version           integer NOT NULL,
    state             jsonb   NOT NULL,
    source            text    NOT NULL
);

-- One row per addressee: its action plan and two-axis status, for action plans and the
-- deadline watcher's scan.
CREATE TABLE recommendation_addressees (
    recommendation_id       uuid    NOT NULL REFERENCES recommendations ON DELETE CASCADE,
    addressee_id            text    NOT NULL,
    name                    text    NOT NULL,
    addressee_type          text    NOT NULL,
    response_status         text    NOT NULL,
    implementation_claimed  text    NOT NULL,
    implementation_verified text,
    response_due_on         date,
    target_date             date,
    open                    boolean NOT NULL,
    ntsb_status             text    NOT NULL,
    verified_on             date,
    reverify_on             date,
    -- The deadline watcher's memory, mirrored from the decider's state: the current deadline
    -- already produced its event (so the scan skips it).
    response_overdue_recorded boolean NOT NULL DEFAULT false,
    action_overdue_recorded   boolean NOT NULL DEFAULT false,
    reverification_reminded   boolean NOT NULL DEFAULT false,
    PRIMARY KEY (recommendation_id, addressee_id)
);

CREATE INDEX recommendation_addressees_deadlines ON recommendation_addressees
    (response_due_on, target_date, reverify_on) WHERE open OR reverify_on IS NOT NULL;

-- Escalations of overdue deadlines, to the CSP and (national recommendations) to oversight.
CREATE TABLE recommendation_escalations (
    recommendation_id uuid NOT NULL,
    addressee_id      text NOT NULL,
    escalated_to      text NOT NULL,
    reason            text NOT NULL,
    due_on            date NOT NULL,
    escalated_on      date NOT NULL,
    review_id         uuid NOT NULL,
    csp_area          text,
    level             text NOT NULL,
    PRIMARY KEY (recommendation_id, addressee_id, escalated_to, reason, due_on)
);

CREATE INDEX recommendation_escalations_to ON recommendation_escalations (escalated_to, escalated_on);

-- What the commissioning service told us of each review's CSP area (ADR 0004). Consumer memory,
-- not a read model: the area is copied onto RecommendationRecorded, so rebuilds do without it.
CREATE TABLE commissioning_review_areas (
    review_id uuid PRIMARY KEY,
    csp_area  text NOT NULL
);
