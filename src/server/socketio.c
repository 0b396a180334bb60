/*
 * socketio.c: the Socket.IO server Sematic's client needs, over Engine.IO
 * v4 HTTP long-polling (the wire formats: socketio.h, socketio_proto.c).
 *
 *   GET  /socket.io/?EIO=4&transport=polling          handshake: a session
 *   POST /socket.io/?EIO=4&transport=polling&sid=S    the client's packets -> "ok"
 *   GET  /socket.io/?EIO=4&transport=polling&sid=S    a long poll: the packets queued
 *                                                     for S, waiting until there is one
 *   POST /api/v1/events/:namespace/:event             Sematic's broadcast -> {}
 *
 * The handshake offers no upgrade ("upgrades": []), so clients never try a
 * websocket. A session connects to any of the namespaces "/", "/pipeline",
 * "/graph", "/job", "/metrics" (44 "Invalid namespace" for others), and
 * gets every event broadcast to those: what POST /api/v1/events/... sends
 * (a LocalRunner posts graph/update and pipeline/update), and, for
 * /pipeline, `cancel` {"resolution_id", "function_path"} when a pipeline
 * run becomes CANCELED. The long poll of a /pipeline session follows the
 * store's change feed for that (sm_store_list_events, "pipeline_status"
 * rows), woken by inotify on the store's directory, so a cancel reaches
 * Sematic's LocalRunner whoever made it: PUT .../cancel, `sematic cancel`,
 * another server on the same store.
 *
 * A long poll is a streaming response (http.h): its callback waits in
 * sm_http_stream_wait() on an epoll descriptor holding the session's
 * eventfd (written when a packet is queued or the session closes) and the
 * inotify descriptor, so it wakes for a packet, a store change, the
 * server stopping or the client leaving, never by polling. Every
 * pingInterval the server sends a ping ("2"); a session whose pong does
 * not come within pingTimeout, or that no request touches for
 * pingInterval + pingTimeout, is closed and freed.
 *
 * State: the sessions of the process, in one table under one mutex (a
 * `sematic start` process serves one store). The table is a process global
 * because struct sm_server, which every other piece of state hangs off
 * (STYLE 31), is server.c's; moving it there is a field and a free at stop.
 * A session is freed when the last of the table and the requests using it
 * lets go (refs).
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <time.h>
#include <unistd.h>

#include "sematic/alloc.h"
#include "sematic/hash.h"

#include "handlers.h"
#include "internal.h"
#include "sematic_json.h"
#include "socketio.h"

#include "util/banned.h"

/* Engine.IO's defaults, which python-engineio's client waits by (its poll times out at
 * max(interval, timeout) + 5 s). Tests shorten them (SEMATIC_SERVER_SOCKETIO_PING_*_MS). */
#define PING_INTERVAL_MS 25000
#define PING_TIMEOUT_MS 20000
/* How many sessions closed by their client are remembered (hub.closed). */
#define CLOSED_RING 64
/* The largest payload a client may POST, advertised as maxPayload. */
#define MAX_PAYLOAD_BYTES 1000000
/* Sessions at once (one per running LocalRunner, and dashboards). */
#define MAX_SESSIONS 1024
/* Packets queued for a session that does not poll; past this it is closed. */
#define QUEUE_MAX_BYTES ((size_t)4 << 20)
/* Without inotify, a /pipeline poll looks at the change feed this often. */
#define FEED_FALLBACK_MS 1000

struct session {
    char sid[SM_ID_HEX_LEN + 1];
    char nsp_sid[SM_SIO_N_NSP][SM_ID_HEX_LEN + 1];
    unsigned nsp_mask;   /* bit i: connected to sm__sio_nsp_name(i) */
    struct sm_buf queue; /* packets for the next poll, joined by 0x1e */
    int efd;             /* eventfd: readable when the queue or the session changed */
    int refs;            /* the table's (while listed) and each request's */
    bool is_listed;
    bool is_closed;
    bool is_closed_by_server; /* the next poll says "1" (close) rather than "6" (noop) */
    bool is_polling;
    uint64_t poll_gen; /* which poll is_polling belongs to (bumped by each poll) */
    int64_t last_seen_ms;
    int64_t next_ping_ms;
    int64_t ping_sent_ms; /* 0: no ping waits for its pong */
    int64_t feed_seq;     /* /pipeline: the change feed has been read up to here */
    struct session *next;
};

