-- The store's schema after every migration, as sqlite_master holds it.
-- Generated; do not edit. After adding a migration, regenerate with
--   python3 src/core/store/embed_migrations.py --schema src/core/store/migrations/*.sql > src/core/store/schema.sql
-- test_store checks that a freshly migrated store matches it.
CREATE TABLE artifacts (
    id TEXT PRIMARY KEY,            -- SHA-256 of type_json || '\n' || payload
    type_json TEXT NOT NULL,
    summary_json TEXT NOT NULL,
    size_bytes INTEGER NOT NULL,
    payload BLOB,                   -- the value's encoding when small
    blob_key TEXT,                  -- else the blob holding it
    created_at INTEGER NOT NULL
);
CREATE INDEX artifacts_blob_key ON artifacts (blob_key) WHERE blob_key IS NOT NULL;
CREATE TABLE batch_keys (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,       -- 32 lower-case hex digits, the client's
    change_seq INTEGER NOT NULL     -- of the batch that applied it
);
CREATE TABLE edges (
    id TEXT PRIMARY KEY,
    root_id TEXT NOT NULL,
    source_run_id TEXT,
    destination_run_id TEXT,
    destination_name TEXT,
    artifact_id TEXT,
    parent_id TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX edges_destination ON edges (destination_run_id);
CREATE INDEX edges_root_id ON edges (root_id);
CREATE INDEX edges_source ON edges (source_run_id);
CREATE TABLE events (
    seq INTEGER NOT NULL,
    kind TEXT NOT NULL,
    subject_id TEXT NOT NULL,
    payload TEXT
);
CREATE INDEX events_seq ON events (seq);
CREATE TABLE functions (
    id INTEGER PRIMARY KEY,
    function_path TEXT NOT NULL,    -- module.qualname
    description TEXT,
    source_id TEXT REFERENCES sources (id),
    resource_requirements TEXT,
    retry_settings TEXT,
    is_inline INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX functions_path ON functions (function_path);
CREATE TABLE logs (
    id INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL,
    stream INTEGER NOT NULL,        -- 1 stdout, 2 stderr, 3 logging
    ts INTEGER NOT NULL,
    text TEXT NOT NULL
);
CREATE INDEX logs_run_id ON logs (run_id, id);
CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
CREATE TABLE metric_points (
    id INTEGER PRIMARY KEY,
    run_id TEXT,
    root_id TEXT,
    name TEXT NOT NULL,
    value REAL NOT NULL,
    step INTEGER,
    labels TEXT,
    ts INTEGER NOT NULL,
    seq INTEGER NOT NULL DEFAULT 0
, metric_type INTEGER NOT NULL DEFAULT 1);
CREATE INDEX metric_points_name ON metric_points (name, ts);
CREATE INDEX metric_points_run ON metric_points (run_id);
CREATE TABLE notes (
    id TEXT PRIMARY KEY,
    user TEXT,
    note TEXT NOT NULL,
    run_id TEXT NOT NULL,
    root_id TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    seq INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX notes_root_id ON notes (root_id);
CREATE INDEX notes_run_id ON notes (run_id);
CREATE TABLE pipeline_runs (
    root_id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    kind TEXT NOT NULL,
    cache_namespace TEXT,
    user TEXT,
    git TEXT,
    settings TEXT,
    client_version TEXT,
    run_command TEXT,
    python TEXT,
    cwd TEXT,
    sys_path TEXT,
    driver_pid INTEGER,
    driver_start INTEGER,
    driver_host TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    ended_at INTEGER,
    seq INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX pipeline_runs_seq ON pipeline_runs (seq);
CREATE TABLE run_rows (
    id TEXT PRIMARY KEY,
    root_id TEXT NOT NULL,
    parent_id TEXT,
    nested_id TEXT,
    original_run_id TEXT,
    state INTEGER NOT NULL,         -- enum sm_state
    name TEXT NOT NULL,
    function_id INTEGER NOT NULL REFERENCES functions (id),
    tags TEXT NOT NULL DEFAULT '[]',
    cache_key TEXT,
    exception TEXT,
    external_exception TEXT,
    attempt INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    started_at INTEGER,
    ended_at INTEGER,
    resolved_at INTEGER,
    failed_at INTEGER,
    seq INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX runs_cache_key ON run_rows (cache_key) WHERE cache_key IS NOT NULL;
CREATE INDEX runs_created_at ON run_rows (created_at);
CREATE INDEX runs_parent_id ON run_rows (parent_id);
CREATE INDEX runs_root_functions ON run_rows (function_id) WHERE id = root_id;
CREATE INDEX runs_root_id ON run_rows (root_id);
CREATE INDEX runs_roots ON run_rows (created_at) WHERE id = root_id;
CREATE VIEW runs AS
SELECT r.id, r.root_id, r.parent_id, r.nested_id, r.original_run_id, r.state, r.name,
       f.function_path, f.description, f.source_id, r.tags, f.resource_requirements,
       f.retry_settings, r.cache_key, r.exception, r.external_exception, f.is_inline,
       r.attempt, r.created_at, r.updated_at, r.started_at, r.ended_at, r.resolved_at,
       r.failed_at, r.seq
FROM run_rows r JOIN functions f ON f.id = r.function_id;
CREATE TABLE schema_migrations (version TEXT PRIMARY KEY);
CREATE TABLE sources (
    id TEXT PRIMARY KEY,            -- SHA-256 of text
    text TEXT NOT NULL
);
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
-- versions: 001 002 003
