-- The transaction that recorded each recommendation, so the service's in-memory similarity
-- index (library.LibraryIndex) can read just what was committed since it last looked: every
-- transaction that commits after a snapshot has an id at least that snapshot's xmin.
ALTER TABLE recommendations
    ADD COLUMN recorded_in xid8 NOT NULL DEFAULT pg_current_xact_id();

CREATE INDEX recommendations_recorded_in ON recommendations (recorded_in);
