/*
 * rerun.c: `sematic rerun ROOT_ID [--from RUN_ID | --continue]`.
 *
 * Rerunning needs the user's functions, so it happens in Python: this
 * command replaces itself (execv) with the interpreter that ran the
 * original driver, running `-m sematic._rerun ROOT_ID [--from RUN_ID |
 * --continue]` in the driver's working directory, with the driver's
 * sys.path (the directories that still exist) put in front of PYTHONPATH so
 * the pipeline's modules import as they did (API.md 2.9). The store records
 * all three in the pipeline run (python, cwd, sys_path_json).
 *
 * SEMATIC_HOME is exported as an absolute path, so the rerun opens this
 * store even when it was given relative to the directory we leave.
 *
 * --continue is refused while the pipeline's driver is still running it
 * (checked as `sematic cancel` does), since both would run its active
 * steps; sematic._rerun relies on that.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sematic/json.h"

#include "cli.h"

#include "util/banned.h"

static const char usage_text[] =
    "usage: sematic rerun ROOT_ID [--from RUN_ID | --continue]\n"
    "\n"
    "Run a pipeline again with the Python interpreter, working directory and\n"
    "sys.path its driver had (python -m sematic._rerun). ROOT_ID is the id of\n"
    "the pipeline's root run (a unique prefix of at least 6 hex digits will do).\n"
    "\n"
    "options:\n"
    "  --from RUN_ID  rerun from this run of the pipeline: it, its ancestors and\n"
    "                 everything downstream run again, the rest is reused\n"
    "  --continue     resume: reuse every run that resolved, run the rest\n"
    "  -h, --help     show this help\n";

/* Append the directories of a JSON array of paths to out, joined by ':'. */
static void add_existing_dirs(const char *sys_path_json, struct sm_buf *out)
{
    if (sys_path_json == NULL)
        return;
    struct sm_json_doc doc = {0};
    struct sm_err err = SM_ERR_INIT;
    if (sm_json_parse(&doc, sys_path_json, strlen(sys_path_json), &err) != 0 ||
        doc.root->kind != SM_JSON_ARRAY) {
        sm_json_doc_release(&doc);
        return;
    }
    for (size_t i = 0; i < doc.root->n_items; i++) {
        const struct sm_json *item = &doc.root->items[i];
        struct stat st;
        /* "" is the script's directory, which sematic._rerun finds on its own. */
        if (item->kind != SM_JSON_STRING || item->len == 0 || strchr(item->str, ':') != NULL)
            continue;
        if (stat(item->str, &st) != 0 || !S_ISDIR(st.st_mode))
            continue;
        if (out->len > 0)
            sm_buf_addc(out, ':');
        sm_buf_add(out, item->str, item->len);
    }
    sm_json_doc_release(&doc);
}

/* What to run by hand when we cannot, in the mode the user asked for. */
static void by_hand(char *out, size_t size, const char *root_id, const char *from, bool cont)
{
    if (from != NULL)
        snprintf(out, size, "python -m sematic._rerun %s --from %s", root_id, from);
    else if (cont)
        snprintf(out, size, "python -m sematic._rerun %s --continue", root_id);
    else
        snprintf(out, size, "python -m sematic._rerun %s", root_id);
}

/* Resolve and check the run ids. Returns SM_CLI_OK or SM_CLI_FAIL (message printed). */
static int check_runs(struct sm_cli_store *cs, const char *arg_root, const char *arg_from,
                      char root_id[SM_ID_HEX_LEN + 1], char from_id[SM_ID_HEX_LEN + 1])
{
    if (sm__cli_resolve_run(cs, arg_root, root_id) != SM_CLI_OK)
        return SM_CLI_FAIL;
    struct sm_run_rec run;
    struct sm_err err = SM_ERR_INIT;
    if (sm_store_get_run(cs->store, root_id, &run, &err) != 0)
        return sm__cli_store_fail(&err);
    if (strcmp(run.id, run.root_id) != 0)
        return sm__cli_fail("run '%s' is not a pipeline run; to rerun its pipeline from it: "
                            "sematic rerun %s --from %s",
                            run.id, run.root_id, run.id);
    if (arg_from == NULL)
        return SM_CLI_OK;
    if (sm__cli_resolve_run(cs, arg_from, from_id) != SM_CLI_OK)
        return SM_CLI_FAIL;
    if (sm_store_get_run(cs->store, from_id, &run, &err) != 0)
        return sm__cli_store_fail(&err);
    if (strcmp(run.root_id, root_id) != 0)
        return sm__cli_fail("run '%s' belongs to pipeline run '%s', not '%s'; rerun that one: "
                            "sematic rerun %s --from %s",
                            from_id, run.root_id, root_id, run.root_id, from_id);
    return SM_CLI_OK;
}

