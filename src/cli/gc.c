/*
 * gc.c: `sematic gc`, delete blobs that no artifact refers to any more
 * (left by interrupted writes or by deleted artifacts) with
 * sm_store_gc_blobs(), and say how much it freed.
 */
#include <string.h>

#include "cli.h"

#include "util/banned.h"

static const char usage_text[] = "usage: sematic gc\n"
                                 "\n"
                                 "Delete stored blobs that no artifact refers to, and temporary\n"
                                 "files that interrupted writes left behind.\n"
                                 "\n"
                                 "options:\n"
                                 "  -h, --help  show this help\n";

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
    sm__cli_close(&cs);
    return status;
}
