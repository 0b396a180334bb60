/*
 * common.c: what the sub-commands share (declared in cli.h): messages and
 * exit statuses, option matching, opening the store, resolving run ids
 * typed by people (prefixes included), copies of borrowed store records,
 * display formats, the driver-liveness check and the inotify waiter.
 *
 * Start with sm__cli_resolve_run(): it is the one place that decides what
 * a run id on the command line may look like.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <time.h>
#include <unistd.h>

#include "sematic/alloc.h"
#include "sematic/graph.h"
#include "sematic/json.h"

#include "cli.h"

#include "util/banned.h"

/* The first short wait after a database write event (see struct sm_cli_watch). */
#define SETTLE_FIRST_MS 5

/* The shortest run id prefix accepted: 6 hex digits make 16.7 million values. */
#define MIN_PREFIX_LEN 6

/* ------------------------------------------------------------ messages */

static void vsay(const char *fmt, va_list ap)
{
    fputs("sematic: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

int sm__cli_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsay(fmt, ap);
    va_end(ap);
    return SM_CLI_FAIL;
}

int sm__cli_usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsay(fmt, ap);
    va_end(ap);
    return SM_CLI_USAGE;
}

int sm__cli_unknown_option(const char *cmd, const char *arg)
{
    if (arg[0] == '-' && arg[1] != '\0')
        return sm__cli_usage_error("unknown option '%s' for '%s'; run 'sematic %s --help' for its "
                                   "options",
                                   arg, cmd, cmd);
    return sm__cli_usage_error("unexpected argument '%s' for '%s'; run 'sematic %s --help' for "
                               "its usage",
                               arg, cmd, cmd);
}

int sm__cli_missing_arg(const char *cmd, const char *what)
{
    return sm__cli_usage_error("'%s' needs %s; run 'sematic %s --help' for its usage", cmd, what,
                               cmd);
}

int sm__cli_store_fail(const struct sm_err *err)
{
    if (err->msg[0] != '\0')
        return sm__cli_fail("%s", err->msg);
    return sm__cli_fail("%s", sm_strerror(err->code));
}

/* ------------------------------------------------------------- options */

bool sm__cli_is_help(const char *arg)
{
    return strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0;
}

enum sm_cli_opt sm__cli_opt_value(const char *cmd, int argc, char **argv, int *i, const char *name,
                                  const char **value)
{
    const char *arg = argv[*i];
    size_t n = strlen(name);
    if (strncmp(arg, name, n) != 0)
        return SM_CLI_OPT_NO;
    if (arg[n] == '=') {
        *value = arg + n + 1;
        return SM_CLI_OPT_YES;
    }
    if (arg[n] != '\0')
        return SM_CLI_OPT_NO;
    if (*i + 1 >= argc) {
        sm__cli_usage_error("option '%s' of '%s' needs a value; run 'sematic %s --help' for its "
                            "usage",
                            name, cmd, cmd);
        return SM_CLI_OPT_BAD;
    }
    *i += 1;
    *value = argv[*i];
    return SM_CLI_OPT_YES;
}

/* ---------------------------------------------------------------- store */

int sm__cli_home(char home[SM_CLI_PATH_MAX])
{
    struct sm_err err = SM_ERR_INIT;
    if (sm_store_default_home(home, SM_CLI_PATH_MAX, &err) != 0)
        return sm__cli_store_fail(&err);
    return SM_CLI_OK;
}

int sm__cli_open(struct sm_cli_store *cs)
{
    cs->store = NULL;
    if (sm__cli_home(cs->home) != SM_CLI_OK)
        return SM_CLI_FAIL;
    struct sm_err err = SM_ERR_INIT;
    cs->store = sm_store_open_default(cs->home, SM_STORE_SYNC_NORMAL, &err);
    if (cs->store == NULL)
        return sm__cli_store_fail(&err);
    return SM_CLI_OK;
}

void sm__cli_close(struct sm_cli_store *cs)
{
    sm_store_close(cs->store);
    cs->store = NULL;
}

struct prefix_match {
    const char *prefix;
    size_t len;
    int n_found;
    char first[SM_ID_HEX_LEN + 1];
};

static int match_prefix(void *ctx, const struct sm_run_rec *run)
{
    struct prefix_match *m = ctx;
    if (strncmp(run->id, m->prefix, m->len) != 0)
        return 0; /* the search also matches names and tags */
    if (m->n_found++ == 0)
        memcpy(m->first, run->id, sizeof(m->first));
    /* Two are enough to know the prefix is ambiguous; a positive value stops the listing. */
    return m->n_found >= 2 ? 1 : 0;
}

