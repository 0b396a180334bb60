/*
 * show.c: `sematic show RUN_ID`, everything the store knows about one run:
 * what it is, its timings, its pipeline run (for a root), its inputs and
 * output (through the edges that end or start at it), its exception and
 * its children.
 *
 * Records read from the store are borrowed until the next store call, so
 * the run, its pipeline run and its edges are copied first; artifacts are
 * then read one by one and printed (or written as JSON) before the next.
 * Inputs are listed by parameter name (the store keeps no signature order).
 * --json writes one object: {"run", "pipeline_run", "inputs": [{"name",
 * "artifact_id", "artifact"}], "output", "children"}.
 */
#include <stdlib.h>
#include <string.h>

#include "sematic/alloc.h"
#include "sematic/graph.h"
#include "sematic/json.h"

#include "cli.h"

#include "util/banned.h"

/* Summaries longer than this are cut on display (--json has them whole). */
#define SUMMARY_MAX_BYTES 200

static const char usage_text[] = "usage: sematic show RUN_ID [--json]\n"
                                 "\n"
                                 "Show one run: what it is, its timings, tags, pipeline run,\n"
                                 "inputs, output, exception and children. RUN_ID may be a unique\n"
                                 "prefix of at least 6 hex digits.\n"
                                 "\n"
                                 "options:\n"
                                 "  --json      one JSON object instead of text\n"
                                 "  -h, --help  show this help\n";

/* An edge that ends at the run (an input) or starts at it (its output), copied. */
struct io_edge {
    char *name; /* parameter name; NULL for the output */
    char artifact_id[SM_SHA256_HEX_LEN + 1];
};

struct edges {
    const char *run_id;
    struct io_edge *inputs;
    size_t n_inputs, cap_inputs;
    char output_id[SM_SHA256_HEX_LEN + 1]; /* "" when none */
    bool has_output_edge;
};

/* Inputs by parameter name: the store keeps no parameter order, and edges made together tie. */
static int compare_inputs(const void *a, const void *b)
{
    return strcmp(((const struct io_edge *)a)->name, ((const struct io_edge *)b)->name);
}

static int on_edge(void *ctx, const struct sm_edge_rec *e)
{
    struct edges *ed = ctx;
    if (strcmp(e->destination_run_id, ed->run_id) == 0 && e->destination_name != NULL) {
        if (ed->n_inputs == ed->cap_inputs) {
            ed->cap_inputs = ed->cap_inputs ? 2 * ed->cap_inputs : 8;
            ed->inputs = sm_xrealloc(ed->inputs, ed->cap_inputs * sizeof(*ed->inputs));
        }
        struct io_edge *in = &ed->inputs[ed->n_inputs++];
        in->name = sm__cli_strdup(e->destination_name);
        memcpy(in->artifact_id, e->artifact_id, sizeof(in->artifact_id));
    } else if (strcmp(e->source_run_id, ed->run_id) == 0) {
        /* A run has one output edge per consumer, all with the same artifact. */
        ed->has_output_edge = true;
        if (ed->output_id[0] == '\0')
            memcpy(ed->output_id, e->artifact_id, sizeof(ed->output_id));
    }
    return 0;
}

struct children {
    struct sm_jw *w; /* --json: written as they come */
    struct sm_run_rec *rows;
    size_t n, cap;
};

static int on_child(void *ctx, const struct sm_run_rec *run)
{
    struct children *c = ctx;
    if (c->w != NULL) {
        sm_run_rec_to_json(run, c->w);
        return 0;
    }
    if (c->n == c->cap) {
        c->cap = c->cap ? 2 * c->cap : 16;
        c->rows = sm_xrealloc(c->rows, c->cap * sizeof(*c->rows));
    }
    sm__cli_run_copy(&c->rows[c->n++], run);
    return 0;
}

static void field(const char *label, const char *value)
{
    printf("  %-14s %s\n", label, value);
}

static void time_field(const char *label, int64_t us)
{
    if (us <= 0)
        return;
    char t[32];
    sm__cli_format_time(us, t);
    field(label, t);
}

/* The first line of text (a docstring), without leading blank lines. */
static void first_line_field(const char *label, const char *text)
{
    if (text == NULL)
        return;
    while (*text == '\n' || *text == ' ' || *text == '\t' || *text == '\r')
        text++;
    if (*text == '\0')
        return;
    size_t len = strcspn(text, "\n");
    printf("  %-14s %.*s\n", label, (int)len, text);
}

