/*
 * cli.h: what the sub-commands of `sematic` share (src/cli only).
 *
 * Each sub-command lives in its own file (runs.c, show.c, ...) as one
 * function `int sm__cli_<name>(int argc, char **argv)` that main.c's table
 * dispatches to; argv[0] is the sub-command's name. It returns the exit
 * status itself: SM_CLI_OK, SM_CLI_FAIL (the command failed; a message went
 * to stderr) or SM_CLI_USAGE (the command line was wrong; the message names
 * the fix).
 *
 * Messages follow STYLE 23: "sematic: <what failed> '<subject>': <cause>;
 * <what to do>", on stderr, one line. Output meant for the user (tables,
 * JSON) goes to stdout.
 */
#ifndef SM_CLI_H
#define SM_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "sematic/store.h"

enum sm_cli_status {
    SM_CLI_OK = 0,
    SM_CLI_FAIL = 1,
    SM_CLI_USAGE = 2,
};

/* Room for a store home path (sm_store_default_home wants at least 4096 bytes). */
#define SM_CLI_PATH_MAX 4096

/* The sub-commands (one file each). */
int sm__cli_runs(int argc, char **argv);
int sm__cli_show(int argc, char **argv);
int sm__cli_logs(int argc, char **argv);
int sm__cli_cancel(int argc, char **argv);
int sm__cli_rerun(int argc, char **argv);
int sm__cli_gc(int argc, char **argv);
int sm__cli_settings(int argc, char **argv);
int sm__cli_start(int argc, char **argv); /* start.c */
int sm__cli_stop(int argc, char **argv);  /* start.c */
int sm__cli_users(int argc, char **argv);

/* ------------------------------------------------------------ messages */

/* Print "sematic: <message>" to stderr and return SM_CLI_FAIL. */
int sm__cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Print "sematic: <message>" to stderr and return SM_CLI_USAGE. */
int sm__cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The usage error for an option `cmd` does not know (or a stray argument). */
int sm__cli_unknown_option(const char *cmd, const char *arg);

/* The usage error for a missing positional argument, naming it. */
int sm__cli_missing_arg(const char *cmd, const char *what);

/* ------------------------------------------------------------- options */

/* true when arg is "-h" or "--help". */
bool sm__cli_is_help(const char *arg);

enum sm_cli_opt {
    SM_CLI_OPT_NO = 0,  /* argv[*i] is not this option */
    SM_CLI_OPT_YES = 1, /* it is; *value is set and *i points at the last word used */
    SM_CLI_OPT_BAD = 2, /* it is, but its value is missing (a usage error was printed) */
};

/*
 * Match argv[*i] against option `name` ("--limit") that takes a value,
 * given as "--limit N" or "--limit=N". *value is borrowed from argv.
 */
enum sm_cli_opt sm__cli_opt_value(const char *cmd, int argc, char **argv, int *i, const char *name,
                                  const char **value);

/* ---------------------------------------------------------------- store */

/* An open store and where it lives. */
struct sm_cli_store {
    char home[SM_CLI_PATH_MAX];
    struct sm_store *store; /* owned; NULL until opened */
};

/*
 * Find the home ($SEMATIC_HOME, else ~/.sematic) into home. Returns
 * SM_CLI_OK or SM_CLI_FAIL (message printed).
 */
int sm__cli_home(char home[SM_CLI_PATH_MAX]);

/*
 * Find the home and open (creating and migrating) the store there, as
 * Sematic's CLI migrates on every invocation; with SEMATIC_API_ADDRESS set,
 * the store of that server instead (sm_store_open_default). Returns SM_CLI_OK or
 * SM_CLI_FAIL (message printed). Close with sm__cli_close().
 */
int sm__cli_open(struct sm_cli_store *cs);
void sm__cli_close(struct sm_cli_store *cs);

/*
 * Turn a run id as the user typed it (32 hex digits, or a unique prefix of
 * at least 6, any case) into the full id. Returns SM_CLI_OK, or SM_CLI_FAIL
 * with a message naming the id, the home and 'sematic runs --all'.
 */
