/*
 * logs.c: `sematic logs [-f] RUN_ID`, the lines a run printed (stdout,
 * stderr and logging, captured by the runner into the store's logs table)
 * in the order they were captured.
 *
 * With --follow it keeps printing new lines until the run is terminal (or
 * its pipeline run is). It never spins: between reads it sleeps in an
 * inotify wait on the store's directory that wakes when sematic.db or its
 * WAL changes, with a 500 ms timeout as the fallback (sm__cli_watch_wait).
 * Each round reads the run's state first and its lines second, so the
 * lines written before the final state change are printed before it stops.
 * If the pipeline's driver ran on this host and has died without finishing
 * the run, following would never end, so it stops and says what to do.
 */
#include <string.h>

#include "sematic/graph.h"

#include "cli.h"

#include "util/banned.h"

#define FOLLOW_TIMEOUT_MS 500

static const char usage_text[] = "usage: sematic logs [-f|--follow] RUN_ID\n"
                                 "\n"
                                 "Print the lines a run wrote to stdout, stderr and logging, in\n"
                                 "order. RUN_ID may be a unique prefix of at least 6 hex digits.\n"
                                 "\n"
                                 "options:\n"
                                 "  -f, --follow  keep printing new lines until the run ends\n"
                                 "  -h, --help    show this help\n";

static int print_line(void *ctx, const struct sm_log_rec *line)
{
    int64_t *last_id = ctx;
    fwrite(line->text, 1, line->len, stdout);
    fputc('\n', stdout);
    *last_id = line->id;
    return 0;
}

/* Print the lines after *last_id. Returns SM_CLI_OK or SM_CLI_FAIL. */
static int print_new_lines(struct sm_cli_store *cs, const char *id, int64_t *last_id)
{
    struct sm_err err = SM_ERR_INIT;
    if (sm_store_read_logs(cs->store, id, *last_id, 0, print_line, last_id, &err) < 0)
        return sm__cli_store_fail(&err);
    fflush(stdout);
    return SM_CLI_OK;
}

enum progress {
    GOING,    /* more may come */
    FINISHED, /* the run or its pipeline run is terminal */
    ABANDONED /* its driver died here without finishing it */
};

static int check_progress(struct sm_cli_store *cs, const char *id, enum progress *out,
                          long long *driver_pid)
{
    struct sm_err err = SM_ERR_INIT;
    struct sm_run_rec run;
    if (sm_store_get_run(cs->store, id, &run, &err) != 0)
        return sm__cli_store_fail(&err);
    if (sm_state_is_terminal((enum sm_state)run.state)) {
        *out = FINISHED;
        return SM_CLI_OK;
    }
    char root_id[SM_ID_HEX_LEN + 1];
    memcpy(root_id, run.root_id, sizeof(root_id));

    struct sm_pipeline_rec p;
    int rc = sm_store_get_pipeline(cs->store, root_id, &p, &err);
    if (rc == SM_ENOTFOUND) {
        *out = GOING;
        return SM_CLI_OK;
    }
    if (rc != 0)
        return sm__cli_store_fail(&err);
    if (sm__cli_pipeline_is_terminal(p.status))
        *out = FINISHED;
    else if (sm__cli_driver_state(&p) == SM_CLI_DRIVER_GONE)
        *out = ABANDONED;
    else
        *out = GOING;
    *driver_pid = (long long)p.driver_pid;
    return SM_CLI_OK;
}

static int follow(struct sm_cli_store *cs, const char *id)
{
    struct sm_cli_watch watch;
    sm__cli_watch_open(&watch, cs->home);
    int64_t last_id = 0;
    int status;
    for (;;) {
        enum progress progress = GOING;
        long long driver_pid = 0;
        status = check_progress(cs, id, &progress, &driver_pid);
        if (status != SM_CLI_OK)
            break;
        status = print_new_lines(cs, id, &last_id);
        if (status != SM_CLI_OK || progress == FINISHED)
            break;
        if (progress == ABANDONED) {
            char root_id[SM_ID_HEX_LEN + 1] = "";
            struct sm_run_rec run;
            struct sm_err err = SM_ERR_INIT;
            if (sm_store_get_run(cs->store, id, &run, &err) == 0)
                memcpy(root_id, run.root_id, sizeof(root_id));
            status = sm__cli_fail("stopped following run '%s': the driver of its pipeline (pid "
                                  "%lld) exited without finishing it; 'sematic cancel -y %s' "
                                  "marks it canceled, 'sematic rerun --continue %s' resumes it",
                                  id, driver_pid, root_id, root_id);
            break;
        }
        sm__cli_watch_wait(&watch, FOLLOW_TIMEOUT_MS);
    }
    sm__cli_watch_close(&watch);
    return status;
}

int sm__cli_logs(int argc, char **argv)
{
    const char *arg_id = NULL;
    bool is_follow = false;
    for (int i = 1; i < argc; i++) {
        if (sm__cli_is_help(argv[i])) {
            fputs(usage_text, stdout);
            return SM_CLI_OK;
        } else if (strcmp(argv[i], "-f") == 0 || strcmp(argv[i], "--follow") == 0) {
            is_follow = true;
        } else if (argv[i][0] != '-' && arg_id == NULL) {
            arg_id = argv[i];
        } else {
            return sm__cli_unknown_option("logs", argv[i]);
        }
    }
    if (arg_id == NULL)
        return sm__cli_missing_arg("logs", "a RUN_ID");

    struct sm_cli_store cs;
    if (sm__cli_open(&cs) != SM_CLI_OK)
        return SM_CLI_FAIL;
    char id[SM_ID_HEX_LEN + 1];
    int status = sm__cli_resolve_run(&cs, arg_id, id);
    if (status == SM_CLI_OK) {
        if (is_follow) {
            status = follow(&cs, id);
        } else {
            int64_t last_id = 0;
            status = print_new_lines(&cs, id, &last_id);
        }
    }
    sm__cli_close(&cs);
    return status;
}