int sm__cli_rerun(int argc, char **argv)
{
    const char *arg_root = NULL, *arg_from = NULL;
    bool cont = false;
    for (int i = 1; i < argc; i++) {
        const char *value;
        enum sm_cli_opt o;
        if (sm__cli_is_help(argv[i])) {
            fputs(usage_text, stdout);
            return SM_CLI_OK;
        } else if (strcmp(argv[i], "--continue") == 0) {
            cont = true;
        } else if ((o = sm__cli_opt_value("rerun", argc, argv, &i, "--from", &value))) {
            if (o == SM_CLI_OPT_BAD)
                return SM_CLI_USAGE;
            arg_from = value;
        } else if (argv[i][0] != '-' && arg_root == NULL) {
            arg_root = argv[i];
        } else {
            return sm__cli_unknown_option("rerun", argv[i]);
        }
    }
    if (arg_root == NULL)
        return sm__cli_missing_arg("rerun", "the ROOT_ID of a pipeline run");
    if (arg_from != NULL && cont)
        return sm__cli_usage_error("'rerun' takes --from or --continue, not both: --from reruns "
                                   "from one run, --continue resumes what did not finish");

    struct sm_cli_store cs;
    if (sm__cli_open(&cs) != SM_CLI_OK)
        return SM_CLI_FAIL;
    char root_id[SM_ID_HEX_LEN + 1], from_id[SM_ID_HEX_LEN + 1];
    char hand[256];
    struct sm_pipeline_rec p = {0};
    struct sm_buf path = SM_BUF_INIT(1 << 20);
    int status = check_runs(&cs, arg_root, arg_from, root_id, from_id);
    if (status != SM_CLI_OK)
        goto done;
    by_hand(hand, sizeof(hand), root_id, arg_from ? from_id : NULL, cont);

    struct sm_pipeline_rec borrowed;
    struct sm_err err = SM_ERR_INIT;
    int rc = sm_store_get_pipeline(cs.store, root_id, &borrowed, &err);
    if (rc == SM_ENOTFOUND) {
        status = sm__cli_fail("cannot rerun '%s': %s has no record of how its driver ran; run it "
                              "from your project: %s",
                              root_id, cs.home, hand);
        goto done;
    }
    if (rc != 0) {
        status = sm__cli_store_fail(&err);
        goto done;
    }
    sm__cli_pipeline_copy(&p, &borrowed);
    /* Resuming a pipeline run its driver is still running would run its active steps twice. */
    if (cont && !sm__cli_pipeline_is_terminal(p.status) &&
        sm__cli_driver_state(&p) == SM_CLI_DRIVER_ALIVE) {
        status = sm__cli_fail("cannot continue '%s': its driver (pid %lld) is still running it; "
                              "wait for it to end, or cancel it first: sematic cancel -y %s",
                              root_id, (long long)p.driver_pid, root_id);
        goto done;
    }
    if (p.python == NULL || p.python[0] == '\0') {
        status = sm__cli_fail("cannot rerun '%s': its driver's Python interpreter was not "
                              "recorded; run it from your project: %s",
                              root_id, hand);
        goto done;
    }
    if (access(p.python, X_OK) != 0) {
        status = sm__cli_fail("cannot rerun '%s': its driver ran '%s', which no longer exists; "
                              "run it from your project: %s",
                              root_id, p.python, hand);
        goto done;
    }
    /* The rerun must open this store: pin a relative SEMATIC_HOME before changing directory. */
    char abs_home[PATH_MAX];
    if (realpath(cs.home, abs_home) == NULL || setenv("SEMATIC_HOME", abs_home, 1) != 0) {
        status = sm__cli_fail("cannot rerun '%s': cannot resolve the store's directory '%s': %s",
                              root_id, cs.home, strerror(errno));
        goto done;
    }
    if (p.cwd != NULL && p.cwd[0] != '\0' && chdir(p.cwd) != 0) {
        status = sm__cli_fail("cannot rerun '%s': its driver ran in '%s', which cannot be entered "
                              "(%s); run it from your project: %s",
                              root_id, p.cwd, strerror(errno), hand);
        goto done;
    }

    add_existing_dirs(p.sys_path_json, &path);
    const char *old = getenv("PYTHONPATH");
    if (old != NULL && old[0] != '\0') {
        if (path.len > 0)
            sm_buf_addc(&path, ':');
        sm_buf_adds(&path, old);
    }
    if (path.len > 0 && setenv("PYTHONPATH", path.data, 1) != 0) {
        status =
            sm__cli_fail("cannot rerun '%s': cannot set PYTHONPATH: %s", root_id, strerror(errno));
        goto done;
    }

    char *args[7];
    int n = 0;
    args[n++] = (char *)(uintptr_t)p.python;
    args[n++] = (char *)(uintptr_t) "-m";
    args[n++] = (char *)(uintptr_t) "sematic._rerun";
    args[n++] = root_id;
    if (arg_from != NULL) {
        args[n++] = (char *)(uintptr_t) "--from";
        args[n++] = from_id;
    } else if (cont) {
        args[n++] = (char *)(uintptr_t) "--continue";
    }
    args[n] = NULL;

    /* The store is closed first: the rerun opens it itself, and exec keeps no atexit work. */
    sm__cli_close(&cs);
    fflush(stdout);
    fflush(stderr);
    execv(p.python, args);
    status = sm__cli_fail("cannot rerun '%s': cannot run '%s': %s; run it from your project: %s",
                          root_id, p.python, strerror(errno), hand);

done:
    sm_buf_release(&path);
    sm__cli_pipeline_release(&p);
    sm__cli_close(&cs);
    return status;
}