static int no_run(const struct sm_cli_store *cs, const char *arg)
{
    return sm__cli_fail("no run '%s' in %s; 'sematic runs --all' lists them", arg, cs->home);
}

int sm__cli_resolve_run(struct sm_cli_store *cs, const char *arg, char id[SM_ID_HEX_LEN + 1])
{
    size_t len = strlen(arg);
    char lower[SM_ID_HEX_LEN + 1];
    if (len == 0 || len > SM_ID_HEX_LEN)
        return no_run(cs, arg);
    for (size_t i = 0; i < len; i++) {
        if (!isxdigit((unsigned char)arg[i]))
            return no_run(cs, arg);
        lower[i] = (char)tolower((unsigned char)arg[i]);
    }
    lower[len] = '\0';

    struct sm_err err = SM_ERR_INIT;
    if (len == SM_ID_HEX_LEN) {
        struct sm_run_rec run;
        int rc = sm_store_get_run(cs->store, lower, &run, &err);
        if (rc == SM_ENOTFOUND)
            return no_run(cs, arg);
        if (rc != 0)
            return sm__cli_store_fail(&err);
        memcpy(id, lower, sizeof(lower));
        return SM_CLI_OK;
    }
    if (len < MIN_PREFIX_LEN)
        return sm__cli_fail("run id '%s' is too short; give at least %d of its hex digits "
                            "('sematic runs --all' lists them)",
                            arg, MIN_PREFIX_LEN);

    struct prefix_match m = {.prefix = lower, .len = len};
    struct sm_run_query q = {.search = lower};
    int rc = sm_store_list_runs(cs->store, &q, match_prefix, &m, &err);
    if (rc < 0)
        return sm__cli_store_fail(&err);
    if (m.n_found == 0)
        return no_run(cs, arg);
    if (m.n_found > 1)
        return sm__cli_fail("run id prefix '%s' is ambiguous in %s: more than one run starts with "
                            "it; give more digits ('sematic runs --all' lists them)",
                            arg, cs->home);
    memcpy(id, m.first, sizeof(m.first));
    return SM_CLI_OK;
}

/* ------------------------------------------------ owned record copies */

char *sm__cli_strdup(const char *s)
{
    if (s == NULL)
        return NULL;
    size_t n = strlen(s) + 1;
    char *copy = sm_xmalloc(n);
    memcpy(copy, s, n);
    return copy;
}

/* The string fields of a record are const for readers; their owned copies are freed here. */
static void free_const(const char *s)
{
    sm_free((void *)(uintptr_t)s);
}

void sm__cli_run_copy(struct sm_run_rec *dst, const struct sm_run_rec *src)
{
    *dst = *src;
    dst->name = sm__cli_strdup(src->name);
    dst->function_path = sm__cli_strdup(src->function_path);
    dst->description = sm__cli_strdup(src->description);
    dst->source_id = sm__cli_strdup(src->source_id);
    dst->tags_json = sm__cli_strdup(src->tags_json);
    dst->resource_requirements_json = sm__cli_strdup(src->resource_requirements_json);
    dst->retry_settings_json = sm__cli_strdup(src->retry_settings_json);
    dst->cache_key = sm__cli_strdup(src->cache_key);
    dst->exception_json = sm__cli_strdup(src->exception_json);
    dst->external_exception_json = sm__cli_strdup(src->external_exception_json);
}

void sm__cli_run_release(struct sm_run_rec *r)
{
    free_const(r->name);
    free_const(r->function_path);
    free_const(r->description);
    free_const(r->source_id);
    free_const(r->tags_json);
    free_const(r->resource_requirements_json);
    free_const(r->retry_settings_json);
    free_const(r->cache_key);
    free_const(r->exception_json);
    free_const(r->external_exception_json);
    memset(r, 0, sizeof(*r));
}

void sm__cli_pipeline_copy(struct sm_pipeline_rec *dst, const struct sm_pipeline_rec *src)
{
    *dst = *src;
    dst->kind = sm__cli_strdup(src->kind);
    dst->cache_namespace = sm__cli_strdup(src->cache_namespace);
    dst->user = sm__cli_strdup(src->user);
    dst->git_json = sm__cli_strdup(src->git_json);
    dst->settings_json = sm__cli_strdup(src->settings_json);
    dst->client_version = sm__cli_strdup(src->client_version);
    dst->run_command = sm__cli_strdup(src->run_command);
    dst->python = sm__cli_strdup(src->python);
    dst->cwd = sm__cli_strdup(src->cwd);
    dst->sys_path_json = sm__cli_strdup(src->sys_path_json);
    dst->driver_host = sm__cli_strdup(src->driver_host);
}

