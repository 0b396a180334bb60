/*
 * server.h: the HTTP server of `sematic start`, as the CLI (src/cli/start.c)
 * drives it: find the dashboard, bind the socket, start serving, stop.
 *
 *     struct sm_server_config cfg = SM_SERVER_CONFIG_INIT;
 *     cfg.home = home;                       // the store, $SEMATIC_HOME
 *     struct sm_server *srv = sm_server_start(&cfg, &err);
 *     ... wait for SIGTERM (sigwait) ...
 *     sm_server_stop(srv);
 *
 * Serving runs on threads libmicrohttpd starts (one per connection), so
 * sm_server_start() returns at once. A caller that waits for signals with
 * sigwait() must block them before sm_server_start(), so that the server's
 * threads inherit the mask and the signals reach the waiting thread.
 *
 * The endpoints are the rows of routes.c; http.h is what they see.
 */
#ifndef SM_SERVER_SERVER_H
#define SM_SERVER_SERVER_H

#include <stdbool.h>
#include <stddef.h>

#include "sematic/err.h"

#define SM_SERVER_DEFAULT_HOST "127.0.0.1"
#define SM_SERVER_DEFAULT_PORT 5001
#define SM_SERVER_DEFAULT_MAX_BODY_BYTES ((size_t)64 << 20)
#define SM_SERVER_DEFAULT_CONNECTIONS 512

struct sm_server_config {
    const char *host;       /* IPv4 address to bind; NULL: 127.0.0.1 */
    int port;               /* 0: any free port (sm_server_port() says which) */
    int listen_fd;          /* >= 0: serve this listening socket (taken over); -1: bind host:port */
    const char *home;       /* the store's directory (required) */
    const char *ui_dir;     /* the dashboard build; NULL or "" when there is none */
    size_t max_body_bytes;  /* request bodies larger than this get 413; 0: the default, 64 MiB */
    int log_fd;             /* one line per request goes here (a single write each); -1: none */
    bool test_routes;       /* also serve the SM_HTTP_ROUTE_TEST_ONLY rows (tests only) */
    unsigned n_connections; /* most connections served at once; 0: the default */
    bool authenticate;      /* require a user's X-API-KEY on every non-public row (auth.c) */
};

/* clang-format off */
#define SM_SERVER_CONFIG_INIT {NULL, SM_SERVER_DEFAULT_PORT, -1, NULL, NULL, 0, -1, false, 0, false}
/* clang-format on */

struct sm_server;

/*
 * Bind and listen on host:port (IPv4; NULL host: 127.0.0.1). *fd_out gets
 * the socket (close-on-exec). Returns 0, SM_EINVAL (host is not an IPv4
 * address, port out of range), SM_EBUSY (the port is in use: the message
 * names it and says to choose another with --port) or SM_EIO.
 */
int sm_server_listen(const char *host, int port, int *fd_out, struct sm_err *err);

/*
 * Open the store (creating and migrating it), compile the routes and start
 * serving. Returns the running server (stop and free it with
 * sm_server_stop()) or NULL with err set: the store's errors
 * (sm_store_open_sqlite), those of sm_server_listen(), SM_EIO when the
 * HTTP daemon cannot start. On failure a listen_fd given in cfg is closed.
 */
struct sm_server *sm_server_start(const struct sm_server_config *cfg, struct sm_err *err);

/* The port the server listens on. */
int sm_server_port(const struct sm_server *srv);

/* true when the server found a built dashboard (index.html) in cfg->ui_dir. */
bool sm_server_has_ui(const struct sm_server *srv);

/*
 * Stop: streaming responses are told to end, open connections are closed,
 * every thread is joined, the store handles are closed; then free srv.
 * Accepts NULL.
 */
void sm_server_stop(struct sm_server *srv);

/*
 * The boolean server setting `name` (SEMATIC_AUTHENTICATE) from the
 * environment, read as Sematic reads it (Python's strtobool: 1, true, yes,
 * on, y, t / 0, false, no, off, n, f, any case); unset or "" is false.
 * Returns 0, or SM_EINVAL naming the setting, its value and what is accepted.
 */
int sm_server_bool_setting(const char *name, bool *out, struct sm_err *err);

/*
 * Where the dashboard build is, into out (size bytes; "" when none found):
 * $SEMATIC_UI_DIR when set; else the `ui` directory of the installed
 * Python package next to the binary (<bin>/../lib/python3.*\/site-packages/
 * sematic/ui); else `ui/dist` in the source tree, looked for in the
 * binary's directory and up to four of its parents. A candidate other than
 * $SEMATIC_UI_DIR counts only when it holds index.html.
 */
void sm_server_find_ui_dir(char *out, size_t size);

#endif
