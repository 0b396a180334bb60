/*
 * start.c: `sematic start` and `sematic stop`, the server's life cycle.
 *
 * start: one server per store. $SEMATIC_HOME/server.pid names the running
 * one (line 1 its pid, line 2 its URL); when that process is alive, is a
 * `sematic start`, and answers GET /api/v1/ping, start says where it is
 * and exits 0. A pid file naming anything else is stale and is replaced.
 *
 * The socket is bound here, before any fork, so "port in use" is reported
 * by the command the user ran. Without --foreground the server then
 * daemonizes (fork, setsid, fork), logs to $SEMATIC_HOME/logs/server.log,
 * and reports through a pipe whether it started; the command waits for
 * that, then for the port to answer a ping, prints the URL and exits.
 *
 * The serving process blocks SIGTERM and SIGINT before the server's
 * threads exist (they inherit the mask) and waits for them with
 * sigwait(), so stopping runs on the main thread with no handler code:
 * sm_server_stop() (connections closed, threads joined, stores closed),
 * then the pid file is removed.
 *
 * stop: SIGTERM to the pid of the pid file (checked to be a `sematic
 * start` first, so a reused pid is never signalled), then wait for it to
 * exit, at most STOP_WAIT_MS, through a pidfd.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "server.h"

#include "util/banned.h"

#define START_WAIT_MS 60000 /* opening (migrating) the store may take a while */
#define PING_WAIT_MS 10000
#define PING_TIMEOUT_MS 2000
#define STOP_WAIT_MS 10000
#define ALREADY_WAIT_MS 5000 /* a server that is alive but not answering may still be starting */

static const char start_usage[] =
    "usage: sematic start [--host HOST] [--port PORT] [--foreground]\n"
    "\n"
    "Serve the API and the dashboard for the store at $SEMATIC_HOME (else\n"
    "~/.sematic). Without --foreground the server runs in the background: its\n"
    "pid is in $SEMATIC_HOME/server.pid, its log (one line per request) in\n"
    "$SEMATIC_HOME/logs/server.log, and 'sematic stop' stops it. One server\n"
    "runs per store: when it already runs, this says where and exits.\n"
    "\n"
    "options:\n"
    "  --host HOST    IPv4 address to listen on (default 127.0.0.1; anything\n"
    "                 else exposes the store to the network: set\n"
    "                 SEMATIC_AUTHENTICATE=1)\n"
    "  --port PORT    port to listen on (default 5001, or $SEMATIC_SERVER_PORT)\n"
    "  --foreground   serve in this process, logging to stderr, until SIGTERM\n"
    "                 or Ctrl-C\n"
    "  -h, --help     show this help\n"
    "\n"
    "environment:\n"
    "  SEMATIC_SERVER_PORT            port when --port is not given\n"
    "  SEMATIC_SERVER_MAX_BODY_BYTES  largest request body accepted (default 64 MiB)\n"
    "  SEMATIC_UI_DIR                 the dashboard build to serve (docs/server.md)\n"
    "  SEMATIC_AUTHENTICATE           1: every request needs a user's X-API-KEY\n"
    "                                 ('sematic users create EMAIL' makes one)\n";

static const char stop_usage[] = "usage: sematic stop\n"
                                 "\n"
                                 "Stop the server 'sematic start' started for the store at\n"
                                 "$SEMATIC_HOME (else ~/.sematic).\n"
                                 "\n"
                                 "options:\n"
                                 "  -h, --help  show this help\n";

struct start_opts {
    const char *host;
    int port;
    bool is_foreground;
    size_t max_body_bytes;
    bool test_routes;
    bool authenticate;
    char home[SM_CLI_PATH_MAX];
    char pid_path[SM_CLI_PATH_MAX + 16];
    char log_path[SM_CLI_PATH_MAX + 32];
    char ui_dir[SM_CLI_PATH_MAX];
};

/* ------------------------------------------------------------ pid file */

/* Read pid and URL from the pid file. false when it is absent or unreadable. */
static bool read_pid_file(const char *path, long *pid, char *url, size_t url_size)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return false;
    char line[256];
    bool ok = false;
    url[0] = '\0';
    if (fgets(line, sizeof(line), f) != NULL) {
        char *end;
        errno = 0;
        *pid = strtol(line, &end, 10);
        ok = errno == 0 && end != line && *pid > 0;
        if (ok && fgets(line, sizeof(line), f) != NULL) {
            line[strcspn(line, "\r\n")] = '\0';
            snprintf(url, url_size, "%s", line);
        }
    }
    fclose(f);
    return ok;
}

