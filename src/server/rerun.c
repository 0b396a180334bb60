/*
 * rerun.c: POST /api/v1/resolutions/:id/rerun {"rerun_from": RUN_ID | null},
 * the dashboard's "rerun from here" (ours, not Sematic's).
 *
 * A rerun needs the pipeline's own Python functions, so it cannot happen in
 * the server: the server starts `sematic rerun ROOT [--from RUN]` (its own
 * binary, /proc/self/exe; src/cli/rerun.c), which execs the interpreter
 * the pipeline's driver ran with, in its directory and with its sys.path,
 * running `-m sematic._rerun`. The child is detached: a session of its
 * own (posix_spawn with POSIX_SPAWN_SETSID), stdin from /dev/null, stdout
 * and stderr to <home>/logs/reruns/<root>-<time>.log, no other descriptor
 * of the server's (its listening socket above all), and a thread of the
 * server that only waits for it, so it never lingers as a zombie and the
 * server never waits for it to finish.
 *
 * The answer waits until the new pipeline run exists in the store: its
 * LocalRunner records the pid it runs in as driver_pid, and since `sematic
 * rerun` execs Python in the process the server started, that is the
 * child's pid. The handler follows the change feed from before the spawn
 * for "pipelines" events whose pipeline run has that driver_pid, then for
 * its root run (the runner may write it a commit later: a page opened on
 * the answer reads the pipeline's graph at once), woken by
 * inotify on the store's directory or by the child exiting (a pidfd), and
 * answers {"content": {"root_id": NEW_ROOT}}. A child that exits first is a
 * 500 carrying the last lines of its log; one that records nothing within
 * SEMATIC_SERVER_RERUN_TIMEOUT_MS (30 s) a 504 (it keeps running).
 *
 * Checked before anything starts, each a 4xx naming the problem and the
 * fix: the id is a run and a pipeline's root (404, 400), the body
 * (400), rerun_from is a run (404) of that pipeline (400), and the
 * pipeline's driver can be run again from here: a recorded interpreter
 * that still exists and a working directory that can be entered (409).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sematic/alloc.h"
#include "sematic/hash.h"

#include "api.h"
#include "handlers.h"
#include "internal.h"

#include "util/banned.h"

extern char **environ;

/* How long the answer waits for the rerun's pipeline run to appear, by default. */
#define RERUN_TIMEOUT_MS 30000
/* The most of a failed child's log an answer quotes. */
#define LOG_TAIL_BYTES 2000
/* Lines of it. */
#define LOG_TAIL_LINES 12

/* ------------------------------------------------------------ the child */

/* Wait for the child so it never lingers as a zombie (the server does not care how it ends). */
static void *reap_main(void *arg)
{
    pid_t pid = (pid_t)(intptr_t)arg;
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        continue;
    return NULL;
}

static void reap_later(pid_t pid)
{
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&t, &attr, reap_main, (void *)(intptr_t)pid) != 0) {
        /* No thread: wait here rather than leave a zombie (the rerun will not be quick). */
        reap_main((void *)(intptr_t)pid);
    }
    pthread_attr_destroy(&attr);
}

/* The last lines of the log at path (at most LOG_TAIL_BYTES, LOG_TAIL_LINES) into out. */
static void log_tail(const char *path, char *out, size_t size)
{
    out[0] = '\0';
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    char buf[LOG_TAIL_BYTES + 1];
    off_t end = lseek(fd, 0, SEEK_END);
    off_t from = end > LOG_TAIL_BYTES ? end - LOG_TAIL_BYTES : 0;
    ssize_t n = end >= 0 ? pread(fd, buf, LOG_TAIL_BYTES, from) : -1;
    close(fd);
    if (n <= 0)
        return;
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
        n--;
    buf[n] = '\0';
    const char *start = buf;
    int lines = 0;
    for (ssize_t i = n - 1; i >= 0; i--) {
        if (buf[i] == '\n' && ++lines == LOG_TAIL_LINES) {
            start = buf + i + 1;
            break;
        }
    }
    if (from > 0 && start == buf) { /* a cut first line: drop it */
        const char *nl = strchr(buf, '\n');
        start = nl != NULL ? nl + 1 : buf;
    }
    sm__http_sanitize(start, out, size);
}