static void print_timings(const struct sm_run_rec *r)
{
    time_field("created", r->created_at);
    time_field("started", r->started_at);
    time_field("ended", r->ended_at);
    time_field("resolved", r->resolved_at);
    time_field("failed", r->failed_at);

    char total[32], running[32], line[96];
    int64_t end = sm__cli_run_end(r);
    if (end > 0 && r->created_at > 0) {
        sm__cli_format_duration(end - r->created_at, total);
        if (r->started_at > 0 && end >= r->started_at) {
            sm__cli_format_duration(end - r->started_at, running);
            snprintf(line, sizeof(line), "%s (%s since it started)", total, running);
        } else {
            snprintf(line, sizeof(line), "%s", total);
        }
        field("duration", line);
    } else if (!sm_state_is_terminal((enum sm_state)r->state) && r->created_at > 0) {
        sm__cli_format_duration(sm_now_us() - r->created_at, total);
        snprintf(line, sizeof(line), "%s so far", total);
        field("duration", line);
    }
}

static void print_pipeline(const struct sm_pipeline_rec *p)
{
    printf("\npipeline run\n");
    field("status", sm_pipeline_status_name((enum sm_pipeline_status)p->status));
    if (p->kind != NULL)
        field("kind", p->kind);
    time_field("created", p->created_at);
    time_field("ended", p->ended_at);
    if (p->ended_at > 0 && p->created_at > 0) {
        char d[32];
        sm__cli_format_duration(p->ended_at - p->created_at, d);
        field("duration", d);
    }
    if (p->driver_pid > 0) {
        const char *how = "";
        switch (sm__cli_driver_state(p)) {
        case SM_CLI_DRIVER_ALIVE:
            how = ", running";
            break;
        case SM_CLI_DRIVER_GONE:
            how = ", exited";
            break;
        case SM_CLI_DRIVER_ELSEWHERE:
        case SM_CLI_DRIVER_NONE:
            break;
        }
        printf("  %-14s pid %lld on %s%s\n", "driver", (long long)p->driver_pid,
               p->driver_host ? p->driver_host : "?", how);
    }
    if (p->run_command != NULL)
        field("command", p->run_command);
    if (p->python != NULL)
        field("python", p->python);
    if (p->cwd != NULL)
        field("directory", p->cwd);
    if (p->user != NULL)
        field("user", p->user);
    if (p->git_json != NULL)
        field("git", p->git_json);
    if (p->cache_namespace != NULL)
        field("cache namespace", p->cache_namespace);
    if (p->client_version != NULL)
        field("sematic", p->client_version);
}

/* Print an exception's {"repr","name","module"} JSON: its name, then the repr as is. */
static void print_exception(const char *title, const char *json)
{
    if (json == NULL)
        return;
    printf("\n%s\n", title);
    struct sm_json_doc doc = {0};
    struct sm_err err = SM_ERR_INIT;
    if (sm_json_parse(&doc, json, strlen(json), &err) != 0 || doc.root->kind != SM_JSON_OBJECT) {
        printf("%s\n", json);
        sm_json_doc_release(&doc);
        return;
    }
    const struct sm_json *name = sm_json_get(doc.root, "name");
    const struct sm_json *module = sm_json_get(doc.root, "module");
    const struct sm_json *repr = sm_json_get(doc.root, "repr");
    if (name != NULL && name->kind == SM_JSON_STRING) {
        if (module != NULL && module->kind == SM_JSON_STRING && module->len > 0 &&
            strcmp(module->str, "builtins") != 0)
            printf("  %s.%s\n", module->str, name->str);
        else
            printf("  %s\n", name->str);
    }
    if (repr != NULL && repr->kind == SM_JSON_STRING) {
        fwrite(repr->str, 1, repr->len, stdout);
        if (repr->len == 0 || repr->str[repr->len - 1] != '\n')
            fputc('\n', stdout);
    }
    sm_json_doc_release(&doc);
}