/* Write the pid file whole (temp file, rename), so a reader never sees half of it. */
static int write_pid_file(const char *path, long pid, const char *url, struct sm_err *err)
{
    char tmp[SM_CLI_PATH_MAX + 64];
    snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", path, pid);
    FILE *f = fopen(tmp, "w");
    if (f == NULL)
        return sm_errf(err, SM_EIO, "cannot write pid file '%s': %s", tmp, strerror(errno));
    fprintf(f, "%ld\n%s\n", pid, url);
    if (fclose(f) != 0 || rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return sm_errf(err, SM_EIO, "cannot write pid file '%s': %s", path, strerror(e));
    }
    return 0;
}

/* Remove the pid file if it still names pid (a newer server may have replaced it). */
static void remove_pid_file(const char *path, long pid)
{
    long named;
    char url[256];
    if (read_pid_file(path, &named, url, sizeof(url)) && named == pid)
        unlink(path);
}

/* true when pid is a live (not zombie) `sematic ... start` process. */
static bool is_server_process(long pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return false;
    char stat_line[512];
    bool alive = fgets(stat_line, sizeof(stat_line), f) != NULL;
    fclose(f);
    const char *paren = alive ? strrchr(stat_line, ')') : NULL;
    if (paren == NULL || paren[1] != ' ' || paren[2] == 'Z' || paren[2] == 'X')
        return false;

    snprintf(path, sizeof(path), "/proc/%ld/cmdline", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    char cmd[4096];
    ssize_t n = read(fd, cmd, sizeof(cmd) - 1);
    close(fd);
    if (n <= 0)
        return false;
    cmd[n] = '\0';
    /* argv[0] ends in "sematic" and a later argument is "start". */
    const char *base = strrchr(cmd, '/');
    base = base != NULL ? base + 1 : cmd;
    if (strstr(base, "sematic") == NULL)
        return false;
    for (const char *arg = cmd + strlen(cmd) + 1; arg < cmd + n; arg += strlen(arg) + 1)
        if (strcmp(arg, "start") == 0)
            return true;
    return false;
}

/* ---------------------------------------------------------------- ping */

static bool parse_url(const char *url, char *host, size_t host_size, int *port)
{
    const char *p = strncmp(url, "http://", 7) == 0 ? url + 7 : NULL;
    const char *colon = p != NULL ? strrchr(p, ':') : NULL;
    if (colon == NULL || (size_t)(colon - p) >= host_size)
        return false;
    memcpy(host, p, (size_t)(colon - p));
    host[colon - p] = '\0';
    char *end;
    long v = strtol(colon + 1, &end, 10);
    if (end == colon + 1 || v <= 0 || v > 65535)
        return false;
    *port = (int)v;
    return true;
}

/* true when GET /api/v1/ping at host:port answers 200 {"status":"ok"} within timeout_ms. */
static bool ping(const char *host, int port, int timeout_ms)
{
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1)
        return false;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return false;
    int64_t deadline = sm__cli_now_ms() + timeout_ms;
    bool ok = false;
    char buf[1024];
    size_t got = 0;
    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0 && errno != EINPROGRESS)
        goto done;
    struct pollfd pfd = {.fd = fd, .events = POLLOUT};
    if (poll(&pfd, 1, timeout_ms) != 1)
        goto done;
    int so_error = 0;
    socklen_t len = sizeof(so_error);
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &len) != 0 || so_error != 0)
        goto done;
    char req[256];
    int n = snprintf(req, sizeof(req),
                     "GET /api/v1/ping HTTP/1.0\r\nHost: %s:%d\r\nConnection: close\r\n\r\n", host,
                     port);
    if (send(fd, req, (size_t)n, MSG_NOSIGNAL) != n)
        goto done;
    for (;;) {
        int64_t left = deadline - sm__cli_now_ms();
        if (left <= 0 || got >= sizeof(buf) - 1)
            break;
        pfd.events = POLLIN;
        if (poll(&pfd, 1, (int)left) != 1)
            break;
        ssize_t r = recv(fd, buf + got, sizeof(buf) - 1 - got, 0);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    buf[got] = '\0';
    ok = (strncmp(buf, "HTTP/1.0 200", 12) == 0 || strncmp(buf, "HTTP/1.1 200", 12) == 0) &&
         strstr(buf, "\"status\":\"ok\"") != NULL;
done:
    close(fd);
    return ok;
}