static struct {
    pthread_mutex_t mu;
    struct session *list;
    size_t n;
    /*
     * Sessions their client closed lately (a ring): python-engineio's reader
     * may poll once more after sending its close, and gets the close packet
     * back rather than a 400 for an unknown session.
     */
    struct {
        char sid[SM_ID_HEX_LEN + 1];
        int64_t at_ms;
    } closed[CLOSED_RING];
    size_t closed_next;
} hub = {.mu = PTHREAD_MUTEX_INITIALIZER};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A setting in milliseconds from the environment, else dflt. */
static int64_t env_ms(const char *name, int64_t dflt)
{
    const char *text = getenv(name);
    if (text == NULL || text[0] == '\0')
        return dflt;
    char *end;
    long long v = strtoll(text, &end, 10);
    return (*end == '\0' && v >= 10 && v <= 3600000) ? v : dflt;
}

static int64_t ping_interval_ms(void)
{
    return env_ms("SEMATIC_SERVER_SOCKETIO_PING_INTERVAL_MS", PING_INTERVAL_MS);
}

static int64_t ping_timeout_ms(void)
{
    return env_ms("SEMATIC_SERVER_SOCKETIO_PING_TIMEOUT_MS", PING_TIMEOUT_MS);
}

/* ------------------------------------------------------------ sessions (hub.mu held) */

static void wake(struct session *s)
{
    uint64_t one = 1;
    ssize_t w = write(s->efd, &one, sizeof(one));
    (void)w; /* only fails when the counter is saturated: it is readable then anyway */
}

static void session_unref(struct session *s)
{
    if (--s->refs > 0)
        return;
    close(s->efd);
    sm_buf_release(&s->queue);
    sm_free(s);
}

/* Close: unlisted, waiting poll woken (it answers and ends). */
static void session_close(struct session *s, bool by_server)
{
    if (s->is_closed)
        return;
    s->is_closed = true;
    s->is_closed_by_server = by_server;
    if (!by_server) {
        size_t i = hub.closed_next++ % CLOSED_RING;
        snprintf(hub.closed[i].sid, sizeof(hub.closed[i].sid), "%s", s->sid);
        hub.closed[i].at_ms = mono_ms();
    }
    wake(s);
    if (s->is_listed) {
        for (struct session **p = &hub.list; *p != NULL; p = &(*p)->next) {
            if (*p == s) {
                *p = s->next;
                break;
            }
        }
        s->is_listed = false;
        hub.n--;
        session_unref(s);
    }
}

/* Queue a packet for the next poll; a session that lets its queue grow past the cap is closed. */
static void session_send(struct session *s, const char *packet, size_t len)
{
    if (s->is_closed)
        return;
    if (sm__eio_payload_add(&s->queue, packet, len) != 0) {
        session_close(s, true); /* it stopped polling long ago, or cannot keep up */
        return;
    }
    wake(s);
}

/* Close the sessions nobody has touched for pingInterval + pingTimeout (a poll keeps its own). */
static void sweep(int64_t now)
{
    int64_t idle_max = ping_interval_ms() + ping_timeout_ms();
    struct session *s = hub.list;
    while (s != NULL) {
        struct session *next = s->next;
        if (!s->is_polling && now - s->last_seen_ms > idle_max)
            session_close(s, true);
        s = next;
    }
}

/* The listed session of sid with a reference for the caller, or NULL (expired ones go first). */
static struct session *session_find(const char *sid)
{
    sweep(mono_ms());
    for (struct session *s = hub.list; s != NULL; s = s->next) {
        if (strcmp(s->sid, sid) == 0) {
            s->refs++;
            return s;
        }
    }
    return NULL;
}

/* ------------------------------------------------------------ requests */

