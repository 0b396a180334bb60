/*
 * runs.c: `sematic runs`, the list of runs in the store, newest first.
 *
 * By default it lists pipeline runs (root runs); --all lists every run.
 * Filters go to the store's query (sm_run_query) except --pipeline, which
 * matches a run's name or its function path and so is checked here while
 * the store streams rows; the limit is then counted here too. The table is
 * printed once all rows are in, since column widths depend on them; --json
 * streams a JSON array of sm_run_rec_to_json objects instead.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "sematic/alloc.h"
#include "sematic/graph.h"

#include "cli.h"

#include "util/banned.h"

#define DEFAULT_LIMIT 20
#define NAME_MAX_WIDTH 40

static const char usage_text[] =
    "usage: sematic runs [--all] [--pipeline NAME_OR_PATH] [--state STATE[,STATE...]]\n"
    "                    [--tag TAG] [--search TEXT] [--limit N] [--json]\n"
    "\n"
    "List runs in the store, newest first: pipeline runs (root runs) unless --all.\n"
    "\n"
    "options:\n"
    "  --all                    every run, nested ones included\n"
    "  --pipeline NAME_OR_PATH  runs whose name or function path (module.qualname) is this\n"
    "  --state STATE[,STATE]    runs in one of these states: CREATED, SCHEDULED, RAN,\n"
    "                           RESOLVED, FAILED, NESTED_FAILED, RETRYING, CANCELED\n"
    "  --tag TAG                runs tagged TAG\n"
    "  --search TEXT            runs whose id, name, function path or tags contain TEXT\n"
    "  --limit N                at most N runs (default 20; 0 for all)\n"
    "  --json                   a JSON array of runs instead of a table\n"
    "  -h, --help               show this help\n";

/* Parse "RESOLVED,FAILED" into a state mask. Returns SM_CLI_OK or a usage error. */
static int parse_states(const char *text, unsigned *mask)
{
    const char *p = text;
    *mask = 0;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        int found = -1;
        for (int s = 0; s < SM_STATE_COUNT; s++) {
            const char *name = sm_state_name((enum sm_state)s);
            if (strlen(name) == len && strncasecmp(name, p, len) == 0)
                found = s;
        }
        if (found < 0)
            return sm__cli_usage_error(
                "unknown state '%.*s' for --state; use one or more of CREATED, SCHEDULED, RAN, "
                "RESOLVED, FAILED, NESTED_FAILED, RETRYING, CANCELED, separated by commas",
                (int)len, p);
        *mask |= 1u << found;
        if (comma == NULL)
            return SM_CLI_OK;
        p = comma + 1;
    }
}

static int parse_limit(const char *text, int64_t *limit)
{
    char *end;
    long long v = strtoll(text, &end, 10);
    if (text[0] < '0' || text[0] > '9' || *end != '\0' || v < 0)
        return sm__cli_usage_error("--limit wants a whole number of runs (0 for all), got '%s'",
                                   text);
    *limit = v;
    return SM_CLI_OK;
}

struct listing {
    const char *pipeline; /* --pipeline, or NULL */
    int64_t limit;        /* counted here when pipeline is set, else by the store */
    int64_t n_seen;
    /* --json: the writer streams into out, flushed to stdout after each run. */
    struct sm_jw *w;
    struct sm_buf *out;
    /* table: owned copies */
    struct sm_run_rec *rows;
    size_t n_rows, cap_rows;
};

static int on_run(void *ctx, const struct sm_run_rec *run)
{
    struct listing *l = ctx;
    if (l->pipeline != NULL && strcmp(run->name, l->pipeline) != 0 &&
        strcmp(run->function_path, l->pipeline) != 0)
        return 0;
    if (l->w != NULL) {
        sm_run_rec_to_json(run, l->w);
        fwrite(l->out->data, 1, l->out->len, stdout);
        sm_buf_reset(l->out);
    } else {
        if (l->n_rows == l->cap_rows) {
            l->cap_rows = l->cap_rows ? 2 * l->cap_rows : 32;
            l->rows = sm_xrealloc(l->rows, l->cap_rows * sizeof(*l->rows));
        }
        sm__cli_run_copy(&l->rows[l->n_rows++], run);
    }
    l->n_seen++;
    /* A positive return stops the listing (errors are negative). */
    return l->pipeline != NULL && l->limit > 0 && l->n_seen >= l->limit ? 1 : 0;
}

