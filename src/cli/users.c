/*
 * users.c: `sematic users create EMAIL [--first-name NAME] [--last-name NAME]`
 * and `sematic users list`, the users of the server's API keys.
 *
 * With SEMATIC_AUTHENTICATE=1, `sematic start` serves only requests that
 * carry a user's key in X-API-KEY (docs/server.md). Sematic makes users at
 * their first Google login; here an administrator with access to the
 * store makes them: `create` adds the user and prints a fresh key once.
 * The store keeps only the key's SHA-256 (sm_store_new_api_key), so the
 * key cannot be shown again; running `create` for an email that has a
 * user already gives that user a new key, which replaces the old one
 * (that is how a lost or leaked key is replaced).
 *
 * Users live in the store at $SEMATIC_HOME, which the server reads: these
 * commands open it directly, even when SEMATIC_API_ADDRESS points the SDK
 * at a server.
 */
#include <stdio.h>
#include <string.h>

#include "sematic/alloc.h"
#include "sematic/hash.h"

#include "cli.h"

#include "util/banned.h"

/* The longest email and name accepted. */
#define EMAIL_MAX 254
#define NAME_MAX_BYTES 200

static const char usage_text[] =
    "usage: sematic users create EMAIL [--first-name NAME] [--last-name NAME]\n"
    "       sematic users list\n"
    "\n"
    "Make and list the users whose API keys 'sematic start' accepts when it\n"
    "runs with SEMATIC_AUTHENTICATE=1 (clients send the key as the X-API-KEY\n"
    "header; the SDK sends $SEMATIC_API_KEY). 'create' prints the new user's key\n"
    "once: only its hash is stored, so it cannot be shown again. For an email\n"
    "that has a user already, 'create' makes that user a new key, replacing\n"
    "the old one.\n"
    "\n"
    "options:\n"
    "  --first-name NAME  the user's first name (create)\n"
    "  --last-name NAME   the user's last name (create)\n"
    "  -h, --help         show this help\n";

static int open_store(struct sm_cli_store *cs)
{
    if (sm__cli_home(cs->home) != SM_CLI_OK)
        return SM_CLI_FAIL;
    struct sm_err err = SM_ERR_INIT;
    cs->store = sm_store_open_sqlite(cs->home, SM_STORE_SYNC_FULL, &err);
    if (cs->store == NULL)
        return sm__cli_store_fail(&err);
    return SM_CLI_OK;
}

/* An email as the store will keep it: one '@' inside, no spaces or control characters. */
static bool is_email(const char *s)
{
    size_t len = strlen(s);
    const char *at = strchr(s, '@');
    if (len == 0 || len > EMAIL_MAX || at == NULL || at == s || at[1] == '\0' ||
        strchr(at + 1, '@') != NULL)
        return false;
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++)
        if (*p <= ' ' || *p == 0x7f)
            return false;
    return true;
}