/* Ping until it answers or wait_ms passes. */
static bool wait_for_ping(const char *host, int port, int wait_ms)
{
    int64_t deadline = sm__cli_now_ms() + wait_ms;
    for (;;) {
        if (ping(host, port, PING_TIMEOUT_MS))
            return true;
        if (sm__cli_now_ms() >= deadline)
            return false;
        poll(NULL, 0, 20); /* a refused connection returns at once: pace the retries */
    }
}

/* ------------------------------------------------------------- options */

static int parse_port(const char *text, const char *what, int *port)
{
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (text[0] == '\0' || *end != '\0' || errno != 0 || v < 0 || v > 65535)
        return sm__cli_usage_error("%s must be a port number from 1 to 65535 (0: any free "
                                   "port), got '%s'",
                                   what, text);
    *port = (int)v;
    return SM_CLI_OK;
}

static int parse_start_args(int argc, char **argv, struct start_opts *o, bool *is_help)
{
    const char *port_arg = NULL;
    o->host = SM_SERVER_DEFAULT_HOST;
    for (int i = 1; i < argc; i++) {
        const char *value;
        enum sm_cli_opt r;
        if (sm__cli_is_help(argv[i])) {
            *is_help = true;
            return SM_CLI_OK;
        } else if (strcmp(argv[i], "--foreground") == 0) {
            o->is_foreground = true;
        } else if ((r = sm__cli_opt_value("start", argc, argv, &i, "--host", &value)) !=
                   SM_CLI_OPT_NO) {
            if (r == SM_CLI_OPT_BAD)
                return SM_CLI_USAGE;
            o->host = value;
        } else if ((r = sm__cli_opt_value("start", argc, argv, &i, "--port", &value)) !=
                   SM_CLI_OPT_NO) {
            if (r == SM_CLI_OPT_BAD)
                return SM_CLI_USAGE;
            port_arg = value;
        } else {
            return sm__cli_unknown_option("start", argv[i]);
        }
    }
    o->port = SM_SERVER_DEFAULT_PORT;
    const char *env_port = getenv("SEMATIC_SERVER_PORT");
    if (port_arg != NULL) {
        if (parse_port(port_arg, "option '--port'", &o->port) != SM_CLI_OK)
            return SM_CLI_USAGE;
    } else if (env_port != NULL && env_port[0] != '\0') {
        if (parse_port(env_port, "SEMATIC_SERVER_PORT", &o->port) != SM_CLI_OK)
            return SM_CLI_USAGE;
    }
    if (strcmp(o->host, "localhost") == 0)
        o->host = SM_SERVER_DEFAULT_HOST;
    struct in_addr probe;
    if (inet_pton(AF_INET, o->host, &probe) != 1)
        return sm__cli_usage_error("option '--host' must be an IPv4 address such as 127.0.0.1, "
                                   "got '%s'",
                                   o->host);

    o->max_body_bytes = SM_SERVER_DEFAULT_MAX_BODY_BYTES;
    const char *max_body = getenv("SEMATIC_SERVER_MAX_BODY_BYTES");
    if (max_body != NULL && max_body[0] != '\0') {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(max_body, &end, 10);
        if (*end != '\0' || errno != 0 || v == 0 || max_body[0] == '-')
            return sm__cli_usage_error("SEMATIC_SERVER_MAX_BODY_BYTES must be a positive number "
                                       "of bytes, got '%s'",
                                       max_body);
        o->max_body_bytes = (size_t)v;
    }
    const char *test_routes = getenv("SEMATIC_SERVER_TEST_ROUTES");
    o->test_routes = test_routes != NULL && strcmp(test_routes, "1") == 0;
    struct sm_err err = SM_ERR_INIT;
    if (sm_server_bool_setting("SEMATIC_AUTHENTICATE", &o->authenticate, &err) != 0)
        return sm__cli_usage_error("%s", err.msg);
    return SM_CLI_OK;
}