/* Characters, not bytes, of UTF-8 text (for column widths). */
static size_t text_width(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

/* Print s in a column of `width` characters, cut with "..." when longer. */
static void put_column(const char *s, size_t width)
{
    size_t w = text_width(s);
    if (w <= width) {
        fputs(s, stdout);
        for (; w < width; w++)
            fputc(' ', stdout);
        return;
    }
    /* Keep width - 3 characters, then "...". */
    size_t keep = width - 3, chars = 0;
    const char *p = s;
    for (; *p; p++) {
        if (((unsigned char)*p & 0xC0) != 0x80 && chars++ == keep)
            break;
    }
    fwrite(s, 1, (size_t)(p - s), stdout);
    fputs("...", stdout);
}

static void print_table(const struct listing *l)
{
    size_t name_w = 4;
    for (size_t i = 0; i < l->n_rows; i++) {
        size_t w = text_width(l->rows[i].name);
        if (w > name_w)
            name_w = w;
    }
    if (name_w > NAME_MAX_WIDTH)
        name_w = NAME_MAX_WIDTH;

    printf("%-*s  ", SM_ID_HEX_LEN, "ID");
    put_column("NAME", name_w);
    printf("  %-13s  %-19s  %-9s  TAGS\n", "STATE", "CREATED", "DURATION");

    int64_t now = sm_now_us();
    struct sm_buf tags = SM_BUF_INIT(1 << 20);
    for (size_t i = 0; i < l->n_rows; i++) {
        const struct sm_run_rec *r = &l->rows[i];
        char created[32], duration[32];
        sm__cli_format_time(r->created_at, created);
        int64_t end = sm__cli_run_end(r);
        if (end == 0 && !sm_state_is_terminal((enum sm_state)r->state))
            end = now; /* still going: time so far */
        if (end > 0 && r->created_at > 0)
            sm__cli_format_duration(end - r->created_at, duration);
        else
            snprintf(duration, sizeof(duration), "-");
        sm_buf_reset(&tags);
        sm__cli_join_tags(r->tags_json, &tags);

        printf("%s  ", r->id);
        put_column(r->name, name_w);
        printf("  %-13s  %-19s  ", sm_state_name((enum sm_state)r->state), created);
        if (tags.len > 0)
            printf("%-9s  %s\n", duration, tags.data);
        else
            printf("%s\n", duration); /* no trailing blanks */
    }
    sm_buf_release(&tags);
}

int sm__cli_runs(int argc, char **argv)
{
    struct sm_run_query q = {.roots_only = true, .limit = DEFAULT_LIMIT};
    const char *pipeline = NULL;
    bool json = false, filtered = false;

    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *value;
        enum sm_cli_opt o;
        if (sm__cli_is_help(arg)) {
            fputs(usage_text, stdout);
            return SM_CLI_OK;
        } else if (strcmp(arg, "--all") == 0) {
            q.roots_only = false;
        } else if (strcmp(arg, "--json") == 0) {
            json = true;
        } else if ((o = sm__cli_opt_value("runs", argc, argv, &i, "--pipeline", &value))) {
            if (o == SM_CLI_OPT_BAD)
                return SM_CLI_USAGE;
            pipeline = value;
            filtered = true;
        } else if ((o = sm__cli_opt_value("runs", argc, argv, &i, "--state", &value))) {
            if (o == SM_CLI_OPT_BAD || parse_states(value, &q.state_mask) != SM_CLI_OK)
                return SM_CLI_USAGE;
            filtered = true;
        } else if ((o = sm__cli_opt_value("runs", argc, argv, &i, "--tag", &value))) {
            if (o == SM_CLI_OPT_BAD)
                return SM_CLI_USAGE;
            q.tag = value;
            filtered = true;
        } else if ((o = sm__cli_opt_value("runs", argc, argv, &i, "--search", &value))) {
            if (o == SM_CLI_OPT_BAD)
                return SM_CLI_USAGE;
            q.search = value;
            filtered = true;
        } else if ((o = sm__cli_opt_value("runs", argc, argv, &i, "--limit", &value))) {
            if (o == SM_CLI_OPT_BAD || parse_limit(value, &q.limit) != SM_CLI_OK)
                return SM_CLI_USAGE;
        } else {
            return sm__cli_unknown_option("runs", arg);
        }
    }

    struct sm_cli_store cs;
    if (sm__cli_open(&cs) != SM_CLI_OK)
        return SM_CLI_FAIL;

    struct listing l = {.pipeline = pipeline, .limit = q.limit};
    /* --pipeline is matched here, so the store must not stop at the limit first. */
    if (pipeline != NULL)
        q.limit = 0;
    struct sm_buf out = SM_BUF_INIT(64u << 20);
    struct sm_jw w;
    if (json) {
        sm_jw_init(&w, &out);
        l.w = &w;
        l.out = &out;
        sm_jw_begin_array(&w);
    }

    struct sm_err err = SM_ERR_INIT;
    int status = SM_CLI_OK;
    if (sm_store_list_runs(cs.store, &q, on_run, &l, &err) < 0) {
        status = sm__cli_store_fail(&err);
        goto done;
    }
    if (json) {
        sm_jw_end_array(&w);
        if (sm_jw_finish(&w, &err) != 0) {
            status = sm__cli_store_fail(&err);
            goto done;
        }
        fwrite(out.data, 1, out.len, stdout);
        fputc('\n', stdout);
    } else if (l.n_rows == 0) {
        if (filtered)
            printf("no %s match these filters in %s\n", q.roots_only ? "pipeline runs" : "runs",
                   cs.home);
        else
            printf("no runs yet in %s; run a pipeline with LocalRunner\n", cs.home);
    } else {
        print_table(&l);
    }

done:
    for (size_t i = 0; i < l.n_rows; i++)
        sm__cli_run_release(&l.rows[i]);
    sm_free(l.rows);
    sm_buf_release(&out);
    sm__cli_close(&cs);
    return status;
}