static int eio_error(struct sm_http_resp *resp, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int eio_error(struct sm_http_resp *resp, int status, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return sm_http_error(resp, status, "%s", msg);
}

/* EIO=4 and transport=polling, else a 400 naming what to send. 0 when good. */
static int check_query(struct sm_http_req *req, struct sm_http_resp *resp, bool *done)
{
    *done = true;
    const char *rest = sm_http_param(req, "rest");
    if (rest != NULL && rest[0] != '\0')
        return eio_error(resp, 404, "no endpoint for '%s'; Socket.IO is served at /socket.io/",
                         req->target->path);
    const char *eio = sm_http_query(req, "EIO");
    char shown[64];
    if (eio == NULL || strcmp(eio, "4") != 0) {
        sm__http_sanitize(eio ? eio : "", shown, sizeof(shown));
        return eio_error(resp, 400,
                         "unsupported Engine.IO protocol version '%s'; this server speaks EIO=4 "
                         "(python-socketio 5, socket.io-client 4)",
                         shown);
    }
    const char *transport = sm_http_query(req, "transport");
    if (transport != NULL && strcmp(transport, "websocket") == 0)
        return eio_error(resp, 400,
                         "the websocket transport is not offered (the handshake lists no "
                         "upgrades); use transport=polling");
    if (transport == NULL || strcmp(transport, "polling") != 0) {
        sm__http_sanitize(transport ? transport : "", shown, sizeof(shown));
        return eio_error(resp, 400, "unknown Engine.IO transport '%s'; use transport=polling",
                         shown);
    }
    *done = false;
    return 0;
}

/* Whether the client of sid closed it within the last pingInterval + pingTimeout (hub.mu held). */
static bool closed_by_client_lately(const char *sid)
{
    int64_t since = mono_ms() - (ping_interval_ms() + ping_timeout_ms());
    for (size_t i = 0; i < CLOSED_RING; i++)
        if (hub.closed[i].at_ms > since && strcmp(hub.closed[i].sid, sid) == 0)
            return true;
    return false;
}

/* The answer to a request for a session that is not listed; is_poll for a GET poll. */
static int unknown_session(struct sm_http_resp *resp, const char *sid, bool is_poll)
{
    if (is_poll) {
        pthread_mutex_lock(&hub.mu);
        bool closed = closed_by_client_lately(sid);
        pthread_mutex_unlock(&hub.mu);
        if (closed) /* Engine.IO's close packet: its client closed it, and stops reading */
            return sm_http_bytes(resp, 200, "text/plain; charset=UTF-8", "1", 1);
    }
    char shown[64];
    sm__http_sanitize(sid, shown, sizeof(shown));
    return eio_error(resp, 400,
                     "unknown Socket.IO session id '%s': it was closed or timed out; connect "
                     "again (GET /socket.io/?EIO=4&transport=polling)",
                     shown);
}

static int handshake(struct sm_http_req *req, struct sm_http_resp *resp)
{
    struct session *s = sm_xcalloc(1, sizeof(*s));
    struct sm_err err = SM_ERR_INIT;
    if (sm_random_id(s->sid, &err) != 0) {
        sm_free(s);
        sm_http_log(req, "socket.io: no session id: %s", err.msg);
        return eio_error(resp, 503, "the server cannot open a session now; try again");
    }
    s->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (s->efd < 0) {
        sm_free(s);
        sm_http_log(req, "socket.io: cannot make an eventfd: %s", strerror(errno));
        return eio_error(resp, 503, "the server cannot open more sessions now; try again");
    }
    sm_buf_init(&s->queue, QUEUE_MAX_BYTES);
    int64_t now = mono_ms(), interval = ping_interval_ms(), timeout = ping_timeout_ms();
    s->last_seen_ms = now;
    s->next_ping_ms = now + interval;
    s->refs = 1;
    s->is_listed = true;

    pthread_mutex_lock(&hub.mu);
    sweep(now);
    bool full = hub.n >= MAX_SESSIONS;
    if (!full) {
        s->next = hub.list;
        hub.list = s;
        hub.n++;
    }
    pthread_mutex_unlock(&hub.mu);
    if (full) {
        close(s->efd);
        sm_buf_release(&s->queue);
        sm_free(s);
        return eio_error(resp, 503,
                         "too many Socket.IO sessions (%d); close some clients or try again once "
                         "idle ones time out",
                         MAX_SESSIONS);
    }
    char body[256];
    snprintf(body, sizeof(body),
             "0{\"sid\":\"%s\",\"upgrades\":[],\"pingInterval\":%lld,\"pingTimeout\":%lld,"
             "\"maxPayload\":%d}",
             s->sid, (long long)interval, (long long)timeout, MAX_PAYLOAD_BYTES);
    return sm_http_bytes(resp, 200, "text/plain; charset=UTF-8", body, strlen(body));
}

/* ------------------------------------------------------------ the long poll */

struct poll_ctx {
    struct session *s; /* a reference */
    uint64_t gen;      /* the session's poll_gen when this poll began */
    int epfd;          /* the session's eventfd and, when it could be made, inotify */
    int ifd;           /* inotify on the store's directory, -1 when none */
    int recheck_ms;    /* look at the feed again this soon (0: no need), see poll_next() */
    bool is_done;
};

/*
 * Inotify reports SQLite's write() to the WAL, which may come before the commit
 * is visible (the commit is published through the -shm file's mapping, which
 * sends no event). So a wake-up that found nothing new looks again after 5,
 * 10, 20 ... 640 ms, as the events stream does, instead of waiting for the
 * next ping to find the commit (seconds later).
 */
#define RECHECK_FIRST_MS 5
#define RECHECK_LAST_MS 640

static void poll_free(void *ctx)
{
    struct poll_ctx *pc = ctx;
    pthread_mutex_lock(&hub.mu);
    if (pc->s->poll_gen == pc->gen)
        pc->s->is_polling = false; /* it ended without an answer (server stop, client gone) */
    pc->s->last_seen_ms = mono_ms();
    session_unref(pc->s);
    pthread_mutex_unlock(&hub.mu);
    if (pc->ifd >= 0)
        close(pc->ifd);
    if (pc->epfd >= 0)
        close(pc->epfd);
    sm_free(pc);
}

/* Pipeline runs cancelled in a stretch of the change feed. */
struct cancels {
    char roots[32][SM_ID_HEX_LEN + 1];
    size_t n;
    int64_t last_seq;
};

static int on_event(void *ctx, const struct sm_event_rec *e)
{
    struct cancels *c = ctx;
    c->last_seq = e->seq;
    if (strcmp(e->kind, "pipeline_status") != 0 || e->payload == NULL ||
        strstr(e->payload, "\"CANCELED\"") == NULL || strlen(e->subject_id) != SM_ID_HEX_LEN)
        return 0;
    if (c->n < sizeof(c->roots) / sizeof(c->roots[0]))
        memcpy(c->roots[c->n++], e->subject_id, SM_ID_HEX_LEN + 1);
    return 0;
}

/* Queue `cancel` for pipeline runs cancelled since the session last looked. */
static void follow_feed(struct sm_http_stream *stream, struct poll_ctx *pc)
{
    pthread_mutex_lock(&hub.mu);
    bool on_pipeline = (pc->s->nsp_mask & (1u << sm__sio_nsp_index("/pipeline"))) != 0;
    int64_t after = pc->s->feed_seq;
    pthread_mutex_unlock(&hub.mu);
    if (!on_pipeline)
        return;
    struct sm_err err = SM_ERR_INIT;
    struct sm_store *store = sm_http_stream_store(stream, &err);
    if (store == NULL || sm_store_change_seq(store) <= after)
        return;
    struct cancels c = {.last_seq = after};
    /* A page at a time, so a long stretch of changes is read in bounded steps. */
    for (int page = 0; page < 64 && c.n < sizeof(c.roots) / sizeof(c.roots[0]); page++) {
        int64_t from = c.last_seq;
        if (sm_store_list_events(store, from, 256, on_event, &c, &err) != 0 || c.last_seq == from)
            break;
    }
    struct sm_buf packet = SM_BUF_INIT(1 << 16);
    for (size_t i = 0; i < c.n; i++) {
        struct sm_run_rec root;
        struct sm_err rerr = SM_ERR_INIT;
        const char *path =
            sm_store_get_run(store, c.roots[i], &root, &rerr) == 0 ? root.function_path : NULL;
        struct sm_buf json = SM_BUF_INIT(1 << 15);
        struct sm_jw w;
        sm_jw_init(&w, &json);
        sm_jw_begin_object(&w);
        sm_jw_keyz(&w, "resolution_id");
        sm_jw_stringz(&w, c.roots[i]);
        sm_jw_keyz(&w, "function_path");
        sm_jw_stringz(&w, path);
        sm_jw_end_object(&w);
        sm_buf_reset(&packet);
        if (sm_jw_finish(&w, NULL) == 0 &&
            sm__sio_event_packet(&packet, "/pipeline", "cancel", json.data, json.len) == 0) {
            pthread_mutex_lock(&hub.mu);
            session_send(pc->s, packet.data, packet.len);
            pthread_mutex_unlock(&hub.mu);
        }
        sm_buf_release(&json);
    }
    sm_buf_release(&packet);
    pthread_mutex_lock(&hub.mu);
    if (pc->s->feed_seq < c.last_seq)
        pc->s->feed_seq = c.last_seq;
    pthread_mutex_unlock(&hub.mu);
}

static void drain_fd(int fd)
{
    char buf[4096];
    while (fd >= 0 && read(fd, buf, sizeof(buf)) > 0)
        ;
}

/*
 * One step of a long poll: answer with what is queued, a ping that is due,
 * or a close; else wait once (until a packet, a store change, the ping's
 * time, the server stopping or the client leaving) and be called again.
 */
static int poll_next(void *ctx, struct sm_http_stream *stream, struct sm_buf *out)
{
    struct poll_ctx *pc = ctx;
    if (pc->is_done)
        return SM_HTTP_STREAM_END;
    follow_feed(stream, pc);

    pthread_mutex_lock(&hub.mu);
    struct session *s = pc->s;
    int64_t now = mono_ms();
    s->last_seen_ms = now;
    uint64_t counter;
    ssize_t r = read(s->efd, &counter, sizeof(counter)); /* reset: what woke us is handled below */
    (void)r;
    int rc = SM_HTTP_STREAM_END;
    int64_t wait_ms = 0;
    if (s->queue.len > 0) {
        rc = sm_buf_add(out, s->queue.data, s->queue.len) == 0 ? SM_HTTP_STREAM_END : SM_ETOOBIG;
        sm_buf_reset(&s->queue);
    } else if (s->is_closed) {
        sm_buf_adds(out, s->is_closed_by_server ? "1" : "6");
    } else if (s->ping_sent_ms != 0 && now >= s->ping_sent_ms + ping_timeout_ms()) {
        session_close(s, true); /* no pong: the client is gone */
        sm_buf_adds(out, "1");
    } else if (s->ping_sent_ms == 0 && now >= s->next_ping_ms) {
        s->ping_sent_ms = now;
        s->next_ping_ms = now + ping_interval_ms();
        sm_buf_adds(out, "2");
    } else {
        int64_t wake_at = s->next_ping_ms;
        if (s->ping_sent_ms != 0 && s->ping_sent_ms + ping_timeout_ms() < wake_at)
            wake_at = s->ping_sent_ms + ping_timeout_ms();
        wait_ms = wake_at - now;
        rc = SM_HTTP_STREAM_MORE;
    }
    if (rc != SM_HTTP_STREAM_MORE && s->poll_gen == pc->gen)
        s->is_polling = false; /* answered: the client may poll again as soon as it reads this,
                                * before this response is freed (2026-11-23: a second poll was
                                * refused as overlapping under load) */
    pthread_mutex_unlock(&hub.mu);
    if (rc != SM_HTTP_STREAM_MORE) {
        pc->is_done = true;
        return rc;
    }

    if (pc->ifd < 0 && wait_ms > FEED_FALLBACK_MS)
        wait_ms = FEED_FALLBACK_MS;
    if (pc->recheck_ms > 0 && wait_ms > pc->recheck_ms)
        wait_ms = pc->recheck_ms;
    if (wait_ms > INT_MAX)
        wait_ms = INT_MAX;
    enum sm_http_wait w = sm_http_stream_wait(stream, pc->epfd, (int)(wait_ms > 0 ? wait_ms : 0));
    if (w == SM_HTTP_WAIT_CLOSED) {
        pc->is_done = true;
        return SM_HTTP_STREAM_END; /* the server stops or the client left */
    }
    if (w == SM_HTTP_WAIT_READY) {
        drain_fd(pc->ifd); /* the eventfd is reset by the next call, under the lock */
        pc->recheck_ms = RECHECK_FIRST_MS;
    } else if (pc->recheck_ms > 0) {
        pc->recheck_ms = pc->recheck_ms * 2 > RECHECK_LAST_MS ? 0 : pc->recheck_ms * 2;
    }
    return SM_HTTP_STREAM_MORE; /* nothing appended: called again at once */
}

/* Inotify on the store's directory into pc->ifd (-1 when it cannot be had), and the epoll set. */
static void poll_watch(struct sm_http_req *req, struct poll_ctx *pc)
{
    pc->ifd = -1;
    pc->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (pc->epfd < 0)
        return;
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = pc->s->efd};
    epoll_ctl(pc->epfd, EPOLL_CTL_ADD, pc->s->efd, &ev);
    struct sm_err err = SM_ERR_INIT;
    struct sm_store *store = sm_http_store(req, &err);
    const char *watch = store ? sm_store_watch_path(store) : NULL;
    if (watch == NULL)
        return;
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s", watch);
    char *slash = strrchr(dir, '/');
    if (slash == NULL)
        return;
    *slash = '\0';
    pc->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (pc->ifd < 0)
        return;
    if (inotify_add_watch(pc->ifd, dir, IN_MODIFY | IN_CREATE | IN_MOVED_TO) < 0) {
        close(pc->ifd);
        pc->ifd = -1;
        return;
    }
    ev = (struct epoll_event){.events = EPOLLIN, .data.fd = pc->ifd};
    epoll_ctl(pc->epfd, EPOLL_CTL_ADD, pc->ifd, &ev);
}