static int create(int argc, char **argv)
{
    const char *email = NULL, *first = NULL, *last = NULL;
    for (int i = 2; i < argc; i++) {
        const char *value;
        enum sm_cli_opt r;
        if (sm__cli_is_help(argv[i])) {
            fputs(usage_text, stdout);
            return SM_CLI_OK;
        } else if ((r = sm__cli_opt_value("users create", argc, argv, &i, "--first-name",
                                          &value)) != SM_CLI_OPT_NO) {
            if (r == SM_CLI_OPT_BAD)
                return SM_CLI_USAGE;
            first = value;
        } else if ((r = sm__cli_opt_value("users create", argc, argv, &i, "--last-name", &value)) !=
                   SM_CLI_OPT_NO) {
            if (r == SM_CLI_OPT_BAD)
                return SM_CLI_USAGE;
            last = value;
        } else if (argv[i][0] == '-' || email != NULL) {
            return sm__cli_unknown_option("users create", argv[i]);
        } else {
            email = argv[i];
        }
    }
    if (email == NULL)
        return sm__cli_missing_arg("users create", "EMAIL");
    if (!is_email(email))
        return sm__cli_usage_error("'%s' is not an email address; give one such as "
                                   "ada@example.com",
                                   email);
    if ((first != NULL && strlen(first) > NAME_MAX_BYTES) ||
        (last != NULL && strlen(last) > NAME_MAX_BYTES))
        return sm__cli_usage_error("a name is longer than %d bytes; give a shorter one",
                                   NAME_MAX_BYTES);

    struct sm_cli_store cs = {0};
    if (open_store(&cs) != SM_CLI_OK)
        return SM_CLI_FAIL;
    struct sm_err err = SM_ERR_INIT;
    struct sm_user_rec user = {0};
    char key[SM_API_KEY_LEN + 1];
    bool existed = false;
    int64_t now = sm_now_us();
    struct sm_user_rec found;
    int rc = sm_store_find_user_by_email(cs.store, email, &found, &err);
    char *kept[3] = {NULL, NULL, NULL}; /* found's strings, copied: the store's are borrowed */
    if (rc == 0) {
        existed = true;
        memcpy(user.id, found.id, sizeof(user.id));
        user.created_at = found.created_at;
        /* Names given now replace the old ones; the others are kept. */
        if (first == NULL)
            first = kept[0] = sm__cli_strdup(found.first_name);
        if (last == NULL)
            last = kept[1] = sm__cli_strdup(found.last_name);
        user.avatar_url = kept[2] = sm__cli_strdup(found.avatar_url);
    } else if (rc == SM_ENOTFOUND) {
        sm_err_clear(&err);
        rc = sm_random_id(user.id, &err);
        user.created_at = now;
    }
    user.email = email;
    user.first_name = first;
    user.last_name = last;
    user.updated_at = now;
    if (rc == 0)
        rc = sm_store_begin(cs.store, &err);
    if (rc == 0 && (sm_store_put_user(cs.store, &user, &err) != 0 ||
                    sm_store_new_api_key(cs.store, user.id, key, &err) != 0 ||
                    sm_store_commit(cs.store, &err) != 0)) {
        sm_store_rollback(cs.store);
        rc = err.code;
    }
    int status = SM_CLI_OK;
    if (rc != 0) {
        status = sm__cli_store_fail(&err);
    } else {
        printf("%s user %s (id %s).\n", existed ? "Gave a new API key to" : "Created", email,
               user.id);
        printf("API key: %s\n", key);
        printf("Keep it now: it cannot be shown again (only its hash is stored)%s. Send it as "
               "the X-API-KEY header, or set SEMATIC_API_KEY for the SDK.\n",
               existed ? "; the user's old key no longer works" : "");
    }
    for (size_t i = 0; i < 3; i++)
        sm_free(kept[i]);
    sm__cli_close(&cs);
    return status;
}

struct listing {
    size_t n;
};

static int print_user(void *ctx, const struct sm_user_rec *u)
{
    struct listing *l = ctx;
    if (l->n++ == 0)
        printf("%-32s  %-32s  %-24s  %-19s  %s\n", "ID", "EMAIL", "NAME", "CREATED", "KEY");
    char name[2 * NAME_MAX_BYTES + 2];
    snprintf(name, sizeof(name), "%s%s%s", u->first_name != NULL ? u->first_name : "",
             u->first_name != NULL && u->last_name != NULL ? " " : "",
             u->last_name != NULL ? u->last_name : "");
    char created[32];
    sm__cli_format_time(u->created_at, created);
    printf("%-32s  %-32s  %-24s  %-19s  %s\n", u->id, u->email != NULL ? u->email : "-",
           name[0] != '\0' ? name : "-", created, u->has_api_key ? "yes" : "no");
    return 0;
}

static int list(int argc, char **argv)
{
    for (int i = 2; i < argc; i++) {
        if (sm__cli_is_help(argv[i])) {
            fputs(usage_text, stdout);
            return SM_CLI_OK;
        }
        return sm__cli_unknown_option("users list", argv[i]);
    }
    struct sm_cli_store cs = {0};
    if (open_store(&cs) != SM_CLI_OK)
        return SM_CLI_FAIL;
    struct sm_err err = SM_ERR_INIT;
    struct listing l = {0};
    int status = SM_CLI_OK;
    if (sm_store_list_users(cs.store, print_user, &l, &err) != 0)
        status = sm__cli_store_fail(&err);
    else if (l.n == 0)
        printf("No users yet: 'sematic users create EMAIL' makes one.\n");
    sm__cli_close(&cs);
    return status;
}

int sm__cli_users(int argc, char **argv)
{
    if (argc < 2)
        return sm__cli_usage_error("'users' needs a command: create EMAIL, or list; see "
                                   "'sematic users --help'");
    if (sm__cli_is_help(argv[1])) {
        fputs(usage_text, stdout);
        return SM_CLI_OK;
    }
    if (strcmp(argv[1], "create") == 0)
        return create(argc, argv);
    if (strcmp(argv[1], "list") == 0)
        return list(argc, argv);
    return sm__cli_usage_error("unknown users command '%s'; use create EMAIL, or list", argv[1]);
}