void sm__cli_pipeline_release(struct sm_pipeline_rec *p)
{
    free_const(p->kind);
    free_const(p->cache_namespace);
    free_const(p->user);
    free_const(p->git_json);
    free_const(p->settings_json);
    free_const(p->client_version);
    free_const(p->run_command);
    free_const(p->python);
    free_const(p->cwd);
    free_const(p->sys_path_json);
    free_const(p->driver_host);
    memset(p, 0, sizeof(*p));
}

bool sm__cli_pipeline_is_terminal(int status)
{
    return status == SM_PIPELINE_COMPLETE || status == SM_PIPELINE_FAILED ||
           status == SM_PIPELINE_CANCELED;
}

/* ------------------------------------------------------------- display */

void sm__cli_format_time(int64_t us, char out[32])
{
    if (us <= 0) {
        snprintf(out, 32, "-");
        return;
    }
    time_t t = (time_t)(us / 1000000);
    struct tm tm;
    if (localtime_r(&t, &tm) == NULL || strftime(out, 32, "%Y-%m-%d %H:%M:%S", &tm) == 0)
        snprintf(out, 32, "%lld", (long long)t);
}

void sm__cli_format_duration(int64_t us, char out[32])
{
    if (us < 0)
        us = 0;
    int64_t s = us / 1000000;
    if (us < 10000)
        snprintf(out, 32, "%.1fms", (double)us / 1e3);
    else if (us < 1000000)
        snprintf(out, 32, "%lldms", (long long)(us / 1000));
    else if (us < 10 * 1000000)
        snprintf(out, 32, "%.2fs", (double)us / 1e6);
    else if (us < 60 * 1000000)
        snprintf(out, 32, "%.1fs", (double)us / 1e6);
    else if (s < 3600)
        snprintf(out, 32, "%lldm%02llds", (long long)(s / 60), (long long)(s % 60));
    else if (s < 86400)
        snprintf(out, 32, "%lldh%02lldm", (long long)(s / 3600), (long long)(s % 3600 / 60));
    else
        snprintf(out, 32, "%lldd%02lldh", (long long)(s / 86400), (long long)(s % 86400 / 3600));
}

int64_t sm__cli_run_end(const struct sm_run_rec *r)
{
    /* A nested run's body returns (ended_at) long before its children finish: the run ends
     * when it resolves or fails. */
    if (r->resolved_at > 0)
        return r->resolved_at;
    if (r->failed_at > 0)
        return r->failed_at;
    if (r->ended_at > 0)
        return r->ended_at;
    /* A run cancelled before it ran records no end; its last change is when it ended. */
    if (sm_state_is_terminal((enum sm_state)r->state))
        return r->updated_at;
    return 0;
}

void sm__cli_join_tags(const char *tags_json, struct sm_buf *out)
{
    if (tags_json == NULL)
        return;
    struct sm_json_doc doc = {0};
    struct sm_err err = SM_ERR_INIT;
    if (sm_json_parse(&doc, tags_json, strlen(tags_json), &err) != 0 ||
        doc.root->kind != SM_JSON_ARRAY) {
        sm_buf_adds(out, tags_json);
        sm_json_doc_release(&doc);
        return;
    }
    for (size_t i = 0; i < doc.root->n_items; i++) {
        const struct sm_json *tag = &doc.root->items[i];
        if (i > 0)
            sm_buf_adds(out, ", ");
        if (tag->kind == SM_JSON_STRING)
            sm_buf_add(out, tag->str, tag->len);
        else
            sm_buf_adds(out, "?");
    }
    sm_json_doc_release(&doc);
}

void sm__cli_put_truncated(FILE *f, const char *s, size_t max_bytes)
{
    size_t len = strlen(s);
    if (len <= max_bytes) {
        fwrite(s, 1, len, f);
        return;
    }
    size_t cut = max_bytes;
    /* Back off continuation bytes (10xxxxxx) so a multi-byte character is not split. */
    while (cut > 0 && ((unsigned char)s[cut] & 0xC0) == 0x80)
        cut--;
    fwrite(s, 1, cut, f);
    fputs("...", f);
}

