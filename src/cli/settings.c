/*
 * settings.c: `sematic settings show | set VAR VALUE | delete VAR`.
 *
 * Settings live in $SEMATIC_HOME/settings.yaml (else ~/.sematic/), a file
 * that is both valid YAML and simple enough to read without a YAML library:
 *
 *     # comments and blank lines are kept as they are
 *     SEMATIC_API_ADDRESS: http://127.0.0.1:5001
 *     SEMATIC_API_KEY: "a value that needs quotes: like this one"
 *
 * - one flat mapping, one `KEY: value` per line, starting in column 1;
 * - KEY is upper-case letters, digits and '_' ([A-Z0-9_]+);
 * - a value is one line: plain (the rest of the line, up to a " #"
 *   comment, trailing blanks dropped), or double-quoted with \" and \\ as
 *   the only escapes, or single-quoted with '' for a quote (YAML's rules);
 * - `set` writes a value plain when YAML would read it back as the same
 *   string, else double-quoted (empty values, leading digits or
 *   indicators, ": " or " #" inside, true/false/null and the like);
 * - a later line for the same KEY wins;
 * - an environment variable of the same name overrides the file.
 *
 * Writes replace the file atomically: a temporary file (mode 0600: values
 * may be secrets) in the same directory, fsynced, then renamed over it.
 * Lines other than the one set or deleted are written back unchanged.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sematic/alloc.h"

#include "cli.h"

#include "util/banned.h"

#define SETTINGS_FILE "settings.yaml"
#define SETTINGS_MAX_BYTES (1u << 20)
#define MASK "********"

static const char usage_text[] =
    "usage: sematic settings show\n"
    "       sematic settings set VAR VALUE\n"
    "       sematic settings delete VAR\n"
    "\n"
    "Show, set or delete user settings, kept in $SEMATIC_HOME/settings.yaml\n"
    "(~/.sematic/settings.yaml by default) as one 'VAR: value' per line. An\n"
    "environment variable of the same name overrides a setting. Values of\n"
    "settings whose names contain KEY, TOKEN, SECRET or PASSWORD are masked.\n"
    "\n"
    "options:\n"
    "  -h, --help  show this help\n";

/* Settings Sematic knows (API.md 10), shown when set in the environment. */
static const char *const known_settings[] = {
    "SEMATIC_API_ADDRESS",
    "SEMATIC_API_KEY",
    "SEMATIC_LOG_INGESTION_MODE",
    "SNOWFLAKE_USER",
    "SNOWFLAKE_PASSWORD",
    "SNOWFLAKE_ACCOUNT",
    "AWS_S3_BUCKET",
    "SEMATIC_AUTHENTICATE",
    "SEMATIC_AUTHORIZED_EMAIL_DOMAIN",
    "SEMATIC_WORKER_API_ADDRESS",
    "SEMATIC_DASHBOARD_URL",
    "SEMATIC_WORKER_SOCKET_IO_ADDRESS",
    "SEMATIC_WSGI_WORKERS_COUNT",
    "GOOGLE_OAUTH_CLIENT_ID",
    "GITHUB_OAUTH_CLIENT_ID",
    "KUBERNETES_NAMESPACE",
    "SEMATIC_WORKER_KUBERNETES_SA",
    "SEMATIC_WORKER_ALLOWED_ANNOTATION_KEYS",
    "SEMATIC_WORKER_ALLOWED_LABEL_KEYS",
    "WORKER_IMAGE_PULL_SECRETS",
    "ALLOW_CUSTOM_SECURITY_CONTEXTS",
    "ALLOW_HOST_PATH_MOUNTING",
    "GRAFANA_PANEL_URL",
};
#define N_KNOWN (sizeof(known_settings) / sizeof(known_settings[0]))

static const char header[] =
    "# Sematic settings, written by `sematic settings set|delete`.\n"
    "# One `KEY: value` per line; KEY is [A-Z0-9_]+; a value is one line, plain or\n"
    "# double-quoted (\\\" and \\\\ escapes). An environment variable of the same\n"
    "# name overrides a setting.\n";

