/*
 * cancel.c: `sematic cancel [-y] ROOT_ID`, cancel a pipeline run.
 *
 * A pipeline run is cancelled by its own driver when it can be (API.md
 * 2.6): SIGTERM makes the runner cancel every active run, record CANCELED
 * and exit, so nothing is left half-written. We signal the driver only
 * after checking it is the recorded process: same host, and /proc/PID/stat
 * start time equal to the recorded one (a reused pid is never signalled).
 * Then we wait, up to 30 s, for the store to say CANCELED, re-reading it
 * when the database changes and at least every 100 ms.
 *
 * When no driver is running (killed, crashed, or another host's), nobody
 * else will ever finish the pipeline run, so the store is marked directly
 * with sm_store_set_pipeline_status(CANCELED), which also cancels its
 * active runs in the same transaction.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

#include "util/banned.h"

#define CANCEL_WAIT_MS 30000
#define CANCEL_POLL_MS 100

static const char usage_text[] =
    "usage: sematic cancel [-y|--yes] ROOT_ID\n"
    "\n"
    "Cancel a pipeline run. If its driver process is running on this host it\n"
    "is sent SIGTERM and cancels itself; otherwise the store is marked\n"
    "directly. ROOT_ID is the id of the pipeline's root run (a unique prefix\n"
    "of at least 6 hex digits will do).\n"
    "\n"
    "options:\n"
    "  -y, --yes   do not ask for confirmation\n"
    "  -h, --help  show this help\n";

/* Ask on stdin; true only for an answer starting with 'y'. */
static bool confirm(const char *root_id, const char *name)
{
    printf("Cancel pipeline run %s (%s)? [y/N] ", root_id, name);
    fflush(stdout);
    char answer[16];
    if (fgets(answer, sizeof(answer), stdin) == NULL) {
        fputc('\n', stdout);
        return false;
    }
    return answer[0] == 'y' || answer[0] == 'Y';
}

/* Read the pipeline's status (copy kept in *out). Returns SM_CLI_OK or SM_CLI_FAIL. */
static int read_pipeline(struct sm_cli_store *cs, const char *root_id, struct sm_pipeline_rec *out)
{
    struct sm_pipeline_rec p;
    struct sm_err err = SM_ERR_INIT;
    if (sm_store_get_pipeline(cs->store, root_id, &p, &err) != 0)
        return sm__cli_store_fail(&err);
    sm__cli_pipeline_release(out);
    sm__cli_pipeline_copy(out, &p);
    return SM_CLI_OK;
}

static int mark_directly(struct sm_cli_store *cs, const struct sm_pipeline_rec *p,
                         enum sm_cli_driver driver)
{
    struct sm_err err = SM_ERR_INIT;
    if (sm_store_set_pipeline_status(cs->store, p->root_id, SM_PIPELINE_CANCELED, &err) != 0)
        return sm__cli_store_fail(&err);
    switch (driver) {
    case SM_CLI_DRIVER_ELSEWHERE:
        printf("Pipeline run %s canceled: its driver (pid %lld) ran on host '%s', which this "
               "command cannot signal, so the store was marked directly.\n",
               p->root_id, (long long)p->driver_pid, p->driver_host);
        break;
    case SM_CLI_DRIVER_NONE:
        printf("Pipeline run %s canceled: no driver process was recorded, so the store was "
               "marked directly.\n",
               p->root_id);
        break;
    case SM_CLI_DRIVER_GONE:
    case SM_CLI_DRIVER_ALIVE:
        printf("Pipeline run %s canceled: its driver (pid %lld) was not running, so the store "
               "was marked directly.\n",
               p->root_id, (long long)p->driver_pid);
        break;
    }
    return SM_CLI_OK;
}

