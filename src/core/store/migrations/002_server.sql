-- What the server adds (API.md section 5): users and their API keys, the
-- objects of Sematic's storage endpoints, the type of each metric point, and
-- a lookup of notes by run. Timestamps are INTEGER microseconds since the
-- Unix epoch, as in 001.

-- migrate:up
-- A user of the server. The API key itself is never stored: only its
-- SHA-256 (hex), which a request's X-API-KEY is hashed and looked up by.
CREATE TABLE users (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    first_name TEXT,
    last_name TEXT,
    avatar_url TEXT,
    api_key_hash TEXT UNIQUE,       -- NULL until a key is made
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

-- Bytes stored through PUT /api/v1/storage/<namespace>/<key>/local (an
-- artifact's payload written by Sematic's client, under namespace
-- 'artifacts'; futures; blobs). The bytes live in the blob directory, by
-- content; gc_blobs keeps every blob named here.
CREATE TABLE storage_objects (
    namespace TEXT NOT NULL,
    key TEXT NOT NULL,
    blob_key TEXT NOT NULL,
    size_bytes INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (namespace, key)
) WITHOUT ROWID;
CREATE INDEX storage_objects_blob_key ON storage_objects (blob_key);

-- Sematic's MetricType: 0 COUNT (a series sums), 1 GAUGE (a series averages).
ALTER TABLE metric_points ADD COLUMN metric_type INTEGER NOT NULL DEFAULT 1;

CREATE INDEX notes_run_id ON notes (run_id);

-- migrate:down
DROP INDEX notes_run_id;
ALTER TABLE metric_points DROP COLUMN metric_type;
DROP INDEX storage_objects_blob_key;
DROP TABLE storage_objects;
DROP TABLE users;