/* One line of the file; key and value are set (owned) for setting lines. */
struct line {
    const char *text; /* into the file's buffer, without its newline */
    size_t len;
    char *key;
    char *value;
};

struct settings {
    char path[SM_CLI_PATH_MAX + 32];
    char dir[SM_CLI_PATH_MAX];
    bool exists;
    struct sm_buf raw; /* the file as read */
    struct line *lines;
    size_t n_lines, cap_lines;
};

static bool is_key(const char *s, size_t len)
{
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
            return false;
    return true;
}

static bool is_secret(const char *key)
{
    return strstr(key, "KEY") != NULL || strstr(key, "TOKEN") != NULL ||
           strstr(key, "SECRET") != NULL || strstr(key, "PASSWORD") != NULL;
}

static const char *shown(const char *key, const char *value)
{
    return is_secret(key) ? MASK : value;
}

static char *dup_n(const char *s, size_t n)
{
    char *copy = sm_xmalloc(n + 1);
    memcpy(copy, s, n);
    copy[n] = '\0';
    return copy;
}

/*
 * Parse the value part of a line (after "KEY:"). Returns an owned string,
 * or NULL when it is malformed (an unclosed quote, text after the quote).
 */
static char *parse_value(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    if (p < end && (*p == '"' || *p == '\'')) {
        char quote = *p++;
        struct sm_buf out = SM_BUF_INIT(SETTINGS_MAX_BYTES);
        sm_buf_adds(&out, "");
        for (;; p++) {
            if (p >= end) {
                sm_buf_release(&out);
                return NULL;
            }
            if (quote == '"' && *p == '\\' && p + 1 < end && (p[1] == '"' || p[1] == '\\')) {
                sm_buf_addc(&out, *++p);
            } else if (quote == '\'' && *p == '\'' && p + 1 < end && p[1] == '\'') {
                sm_buf_addc(&out, *++p);
            } else if (*p == quote) {
                p++;
                break;
            } else {
                sm_buf_addc(&out, *p);
            }
        }
        while (p < end && (*p == ' ' || *p == '\t'))
            p++;
        if (p < end && *p != '#') {
            sm_buf_release(&out);
            return NULL;
        }
        return sm_buf_detach(&out, NULL);
    }
    /* Plain: up to a " #" comment, trailing blanks dropped. */
    const char *stop = p;
    for (const char *q = p; q < end; q++) {
        if (*q == '#' && (q == p || q[-1] == ' ' || q[-1] == '\t'))
            break;
        stop = q + 1;
    }
    while (stop > p && (stop[-1] == ' ' || stop[-1] == '\t'))
        stop--;
    return dup_n(p, (size_t)(stop - p));
}

static void add_line(struct settings *s, const char *text, size_t len, char *key, char *value)
{
    if (s->n_lines == s->cap_lines) {
        s->cap_lines = s->cap_lines ? 2 * s->cap_lines : 16;
        s->lines = sm_xrealloc(s->lines, s->cap_lines * sizeof(*s->lines));
    }
    s->lines[s->n_lines++] = (struct line){text, len, key, value};
}

static void settings_release(struct settings *s)
{
    for (size_t i = 0; i < s->n_lines; i++) {
        sm_free(s->lines[i].key);
        sm_free(s->lines[i].value);
    }
    sm_free(s->lines);
    s->lines = NULL;
    s->n_lines = s->cap_lines = 0;
    sm_buf_release(&s->raw);
}