static int long_poll(struct sm_http_req *req, struct sm_http_resp *resp, const char *sid)
{
    pthread_mutex_lock(&hub.mu);
    struct session *s = session_find(sid);
    bool busy = s != NULL && s->is_polling;
    uint64_t gen = 0;
    if (s != NULL && !busy) {
        s->is_polling = true;
        gen = ++s->poll_gen;
    } else if (s != NULL) {
        session_unref(s);
    }
    pthread_mutex_unlock(&hub.mu);
    if (s == NULL)
        return unknown_session(resp, sid, true);
    if (busy)
        return eio_error(resp, 400,
                         "a poll is already waiting for Socket.IO session '%s'; send one GET at "
                         "a time",
                         sid);
    struct poll_ctx *pc = sm_xcalloc(1, sizeof(*pc));
    pc->s = s;
    pc->gen = gen;
    poll_watch(req, pc);
    if (pc->epfd < 0) {
        poll_free(pc);
        sm_http_log(req, "socket.io: cannot make an epoll set: %s", strerror(errno));
        return eio_error(resp, 503, "the server cannot wait for more polls now; try again");
    }
    return sm_http_stream(resp, 200, "text/plain; charset=UTF-8", poll_next, pc, poll_free);
}

int sm__sio_get(struct sm_http_req *req, struct sm_http_resp *resp)
{
    bool done;
    int rc = check_query(req, resp, &done);
    if (done)
        return rc;
    const char *sid = sm_http_query(req, "sid");
    return sid == NULL ? handshake(req, resp) : long_poll(req, resp, sid);
}

