-- The Chair's user id (the `sub` of their bearer tokens) of each known review, from the
-- commissioning service's ChairAppointed (the latest appointment wins), so that a Chair's
-- access and their search of learning points are decided in SQL (policy.py).
ALTER TABLE known_reviews ADD COLUMN chair_subject text;
CREATE INDEX known_reviews_chair_subject ON known_reviews (chair_subject)
    WHERE chair_subject IS NOT NULL;
