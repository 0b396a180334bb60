/*
 * main.c: the `sematic` command. It reads the sub-command, dispatches to
 * its handler and turns the result into an exit status: 0 on success, 1
 * when the command failed, 2 on a usage error (as git and click do).
 *
 * Sub-commands are rows of `commands` below; each lives in its own file
 * (runs.c, show.c, ...; declared in cli.h) and prints its own output.
 * Library code never prints (STYLE 24): src/cli decides what the user sees.
 * After the command, stdout is flushed here and a failed write (a full disk,
 * a closed pipe) turns success into failure, so no output is lost silently.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

#include "util/banned.h"

#ifndef SM_VERSION
#error "SM_VERSION must be set by the build (src/cli/meson.build)"
#endif

/* The Sematic API level we are compatible with (API.md "Versions"). */
#define SM_API_VERSION "0.41.0"

struct command {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv);
};

static int cmd_version(int argc, char **argv);
static int cmd_help(int argc, char **argv);

static const struct command commands[] = {
    {"help", "show this list of commands", cmd_help},
    {"version", "print the sematic release and the Sematic API level it implements", cmd_version},
    {"runs", "list pipeline runs (or every run with --all), newest first", sm__cli_runs},
    {"show", "show one run: timings, inputs, output, exception, children", sm__cli_show},
    {"logs", "print a run's captured output; -f follows it until the run ends", sm__cli_logs},
    {"cancel", "cancel a pipeline run", sm__cli_cancel},
    {"rerun", "run a pipeline again, from one run (--from) or resuming (--continue)",
     sm__cli_rerun},
    {"gc", "delete stored blobs no artifact refers to", sm__cli_gc},
    {"settings", "show, set or delete user settings (settings.yaml)", sm__cli_settings},
    {"start", "serve the API and the dashboard (http://127.0.0.1:5001)", sm__cli_start},
    {"stop", "stop the server 'sematic start' started", sm__cli_stop},
    {"users", "create or list the users whose API keys the server accepts", sm__cli_users},
};

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *out)
{
    fprintf(out, "usage: sematic <command> [<args>]\n"
                 "       sematic --help | -h\n\n"
                 "commands:\n");
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
}

static int cmd_help(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    usage(stdout);
    return 0;
}

static int cmd_version(int argc, char **argv)
{
    if (argc > 1) {
        fprintf(stderr, "sematic: 'version' takes no arguments, got '%s'\n", argv[1]);
        return 2;
    }
    printf("sematic %s (Sematic API %s)\n", SM_VERSION, SM_API_VERSION);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < N_COMMANDS; i++) {
        if (strcmp(argv[1], commands[i].name) != 0)
            continue;
        int status = commands[i].run(argc - 1, argv + 1);
        if (fflush(stdout) != 0 || ferror(stdout)) {
            fprintf(stderr, "sematic: cannot write the output of '%s': %s\n", argv[1],
                    strerror(errno));
            return SM_CLI_FAIL;
        }
        return status;
    }
    fprintf(stderr, "sematic: unknown command '%s'; run 'sematic --help' for the list\n", argv[1]);
    return 2;
}
