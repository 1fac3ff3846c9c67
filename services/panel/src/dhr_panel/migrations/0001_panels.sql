-- Read model of review panels: one row per review, rebuilt from the event store on demand.
CREATE TABLE panels (
    review_id  uuid PRIMARY KEY,
    version    integer NOT NULL,
    csp_area   text,
    opened_on  date,
    state      jsonb   NOT NULL
);

-- One row per information request, for filtering and for the overdue watcher's scan.
CREATE TABLE panel_requests (
    review_id        uuid    NOT NULL,
    request_id       uuid    NOT NULL,
    kind             text    NOT NULL,
    agency           text    NOT NULL,
    status           text    NOT NULL,
    due_on           date    NOT NULL,
    overdue_recorded boolean NOT NULL,  -- an overdue event was recorded for the current due date
    PRIMARY KEY (review_id, request_id)
);

CREATE INDEX panel_requests_awaiting ON panel_requests (due_on)
    WHERE status <> 'submitted' AND NOT overdue_recorded;

-- What the commissioning service told us of reviews whose panel is not open yet (the CSP area
-- comes on NotificationReceived, before the review is commissioned). Consumer memory, not a
-- read model: the area is copied onto PanelOpened, so the panels rebuild without it.
CREATE TABLE commissioning_review_areas (
    review_id uuid PRIMARY KEY,
    csp_area  text NOT NULL
);