/* SIGTERM the live driver and wait for the store to show the outcome. */
static int cancel_through_driver(struct sm_cli_store *cs, struct sm_pipeline_rec *p)
{
    long long pid = (long long)p->driver_pid;
    if (kill((pid_t)p->driver_pid, SIGTERM) != 0) {
        if (errno == ESRCH) /* it exited since we looked */
            return mark_directly(cs, p, SM_CLI_DRIVER_GONE);
        return sm__cli_fail("cannot signal the driver of pipeline run '%s' (pid %lld): %s; run "
                            "this as the user who started the pipeline",
                            p->root_id, pid, strerror(errno));
    }

    struct sm_cli_watch watch;
    sm__cli_watch_open(&watch, cs->home);
    int64_t deadline = sm__cli_now_ms() + CANCEL_WAIT_MS;
    int status = SM_CLI_OK;
    for (;;) {
        /* Driver state first, status second: a driver that exited after recording is seen so. */
        enum sm_cli_driver driver = sm__cli_driver_state(p);
        status = read_pipeline(cs, p->root_id, p);
        if (status != SM_CLI_OK)
            break;
        if (p->status == SM_PIPELINE_CANCELED) {
            printf("Pipeline run %s canceled.\n", p->root_id);
            break;
        }
        if (sm__cli_pipeline_is_terminal(p->status)) {
            status = sm__cli_fail("pipeline run '%s' finished as %s before the cancel reached it",
                                  p->root_id,
                                  sm_pipeline_status_name((enum sm_pipeline_status)p->status));
            break;
        }
        if (driver != SM_CLI_DRIVER_ALIVE) {
            /* It died without recording the cancel: nobody else will. */
            status = mark_directly(cs, p, SM_CLI_DRIVER_GONE);
            break;
        }
        if (sm__cli_now_ms() >= deadline) {
            status = sm__cli_fail(
                "pipeline run '%s' is still %s %d s after SIGTERM to its driver (pid %lld); stop "
                "that process (kill -9 %lld), then run 'sematic cancel -y %s' again",
                p->root_id, sm_pipeline_status_name((enum sm_pipeline_status)p->status),
                CANCEL_WAIT_MS / 1000, pid, pid, p->root_id);
            break;
        }
        sm__cli_watch_wait(&watch, CANCEL_POLL_MS);
    }
    sm__cli_watch_close(&watch);
    return status;
}

int sm__cli_cancel(int argc, char **argv)
{
    const char *arg_id = NULL;
    bool yes = false;
    for (int i = 1; i < argc; i++) {
        if (sm__cli_is_help(argv[i])) {
            fputs(usage_text, stdout);
            return SM_CLI_OK;
        } else if (strcmp(argv[i], "-y") == 0 || strcmp(argv[i], "--yes") == 0) {
            yes = true;
        } else if (argv[i][0] != '-' && arg_id == NULL) {
            arg_id = argv[i];
        } else {
            return sm__cli_unknown_option("cancel", argv[i]);
        }
    }
    if (arg_id == NULL)
        return sm__cli_missing_arg("cancel", "the ROOT_ID of a pipeline run");

    struct sm_cli_store cs;
    if (sm__cli_open(&cs) != SM_CLI_OK)
        return SM_CLI_FAIL;
    char id[SM_ID_HEX_LEN + 1];
    struct sm_pipeline_rec p = {0};
    char name[256] = "";
    int status = sm__cli_resolve_run(&cs, arg_id, id);
    if (status != SM_CLI_OK)
        goto done;

    struct sm_run_rec run;
    struct sm_err err = SM_ERR_INIT;
    if (sm_store_get_run(cs.store, id, &run, &err) != 0) {
        status = sm__cli_store_fail(&err);
        goto done;
    }
    if (strcmp(run.id, run.root_id) != 0) {
        status = sm__cli_fail("run '%s' is not a pipeline run; cancel its pipeline run instead: "
                              "sematic cancel %s",
                              run.id, run.root_id);
        goto done;
    }
    snprintf(name, sizeof(name), "%s", run.name);

    struct sm_pipeline_rec borrowed;
    int rc = sm_store_get_pipeline(cs.store, id, &borrowed, &err);
    if (rc == SM_ENOTFOUND) {
        status = sm__cli_fail("run '%s' has no pipeline run record in %s, so there is nothing to "
                              "cancel",
                              id, cs.home);
        goto done;
    }
    if (rc != 0) {
        status = sm__cli_store_fail(&err);
        goto done;
    }
    sm__cli_pipeline_copy(&p, &borrowed);

    if (sm__cli_pipeline_is_terminal(p.status)) {
        printf("Pipeline run %s is already %s; nothing to cancel.\n", id,
               sm_pipeline_status_name((enum sm_pipeline_status)p.status));
        goto done;
    }
    if (!yes && !confirm(id, name)) {
        status = sm__cli_fail("pipeline run '%s' was not canceled (answer 'y', or pass -y)", id);
        goto done;
    }

    enum sm_cli_driver driver = sm__cli_driver_state(&p);
    if (driver == SM_CLI_DRIVER_ALIVE)
        status = cancel_through_driver(&cs, &p);
    else
        status = mark_directly(&cs, &p, driver);

done:
    sm__cli_pipeline_release(&p);
    sm__cli_close(&cs);
    return status;
}