/* ------------------------------------------------------------ the client's packets */

/* A Socket.IO packet from the client (hub.mu held). */
static void on_message(struct session *s, const struct sm_sio_packet *p, int64_t feed_seq)
{
    int nsp = sm__sio_nsp_index(p->nsp);
    struct sm_buf packet = SM_BUF_INIT(1 << 12);
    switch (p->type) {
    case SM_SIO_CONNECT:
        if (nsp < 0) {
            if (sm__sio_connect_error_packet(&packet, p->nsp, "Invalid namespace") == 0)
                session_send(s, packet.data, packet.len);
            break;
        }
        if ((s->nsp_mask & (1u << nsp)) == 0) {
            struct sm_err err = SM_ERR_INIT;
            if (sm_random_id(s->nsp_sid[nsp], &err) != 0)
                memcpy(s->nsp_sid[nsp], s->sid, sizeof(s->nsp_sid[nsp]));
            s->nsp_mask |= 1u << nsp;
            if (strcmp(p->nsp, "/pipeline") == 0)
                s->feed_seq = feed_seq;
        }
        if (sm__sio_connect_packet(&packet, p->nsp, s->nsp_sid[nsp]) == 0)
            session_send(s, packet.data, packet.len);
        break;
    case SM_SIO_DISCONNECT:
        if (nsp >= 0)
            s->nsp_mask &= ~(1u << nsp);
        break;
    default:
        break; /* events and acks from clients: this server has no handlers for them */
    }
    sm_buf_release(&packet);
}

