/*
 * test_store_fixture.h: what the store's test programs (test_store.c,
 * test_store_query.c, test_store_server.c) share: a fresh store in a
 * temporary home per test, assertion macros that print the error's code and
 * message, and record builders.
 *
 * Include after <cmocka.h>; every function is static.
 */
#ifndef SM_TEST_STORE_FIXTURE_H
#define SM_TEST_STORE_FIXTURE_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sqlite3.h>

#include "sematic/hash.h"
#include "sematic/store.h"

struct fixture {
    char dir[128];  /* the mkdtemp directory */
    char home[160]; /* dir/home: the store's home */
    char db[192];   /* home/sematic.db */
    struct sm_store *s;
};

static void check_ok(int rc, struct sm_err *err, const char *what, int line)
{
    if (rc != 0)
        fail_msg("line %d: %s returned %s: %s", line, what, sm_err_name(rc), err->msg);
    sm_err_clear(err);
}

static void check_fails(int want, int rc, struct sm_err *err, const char *what, int line)
{
    if (rc != want)
        fail_msg("line %d: %s returned %s (%s), expected %s", line, what, sm_err_name(rc), err->msg,
                 sm_err_name(want));
    if (err->code != want)
        fail_msg("line %d: %s left err code %s, expected %s", line, what, sm_err_name(err->code),
                 sm_err_name(want));
}

#define OK(call) check_ok((call), &err, #call, __LINE__)
#define FAILS(code, call) check_fails((code), (call), &err, #call, __LINE__)

static void check_has(const char *text, const char *part, int line)
{
    if (!strstr(text, part))
        fail_msg("line %d: '%s' does not contain '%s'", line, text, part);
}
#define HAS(text, part) check_has((text), (part), __LINE__)

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void remove_tree(const char *dir)
{
    nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "/tmp/test_store.XXXXXX");
    if (!mkdtemp(f->dir)) {
        free(f);
        return -1;
    }
    snprintf(f->home, sizeof(f->home), "%s/home", f->dir);
    snprintf(f->db, sizeof(f->db), "%s/sematic.db", f->home);
    struct sm_err err = SM_ERR_INIT;
    f->s = sm_store_open_sqlite(f->home, SM_STORE_SYNC_NORMAL, &err);
    if (!f->s) {
        fprintf(stderr, "cannot open the store: %s\n", err.msg);
        remove_tree(f->dir);
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    sm_store_close(f->s);
    remove_tree(f->dir);
    free(f);
    return 0;
}

/* A 32-hex id made from n. */
static void id_of(unsigned n, char out[SM_ID_HEX_LEN + 1])
{
    snprintf(out, SM_ID_HEX_LEN + 1, "%032x", n);
}

/* Run n of pipeline `root` (a root when n == root), created at 1000000 + n. */
static void run_init(struct sm_run_rec *r, unsigned n, unsigned root, int state)
{
    memset(r, 0, sizeof(*r));
    id_of(n, r->id);
    id_of(root, r->root_id);
    if (n != root)
        id_of(root, r->parent_id);
    r->state = state;
    r->name = "step";
    r->function_path = "mod.step";
    r->tags_json = "[]";
    r->is_inline = true;
    r->created_at = 1000000 + n;
    r->updated_at = 2000000 + n;
}

/* Run one SQL statement on the database file behind the store; returns the first column. */
static int64_t sql_value(const char *db_path, const char *sql)
{
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK)
        fail_msg("cannot open '%s': %s", db_path, sqlite3_errmsg(db));
    sqlite3_busy_timeout(db, 30000);
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
        fail_msg("cannot prepare '%s': %s", sql, sqlite3_errmsg(db));
    int rc = sqlite3_step(s);
    int64_t v = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : -1;
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        fail_msg("cannot run '%s': %s", sql, sqlite3_errmsg(db));
    sqlite3_finalize(s);
    sqlite3_close(db);
    return v;
}

#endif