struct child {
    pid_t pid;
    int pidfd; /* -1 when the kernel has none */
    char log_path[PATH_MAX];
};

/* mkdir -p of home/logs/reruns; the log path of this rerun into c->log_path. 0 or -errno. */
static int make_log_path(const char *home, const char *root, struct child *c)
{
    char dir[PATH_MAX];
    int n = snprintf(dir, sizeof(dir), "%s/logs", home);
    if (n < 0 || (size_t)n >= sizeof(dir))
        return -ENAMETOOLONG;
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return -errno;
    n = snprintf(dir, sizeof(dir), "%s/logs/reruns", home);
    if (n < 0 || (size_t)n >= sizeof(dir))
        return -ENAMETOOLONG;
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return -errno;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    n = snprintf(c->log_path, sizeof(c->log_path), "%s/%s-%lld%06ld.log", dir, root,
                 (long long)now.tv_sec, now.tv_nsec / 1000);
    return n > 0 && (size_t)n < sizeof(c->log_path) ? 0 : -ENAMETOOLONG;
}

/* The environment of the child: ours, with SEMATIC_HOME set to abs_home. Free with sm_free. */
static char **child_env(const char *abs_home, char **home_var)
{
    size_t n = 0;
    while (environ[n] != NULL)
        n++;
    char **env = sm_xcalloc(n + 2, sizeof(*env));
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "SEMATIC_HOME=", 13) != 0)
            env[k++] = environ[i];
    size_t len = strlen(abs_home) + sizeof("SEMATIC_HOME=");
    *home_var = sm_xmalloc(len);
    snprintf(*home_var, len, "SEMATIC_HOME=%s", abs_home);
    env[k++] = *home_var;
    env[k] = NULL;
    return env;
}

/* Start `sematic rerun root [--from from]`, detached. 0, or -errno with what failed in what. */
static int spawn_rerun(const char *abs_home, const char *root, const char *from, struct child *c,
                       const char **what)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n <= 0) {
        *what = "find the server's own binary (/proc/self/exe)";
        return -errno;
    }
    self[n] = '\0';
    int rc = make_log_path(abs_home, root, c);
    if (rc != 0) {
        *what = "create the rerun log directory under the store's logs/";
        return rc;
    }
    char *argv[6] = {self, (char *)(uintptr_t) "rerun", (char *)(uintptr_t)root, NULL, NULL, NULL};
    if (from != NULL) {
        argv[3] = (char *)(uintptr_t) "--from";
        argv[4] = (char *)(uintptr_t)from;
    }
    char *home_var = NULL;
    char **env = child_env(abs_home, &home_var);
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&attr);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, c->log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    /* Nothing else of the server's: its listening socket, connections, pipes and store files
     * must not outlive it in a rerun that runs for hours. */
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    /* A session of its own: the server's terminal and signals (a Ctrl-C) are not the rerun's.
     * The default signal mask and dispositions, whatever this thread had. */
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setflags(&attr,
                             POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    rc = posix_spawn(&c->pid, self, &fa, &attr, argv, env);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    sm_free(env);
    sm_free(home_var);
    if (rc != 0) {
        *what = "start 'sematic rerun'";
        return -rc;
    }
#ifdef SYS_pidfd_open
    c->pidfd = (int)syscall(SYS_pidfd_open, c->pid, 0);
#else
    c->pidfd = -1;
#endif
    return 0;
}

/* ------------------------------------------------------------ waiting for its pipeline run */

struct find {
    struct sm_store *store;
    pid_t pid;
    char pipeline[SM_ID_HEX_LEN + 1]; /* the child's pipeline run; "" until found */
    char root[SM_ID_HEX_LEN + 1];     /* the same once its root run is stored too */
    int64_t last_seq;
};