/* Read and parse the file. Returns SM_CLI_OK or SM_CLI_FAIL (message printed). */
static int settings_load(struct settings *s)
{
    memset(s, 0, sizeof(*s));
    sm_buf_init(&s->raw, SETTINGS_MAX_BYTES);
    if (sm__cli_home(s->dir) != SM_CLI_OK)
        return SM_CLI_FAIL;
    snprintf(s->path, sizeof(s->path), "%s/%s", s->dir, SETTINGS_FILE);

    int fd = open(s->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return SM_CLI_OK;
        return sm__cli_fail("cannot read settings file '%s': %s", s->path, strerror(errno));
    }
    s->exists = true;
    for (;;) {
        char chunk[8192];
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            close(fd);
            return sm__cli_fail("cannot read settings file '%s': %s", s->path, strerror(e));
        }
        if (n == 0)
            break;
        if (sm_buf_add(&s->raw, chunk, (size_t)n) != 0) {
            close(fd);
            return sm__cli_fail("cannot read settings file '%s': it is larger than %u bytes; "
                                "it should hold a few lines, so check or delete it",
                                s->path, SETTINGS_MAX_BYTES);
        }
    }
    close(fd);

    const char *p = s->raw.data ? s->raw.data : "";
    const char *end = p + s->raw.len;
    for (size_t lineno = 1; p < end; lineno++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *eol = nl ? nl : end;
        size_t len = (size_t)(eol - p);
        const char *content_end = eol;
        if (content_end > p && content_end[-1] == '\r')
            content_end--;
        const char *q = p;
        while (q < content_end && (*q == ' ' || *q == '\t'))
            q++;
        if (q == content_end || *q == '#' || (content_end - p == 3 && memcmp(p, "---", 3) == 0)) {
            add_line(s, p, len, NULL, NULL);
        } else {
            const char *colon = memchr(p, ':', (size_t)(content_end - p));
            char *value = NULL;
            if (colon != NULL && is_key(p, (size_t)(colon - p)) &&
                (colon + 1 == content_end || colon[1] == ' ' || colon[1] == '\t'))
                value = parse_value(colon + 1, content_end);
            if (value == NULL)
                return sm__cli_fail("cannot read settings file '%s': line %zu is not 'KEY: value' "
                                    "with KEY in [A-Z0-9_]+; fix or delete that line",
                                    s->path, lineno);
            add_line(s, p, len, dup_n(p, (size_t)(colon - p)), value);
        }
        p = nl ? nl + 1 : end;
    }
    return SM_CLI_OK;
}

/* The value of key in the file (the last line for it wins), or NULL. Borrowed from s. */
static const char *settings_get(const struct settings *s, const char *key)
{
    const char *value = NULL;
    for (size_t i = 0; i < s->n_lines; i++)
        if (s->lines[i].key != NULL && strcmp(s->lines[i].key, key) == 0)
            value = s->lines[i].value;
    return value;
}

/* true when YAML reads value back, unquoted, as this same string. */
static bool is_plain_safe(const char *value)
{
    static const char *const keywords[] = {"true", "false", "yes", "no", "on",
                                           "off",  "null",  "y",   "n",  "~"};
    if (value[0] == '\0' || !(isalpha((unsigned char)value[0]) || value[0] == '/' ||
                              value[0] == '_' || value[0] == '$'))
        return false;
    for (size_t i = 0; i < sizeof(keywords) / sizeof(keywords[0]); i++)
        if (strcasecmp(value, keywords[i]) == 0)
            return false;
    for (const char *p = value; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '#' || c == '"' || c == '\'' || c == '\\' || c == '\t' || c < 0x20)
            return false;
        if (c == ' ' && (p[1] == '\0' || p[1] == '#'))
            return false;
        if (c == ':' && (p[1] == ' ' || p[1] == '\0'))
            return false;
    }
    return true;
}

static void format_setting(struct sm_buf *out, const char *key, const char *value)
{
    sm_buf_addf(out, "%s: ", key);
    if (is_plain_safe(value)) {
        sm_buf_adds(out, value);
    } else {
        sm_buf_addc(out, '"');
        for (const char *p = value; *p; p++) {
            if (*p == '"' || *p == '\\')
                sm_buf_addc(out, '\\');
            sm_buf_addc(out, *p);
        }
        sm_buf_addc(out, '"');
    }
    sm_buf_addc(out, '\n');
}