int sm__sio_post(struct sm_http_req *req, struct sm_http_resp *resp)
{
    bool done;
    int rc = check_query(req, resp, &done);
    if (done)
        return rc;
    const char *sid = sm_http_query(req, "sid");
    if (sid == NULL)
        return eio_error(resp, 400,
                         "a Socket.IO POST needs its session: add sid=<the handshake's sid>");
    if (req->body_len > MAX_PAYLOAD_BYTES)
        return eio_error(resp, 413,
                         "the payload is %zu bytes, more than the %d this server takes "
                         "(maxPayload)",
                         req->body_len, MAX_PAYLOAD_BYTES);

    /* Check the whole payload before acting on any of it. */
    struct sm_err err = SM_ERR_INIT;
    struct sm_eio_packet packets[SM_EIO_MAX_PACKETS];
    size_t n = 0, at = 0;
    for (;;) {
        struct sm_eio_packet p;
        int more = sm__eio_next_packet(req->body, req->body_len, &at, &p, &err);
        if (more < 0)
            return eio_error(resp, 400, "%s", err.msg);
        if (more == 0)
            break;
        if (n == SM_EIO_MAX_PACKETS)
            return eio_error(resp, 400,
                             "bad Engine.IO payload: more than %d packets; send fewer at a time",
                             SM_EIO_MAX_PACKETS);
        if (p.type == SM_EIO_UPGRADE || p.type == SM_EIO_OPEN)
            return eio_error(resp, 400,
                             "bad Engine.IO payload: packet type %d (%s) is not for a client to "
                             "send over polling; this server offers no upgrades",
                             p.type, p.type == SM_EIO_OPEN ? "open" : "upgrade");
        packets[n++] = p;
    }
    struct sm_sio_packet msgs[SM_EIO_MAX_PACKETS];
    bool wants_pipeline = false;
    for (size_t i = 0; i < n; i++) {
        if (packets[i].type != SM_EIO_MESSAGE || packets[i].is_binary)
            continue;
        if (sm__sio_packet_parse(packets[i].data, packets[i].len, &msgs[i], &err) != 0)
            return eio_error(resp, 400, "%s", err.msg);
        wants_pipeline = wants_pipeline ||
                         (msgs[i].type == SM_SIO_CONNECT && strcmp(msgs[i].nsp, "/pipeline") == 0);
    }
    /* Where the change feed stands now: a /pipeline session gets cancels from here on. */
    int64_t feed_seq = 0;
    if (wants_pipeline) {
        struct sm_store *store = sm_http_store(req, &err);
        feed_seq = store != NULL ? sm_store_change_seq(store) : 0;
        if (feed_seq < 0)
            feed_seq = 0;
    }

    pthread_mutex_lock(&hub.mu);
    struct session *s = session_find(sid);
    if (s != NULL) {
        s->last_seen_ms = mono_ms();
        for (size_t i = 0; i < n && !s->is_closed; i++) {
            switch (packets[i].type) {
            case SM_EIO_CLOSE:
                session_close(s, false);
                break;
            case SM_EIO_PING: /* Engine.IO v3 clients ping; answer as they expect */
                session_send(s, "3", 1);
                break;
            case SM_EIO_PONG:
                s->ping_sent_ms = 0;
                break;
            case SM_EIO_MESSAGE:
                if (!packets[i].is_binary)
                    on_message(s, &msgs[i], feed_seq);
                break;
            default:
                break;
            }
        }
        session_unref(s);
    }
    pthread_mutex_unlock(&hub.mu);
    if (s == NULL)
        return unknown_session(resp, sid, false);
    return sm_http_bytes(resp, 200, "text/plain; charset=UTF-8", "ok", 2);
}

