/*
 * internal.h: what the files of src/core/store share and what its tests
 * reach through, never part of the public header (STYLE 1).
 *
 * The migrations are compiled in: embed_migrations.py turns every
 * migrations/NNN_name.sql into one row of sm__store_migrations[] at build
 * time (meson custom_target), together with the checked-in schema snapshot
 * (schema.sql) that test_store compares a fresh migrate against.
 */
#ifndef SM_STORE_INTERNAL_H
#define SM_STORE_INTERNAL_H

#include <stddef.h>

#include "sematic/buf.h"
#include "sematic/err.h"
#include "sematic/filter.h"
#include "sematic/store.h"

/* One migration file: "001", "initial", and the SQL of its two sections. */
struct sm__migration {
    const char *version;
    const char *name;
    const char *up_sql;
    const char *down_sql;
};

/* Generated (migrations.c): every migration, oldest first. */
extern const struct sm__migration sm__store_migrations[];
extern const size_t sm__store_n_migrations;
/* The table of applied versions, as dbmate keeps it. */
extern const char sm__store_migrations_table_sql[];
/* Contents of src/core/store/schema.sql. */
extern const char sm__store_schema_snapshot[];

/*
 * The schema of the database at db_path in the snapshot's format (each
 * CREATE statement of sqlite_master followed by ";\n", by table then type
 * then name, then "-- versions: 001 002 ...\n"), appended to out.
 * Returns 0, SM_EIO, SM_ETOOBIG.
 */
int sm__store_dump_schema(const char *db_path, struct sm_buf *out, struct sm_err *err);

/*
 * Undo every applied migration newer than version `to` ("000" undoes all),
 * newest first, in one transaction. No store may be open on db_path.
 * Returns 0, SM_EIO, SM_ECORRUPT (an applied version this program does not know).
 */
int sm__store_migrate_down(const char *db_path, const char *to, struct sm_err *err);

/* How many migrations sm_store_open_sqlite() applied when it opened s (a SQLite store). */
int sm__store_sqlite_n_migrated(const struct sm_store *s);

/*
 * The query plan of listing q of entity e on a SQLite store (EXPLAIN QUERY
 * PLAN of the page's statement: one line per step, "SEARCH t USING INDEX
 * runs_roots ..."), appended to plan. For tests and docs: which index serves
 * a query. Returns 0 or what the listing would return.
 */
int sm__store_explain(struct sm_store *s, enum sm_entity e, const struct sm_query *q,
                      struct sm_buf *plan, struct sm_err *err);

/* Argument checks shared by the backends. */
bool sm__store_is_id(const char *s, size_t len); /* exactly len lower-case hex digits */

#endif