static int mkdir_p(const char *dir)
{
    char path[SM_CLI_PATH_MAX];
    snprintf(path, sizeof(path), "%s", dir);
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(path, 0700) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    if (mkdir(path, 0700) != 0 && errno != EEXIST)
        return -1;
    return 0;
}

/*
 * Write the file: every line as read except those for key (dropped, and
 * replaced by one line for value unless value is NULL), then a new line
 * for key when it was not there. Returns SM_CLI_OK or SM_CLI_FAIL.
 */
static int settings_write(const struct settings *s, const char *key, const char *value)
{
    struct sm_buf out = SM_BUF_INIT(2 * SETTINGS_MAX_BYTES);
    if (!s->exists)
        sm_buf_adds(&out, header);
    bool written = false;
    for (size_t i = 0; i < s->n_lines; i++) {
        const struct line *l = &s->lines[i];
        if (l->key != NULL && strcmp(l->key, key) == 0) {
            if (value != NULL && !written)
                format_setting(&out, key, value);
            written = true;
            continue;
        }
        sm_buf_add(&out, l->text, l->len);
        sm_buf_addc(&out, '\n');
    }
    if (value != NULL && !written)
        format_setting(&out, key, value);

    int status = SM_CLI_OK;
    char tmp[sizeof(s->path) + 16];
    snprintf(tmp, sizeof(tmp), "%s.XXXXXX", s->path);
    if (mkdir_p(s->dir) != 0)
        return sm__cli_fail("cannot create directory '%s': %s; create it or set SEMATIC_HOME",
                            s->dir, strerror(errno));
    int fd = mkstemp(tmp);
    if (fd < 0) {
        status = sm__cli_fail("cannot write settings file '%s': %s", s->path, strerror(errno));
        goto fail_open;
    }
    const char *p = out.data ? out.data : "";
    size_t left = out.len;
    while (left > 0) {
        ssize_t n = write(fd, p, left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            status = sm__cli_fail("cannot write settings file '%s': %s", s->path, strerror(errno));
            goto fail_write;
        }
        p += n;
        left -= (size_t)n;
    }
    if (fsync(fd) != 0) {
        status = sm__cli_fail("cannot write settings file '%s': %s", s->path, strerror(errno));
        goto fail_write;
    }
    close(fd);
    fd = -1;
    if (rename(tmp, s->path) != 0) {
        status = sm__cli_fail("cannot replace settings file '%s': %s", s->path, strerror(errno));
        goto fail_write;
    }
    int dfd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd); /* the rename is durable; a failure here loses nothing already read */
        close(dfd);
    }
    sm_buf_release(&out);
    return SM_CLI_OK;

fail_write:
    if (fd >= 0)
        close(fd);
    unlink(tmp);
fail_open:
    sm_buf_release(&out);
    return status;
}

static int check_key(const char *key)
{
    if (!is_key(key, strlen(key)))
        return sm__cli_usage_error("setting name '%s' must be upper-case letters, digits and '_' "
                                   "(like SEMATIC_API_ADDRESS)",
                                   key);
    return SM_CLI_OK;
}

static void note_env_override(const char *key)
{
    const char *env = getenv(key);
    if (env != NULL)
        printf("Note: the environment variable %s is set (%s) and overrides this setting.\n", key,
               shown(key, env));
}

