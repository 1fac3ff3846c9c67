-- The review data keys, shared by every service (dhr_platform/sealing.py): one row per review,
-- its data key wrapped by a key-encryption key from configuration. Erasure (crypto-shredding)
-- destroys the wrapped key and keeps the row, so that nothing is sealed for the review again.
-- Every service applies this; the lock makes the first one create the table while the others
-- wait, then find it.
SELECT pg_advisory_xact_lock(4471872341187326001);
CREATE SCHEMA IF NOT EXISTS keyring;
CREATE TABLE IF NOT EXISTS keyring.data_keys (
    review_id      text        PRIMARY KEY,
    key_id         uuid        NOT NULL UNIQUE,
    kek_id         text,
    wrapped_key    bytea,
    created_at     timestamptz NOT NULL DEFAULT now(),
    erased_at      timestamptz,
    erased_by      text,
    erasure_reason text,
    CHECK ((erased_at IS NULL) = (wrapped_key IS NOT NULL))
);