/*
 * GET /api/v1/_test/socketio/:sid (test-only row): what a session is doing, without touching
 * it, so tests wait on that instead of guessing: {"polling", "namespaces", "queued_bytes"}.
 */
int sm__test_sio_session(struct sm_http_req *req, struct sm_http_resp *resp)
{
    const char *sid = sm_http_param(req, "sid");
    pthread_mutex_lock(&hub.mu);
    struct session *s = NULL;
    for (struct session *it = hub.list; it != NULL && s == NULL; it = it->next)
        if (strcmp(it->sid, sid) == 0)
            s = it;
    if (s == NULL) {
        pthread_mutex_unlock(&hub.mu);
        return unknown_session(resp, sid, false);
    }
    struct sm_jw *w = sm_http_json(resp, 200);
    sm_jw_begin_object(w);
    sm_jw_keyz(w, "polling");
    sm_jw_bool(w, s->is_polling);
    sm_jw_keyz(w, "namespaces");
    sm_jw_begin_array(w);
    for (int i = 0; i < SM_SIO_N_NSP; i++)
        if (s->nsp_mask & (1u << i))
            sm_jw_stringz(w, sm__sio_nsp_name(i));
    sm_jw_end_array(w);
    sm_jw_keyz(w, "queued_bytes");
    sm_jw_int(w, (int64_t)s->queue.len);
    sm_jw_end_object(w);
    pthread_mutex_unlock(&hub.mu);
    return 0;
}

