-- The national library: full-text and trigram search over the recommendations read model (0001),
-- and the recurrence links written by LibraryProjection.

-- Installed into the first schema of the search path, the service's own: its functions and
-- operator classes (similarity, %, gin_trgm_ops) are then visible to the service's pool. An
-- extension exists once per database, so another service that wants pg_trgm in the same
-- database must use this one schema-qualified (or the database must give each service its own).
CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- Stored, so ranking a large match set reads the vector instead of re-parsing every text.
ALTER TABLE recommendations
    ADD COLUMN search_document tsvector GENERATED ALWAYS AS (to_tsvector('english', text)) STORED;

CREATE INDEX recommendations_search_document ON recommendations USING gin (search_document);
-- fastupdate off: the recurrence lookup runs right after the insert, in the same transaction, and
-- would otherwise scan the index's whole pending list each time (3x slower when recording 1,000).
CREATE INDEX recommendations_text_trigram ON recommendations USING gin (text gin_trgm_ops)
    WITH (fastupdate = off);
CREATE INDEX recommendations_themes ON recommendations USING gin (themes);
CREATE INDEX recommendations_area ON recommendations (lower(csp_area), issued_on);
CREATE INDEX recommendations_issued_on ON recommendations (issued_on);
CREATE INDEX recommendations_review ON recommendations (review_id);

-- The library's status of an addressee is the CSP's verified status where there is one, else
-- the addressee's own claim (library.EFFECTIVE_STATUS_SQL); indexed with the type so that
-- "police, not implemented" is one index range.
CREATE INDEX recommendation_addressees_type_status ON recommendation_addressees
    (addressee_type, (coalesce(implementation_verified, implementation_claimed)), recommendation_id);
CREATE INDEX recommendation_addressees_recommendation ON recommendation_addressees
    (recommendation_id, addressee_type);

-- A recommendation that closely resembles an earlier one of another review. "Earlier" orders by
-- (issued_on, recommendation_id), so a backfilled old report links the right way round and a
-- replay writes the same rows. No foreign keys: the read models are emptied and replayed
-- together, and the projection only links rows that exist.
CREATE TABLE recurrence_links (
    recommendation_id         uuid NOT NULL,
    earlier_recommendation_id uuid NOT NULL,
    similarity                real NOT NULL CHECK (similarity > 0 AND similarity <= 1),
    PRIMARY KEY (recommendation_id, earlier_recommendation_id),
    CHECK (recommendation_id <> earlier_recommendation_id)
);

CREATE INDEX recurrence_links_earlier ON recurrence_links (earlier_recommendation_id);