/* Make home (and home/logs) exist and turn home into an absolute path (the daemon leaves the
 * working directory). */
static int prepare_home(struct start_opts *o)
{
    char home[SM_CLI_PATH_MAX];
    if (sm__cli_home(home) != SM_CLI_OK)
        return SM_CLI_FAIL;
    /* mkdir -p */
    for (char *p = home + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char c = *p;
        *p = '\0';
        if (mkdir(home, 0755) != 0 && errno != EEXIST)
            return sm__cli_fail("cannot create directory '%s': %s; set SEMATIC_HOME to a "
                                "writable directory",
                                home, strerror(errno));
        *p = c;
        if (c == '\0')
            break;
    }
    char *real = realpath(home, NULL);
    if (real == NULL)
        return sm__cli_fail("cannot use directory '%s': %s", home, strerror(errno));
    snprintf(o->home, sizeof(o->home), "%s", real);
    free(real);
    snprintf(o->pid_path, sizeof(o->pid_path), "%s/server.pid", o->home);
    char logs[SM_CLI_PATH_MAX + 16];
    snprintf(logs, sizeof(logs), "%s/logs", o->home);
    if (mkdir(logs, 0755) != 0 && errno != EEXIST)
        return sm__cli_fail("cannot create directory '%s': %s", logs, strerror(errno));
    snprintf(o->log_path, sizeof(o->log_path), "%s/server.log", logs);

    sm_server_find_ui_dir(o->ui_dir, sizeof(o->ui_dir));
    if (o->ui_dir[0] != '\0' && o->ui_dir[0] != '/') {
        char *ui = realpath(o->ui_dir, NULL);
        if (ui != NULL) {
            snprintf(o->ui_dir, sizeof(o->ui_dir), "%s", ui);
            free(ui);
        }
    }
    return SM_CLI_OK;
}

enum running {
    RUNNING_NONE,    /* no server: start one */
    RUNNING_ANSWERS, /* one runs and answers: say where */
    RUNNING_SILENT,  /* one runs and does not answer */
};

static enum running check_running(const struct start_opts *o, long *pid, char *url, size_t url_size)
{
    if (!read_pid_file(o->pid_path, pid, url, url_size))
        return RUNNING_NONE;
    if (!is_server_process(*pid)) {
        fprintf(stderr,
                "sematic: replacing stale pid file '%s' (pid %ld is not a running "
                "server)\n",
                o->pid_path, *pid);
        unlink(o->pid_path);
        return RUNNING_NONE;
    }
    char host[64];
    int port;
    if (parse_url(url, host, sizeof(host), &port) && wait_for_ping(host, port, ALREADY_WAIT_MS))
        return RUNNING_ANSWERS;
    return RUNNING_SILENT;
}

/* ---------------------------------------------------------------- serving */

/*
 * Serve on listen_fd until SIGTERM or SIGINT. In the daemon, ready_fd gets
 * "ok\n" once serving, or the error; in the foreground it is -1 and the
 * URL is printed instead. Returns the exit status.
 */
static int serve(const struct start_opts *o, int listen_fd, const char *url, int ready_fd)
{
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct sm_server_config cfg = SM_SERVER_CONFIG_INIT;
    cfg.listen_fd = listen_fd;
    cfg.home = o->home;
    cfg.ui_dir = o->ui_dir;
    cfg.max_body_bytes = o->max_body_bytes;
    cfg.log_fd = STDERR_FILENO;
    cfg.test_routes = o->test_routes;
    cfg.authenticate = o->authenticate;
    struct sm_err err = SM_ERR_INIT;
    struct sm_server *srv = sm_server_start(&cfg, &err);
    if (srv == NULL || write_pid_file(o->pid_path, (long)getpid(), url, &err) != 0) {
        sm_server_stop(srv);
        if (ready_fd >= 0) {
            dprintf(ready_fd, "error: %s\n", err.msg);
            close(ready_fd);
        }
        return sm__cli_fail("cannot start the server: %s", err.msg);
    }
    if (ready_fd >= 0) {
        dprintf(ready_fd, "ok\n");
        close(ready_fd);
    } else {
        printf("Sematic dashboard: %s\n", url);
        if (!sm_server_has_ui(srv))
            printf("(the dashboard is not built: %s shows how to build it; the API works)\n", url);
        fflush(stdout);
    }

    int sig = 0;
    while (sigwait(&stop_signals, &sig) != 0)
        ;
    fprintf(stderr, "sematic: %s received, stopping the server\n",
            sig == SIGINT ? "SIGINT" : "SIGTERM");
    sm_server_stop(srv);
    remove_pid_file(o->pid_path, (long)getpid());
    return SM_CLI_OK;
}