/* Found: the child's pipeline run, whose root run is stored too. */
static void check_root_run(struct find *f)
{
    struct sm_run_rec run;
    struct sm_err err = SM_ERR_INIT;
    if (f->pipeline[0] != '\0' && sm_store_get_run(f->store, f->pipeline, &run, &err) == 0)
        memcpy(f->root, f->pipeline, sizeof(f->root));
}

static int on_event(void *ctx, const struct sm_event_rec *ev)
{
    struct find *f = ctx;
    f->last_seq = ev->seq;
    if (f->root[0] != '\0')
        return 0;
    if (f->pipeline[0] != '\0' || strcmp(ev->kind, "pipelines") != 0) {
        check_root_run(f);
        return 0;
    }
    /* The payload lists the root ids the batch wrote; NULL: too many to list (not a rerun's). */
    for (const char *p = ev->payload; p != NULL && *p != '\0';) {
        const char *comma = strchr(p, ',');
        size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p);
        if (len == SM_ID_HEX_LEN) {
            char id[SM_ID_HEX_LEN + 1];
            memcpy(id, p, len);
            id[len] = '\0';
            struct sm_pipeline_rec rec;
            struct sm_err err = SM_ERR_INIT;
            if (sm_store_get_pipeline(f->store, id, &rec, &err) == 0 &&
                rec.driver_pid == (int64_t)f->pid) {
                memcpy(f->pipeline, id, sizeof(f->pipeline));
                check_root_run(f);
                return 0;
            }
        }
        p = comma != NULL ? comma + 1 : p + len;
    }
    return 0;
}

static int64_t now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static int64_t timeout_ms(void)
{
    const char *v = getenv("SEMATIC_SERVER_RERUN_TIMEOUT_MS");
    char *end = NULL;
    long long ms = v != NULL ? strtoll(v, &end, 10) : 0;
    return v != NULL && end != v && *end == '\0' && ms > 0 ? (int64_t)ms : RERUN_TIMEOUT_MS;
}

enum wait_result { FOUND, EXITED, TIMED_OUT, STORE_FAILED };

/*
 * Follow the change feed after seq until the child's pipeline run shows up (FOUND, f->root),
 * the child exits (EXITED; it is reaped then, *status says how), or the deadline passes.
 */
static enum wait_result wait_for_pipeline(struct find *f, const struct child *c, int64_t seq,
                                          int *status, struct sm_err *err)
{
    int ino = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    const char *wal = sm_store_watch_path(f->store);
    if (ino >= 0 && wal != NULL) {
        char dir[PATH_MAX];
        snprintf(dir, sizeof(dir), "%s", wal);
        char *slash = strrchr(dir, '/');
        if (slash != NULL)
            *slash = '\0';
        inotify_add_watch(ino, dir, IN_MODIFY | IN_CREATE | IN_MOVED_TO);
    }
    f->last_seq = seq;
    int64_t deadline = now_ms() + timeout_ms();
    enum wait_result out = TIMED_OUT;
    for (;;) {
        if (sm_store_list_events(f->store, f->last_seq, 0, on_event, f, err) != 0) {
            out = STORE_FAILED;
            break;
        }
        if (f->root[0] != '\0') {
            out = FOUND;
            break;
        }
        pid_t w = waitpid(c->pid, status, WNOHANG);
        if (w == c->pid) {
            /* It may have written its pipeline run just before it ended. */
            if (sm_store_list_events(f->store, f->last_seq, 0, on_event, f, err) == 0 &&
                f->root[0] != '\0') {
                out = FOUND; /* reaped already */
                *status = -1;
                break;
            }
            out = EXITED;
            break;
        }
        int64_t left = deadline - now_ms();
        if (left <= 0)
            break;
        /* Woken by a write to the store or the child's end; a commit can precede its
         * visibility by a moment (the WAL is written before its index), so look again
         * within 50 ms regardless. */
        struct pollfd pfd[2] = {{.fd = ino, .events = POLLIN}, {.fd = c->pidfd, .events = POLLIN}};
        poll(pfd, 2, left < 50 ? (int)left : 50);
        char drain[4096];
        while (ino >= 0 && read(ino, drain, sizeof(drain)) > 0)
            continue;
    }
    if (ino >= 0)
        close(ino);
    return out;
}