/* Append a readable form of summary node v: dataclasses as Name(field=value, ...). */
static void render_summary(struct sm_buf *out, const struct sm_json *v)
{
    switch (v->kind) {
    case SM_JSON_OBJECT: {
        const struct sm_json *root_type = sm_json_get(v, "root_type");
        const struct sm_json *type = root_type ? sm_json_get(root_type, "type") : NULL;
        const struct sm_json *fields = sm_json_get(v, "values");
        if (type != NULL && type->kind == SM_JSON_ARRAY && type->n_items >= 2 &&
            type->items[1].kind == SM_JSON_STRING && fields != NULL &&
            fields->kind == SM_JSON_OBJECT) {
            sm_buf_adds(out, type->items[1].str);
            sm_buf_addc(out, '(');
            for (size_t i = 0; i < fields->n_items; i++) {
                sm_buf_addf(out, "%s%s=", i ? ", " : "", fields->items[i].key);
                render_summary(out, &fields->items[i]);
            }
            sm_buf_addc(out, ')');
            return;
        }
        const struct sm_json *length = sm_json_get(v, "length");
        const struct sm_json *items = sm_json_get(v, "summary");
        if (v->n_items == 2 && length != NULL && length->kind == SM_JSON_NUMBER && items != NULL &&
            items->kind == SM_JSON_ARRAY) {
            /* A list's summary: its first elements, and how many there are. */
            render_summary(out, items);
            sm_buf_addf(out, " (%s item%s)", length->str, strcmp(length->str, "1") ? "s" : "");
            return;
        }
        sm_buf_addc(out, '{');
        for (size_t i = 0; i < v->n_items; i++) {
            sm_buf_addf(out, "%s\"%s\": ", i ? ", " : "", v->items[i].key);
            render_summary(out, &v->items[i]);
        }
        sm_buf_addc(out, '}');
        return;
    }
    case SM_JSON_ARRAY:
        sm_buf_addc(out, '[');
        for (size_t i = 0; i < v->n_items; i++) {
            if (i)
                sm_buf_adds(out, ", ");
            render_summary(out, &v->items[i]);
        }
        sm_buf_addc(out, ']');
        return;
    case SM_JSON_STRING: {
        struct sm_jw w;
        sm_jw_init(&w, out);
        sm_jw_string(&w, v->str, v->len);
        return;
    }
    case SM_JSON_NUMBER:
        sm_buf_adds(out, v->str);
        return;
    case SM_JSON_BOOL:
        sm_buf_adds(out, v->boolean ? "true" : "false");
        return;
    case SM_JSON_NULL:
        sm_buf_adds(out, "null");
        return;
    }
}

/* Print a summary, truncated; dataclasses read as Name(field=value, ...). */
static void put_summary(const char *summary)
{
    struct sm_json_doc doc = {0};
    struct sm_err err = SM_ERR_INIT;
    struct sm_buf text = SM_BUF_INIT((size_t)16 << 20); /* summaries are bounded (codec.md) */
    if (sm_json_parse(&doc, summary, strlen(summary), &err) == 0) {
        render_summary(&text, doc.root);
        if (text.data != NULL) {
            sm__cli_put_truncated(stdout, text.data, SUMMARY_MAX_BYTES);
            sm_buf_release(&text);
            sm_json_doc_release(&doc);
            return;
        }
    }
    /* Unparsable or too long to render: the stored text, truncated. */
    sm_buf_release(&text);
    sm_json_doc_release(&doc);
    sm__cli_put_truncated(stdout, summary, SUMMARY_MAX_BYTES);
}

/*
 * Read artifact id and show it: as JSON (w set) or as "summary (artifact id)".
 * Returns SM_CLI_OK, or SM_CLI_FAIL when the store fails (not when the
 * artifact is missing: that is shown).
 */
static int show_artifact(struct sm_cli_store *cs, const char *id, struct sm_jw *w)
{
    if (id[0] == '\0') {
        if (w != NULL)
            sm_jw_null(w);
        else
            printf("(not computed yet)\n");
        return SM_CLI_OK;
    }
    struct sm_artifact_rec a;
    struct sm_err err = SM_ERR_INIT;
    int rc = sm_store_get_artifact(cs->store, id, &a, NULL, &err);
    if (rc == SM_ENOTFOUND) {
        if (w != NULL)
            sm_jw_null(w);
        else
            printf("(artifact %s is missing from the store)\n", id);
        return SM_CLI_OK;
    }
    if (rc != 0)
        return sm__cli_store_fail(&err);
    if (w != NULL) {
        sm_artifact_rec_to_json(&a, w);
        return SM_CLI_OK;
    }
    put_summary(a.summary_json ? a.summary_json : "null");
    printf("  (artifact %s)\n", id);
    return SM_CLI_OK;
}