int sm__cli_resolve_run(struct sm_cli_store *cs, const char *arg, char id[SM_ID_HEX_LEN + 1]);

/* Print a store error (err->msg, else the code's text) and return SM_CLI_FAIL. */
int sm__cli_store_fail(const struct sm_err *err);

/* ------------------------------------------------ owned record copies */

/*
 * Records read from the store are borrowed until the next call on it
 * (store.h); these copy one so it survives later calls. Release frees the
 * strings (the struct is the caller's).
 */
void sm__cli_run_copy(struct sm_run_rec *dst, const struct sm_run_rec *src);
void sm__cli_run_release(struct sm_run_rec *r);
void sm__cli_pipeline_copy(struct sm_pipeline_rec *dst, const struct sm_pipeline_rec *src);
void sm__cli_pipeline_release(struct sm_pipeline_rec *p);

/* A NUL-terminated copy (NULL for NULL); caller owns, free with sm_free(). */
char *sm__cli_strdup(const char *s);

/* true for COMPLETE, FAILED and CANCELED. */
bool sm__cli_pipeline_is_terminal(int status);

/* ------------------------------------------------------------- display */

/* Local time "2026-11-22 10:04:05" of a timestamp in microseconds; "-" for 0. */
void sm__cli_format_time(int64_t us, char out[32]);

/* A duration for people: "0.4ms", "42ms", "1.42s", "12.3s", "4m05s", "2h03m", "3d04h". */
void sm__cli_format_duration(int64_t us, char out[32]);

/* The end of a run: ended, else resolved, else failed, else (terminal) updated; 0 when none. */
int64_t sm__cli_run_end(const struct sm_run_rec *r);

/*
 * Append the strings of a JSON array of strings (a run's tags) to out,
 * joined by ", ". Text that is not such an array is appended as is.
 */
void sm__cli_join_tags(const char *tags_json, struct sm_buf *out);

/*
 * Write s to f, cut at max_bytes (on a UTF-8 character boundary) with "..."
 * appended when cut.
 */
void sm__cli_put_truncated(FILE *f, const char *s, size_t max_bytes);

/* ------------------------------------------------------------- drivers */

enum sm_cli_driver {
    SM_CLI_DRIVER_ALIVE,     /* the recorded process runs here, same pid and start time */
    SM_CLI_DRIVER_GONE,      /* it ran here and has exited (or its pid was reused) */
    SM_CLI_DRIVER_NONE,      /* no driver was recorded */
    SM_CLI_DRIVER_ELSEWHERE, /* it ran on another host, which this process cannot see */
};

/* Whether the driver process of pipeline run p is alive (/proc/PID/stat field 22). */
enum sm_cli_driver sm__cli_driver_state(const struct sm_pipeline_rec *p);

/* ---------------------------------------------------------- waiting */

/*
 * Waiting for another process to change the store without spinning: an
 * inotify watch on the home directory that wakes on writes to sematic.db
 * and sematic.db-wal (the WAL file comes and goes, so the directory is
 * watched, not the file). Without inotify, waits are plain timeouts.
 *
 * A write to the WAL is seen before its commit is: the writer appends the
 * frames (the event), may fsync them, and only then publishes the commit
 * in the shared-memory index, which raises no event. So after an event the
 * next few waits are short (5 ms, doubling up to the caller's timeout), so
 * a commit that lands just after its write is read at once, not one
 * timeout later.
 */
struct sm_cli_watch {
    int fd;        /* inotify descriptor, -1 when none */
    int settle_ms; /* the next wait's limit after an event; 0 when none pending */
};

void sm__cli_watch_open(struct sm_cli_watch *w, const char *home);
/* Return after the database changed or timeout_ms passed, whichever comes first. */
void sm__cli_watch_wait(struct sm_cli_watch *w, int timeout_ms);
void sm__cli_watch_close(struct sm_cli_watch *w);

/* Monotonic clock in milliseconds, for deadlines. */
int64_t sm__cli_now_ms(void);

#endif