/* ------------------------------------------------------------ the handler */

/* The body's rerun_from into from (NULL for null or absent). 0, or SM_EINVAL with a 400. */
static int read_body(struct sm_http_req *req, struct sm_http_resp *resp, char *from, size_t size,
                     bool *has_from)
{
    *has_from = false;
    if (req->body_len == 0)
        return 0; /* no body: from the root */
    struct sm_json_doc doc = {0};
    int rc = sm_http_body_json(req, resp, &doc);
    if (rc != 0)
        return rc;
    const struct sm_json *v = NULL;
    if (doc.root->kind != SM_JSON_OBJECT) {
        rc = SM_EINVAL;
    } else {
        v = sm_json_get(doc.root, "rerun_from");
        if (v != NULL && v->kind == SM_JSON_STRING) {
            snprintf(from, size, "%s", v->str);
            *has_from = true;
        } else if (v != NULL && v->kind != SM_JSON_NULL) {
            rc = SM_EINVAL;
        }
    }
    sm_json_doc_release(&doc);
    if (rc != 0) {
        sm_http_error(resp, 400,
                      "Malformed payload: send {\"rerun_from\": \"<run id>\"} to rerun from a "
                      "run of the pipeline, or {\"rerun_from\": null} to rerun it all");
        return SM_EINVAL;
    }
    return 0;
}

/* The "run it yourself" line of the messages. */
static void by_hand(char *out, size_t size, const char *root, const char *from)
{
    if (from != NULL)
        snprintf(out, size, "sematic rerun %s --from %s", root, from);
    else
        snprintf(out, size, "sematic rerun %s", root);
}