static int show_text(struct sm_cli_store *cs, const struct sm_run_rec *r,
                     const struct sm_pipeline_rec *p, const struct edges *ed)
{
    bool is_root = strcmp(r->id, r->root_id) == 0;
    printf("%s (%s)\n", r->name, r->function_path);
    first_line_field("description", r->description);
    field("id", r->id);
    field("state", sm_state_name((enum sm_state)r->state));
    if (is_root)
        field("root", "this run (a pipeline run)");
    else
        field("root", r->root_id);
    if (r->parent_id[0] != '\0')
        field("parent", r->parent_id);
    if (r->nested_id[0] != '\0')
        field("nested", r->nested_id);
    field("kind", r->is_inline ? "inline" : "standalone");
    if (r->attempt > 0) {
        char n[32];
        snprintf(n, sizeof(n), "%d", (int)r->attempt);
        field("retries", n);
    }
    print_timings(r);

    struct sm_buf tags = SM_BUF_INIT(1 << 20);
    sm__cli_join_tags(r->tags_json, &tags);
    if (tags.len > 0)
        field("tags", tags.data);
    sm_buf_release(&tags);
    if (r->cache_key != NULL)
        field("cache key", r->cache_key);
    if (r->original_run_id[0] != '\0')
        field("original run", r->original_run_id);
    if (r->resource_requirements_json != NULL)
        field("resources", r->resource_requirements_json);
    if (r->retry_settings_json != NULL)
        field("retry", r->retry_settings_json);

    if (p != NULL)
        print_pipeline(p);
    else if (is_root)
        printf("\npipeline run\n  (none recorded)\n");

    if (ed->n_inputs > 0)
        printf("\ninputs\n");
    for (size_t i = 0; i < ed->n_inputs; i++) {
        printf("  %s = ", ed->inputs[i].name);
        if (show_artifact(cs, ed->inputs[i].artifact_id, NULL) != SM_CLI_OK)
            return SM_CLI_FAIL;
    }
    if (ed->has_output_edge) {
        printf("\noutput\n  ");
        if (show_artifact(cs, ed->output_id, NULL) != SM_CLI_OK)
            return SM_CLI_FAIL;
    }
    print_exception("exception", r->exception_json);
    print_exception("external exception", r->external_exception_json);

    struct children c = {0};
    struct sm_run_query q = {.parent_id = r->id, .oldest_first = true};
    struct sm_err err = SM_ERR_INIT;
    int status = SM_CLI_OK;
    if (sm_store_list_runs(cs->store, &q, on_child, &c, &err) < 0) {
        status = sm__cli_store_fail(&err);
    } else if (c.n > 0) {
        printf("\nchildren (%zu)\n", c.n);
        for (size_t i = 0; i < c.n; i++)
            printf("  %s  %-13s  %s\n", c.rows[i].id, sm_state_name((enum sm_state)c.rows[i].state),
                   c.rows[i].name);
    }
    for (size_t i = 0; i < c.n; i++)
        sm__cli_run_release(&c.rows[i]);
    sm_free(c.rows);
    return status;
}

