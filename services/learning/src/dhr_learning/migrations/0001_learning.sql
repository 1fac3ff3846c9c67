-- Reviews as the learning service knows them from other services' events (commissioning: area,
-- date of death, commissioned; panel: report agreed). Written by consumers, one row per review;
-- rebuilt by replaying those topics (a new consumer group), not from this service's events.
CREATE TABLE known_reviews (
    review_id        uuid PRIMARY KEY,
    csp_area         text,
    date_of_death    date,
    commissioned_on  date,
    report_agreed_on date,
    updated_at       timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX known_reviews_area ON known_reviews (lower(csp_area));

-- Read model of each review's learning: the decider's state, folded with its own `evolve`.
CREATE TABLE learning_reviews (
    review_id uuid PRIMARY KEY,
    version   integer NOT NULL,
    state     jsonb   NOT NULL
);

-- Learning points across reviews, for queries by theme, tag, area and period.
CREATE TABLE learning_points (
    learning_point_id uuid PRIMARY KEY,
    review_id         uuid    NOT NULL,
    recorded_on       date    NOT NULL,
    themes            text[]  NOT NULL,
    tags              text[]  NOT NULL,
    point             jsonb   NOT NULL
);

CREATE INDEX learning_points_recorded ON learning_points (recorded_on, learning_point_id);
CREATE INDEX learning_points_themes ON learning_points USING gin (themes);
CREATE INDEX learning_points_tags ON learning_points USING gin (tags);
CREATE INDEX learning_points_review ON learning_points (review_id);
