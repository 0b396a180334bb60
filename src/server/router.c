/*
 * router.c: the route table compiled for matching. Each row's pattern
 * ("/api/v1/runs/:id/graph") is split once, at server start, into literal,
 * ":name" and "*name" segments, and checked (a malformed pattern stops the
 * server from starting, naming the row). Matching walks the rows in table
 * order against the decoded segments of a target (request.c); it
 * allocates nothing and writes only to the caller's arrays, so every
 * connection thread matches concurrently on the one router.
 *
 * Two passes make 405 right in the presence of catch-alls: the ordinary
 * rows first, then (only when no ordinary pattern matched the path) the
 * rows flagged SM_HTTP_ROUTE_FALLBACK.
 */
#include <stdio.h>
#include <string.h>

#include "sematic/alloc.h"

#include "internal.h"

#include "util/banned.h"

enum seg_kind {
    SEG_LITERAL,
    SEG_PARAM, /* ":name": one non-empty segment */
    SEG_REST,  /* "*name": the rest of the path, last only */
};

struct seg {
    enum seg_kind kind;
    char *text; /* owned: the literal, or the parameter's name */
};

struct compiled {
    const struct sm_http_route *row;
    struct seg *segs;
    size_t n_segs;
};

struct sm_http_router {
    struct compiled *routes;
    size_t n_routes;
};

static char *copy_n(const char *s, size_t n)
{
    char *c = sm_xmalloc(n + 1);
    memcpy(c, s, n);
    c[n] = '\0';
    return c;
}

static void compiled_release(struct compiled *c)
{
    for (size_t i = 0; i < c->n_segs; i++)
        sm_free(c->segs[i].text);
    sm_free(c->segs);
    c->segs = NULL;
    c->n_segs = 0;
}

static int compile(const struct sm_http_route *row, size_t index, struct compiled *c,
                   struct sm_err *err)
{
    const char *p = row->pattern;
    memset(c, 0, sizeof(*c));
    c->row = row;
    if (p == NULL || p[0] != '/')
        return sm_errf(err, SM_EINVAL, "route %zu: pattern '%s' must start with '/'", index,
                       p != NULL ? p : "(null)");
    if ((row->method & SM_HTTP_ANY) == 0 || row->handler == NULL)
        return sm_errf(err, SM_EINVAL, "route %zu ('%s'): no method or no handler", index, p);
    if (strcmp(p, "/") == 0)
        return 0;
    size_t len = strlen(p);
    size_t max_segs = 1;
    for (size_t i = 1; i < len; i++)
        max_segs += p[i] == '/';
    c->segs = sm_xcalloc(max_segs, sizeof(*c->segs));
    size_t n_params = 0;
    size_t start = 1;
    for (;;) {
        const char *slash = strchr(p + start, '/');
        size_t end = slash != NULL ? (size_t)(slash - p) : len;
        size_t n = end - start;
        struct seg *s = &c->segs[c->n_segs];
        if (n == 0)
            return sm_errf(err, SM_EINVAL, "route %zu: pattern '%s' has an empty segment", index,
                           p);
        if (p[start] == ':' || p[start] == '*') {
            s->kind = p[start] == ':' ? SEG_PARAM : SEG_REST;
            if (n == 1)
                return sm_errf(err, SM_EINVAL,
                               "route %zu: pattern '%s' has a parameter with no name", index, p);
            if (s->kind == SEG_REST && slash != NULL)
                return sm_errf(err, SM_EINVAL,
                               "route %zu: pattern '%s' has '*%.*s' before its last segment", index,
                               p, (int)(n - 1), p + start + 1);
            if (++n_params > SM_HTTP_MAX_PARAMS)
                return sm_errf(err, SM_EINVAL,
                               "route %zu: pattern '%s' has more than %d "
                               "parameters",
                               index, p, SM_HTTP_MAX_PARAMS);
            for (size_t k = 0; k < c->n_segs; k++)
                if (c->segs[k].kind != SEG_LITERAL && strlen(c->segs[k].text) == n - 1 &&
                    memcmp(c->segs[k].text, p + start + 1, n - 1) == 0)
                    return sm_errf(err, SM_EINVAL,
                                   "route %zu: pattern '%s' names parameter '%.*s' twice", index, p,
                                   (int)(n - 1), p + start + 1);
            s->text = copy_n(p + start + 1, n - 1);
        } else {
            s->kind = SEG_LITERAL;
            s->text = copy_n(p + start, n);
        }
        c->n_segs++;
        if (slash == NULL)
            return 0;
        start = end + 1;
    }
}