/* ------------------------------------------------------------ broadcasting */

size_t sm__sio_broadcast(const char *nsp, const char *event, const char *json, size_t len)
{
    int index = sm__sio_nsp_index(nsp);
    if (index < 0)
        return 0; /* no session can be connected to it */
    struct sm_buf packet = SM_BUF_INIT(QUEUE_MAX_BYTES);
    if (sm__sio_event_packet(&packet, nsp, event, json, len) != 0) {
        sm_buf_release(&packet);
        return 0;
    }
    size_t n = 0;
    pthread_mutex_lock(&hub.mu);
    for (struct session *s = hub.list; s != NULL;) {
        struct session *next = s->next; /* sending may close (and unlist) s */
        if (s->nsp_mask & (1u << index)) {
            session_send(s, packet.data, packet.len);
            n++;
        }
        s = next;
    }
    pthread_mutex_unlock(&hub.mu);
    sm_buf_release(&packet);
    return n;
}

/* A namespace of POST /api/v1/events/:namespace/:event: one segment a client can name. */
static bool is_namespace_name(const char *s)
{
    size_t n = 0;
    for (; s[n] != '\0'; n++) {
        char c = s[n];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '-' || c == '.';
        if (!ok)
            return false;
    }
    return n > 0 && n < SM_SIO_NSP_MAX;
}

int sm__api_events_post(struct sm_http_req *req, struct sm_http_resp *resp)
{
    const char *ns = sm_http_param(req, "namespace");
    const char *event = sm_http_param(req, "event");
    if (!is_namespace_name(ns)) {
        char shown[96];
        sm__http_sanitize(ns, shown, sizeof(shown));
        return sm_http_error(resp, 400,
                             "invalid namespace '%s': use letters, digits, '_', '-' and '.' "
                             "(Sematic's are pipeline, graph, job, metrics)",
                             shown);
    }
    struct sm_json_doc doc = {0};
    struct sm_buf json = SM_BUF_INIT(QUEUE_MAX_BYTES);
    int rc = 0;
    if (req->body_len > 0) { /* Sematic's client may post no body: an event with no data */
        rc = sm_http_body_json(req, resp, &doc);
        if (rc != 0)
            goto out;
        struct sm_jw w;
        sm_jw_init(&w, &json);
        sm__sj_write_sorted(&w, doc.root);
        if (sm_jw_finish(&w, NULL) != 0) {
            rc = sm_http_error(resp, 413,
                               "the event's data is too big: at most %zu bytes are broadcast",
                               QUEUE_MAX_BYTES);
            goto out;
        }
    }
    char nsp[SM_SIO_NSP_MAX + 2];
    snprintf(nsp, sizeof(nsp), "/%s", ns);
    sm__sio_broadcast(nsp, event, req->body_len > 0 ? json.data : NULL, json.len);
    struct sm_jw *w = sm_http_json(resp, 200);
    sm_jw_begin_object(w);
    sm_jw_end_object(w);
out:
    sm_buf_release(&json);
    sm_json_doc_release(&doc);
    return rc;
}
