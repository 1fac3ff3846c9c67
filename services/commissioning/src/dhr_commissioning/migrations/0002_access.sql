-- The Chair's user id (the `sub` of their bearer tokens) beside each review, so that a Chair's
-- list of reviews is filtered in SQL (policy.visible_reviews). Filled from the state for rows
-- projected before this column existed (a rebuild gives the same).
ALTER TABLE reviews ADD COLUMN chair_subject text;
UPDATE reviews SET chair_subject = state #>> '{chair,subject}';
CREATE INDEX reviews_chair_subject ON reviews (chair_subject) WHERE chair_subject IS NOT NULL;
CREATE INDEX reviews_area ON reviews (lower(csp_area), received_at);