int sm__http_router_new(const struct sm_http_route *rows, size_t n, unsigned skip_flags,
                        struct sm_http_router **out, struct sm_err *err)
{
    struct sm_http_router *r = sm_xcalloc(1, sizeof(*r));
    r->routes = sm_xcalloc(n > 0 ? n : 1, sizeof(*r->routes));
    for (size_t i = 0; i < n; i++) {
        if ((rows[i].flags & skip_flags) != 0)
            continue;
        int rc = compile(&rows[i], i, &r->routes[r->n_routes], err);
        if (rc != 0) {
            compiled_release(&r->routes[r->n_routes]);
            sm__http_router_free(r);
            *out = NULL;
            return rc;
        }
        r->n_routes++;
    }
    *out = r;
    return 0;
}

void sm__http_router_free(struct sm_http_router *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->n_routes; i++)
        compiled_release(&r->routes[i]);
    sm_free(r->routes);
    sm_free(r);
}

/* Does c's pattern match t's path? Fills params on success. */
static bool path_matches(const struct compiled *c, const struct sm_http_target *t,
                         struct sm_http_kv params[SM_HTTP_MAX_PARAMS], size_t *n_params)
{
    size_t n = 0;
    for (size_t i = 0; i < c->n_segs; i++) {
        const struct seg *s = &c->segs[i];
        if (s->kind == SEG_REST) {
            params[n].name = s->text;
            params[n].value = i < t->n_segments ? t->path + t->seg_offsets[i] : "";
            *n_params = n + 1;
            return true;
        }
        if (i >= t->n_segments)
            return false;
        const char *seg = t->segments[i];
        if (s->kind == SEG_LITERAL) {
            if (strcmp(seg, s->text) != 0)
                return false;
        } else {
            if (seg[0] == '\0')
                return false;
            params[n].name = s->text;
            params[n].value = seg;
            n++;
        }
    }
    if (c->n_segs != t->n_segments)
        return false;
    *n_params = n;
    return true;
}

static unsigned methods_of(enum sm_http_method m)
{
    /* A GET row serves HEAD too. */
    unsigned set = (unsigned)m;
    if (set & SM_HTTP_GET)
        set |= SM_HTTP_HEAD;
    return set;
}

const struct sm_http_route *sm__http_router_match(const struct sm_http_router *r,
                                                  enum sm_http_method m,
                                                  const struct sm_http_target *t,
                                                  struct sm_http_kv params[SM_HTTP_MAX_PARAMS],
                                                  size_t *n_params, unsigned *allowed)
{
    *allowed = 0;
    *n_params = 0;
    for (int pass = 0; pass < 2; pass++) {
        unsigned want = pass == 0 ? 0 : SM_HTTP_ROUTE_FALLBACK;
        for (size_t i = 0; i < r->n_routes; i++) {
            const struct compiled *c = &r->routes[i];
            if ((c->row->flags & SM_HTTP_ROUTE_FALLBACK) != want)
                continue;
            struct sm_http_kv found[SM_HTTP_MAX_PARAMS];
            size_t n_found = 0;
            if (!path_matches(c, t, found, &n_found))
                continue;
            unsigned set = methods_of(c->row->method);
            if ((set & (unsigned)m) != 0) {
                memcpy(params, found, n_found * sizeof(found[0]));
                *n_params = n_found;
                *allowed = 0; /* earlier rows of the same path with other methods do not count */
                return c->row;
            }
            *allowed |= set;
        }
        if (*allowed != 0)
            return NULL; /* the path is known: 405 */
    }
    return NULL;
}

void sm__http_methods_text(unsigned methods, char *out, size_t size)
{
    static const enum sm_http_method order[] = {SM_HTTP_GET,    SM_HTTP_HEAD,   SM_HTTP_POST,
                                                SM_HTTP_PUT,    SM_HTTP_DELETE, SM_HTTP_PATCH,
                                                SM_HTTP_OPTIONS};
    size_t o = 0;
    out[0] = '\0';
    for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
        if ((methods & (unsigned)order[i]) == 0)
            continue;
        int k =
            snprintf(out + o, size - o, "%s%s", o > 0 ? ", " : "", sm_http_method_name(order[i]));
        if (k < 0 || (size_t)k >= size - o)
            return;
        o += (size_t)k;
    }
}