/* ------------------------------------------------------------- drivers */

/*
 * Read state (field 3) and starttime (field 22, clock ticks since boot) of
 * process pid from /proc/PID/stat. The command name (field 2) is in
 * parentheses and may itself hold spaces and parentheses, so fields are
 * counted from the last ')'. Returns false when the process does not exist.
 */
static bool read_proc_stat(int64_t pid, char *state, unsigned long long *start)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%lld/stat", (long long)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    char buf[1024];
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return false;
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    if (p == NULL || p[1] != ' ')
        return false;
    p += 2;
    *state = *p;
    /* p is at field 3; skip 19 more fields to reach field 22. */
    for (int field = 3; field < 22; field++) {
        p = strchr(p, ' ');
        if (p == NULL)
            return false;
        p++;
    }
    char *end;
    errno = 0;
    *start = strtoull(p, &end, 10);
    return errno == 0 && end != p;
}

enum sm_cli_driver sm__cli_driver_state(const struct sm_pipeline_rec *p)
{
    if (p->driver_pid <= 0)
        return SM_CLI_DRIVER_NONE;
    char host[256];
    if (gethostname(host, sizeof(host)) != 0)
        host[0] = '\0';
    host[sizeof(host) - 1] = '\0';
    if (p->driver_host != NULL && p->driver_host[0] != '\0' && strcmp(p->driver_host, host) != 0)
        return SM_CLI_DRIVER_ELSEWHERE;
    char state;
    unsigned long long start;
    if (!read_proc_stat(p->driver_pid, &state, &start))
        return SM_CLI_DRIVER_GONE;
    /* A zombie has exited; a different start time means the pid now names another process. */
    if (state == 'Z' || state == 'X' || (long long)start != (long long)p->driver_start)
        return SM_CLI_DRIVER_GONE;
    return SM_CLI_DRIVER_ALIVE;
}

/* ---------------------------------------------------------- waiting */

int64_t sm__cli_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void sm__cli_watch_open(struct sm_cli_watch *w, const char *home)
{
    w->settle_ms = 0;
    w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (w->fd < 0)
        return;
    if (inotify_add_watch(w->fd, home, IN_MODIFY | IN_CREATE | IN_MOVED_TO | IN_CLOSE_WRITE) < 0) {
        close(w->fd);
        w->fd = -1;
    }
}

static bool is_database_file(const char *name)
{
    return strcmp(name, "sematic.db") == 0 || strcmp(name, "sematic.db-wal") == 0;
}

/* Read the pending events; true when one concerns the database. */
static bool drain_events(int fd)
{
    bool relevant = false;
    for (;;) {
        _Alignas(struct inotify_event) char buf[4096];
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n <= 0)
            return relevant; /* EAGAIN: drained */
        for (char *p = buf; p < buf + n;) {
            const struct inotify_event *ev = (const struct inotify_event *)(void *)p;
            if (ev->len > 0 && is_database_file(ev->name))
                relevant = true;
            if (ev->mask & IN_Q_OVERFLOW)
                relevant = true;
            p += sizeof(*ev) + ev->len;
        }
    }
}

void sm__cli_watch_wait(struct sm_cli_watch *w, int timeout_ms)
{
    if (w->fd < 0) {
        poll(NULL, 0, timeout_ms);
        return;
    }
    /* Shortly after an event, look again soon: its commit may not have been visible yet. */
    if (w->settle_ms > 0 && w->settle_ms < timeout_ms) {
        timeout_ms = w->settle_ms;
        w->settle_ms *= 2; /* 5, 10, 20, ... ms, until the caller's own timeout */
    } else {
        w->settle_ms = 0;
    }
    int64_t deadline = sm__cli_now_ms() + timeout_ms;
    for (;;) {
        int64_t left = deadline - sm__cli_now_ms();
        if (left <= 0)
            return;
        struct pollfd pfd = {.fd = w->fd, .events = POLLIN};
        int rc = poll(&pfd, 1, (int)left);
        if (rc <= 0)
            return; /* timeout, or a signal: the caller re-reads either way */
        if (drain_events(w->fd)) {
            w->settle_ms = SETTLE_FIRST_MS;
            return;
        }
    }
}

void sm__cli_watch_close(struct sm_cli_watch *w)
{
    if (w->fd >= 0)
        close(w->fd);
    w->fd = -1;
}