/* Fork the daemon: it serves; this process waits for its report and the first ping. */
static int start_daemon(const struct start_opts *o, int listen_fd, const char *url, int port)
{
    int ready[2];
    if (pipe2(ready, O_CLOEXEC) != 0)
        return sm__cli_fail("cannot create a pipe: %s", strerror(errno));
    fflush(stdout);
    fflush(stderr);
    pid_t child = fork();
    if (child < 0)
        return sm__cli_fail("cannot start the server: fork failed: %s", strerror(errno));
    if (child == 0) {
        close(ready[0]);
        setsid();
        pid_t daemon_pid = fork();
        if (daemon_pid != 0)
            _exit(daemon_pid < 0 ? 1 : 0);
        int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
        int log_fd = open(o->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (null_fd < 0 || log_fd < 0) {
            dprintf(ready[1], "error: cannot open log file '%s': %s\n", o->log_path,
                    strerror(errno));
            _exit(1);
        }
        dup2(null_fd, STDIN_FILENO);
        dup2(log_fd, STDOUT_FILENO);
        dup2(log_fd, STDERR_FILENO);
        close(null_fd);
        close(log_fd);
        if (chdir("/") != 0)
            _exit(1);
        int status = serve(o, listen_fd, url, ready[1]);
        /* The server is stopped and its stores closed: leave without running the libraries'
         * exit handlers, one of which (p11-kit's, under libmicrohttpd's TLS library) was seen
         * to deadlock on glibc's locale lock in a forked daemon with a preloaded ASan runtime. */
        fflush(NULL);
        _exit(status);
    }
    close(ready[1]);
    close(listen_fd);
    int status;
    waitpid(child, &status, 0);

    /* The daemon's report: "ok" or "error: ...". */
    char report[1024];
    size_t got = 0;
    int64_t deadline = sm__cli_now_ms() + START_WAIT_MS;
    while (got < sizeof(report) - 1) {
        int64_t left = deadline - sm__cli_now_ms();
        struct pollfd pfd = {.fd = ready[0], .events = POLLIN};
        if (left <= 0 || poll(&pfd, 1, (int)left) != 1)
            break;
        ssize_t n = read(ready[0], report + got, sizeof(report) - 1 - got);
        if (n <= 0)
            break;
        got += (size_t)n;
        if (memchr(report, '\n', got) != NULL)
            break;
    }
    close(ready[0]);
    report[got] = '\0';
    report[strcspn(report, "\n")] = '\0';
    if (strncmp(report, "error: ", 7) == 0)
        return sm__cli_fail("cannot start the server: %s", report + 7);
    if (strcmp(report, "ok") != 0)
        return sm__cli_fail("the server did not report that it started within %d s; see its "
                            "log '%s'",
                            START_WAIT_MS / 1000, o->log_path);
    if (!wait_for_ping(o->host, port, PING_WAIT_MS))
        return sm__cli_fail("the server started but does not answer at %s; see its log '%s'", url,
                            o->log_path);
    printf("Sematic dashboard: %s\n", url);
    return SM_CLI_OK;
}

int sm__cli_start(int argc, char **argv)
{
    struct start_opts o;
    memset(&o, 0, sizeof(o));
    bool is_help = false;
    int status = parse_start_args(argc, argv, &o, &is_help);
    if (status != SM_CLI_OK)
        return status;
    if (is_help) {
        fputs(start_usage, stdout);
        return SM_CLI_OK;
    }
    if (prepare_home(&o) != SM_CLI_OK)
        return SM_CLI_FAIL;

    long pid = 0;
    char running_url[256];
    switch (check_running(&o, &pid, running_url, sizeof(running_url))) {
    case RUNNING_ANSWERS:
        printf("Sematic is already running (pid %ld): Sematic dashboard: %s\n", pid, running_url);
        return SM_CLI_OK;
    case RUNNING_SILENT:
        return sm__cli_fail("a server (pid %ld) is running for '%s' but does not answer at %s; "
                            "stop it with 'sematic stop' and start again",
                            pid, o.home, running_url[0] != '\0' ? running_url : "its address");
    case RUNNING_NONE:
        break;
    }

    int listen_fd;
    struct sm_err err = SM_ERR_INIT;
    if (sm_server_listen(o.host, o.port, &listen_fd, &err) != 0) {
        /* Two starts at once: the other one may have won the port. */
        if (err.code == SM_EBUSY &&
            check_running(&o, &pid, running_url, sizeof(running_url)) == RUNNING_ANSWERS) {
            printf("Sematic is already running (pid %ld): Sematic dashboard: %s\n", pid,
                   running_url);
            return SM_CLI_OK;
        }
        return sm__cli_fail("cannot start the server: %s", err.msg);
    }
    struct sockaddr_in addr;
    socklen_t addr_len = sizeof(addr);
    int port = o.port;
    if (getsockname(listen_fd, (struct sockaddr *)&addr, &addr_len) == 0)
        port = ntohs(addr.sin_port);
    char url[128];
    snprintf(url, sizeof(url), "http://%s:%d", o.host, port);

    if (o.is_foreground)
        return serve(&o, listen_fd, url, -1);
    return start_daemon(&o, listen_fd, url, port);
}

/* ---------------------------------------------------------------- stop */

/* Wait until pid exits or wait_ms passes; true when it exited. */
static bool wait_exit(long pid, int wait_ms)
{
    int64_t deadline = sm__cli_now_ms() + wait_ms;
#ifdef SYS_pidfd_open
    int pidfd = (int)syscall(SYS_pidfd_open, (pid_t)pid, 0);
    if (pidfd >= 0) {
        struct pollfd pfd = {.fd = pidfd, .events = POLLIN};
        int rc;
        do {
            int64_t left = deadline - sm__cli_now_ms();
            rc = poll(&pfd, 1, left > 0 ? (int)left : 0);
        } while (rc < 0 && errno == EINTR);
        close(pidfd);
        return rc == 1 || !is_server_process(pid);
    }
#endif
    while (is_server_process(pid)) {
        if (sm__cli_now_ms() >= deadline)
            return false;
        poll(NULL, 0, 20); /* no pidfd on this kernel: look again shortly */
    }
    return true;
}

int sm__cli_stop(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (sm__cli_is_help(argv[i])) {
            fputs(stop_usage, stdout);
            return SM_CLI_OK;
        }
        return sm__cli_unknown_option("stop", argv[i]);
    }
    char home[SM_CLI_PATH_MAX];
    if (sm__cli_home(home) != SM_CLI_OK)
        return SM_CLI_FAIL;
    char pid_path[SM_CLI_PATH_MAX + 16];
    snprintf(pid_path, sizeof(pid_path), "%s/server.pid", home);
    long pid;
    char url[256];
    if (!read_pid_file(pid_path, &pid, url, sizeof(url))) {
        printf("no server running (no pid file '%s')\n", pid_path);
        return SM_CLI_OK;
    }
    if (!is_server_process(pid)) {
        unlink(pid_path);
        printf("no server running (removed stale pid file '%s': pid %ld is not a server)\n",
               pid_path, pid);
        return SM_CLI_OK;
    }
    if (kill((pid_t)pid, SIGTERM) != 0) {
        if (errno == ESRCH) {
            unlink(pid_path);
            printf("no server running (pid %ld had exited)\n", pid);
            return SM_CLI_OK;
        }
        return sm__cli_fail("cannot stop the server (pid %ld): %s; run this as the user who "
                            "started it",
                            pid, strerror(errno));
    }
    if (!wait_exit(pid, STOP_WAIT_MS))
        return sm__cli_fail("the server (pid %ld) did not stop within %d s of SIGTERM; stop it "
                            "with 'kill -9 %ld'",
                            pid, STOP_WAIT_MS / 1000, pid);
    remove_pid_file(pid_path, pid);
    printf("stopped the server at %s (pid %ld)\n", url[0] != '\0' ? url : "?", pid);
    return SM_CLI_OK;
}