static int show_json(struct sm_cli_store *cs, const struct sm_run_rec *r,
                     const struct sm_pipeline_rec *p, const struct edges *ed)
{
    struct sm_buf out = SM_BUF_INIT(256u << 20);
    struct sm_jw w;
    sm_jw_init(&w, &out);
    sm_jw_begin_object(&w);
    sm_jw_keyz(&w, "run");
    sm_run_rec_to_json(r, &w);
    sm_jw_keyz(&w, "pipeline_run");
    if (p != NULL)
        sm_pipeline_rec_to_json(p, &w);
    else
        sm_jw_null(&w);

    int status = SM_CLI_OK;
    sm_jw_keyz(&w, "inputs");
    sm_jw_begin_array(&w);
    for (size_t i = 0; i < ed->n_inputs && status == SM_CLI_OK; i++) {
        sm_jw_begin_object(&w);
        sm_jw_keyz(&w, "name");
        sm_jw_stringz(&w, ed->inputs[i].name);
        sm_jw_keyz(&w, "artifact_id");
        if (ed->inputs[i].artifact_id[0] != '\0')
            sm_jw_stringz(&w, ed->inputs[i].artifact_id);
        else
            sm_jw_null(&w);
        sm_jw_keyz(&w, "artifact");
        status = show_artifact(cs, ed->inputs[i].artifact_id, &w);
        sm_jw_end_object(&w);
    }
    sm_jw_end_array(&w);
    sm_jw_keyz(&w, "output");
    if (status == SM_CLI_OK)
        status = show_artifact(cs, ed->output_id, &w);

    sm_jw_keyz(&w, "children");
    sm_jw_begin_array(&w);
    struct children c = {.w = &w};
    struct sm_run_query q = {.parent_id = r->id, .oldest_first = true};
    struct sm_err err = SM_ERR_INIT;
    if (status == SM_CLI_OK && sm_store_list_runs(cs->store, &q, on_child, &c, &err) < 0)
        status = sm__cli_store_fail(&err);
    sm_jw_end_array(&w);
    sm_jw_end_object(&w);

    if (status == SM_CLI_OK && sm_jw_finish(&w, &err) != 0)
        status = sm__cli_store_fail(&err);
    if (status == SM_CLI_OK) {
        fwrite(out.data, 1, out.len, stdout);
        fputc('\n', stdout);
    }
    sm_buf_release(&out);
    return status;
}

int sm__cli_show(int argc, char **argv)
{
    const char *arg_id = NULL;
    bool json = false;
    for (int i = 1; i < argc; i++) {
        if (sm__cli_is_help(argv[i])) {
            fputs(usage_text, stdout);
            return SM_CLI_OK;
        } else if (strcmp(argv[i], "--json") == 0) {
            json = true;
        } else if (argv[i][0] != '-' && arg_id == NULL) {
            arg_id = argv[i];
        } else {
            return sm__cli_unknown_option("show", argv[i]);
        }
    }
    if (arg_id == NULL)
        return sm__cli_missing_arg("show", "a RUN_ID");

    struct sm_cli_store cs;
    if (sm__cli_open(&cs) != SM_CLI_OK)
        return SM_CLI_FAIL;

    char id[SM_ID_HEX_LEN + 1];
    struct sm_run_rec run = {0};
    struct sm_pipeline_rec pipeline = {0};
    bool has_pipeline = false;
    struct edges ed = {.run_id = id};
    struct sm_err err = SM_ERR_INIT;
    int status = sm__cli_resolve_run(&cs, arg_id, id);
    if (status != SM_CLI_OK)
        goto fail_resolve;

    struct sm_run_rec borrowed;
    if (sm_store_get_run(cs.store, id, &borrowed, &err) != 0) {
        status = sm__cli_store_fail(&err);
        goto fail_resolve;
    }
    sm__cli_run_copy(&run, &borrowed);

    if (strcmp(run.id, run.root_id) == 0) {
        struct sm_pipeline_rec p;
        int rc = sm_store_get_pipeline(cs.store, run.id, &p, &err);
        if (rc == 0) {
            sm__cli_pipeline_copy(&pipeline, &p);
            has_pipeline = true;
        } else if (rc != SM_ENOTFOUND) {
            status = sm__cli_store_fail(&err);
            goto fail_read;
        }
        sm_err_clear(&err);
    }

    if (sm_store_list_edges(cs.store, NULL, id, on_edge, &ed, &err) < 0) {
        status = sm__cli_store_fail(&err);
        goto fail_read;
    }
    if (ed.n_inputs > 1)
        qsort(ed.inputs, ed.n_inputs, sizeof(*ed.inputs), compare_inputs);

    if (json)
        status = show_json(&cs, &run, has_pipeline ? &pipeline : NULL, &ed);
    else
        status = show_text(&cs, &run, has_pipeline ? &pipeline : NULL, &ed);

fail_read:
    for (size_t i = 0; i < ed.n_inputs; i++)
        sm_free(ed.inputs[i].name);
    sm_free(ed.inputs);
    sm__cli_pipeline_release(&pipeline);
    sm__cli_run_release(&run);
fail_resolve:
    sm__cli_close(&cs);
    return status;
}
