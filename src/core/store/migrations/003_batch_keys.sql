-- The keys clients sent their batches under (POST /api/v1/store/batch
-- {"key", "ops"}): a batch sent again under a key already here is not applied
-- again, so a retry after an answer that was lost appends no log line twice.
-- The newest 100,000 keys are kept.

-- migrate:up
CREATE TABLE batch_keys (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,       -- 32 lower-case hex digits, the client's
    change_seq INTEGER NOT NULL     -- of the batch that applied it
);

-- migrate:down
DROP TABLE batch_keys;