int sm__api_resolution_rerun(struct sm_http_req *req, struct sm_http_resp *resp)
{
    const char *id = sm_http_param(req, "id");
    char from_buf[128];
    bool has_from;
    int rc = read_body(req, resp, from_buf, sizeof(from_buf), &has_from);
    if (rc != 0)
        return rc;
    struct sm_err err = SM_ERR_INIT;
    struct sm_store *store = sm_http_store(req, &err);
    if (store == NULL)
        return sm_http_store_error(resp, &err);

    struct sm_run_rec run;
    if (sm__api_get_run(store, resp, id, &run) != 0)
        return 0;
    char root[SM_ID_HEX_LEN + 1];
    snprintf(root, sizeof(root), "%s", run.id);
    if (strcmp(run.id, run.root_id) != 0)
        return sm_http_error(resp, 400,
                             "run '%s' is not a pipeline run's root; to rerun its pipeline from "
                             "it: POST /api/v1/resolutions/%s/rerun {\"rerun_from\": \"%s\"}",
                             run.id, run.root_id, run.id);
    char from[SM_ID_HEX_LEN + 1] = "";
    if (has_from) {
        if (sm__api_get_run(store, resp, from_buf, &run) != 0)
            return 0;
        if (strcmp(run.root_id, root) != 0)
            return sm_http_error(resp, 400,
                                 "run '%s' belongs to pipeline run '%s', not '%s'; rerun that "
                                 "one: POST /api/v1/resolutions/%s/rerun",
                                 run.id, run.root_id, root, run.root_id);
        snprintf(from, sizeof(from), "%s", run.id);
    }
    const char *from_arg = has_from ? from : NULL;
    char hand[160];
    by_hand(hand, sizeof(hand), root, from_arg);

    struct sm_pipeline_rec p;
    rc = sm_store_get_pipeline(store, root, &p, &err);
    if (rc == SM_ENOTFOUND)
        return sm_http_error(resp, 409,
                             "cannot rerun '%s': the store has no record of how its driver ran "
                             "(a pipeline of Sematic's own client?); run it from your project: %s",
                             root, hand);
    if (rc != 0)
        return sm_http_store_error(resp, &err);
    char shown[PATH_MAX];
    if (p.python == NULL || p.python[0] == '\0')
        return sm_http_error(resp, 409,
                             "cannot rerun '%s': its driver's Python interpreter was not "
                             "recorded (a pipeline of Sematic's own client?); run it from your "
                             "project: %s",
                             root, hand);
    if (access(p.python, X_OK) != 0) {
        sm__http_sanitize(p.python, shown, sizeof(shown));
        return sm_http_error(resp, 409,
                             "cannot rerun '%s': its driver ran '%s', which this server's machine "
                             "cannot run (%s); run it from your project: %s",
                             root, shown, strerror(errno), hand);
    }
    struct stat st;
    if (p.cwd != NULL && p.cwd[0] != '\0' && (stat(p.cwd, &st) != 0 || !S_ISDIR(st.st_mode))) {
        sm__http_sanitize(p.cwd, shown, sizeof(shown));
        return sm_http_error(resp, 409,
                             "cannot rerun '%s': its driver ran in '%s', which is no directory "
                             "on this server's machine; run it from your project: %s",
                             root, shown, hand);
    }

    char abs_home[PATH_MAX];
    if (realpath(store->home, abs_home) == NULL)
        return sm_http_error(resp, 500, "cannot rerun '%s': cannot resolve the store's home: %s",
                             root, strerror(errno));
    int64_t seq = sm_store_change_seq(store);
    if (seq < 0)
        return sm_http_error(resp, 503, "cannot rerun '%s': the store cannot be read; retry", root);
    struct child c = {.pid = -1, .pidfd = -1};
    const char *what = "";
    rc = spawn_rerun(abs_home, root, from_arg, &c, &what);
    if (rc != 0)
        return sm_http_error(resp, 500, "cannot rerun '%s': cannot %s: %s; run it by hand: %s",
                             root, what, strerror(-rc), hand);
    sm_http_log(req, "rerun of %s%s%s: pid %d, log %s", root, from_arg ? " from " : "",
                from_arg ? from_arg : "", (int)c.pid, c.log_path);

    struct find f = {.store = store, .pid = c.pid};
    int status = 0;
    enum wait_result w = wait_for_pipeline(&f, &c, seq, &status, &err);
    if (w != EXITED && w != FOUND)
        reap_later(c.pid);
    else if (w == FOUND && status != -1)
        reap_later(c.pid); /* still running: someone must wait for it */
    if (c.pidfd >= 0)
        close(c.pidfd);

    char tail[LOG_TAIL_BYTES + 64];
    switch (w) {
    case FOUND: {
        struct sm_jw *jw = sm_http_json(resp, 200);
        sm_jw_begin_object(jw);
        sm_jw_keyz(jw, "content");
        sm_jw_begin_object(jw);
        sm_jw_keyz(jw, "root_id");
        sm_jw_stringz(jw, f.root);
        sm_jw_end_object(jw);
        sm_jw_end_object(jw);
        return 0;
    }
    case EXITED: {
        log_tail(c.log_path, tail, sizeof(tail));
        char how[64];
        if (WIFEXITED(status))
            snprintf(how, sizeof(how), "exited with status %d", WEXITSTATUS(status));
        else
            snprintf(how, sizeof(how), "was killed by signal %d", WTERMSIG(status));
        return sm_http_error(resp, 500,
                             "cannot rerun '%s': '%s' %s before it recorded a pipeline run; "
                             "its log (%s) ends with:\n%s",
                             root, hand, how, c.log_path, tail[0] ? tail : "(nothing)");
    }
    case TIMED_OUT:
        log_tail(c.log_path, tail, sizeof(tail));
        return sm_http_error(resp, 504,
                             "the rerun of '%s' started (pid %d) but recorded no pipeline run "
                             "within %lld ms; it goes on: follow its log %s, which so far ends "
                             "with:\n%s",
                             root, (int)c.pid, (long long)timeout_ms(), c.log_path,
                             tail[0] ? tail : "(nothing)");
    case STORE_FAILED:
        break;
    }
    return sm_http_store_error(resp, &err);
}