static int show(void)
{
    struct settings s;
    int status = settings_load(&s);
    if (status != SM_CLI_OK)
        goto done;

    size_t n_settings = 0;
    for (size_t i = 0; i < s.n_lines; i++) {
        const struct line *l = &s.lines[i];
        /* Print each key once, with the value that wins (the last). */
        if (l->key == NULL || settings_get(&s, l->key) != l->value)
            continue;
        if (n_settings++ == 0)
            printf("Settings in %s:\n", s.path);
        printf("  %s: %s\n", l->key, shown(l->key, l->value));
    }
    if (n_settings == 0)
        printf("No settings in %s; set one with: sematic settings set VAR VALUE\n", s.path);

    /* Environment variables that override: those named in the file, then known ones. */
    size_t n_env = 0;
    for (size_t i = 0; i < s.n_lines + N_KNOWN; i++) {
        const char *key;
        if (i < s.n_lines) {
            key = s.lines[i].key;
            if (key == NULL || settings_get(&s, key) != s.lines[i].value)
                continue;
        } else {
            key = known_settings[i - s.n_lines];
            if (settings_get(&s, key) != NULL)
                continue; /* listed with the file's */
        }
        const char *env = getenv(key);
        if (env == NULL)
            continue;
        if (n_env++ == 0)
            printf("\nEnvironment overrides (a variable of the same name wins over the file):\n");
        printf("  %s=%s\n", key, shown(key, env));
    }

done:
    settings_release(&s);
    return status;
}

static int set(const char *key, const char *value)
{
    for (const char *p = value; *p; p++)
        if ((unsigned char)*p < 0x20 && *p != '\t')
            return sm__cli_usage_error("the value of setting '%s' must be one line of text "
                                       "without control characters",
                                       key);
    struct settings s;
    int status = settings_load(&s);
    if (status == SM_CLI_OK)
        status = settings_write(&s, key, value);
    if (status == SM_CLI_OK) {
        printf("Set %s in %s.\n", key, s.path);
        note_env_override(key);
    }
    settings_release(&s);
    return status;
}

static int delete (const char *key)
{
    struct settings s;
    int status = settings_load(&s);
    if (status == SM_CLI_OK && settings_get(&s, key) == NULL)
        status =
            sm__cli_fail("no setting '%s' in %s; 'sematic settings show' lists them", key, s.path);
    if (status == SM_CLI_OK)
        status = settings_write(&s, key, NULL);
    if (status == SM_CLI_OK) {
        printf("Deleted %s from %s.\n", key, s.path);
        note_env_override(key);
    }
    settings_release(&s);
    return status;
}

int sm__cli_settings(int argc, char **argv)
{
    const char *args[3];
    int n_args = 0;
    for (int i = 1; i < argc; i++) {
        if (sm__cli_is_help(argv[i])) {
            fputs(usage_text, stdout);
            return SM_CLI_OK;
        }
        /* The third word is a VALUE, which may start with '-'. */
        bool is_value = n_args == 2 && strcmp(args[0], "set") == 0;
        if ((argv[i][0] == '-' && argv[i][1] != '\0' && !is_value) || n_args == 3)
            return sm__cli_unknown_option("settings", argv[i]);
        args[n_args++] = argv[i];
    }
    if (n_args == 0)
        return sm__cli_missing_arg("settings", "an action: show, set VAR VALUE or delete VAR");

    const char *action = args[0];
    if (strcmp(action, "show") == 0) {
        if (n_args > 1)
            return sm__cli_usage_error("'settings show' takes no arguments, got '%s'", args[1]);
        return show();
    }
    if (strcmp(action, "set") == 0) {
        if (n_args < 3)
            return sm__cli_usage_error("'settings set' needs a VAR and a VALUE: sematic settings "
                                       "set VAR VALUE");
        if (check_key(args[1]) != SM_CLI_OK)
            return SM_CLI_USAGE;
        return set(args[1], args[2]);
    }
    if (strcmp(action, "delete") == 0) {
        if (n_args < 2)
            return sm__cli_usage_error("'settings delete' needs a VAR: sematic settings delete "
                                       "VAR");
        if (n_args > 2)
            return sm__cli_usage_error("'settings delete' takes one VAR, got '%s' too", args[2]);
        if (check_key(args[1]) != SM_CLI_OK)
            return SM_CLI_USAGE;
        return delete (args[1]);
    }
    return sm__cli_usage_error("unknown settings action '%s'; use show, set VAR VALUE or delete "
                               "VAR",
                               action);
}
