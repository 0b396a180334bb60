/*
 * gc.c: `sematic gc`, delete blobs that no artifact refers to any more
 * (left by interrupted writes or by deleted artifacts) with
 * sm_store_gc_blobs(), and the journals (python/ext/record.c) of pipeline
 * runs that are over, and say how much it freed. A journal of a pipeline
 * run still marked running is kept: `sematic rerun --continue` needs it.
 */
#include <dirent.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

#include "util/banned.h"

static const char usage_text[] = "usage: sematic gc\n"
                                 "\n"
                                 "Delete stored blobs that no artifact refers to, temporary\n"
                                 "files that interrupted writes left behind, and the journals\n"
                                 "of pipeline runs that are over.\n"
                                 "\n"
                                 "options:\n"
                                 "  -h, --help  show this help\n";

/* true when pipeline run root_id is over (or unknown): its journal is not needed. */
static bool pipeline_is_over(struct sm_store *s, const char *root_id)
{
    struct sm_pipeline_rec p;
    struct sm_err err = SM_ERR_INIT;
    if (sm_store_get_pipeline(s, root_id, &p, &err) != 0)
        return err.code == SM_ENOTFOUND;
    return p.status == SM_PIPELINE_COMPLETE || p.status == SM_PIPELINE_FAILED ||
           p.status == SM_PIPELINE_CANCELED;
}

/* Delete the journals of pipeline runs that are over; counts into *n and *bytes. */
static void gc_journals(struct sm_cli_store *cs, size_t *n, size_t *bytes)
{
    char dir[SM_CLI_PATH_MAX + 16];
    snprintf(dir, sizeof(dir), "%s/journal", cs->home);
    DIR *d = opendir(dir);
    if (d == NULL)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len != SM_ID_HEX_LEN + 4 || strcmp(e->d_name + SM_ID_HEX_LEN, ".log") != 0)
            continue;
        char root[SM_ID_HEX_LEN + 1];
        memcpy(root, e->d_name, SM_ID_HEX_LEN);
        root[SM_ID_HEX_LEN] = '\0';
        if (!sm_is_hex(root, SM_ID_HEX_LEN) || !pipeline_is_over(cs->store, root))
            continue;
        char path[SM_CLI_PATH_MAX + 64];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(path, &st) == 0 && unlink(path) == 0) {
            (*n)++;
            *bytes += (size_t)st.st_size;
        }
    }
    closedir(d);
}

int sm__cli_gc(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (sm__cli_is_help(argv[i])) {
            fputs(usage_text, stdout);
            return SM_CLI_OK;
        }
        return sm__cli_unknown_option("gc", argv[i]);
    }

    struct sm_cli_store cs;
    if (sm__cli_open(&cs) != SM_CLI_OK)
        return SM_CLI_FAIL;
    size_t n_removed = 0, bytes_removed = 0;
    struct sm_err err = SM_ERR_INIT;
    int status = SM_CLI_OK;
    if (sm_store_gc_blobs(cs.store, &n_removed, &bytes_removed, &err) != 0)
        status = sm__cli_store_fail(&err);
    else
        printf("removed %zu unreferenced blob%s (%zu byte%s)\n", n_removed,
               n_removed == 1 ? "" : "s", bytes_removed, bytes_removed == 1 ? "" : "s");
    if (status == SM_CLI_OK) {
        size_t n_journals = 0, journal_bytes = 0;
        gc_journals(&cs, &n_journals, &journal_bytes);
        if (n_journals > 0)
            printf("removed %zu journal%s of finished pipeline runs (%zu byte%s)\n", n_journals,
                   n_journals == 1 ? "" : "s", journal_bytes, journal_bytes == 1 ? "" : "s");
    }
    sm__cli_close(&cs);
    return status;
}
